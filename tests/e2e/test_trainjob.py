"""End to end on a cluster with Kubeflow Trainer (SIMULATED) as well as the training operator:
spec.student.trainingApi auto picks TrainJob, and the run walks every stage to Succeeded."""

from __future__ import annotations

import pytest

from operator_process import install, run_operator
from raft_sim.cluster import cluster_fixture

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
VLLM_PORT = 18601  # the session cluster's simulated vLLM has 18600

# This module's own cluster, with the Trainer CRDs; the fixtures below replace the session ones.
cluster = cluster_fixture("raft-e2e-trainer", scope="module", sim_duration=2.0, vllm_port=VLLM_PORT,
                          vllm_models=("meta-llama/Meta-Llama-3-70B-Instruct",), trainer=True)


@pytest.fixture(scope="module")
def installed(cluster):
    return install(cluster)


@pytest.fixture(scope="module")
def operator(installed, tmp_path_factory):
    yield from run_operator(installed, VLLM_PORT, tmp_path_factory.mktemp("operator-trainer"))


def test_auto_picks_trainjob_when_trainer_is_installed(runs) -> None:
    runs.create("tj")
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
