"""End to end on a cluster with Kubeflow Trainer (SIMULATED) as well as the training operator:
spec.student.trainingApi auto picks TrainJob, and the run walks every stage to Succeeded."""

from __future__ import annotations

import pytest

from conftest import TEACHER_MODEL, VLLM_PORT  # noqa: F401  (the session's settings)
from operator_process import OperatorProcess, install_chart
from raft_sim.cluster import cluster_fixture

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# This module's own cluster, with the Trainer CRDs; the fixtures below replace the session ones.
cluster = cluster_fixture("raft-e2e-trainer", scope="module", sim_duration=2.0, vllm_port=VLLM_PORT + 1,
                          vllm_models=(TEACHER_MODEL,), trainer=True)


@pytest.fixture(scope="module")
def installed(cluster):
    install_chart(cluster, "replicaCount=0")
    cluster.wait_for(lambda: "Established" in cluster.kubectl(
        "get", "crd", "raftruns.raftoperator.io", "-o", "jsonpath={.status.conditions[*].type}").stdout,
        message="RaftRun CRD established")
    return cluster


@pytest.fixture(scope="module")
def operator(installed, tmp_path_factory):
    proc = OperatorProcess(installed, f"http://127.0.0.1:{VLLM_PORT + 1}", tmp_path_factory.mktemp("operator-trainer"))
    proc.start()
    yield proc
    proc.stop()


def test_auto_picks_trainjob_when_trainer_is_installed(runs) -> None:
    runs.create("tj")
    runs.wait_phase("tj", "Succeeded", timeout=180)
    (trainjob,) = runs.children("trainjobs", "tj")
    assert trainjob["metadata"]["name"] == "tj-finetune" and trainjob["metadata"]["ownerReferences"][0]["name"] == "tj"
    assert not runs.children("pytorchjobs", "tj")
    assert any(c["type"] == "Complete" and c["status"] == "True" for c in trainjob["status"]["conditions"])
    trained = runs.condition("tj", "ModelTrained")
    assert trained["status"] == "True" and trained["reason"] == "TrainJobSucceeded"
    assert runs.status("tj")["training"]["totalSteps"] > 0, "progress reported from the TrainJob's pods"
    assert runs.condition("tj", "Reconciling")["status"] == "False"
