"""Fixtures of the finetune tests in this tier: a tiny student on disk, its tokenizer, a one-rank process group (one home: tests/fixtures/finetune_fixtures.py)."""

from finetune_fixtures import student_dir, tokenizer, world_of_one  # noqa: F401 - fixtures
