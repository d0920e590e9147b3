"""Fixtures of the operator's unit tests. Test modules import harness.py, kmock_support.py and
each other from this folder (importlib import mode)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

TRAINING_APIS = ("TrainJob", "PyTorchJob")


@pytest.fixture(params=TRAINING_APIS)
def training_api(request: pytest.FixtureRequest) -> str:
    """Each fine-tuning API in turn: TrainJob (Kubeflow Trainer v2, what ``trainingApi: auto``
    prefers) and the legacy PyTorchJob (training operator)."""
    return request.param


@pytest.fixture
def served(training_api: str) -> frozenset[str]:
    """Optional kinds of a cluster on which ``trainingApi: auto`` chooses ``training_api``
    (for ``FakeCluster(..., served=served)``)."""
    return frozenset({"TrainJob", "PyTorchJob"}) if training_api == "TrainJob" else frozenset({"PyTorchJob"})
