"""Fixtures of the datagen tests in this tier: a synthetic corpus, a simulated teacher, run configs (one home: tests/fixtures/datagen_fixtures.py)."""

from datagen_fixtures import corpus_dir, teacher, config_factory  # noqa: F401 - fixtures
