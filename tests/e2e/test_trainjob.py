"""End to end on a cluster with Kubeflow Trainer (SIMULATED) as well as the training operator:
spec.student.trainingApi auto picks TrainJob, and the run walks every stage to Succeeded."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_auto_picks_trainjob_when_trainer_is_installed(runs) -> None:
    runs.create("tj", {"student.trainingApi": "auto"})  # the other e2e tests name PyTorchJob
    runs.wait_phase("tj", "Succeeded", timeout=360)
    (trainjob,) = runs.children("trainjobs", "tj")
    assert trainjob["metadata"]["name"] == "tj-finetune" and trainjob["metadata"]["ownerReferences"][0]["name"] == "tj"
    assert not runs.children("pytorchjobs", "tj")
    assert any(c["type"] == "Complete" and c["status"] == "True" for c in trainjob["status"]["conditions"])
    trained = runs.condition("tj", "ModelTrained")
    assert trained["status"] == "True" and trained["reason"] == "TrainJobSucceeded"
    assert runs.status("tj")["training"]["totalSteps"] > 0, "progress reported from the TrainJob's pods"
    rested = runs.wait_at_rest("tj")
    assert rested["phase"] == "Succeeded"
