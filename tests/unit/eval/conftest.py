"""Fixtures of the eval tests in this tier: a dataset with held-out questions, the simulated servers, helpers (one home: tests/fixtures/eval_fixtures.py)."""

from eval_fixtures import dataset, servers, helpers  # noqa: F401 - fixtures
