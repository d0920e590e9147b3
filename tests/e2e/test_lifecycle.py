"""A RaftRun's whole life on the real local cluster (GPU workloads simulated)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ORDER = ["ServingTeacher", "GeneratingData", "FineTuning", "Evaluating", "Succeeded"]


def phases_until_done(runs, name: str, timeout: float = 300, on_phase=None) -> list[str]:
    """Poll the run, recording each new phase, until it succeeds or fails."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        phase = runs.status(name).get("phase")
        if phase and (not seen or seen[-1] != phase):
            seen.append(phase)
            if on_phase:
                on_phase(phase)
        if phase in ("Succeeded", "Failed"):
            return seen
        time.sleep(0.3)
    raise TimeoutError(f"{name} stuck after {seen}: {runs.status(name)}\n{runs.operator.log_tail()}")


OPERATOR_RESOURCES = ("deployments", "services", "rayjobs", "pytorchjobs", "jobs", "configmaps", "serviceaccounts",
                      "roles", "rolebindings", "persistentvolumeclaims")


def apiserver_counter(cluster, verb: str, code: str) -> int:
    """apiserver_request_total for a verb and code on the kinds the operator creates (API server metrics)."""
    total = 0
    for line in cluster.kubectl("get", "--raw", "/metrics").stdout.splitlines():
        if (line.startswith("apiserver_request_total{") and f'verb="{verb}"' in line and f'code="{code}"' in line
                and 'subresource=""' in line and any(f'resource="{r}"' in line for r in OPERATOR_RESOURCES)):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def test_run_walks_every_stage_to_succeeded(runs) -> None:
    runs.create("life")
    seen = phases_until_done(runs, "life")
    assert [p for p in seen if p in ORDER] == [p for p in ORDER if p in seen] and seen[-1] == "Succeeded", seen
    assert "FineTuning" in seen and "Evaluating" in seen

    status = runs.status("life")
    conditions = {c["type"]: c for c in status["conditions"]}
    for ctype in ("Ready", "Succeeded", "DataGenerated", "ModelTrained", "Evaluated"):
        assert conditions[ctype]["status"] == "True", conditions[ctype]
        assert conditions[ctype]["observedGeneration"] == 1
    assert conditions["Stalled"]["status"] == "False"
    assert conditions["TeacherReady"]["reason"] == "ScaledDown"
    assert status["observedGeneration"] == 1
    assert all("completionTime" in status["stages"][s] for s in ("teacher", "datagen", "finetune", "eval"))
    assert status["datagen"]["chunksTotal"] > 0 and status["training"]["totalSteps"] > 0
    assert status["results"]["models"] and status["score"].startswith("judge ")

    # Children: created in pipeline order, owned by the run, the teacher at zero, eval servers gone.
    created = {}
    for kind, name in [("deployment", "life-teacher"), ("rayjob", "life-datagen"), ("pytorchjob", "life-finetune"),
                       ("job", "life-eval")]:
        obj = runs.cluster.kubectl_json("get", kind, name, "-n", runs.namespace)
        assert obj["metadata"]["ownerReferences"][0]["name"] == "life"
        assert obj["metadata"]["labels"]["raftoperator.io/run"] == "life"
        created[kind] = obj["metadata"]["creationTimestamp"]
    assert created["deployment"] <= created["rayjob"] <= created["pytorchjob"] <= created["job"]
    teacher = runs.cluster.kubectl_json("get", "deployment", "life-teacher", "-n", runs.namespace)
    assert teacher["spec"]["replicas"] == 0
    assert not [d for d in runs.children("deployments", "life") if "serve" in d["metadata"]["name"]]

    # Events tell the story; kubectl get shows readable columns.
    reasons = [e["reason"] for e in runs.events("life")]
    assert {"ServingTeacher", "GeneratingData", "FineTuning", "Evaluating", "Succeeded"} <= set(reasons)
    table = runs.cluster.kubectl("get", "raftruns", "-n", runs.namespace).stdout
    header, row = table.splitlines()[:2]
    assert re.split(r"\s{2,}", header.strip()) == ["NAME", "PHASE", "STAGE", "PROGRESS", "SCORE", "READY", "AGE"]
    assert "Succeeded" in row and "done" in row and "judge" in row and "True" in row
    assert 'raft_operator_runs{phase="Succeeded"}' in runs.operator.metrics()


