"""The SIMULATED Kubeflow Trainer: TrainJob CRD (Trainer's validation) and controller (Trainer's status)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from raft_dev.cluster import LocalCluster

from cluster_manifests import trainjob
from test_simulated import make_parent, status as child_status

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TIMEOUT = "60s"


def condition(st: dict[str, Any], ctype: str) -> dict[str, Any]:
    return next(c for c in st.get("conditions") or [] if c["type"] == ctype)


@pytest.mark.parametrize(("change", "error"), [
    (lambda s: s["trainer"].update(numNode=2), "numNode"),
    (lambda s: s.update(managedBy="someone-else"), "ManagedBy must be"),
    (lambda s: s.pop("runtimeRef"), "runtimeRef"),
    (lambda s: s.update(suspend="yes"), "suspend"),
])
def test_trainjob_crd_rejects_what_trainer_rejects(cluster: LocalCluster, namespace: str, change: Any, error: str) -> None:
    body = trainjob("bad")
    change(body["spec"])
    result = cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body), check=False)
    assert result.returncode != 0 and error in result.stderr, result.stderr


def test_trainer_spec_is_immutable(cluster: LocalCluster, namespace: str) -> None:
    cluster.apply(trainjob("imm", suspend=True), namespace)
    result = cluster.kubectl("patch", "-n", namespace, "trainjob/imm", "--type=merge",
                             "-p", '{"spec": {"trainer": {"numNodes": 3}}}', check=False)
    assert result.returncode != 0 and "field is immutable" in result.stderr


def test_trainjob_runs_its_nodes_to_complete_with_progress(cluster: LocalCluster, namespace: str) -> None:
    owner = make_parent(cluster, namespace, "tj1")
    cluster.apply(trainjob("tj1-finetune", run="tj1", owner=owner, nodes=2), namespace)
    cluster.kubectl("wait", "-n", namespace, "--for=condition=Complete", "trainjob/tj1-finetune", f"--timeout={TIMEOUT}")
    st = child_status(cluster, namespace, "trainjob", "tj1-finetune")
    done = condition(st, "Complete")
    assert done["reason"] == "AllJobsCompleted" and done["message"] == "jobset completed successfully"
    assert st["jobsStatus"] == [{"name": "node", "ready": 0, "succeeded": 1, "failed": 0, "active": 0, "suspended": 0}]
    pods = cluster.kubectl_json("get", "pods", "-n", namespace, "-l", "jobset.sigs.k8s.io/jobset-name=tj1-finetune")["items"]
    assert len(pods) == 2
    ranks = set()
    for pod in pods:
        (container,) = pod["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert container["name"] == "node" and container["image"] == "example.invalid/trainer:0"
        assert env["PET_NNODES"] == "2" and env["PET_NPROC_PER_NODE"] == "8" and env["OMP_NUM_THREADS"] == "1"
        assert env["PET_MASTER_ADDR"] == "tj1-finetune-node-0-0.tj1-finetune"
        assert container["securityContext"]["allowPrivilegeEscalation"] is False, "runtime patch applied"
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
        assert pod["metadata"]["labels"]["raftoperator.io/run"] == "tj1"
        ranks.add(env["PET_NODE_RANK"])
    assert ranks == {"0", "1"}
    data = cluster.kubectl_json("get", "configmap", "tj1-progress", "-n", namespace)["data"]
    assert json.loads(data["finetune"])["step"] == json.loads(data["finetune"])["totalSteps"]


def test_injected_failure_missing_runtime_and_deadline_fail_as_trainer_says(cluster: LocalCluster, namespace: str) -> None:
    owner = make_parent(cluster, namespace, "tj2", {"sim.raftoperator.io/fail": "finetune",
                                                "sim.raftoperator.io/fail-message": "rank 3 OOM"})
    cluster.apply([trainjob("tj2-finetune", run="tj2", owner=owner, nodes=1),
                   trainjob("tj2-noruntime", runtime="no-such-runtime"),
                   trainjob("tj2-deadline", deadline=1, nodes=1)], namespace)
    for name in ("tj2-finetune", "tj2-noruntime", "tj2-deadline"):
        cluster.kubectl("wait", "-n", namespace, "--for=condition=Failed", f"trainjob/{name}", f"--timeout={TIMEOUT}")
    failed = condition(child_status(cluster, namespace, "trainjob", "tj2-finetune"), "Failed")
    assert failed["reason"] == "FailedJobs" and "rank 3 OOM" in failed["message"]
    assert condition(child_status(cluster, namespace, "trainjob", "tj2-noruntime"), "Failed")["reason"] == "TrainingRuntimeNotSupported"
    assert condition(child_status(cluster, namespace, "trainjob", "tj2-deadline"), "Failed")["reason"] == "DeadlineExceeded"


def test_suspend_deletes_the_pods_and_resume_runs_to_complete(cluster: LocalCluster, namespace: str) -> None:
    cluster.apply(trainjob("tj3", suspend=True, nodes=1), namespace)
    cluster.kubectl("wait", "-n", namespace, "--for=condition=Suspended", "trainjob/tj3", f"--timeout={TIMEOUT}")
    st = child_status(cluster, namespace, "trainjob", "tj3")
    assert condition(st, "Suspended")["reason"] == "Suspended" and st["jobsStatus"][0]["suspended"] == 1
    assert not cluster.kubectl_json("get", "pods", "-n", namespace)["items"]
    cluster.kubectl("patch", "-n", namespace, "trainjob/tj3", "--type=merge", "-p", '{"spec": {"suspend": false}}')
    cluster.kubectl("wait", "-n", namespace, "--for=condition=Complete", "trainjob/tj3", f"--timeout={TIMEOUT}")
    assert condition(child_status(cluster, namespace, "trainjob", "tj3"), "Suspended") | {"lastTransitionTime": ""} == {
        "type": "Suspended", "status": "False", "reason": "Resumed", "message": "TrainJob is resumed",
        "lastTransitionTime": "", "observedGeneration": 2}