def test_kopf_bookkeeping_stays_bounded(runs) -> None:
    runs.create("books")
    runs.wait_phase("books", "Succeeded", timeout=300)
    meta = runs.get("books")["metadata"]
    ours = {k: v for k, v in (meta.get("annotations") or {}).items() if k.startswith("raftoperator.io/") or "kopf" in k}
    assert ours == {}, f"no Kopf annotations left on a healthy run: {ours}"
    assert meta.get("finalizers") == ["raftoperator.io/finalizer"]


def test_restart_in_the_middle_of_each_stage_creates_no_duplicates(runs) -> None:
    posts_conflicted = apiserver_counter(runs.cluster, "POST", "409")
    restarted: list[str] = []

    def restart(phase: str) -> None:
        if phase in ORDER[:-1]:
            runs.operator.restart(kill=True)
            restarted.append(phase)

    runs.create("restart", annotations={"sim.raftoperator.io/duration-seconds": "6"})
    seen = phases_until_done(runs, "restart", timeout=480, on_phase=restart)
    assert seen[-1] == "Succeeded", seen
    assert {"GeneratingData", "FineTuning", "Evaluating"} <= set(restarted), restarted
    assert apiserver_counter(runs.cluster, "POST", "409") == posts_conflicted, "a restarted operator re-sent creates"
    for kind in ("deployments", "services", "rayjobs", "pytorchjobs", "jobs", "configmaps", "serviceaccounts"):
        names = [o["metadata"]["name"] for o in runs.children(kind, "restart")]
        assert len(names) == len(set(names))


@pytest.mark.parametrize("stage,reason_part,message_part", [
    ("datagen", "RayJob", "simulated"),
    ("finetune", "", "simulated"),
    ("eval", "", ""),
])
def test_failure_of_a_stage_fails_the_run_with_the_childs_reason(runs, stage, reason_part, message_part) -> None:
    name = f"fail-{stage}"
    runs.create(name, {"failurePolicy.backoffLimit": 1}, annotations={"sim.raftoperator.io/fail": stage})
    status = runs.wait_phase(name, "Failed", timeout=300)
    assert status["stage"] == stage
    stage_condition = {"datagen": "DataGenerated", "finetune": "ModelTrained", "eval": "Evaluated"}[stage]
    cond = runs.condition(name, stage_condition)
    assert cond["status"] == "False" and reason_part in cond["reason"] and message_part in cond["message"].lower()
    assert runs.condition(name, "Stalled")["status"] == "True"
    assert runs.condition(name, "Ready")["status"] == "False"
    assert any(e["type"] == "Warning" for e in runs.events(name))
    teacher = runs.cluster.kubectl_json("get", "deployment", f"{name}-teacher", "-n", runs.namespace)
    assert teacher["spec"]["replicas"] == 0, "a failed run releases the teacher's GPUs"
    if stage == "eval":
        job = runs.cluster.kubectl_json("get", "job", f"{name}-eval", "-n", runs.namespace)
        assert job["spec"]["backoffLimit"] == 1 and job["status"].get("failed", 0) == 2, "retried per the spec"


def test_teacher_that_never_becomes_ready_fails_with_the_scheduling_reason(runs) -> None:
    runs.create("no-gpu", {"scheduling.nodeSelector": {"gpu-pool": "does-not-exist"},
                           "teacher.vllm.startupTimeoutSeconds": 30})
    cond = runs.until(lambda: (c := runs.condition("no-gpu", "TeacherReady")) and c.get("reason") == "Unschedulable" and c,
                      timeout=120, message="unschedulable teacher surfaced")
    assert "node" in cond["message"]
    status = runs.wait_phase("no-gpu", "Failed", timeout=180)
    assert "Unschedulable" in status["message"] and status["stage"] == "teacher"


def test_suspend_and_resume(runs) -> None:
    runs.create("pause", annotations={"sim.raftoperator.io/duration-seconds": "8"})
    runs.wait_phase("pause", "GeneratingData")
    runs.cluster.kubectl("patch", "raftrun", "pause", "-n", runs.namespace, "--type=merge", "-p", '{"spec":{"suspend":true}}')
    runs.wait_phase("pause", "Suspended")
    rayjob = runs.until(lambda: (r := runs.cluster.kubectl_json("get", "rayjob", "pause-datagen", "-n", runs.namespace))
                        ["spec"].get("suspend") and r, message="RayJob suspended")
    assert rayjob["spec"]["suspend"] is True
    runs.until(lambda: runs.cluster.kubectl_json("get", "deployment", "pause-teacher", "-n", runs.namespace)
               ["spec"]["replicas"] == 0, message="teacher scaled to zero")
    assert runs.condition("pause", "Ready")["reason"] == "Suspended"
    runs.cluster.kubectl("patch", "raftrun", "pause", "-n", runs.namespace, "--type=merge", "-p", '{"spec":{"suspend":false}}')
    runs.wait_phase("pause", "Succeeded", timeout=360)


@pytest.mark.parametrize("retention", ["Delete", "Retain"])
def test_delete_mid_run_removes_children_and_follows_retention(runs, retention) -> None:
    name = f"gone-{retention.lower()}"
    runs.create(name, {"storage.retentionPolicy": retention}, annotations={"sim.raftoperator.io/duration-seconds": "30"})
    runs.wait_phase(name, "GeneratingData")
    runs.cluster.kubectl("delete", "raftrun", name, "-n", runs.namespace, "--wait=true", timeout=180)

    def gone() -> bool:
        left = [(kind, o["metadata"]["name"]) for kind in ("deployments", "services", "rayjobs", "configmaps",
                                                            "serviceaccounts", "roles", "rolebindings")
                for o in runs.children(kind, name)]
        return not left
    runs.until(gone, timeout=120, message="garbage collector removed every child")
    pvc = runs.cluster.kubectl("get", "pvc", f"{name}-data", "-n", runs.namespace, "-o", "name", check=False)
    if retention == "Delete":
        runs.until(lambda: runs.cluster.kubectl("get", "pvc", f"{name}-data", "-n", runs.namespace, "-o", "json",
                                                check=False).returncode != 0
                   or runs.cluster.kubectl_json("get", "pvc", f"{name}-data", "-n", runs.namespace)["metadata"]
                   .get("deletionTimestamp"), timeout=120, message="claim deleted with the run")
    else:
        assert pvc.returncode == 0, "a retained claim outlives its run"


def test_gitops_reapply_shows_no_drift(runs, tmp_path: Path) -> None:
    import yaml

    body = runs.create("gitops", annotations={"sim.raftoperator.io/duration-seconds": "4"})
    manifest = tmp_path / "gitops.yaml"
    manifest.write_text(yaml.safe_dump(body))
    runs.cluster.kubectl("apply", "--server-side", "--field-manager=gitops", "--force-conflicts", "-f", str(manifest))
    runs.wait_phase("gitops", "FineTuning", "Evaluating", "Succeeded", timeout=240)
    before = runs.get("gitops")
    dry = runs.cluster.kubectl("apply", "--server-side", "--field-manager=gitops", "--dry-run=server", "-o", "json",
                               "-f", str(manifest))
    after = json.loads(dry.stdout)
    assert after["spec"] == before["spec"], "a re-apply of the same manifest changes nothing in spec"
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    diff = runs.cluster.kubectl("diff", "--server-side", "--field-manager=gitops", "-f", str(manifest), check=False)
    assert diff.returncode == 0, f"kubectl diff reports drift:\n{diff.stdout}"
