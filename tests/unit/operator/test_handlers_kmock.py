"""The real Kopf operator (handlers, indexes, timer, Applier, Events) against KMock's API server.

The reconciler's decisions are covered by test_reconciler.py; these tests prove the wiring:
Kopf discovers and watches the resources, the indexes feed the reconcile timer, the Applier's
requests are valid on the wire, status goes through the status subresource, Events are posted,
a restarted operator rebuilds its view from the watches instead of re-creating children, and an
idle run sends nothing. The test plays every child's controller by writing their status.
"""

from __future__ import annotations

import base64
import datetime as dt
import time
from typing import Any, Iterator

import kmock
import pytest

from raft_operator import api
from raft_operator.settled import at_rest

from kmock_support import Cluster, cluster_with_operator, wait_for

pytestmark = pytest.mark.timeout(60)

RUN = "demo"
TEACHER, RAYJOB, PTJOB, EVALJOB = f"{RUN}-teacher", f"{RUN}-datagen", f"{RUN}-finetune", f"{RUN}-eval"
SERVERS = [f"{RUN}-serve-student", f"{RUN}-serve-base"]
MODEL = "meta-llama/Meta-Llama-3-70B-Instruct"
SPEC: dict[str, Any] = {
    "corpus": {"volume": {"claimName": "docs"}},
    "teacher": {"vllm": {"model": MODEL, "tensorParallelSize": 4}},
    "student": {"baseModel": "meta-llama/Meta-Llama-3-8B-Instruct", "nodes": 2, "gpusPerNode": 8},
    "storage": {"size": "500Gi", "retentionPolicy": "Delete"},  # Delete: every child, the claim too, is owned
}
LABELS = {"app.kubernetes.io/name": "raftrun", "app.kubernetes.io/instance": RUN,
          "app.kubernetes.io/managed-by": "raft-operator", "app.kubernetes.io/part-of": "raft-operator",
          "raftoperator.io/run": RUN}
PHASES = ["ServingTeacher", "GeneratingData", "FineTuning", "Evaluating", "Succeeded"]
BASE_CHILDREN = {("ServiceAccount", f"{RUN}-workload"), ("Role", f"{RUN}-progress"), ("RoleBinding", f"{RUN}-progress"),
                 ("ConfigMap", f"{RUN}-progress"), ("ConfigMap", f"{RUN}-config"), ("PersistentVolumeClaim", f"{RUN}-data"),
                 ("Secret", f"{RUN}-server-key"), ("NetworkPolicy", f"{RUN}-network"),
                 ("Deployment", TEACHER), ("Service", TEACHER), ("Service", f"{TEACHER}-replicas")}
ALL_CHILDREN = BASE_CHILDREN | {("RayJob", RAYJOB), ("PyTorchJob", PTJOB), ("Job", EVALJOB)} | \
    {(kind, name) for name in SERVERS for kind in ("Deployment", "Service")}


@pytest.fixture
def cluster(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    with cluster_with_operator(tmp_path, monkeypatch) as c:
        yield c


# ---- the test as the children's controllers: drive the run from stage to stage ----------------


def start_run(c: Cluster) -> dict[str, Any]:
    """Create the RaftRun; wait for the teacher stage and its Deployment."""
    c.create_run(RUN, SPEC)
    c.wait_phase(RUN, "ServingTeacher")
    c.wait_child("Deployment", TEACHER)
    return c.run(RUN)


def teacher_up(c: Cluster) -> None:
    """The teacher's pods become ready (once the operator wants it up)."""
    c.wait_child("Deployment", TEACHER, lambda d: d["spec"]["replicas"] >= 1)
    c.deployment_rollout(TEACHER)


def servers_up(c: Cluster) -> None:
    """Teacher (the judge) and the student servers become available; the eval Job follows."""
    teacher_up(c)
    for name in SERVERS:
        c.wait_child("Deployment", name, lambda d: d["spec"]["replicas"] >= 1)
        c.deployment_rollout(name)
    c.wait_child("Job", EVALJOB)


def teacher_scaled_down(c: Cluster) -> None:
    c.wait_child("Deployment", TEACHER, lambda d: d["spec"]["replicas"] == 0)
    c.deployment_rollout(TEACHER)  # its pods go away


STAGES = ["teacher", "datagen", "finetune", "eval"]
# What a child's controller does to end each stage (needs no operator running) ...
END_STAGE = {
    "teacher": teacher_up,
    "datagen": lambda c: c.rayjob(RAYJOB, "Complete", "SUCCEEDED"),
    "finetune": lambda c: c.pytorchjob(PTJOB, "Succeeded"),
    "eval": lambda c: c.job(EVALJOB, "Complete"),
}
# ... and what the operator does next, with the controllers' part in it.
NEXT_STAGE = {
    "teacher": lambda c: (c.wait_phase(RUN, "GeneratingData"), c.wait_child("RayJob", RAYJOB)),
    "datagen": lambda c: (c.wait_phase(RUN, "FineTuning"), c.wait_child("PyTorchJob", PTJOB), teacher_scaled_down(c)),
    "finetune": lambda c: (c.wait_phase(RUN, "Evaluating"), servers_up(c)),
    "eval": lambda c: c.wait_phase(RUN, "Succeeded"),
}


def finish(c: Cluster, stage: str) -> None:
    END_STAGE[stage](c)
    NEXT_STAGE[stage](c)


def to_stage(c: Cluster, stage: str) -> None:
    """Create the run and drive it into ``stage`` (its child created, not finished)."""
    start_run(c)
    for earlier in STAGES[:STAGES.index(stage)]:
        finish(c, earlier)


def run_to_success(c: Cluster, stage: str) -> None:
    """From the middle of ``stage`` to the end, finishing every stage."""
    for later in STAGES[STAGES.index(stage):]:
        finish(c, later)


def phase_events(c: Cluster) -> list[str]:
    return [e["reason"] for e in c.events(RUN) if e["reason"] in PHASES + ["Failed", "Suspended"]]


def assert_created_once(c: Cluster, expected: set[tuple[str, str]]) -> None:
    """Every child POSTed exactly once (a 409 retry would count as a second POST)."""
    creates = c.child_creates()
    assert set(creates) == expected
    assert {k: n for k, n in creates.items() if n != 1} == {}, "children created more than once"


# ---- the tests --------------------------------------------------------------------------------


def test_pipeline_runs_end_to_end_through_kopf_and_the_api(cluster: Cluster) -> None:
    c = cluster
    run = start_run(c)
    uid = run["metadata"]["uid"]
    assert run["metadata"]["finalizers"] == ["raftoperator.io/finalizer"]
    for kind, name in BASE_CHILDREN:
        c.wait_child(kind, name)
    assert c.condition(RUN, "TeacherReady")["reason"] == "Loading"
    assert c.teacher.calls == [], "no probe before the Deployment is available"

    finish(c, "teacher")
    key = base64.b64decode(c.get("Secret", f"{RUN}-server-key")["data"]["api-key"]).decode()
    assert len(key) >= 32 and set(c.teacher.authorizations) == {f"Bearer {key}"}, "the probe sends the run's key"
    status = c.status(RUN)
    assert status["stages"]["teacher"]["completionTime"]
    path, body = c.teacher.calls[0]
    assert path == f"/team/{TEACHER}/8000/v1/completions" and body["model"] == MODEL and body["max_tokens"] == 1

    # The progress channel: a program patches its ConfigMap, the index carries it into status.
    c.rayjob(RAYJOB, "Running", "RUNNING")
    c.progress(RUN, "datagen", {"chunksDone": 30, "chunksTotal": 120, "records": 100, "malformed": 2, "retries": 5})
    wait_for(lambda: c.status(RUN).get("progress") == "chunks 30/120 (25%)", what="datagen progress in status")
    assert c.status(RUN)["datagen"] == {"chunksDone": 30, "chunksTotal": 120, "records": 100, "malformed": 2, "retries": 5}
    wait_for(lambda: c.condition(RUN, "DataGenerated").get("reason") == "Running", what="DataGenerated Running")
    c.settle()
    c.assert_quiet()

    finish(c, "datagen")
    assert c.condition(RUN, "TeacherReady")["reason"] == "ScaledDown"
    c.progress(RUN, "finetune", {"step": 50, "totalSteps": 200, "epoch": 0.5, "loss": 1.25})
    wait_for(lambda: c.status(RUN).get("progress") == "step 50/200 (25%)", what="finetune progress in status")
    assert c.status(RUN)["training"]["loss"] == 1.25

    c.pytorchjob(PTJOB, "Succeeded")
    c.wait_phase(RUN, "Evaluating")
    for name in SERVERS:
        c.wait_child("Deployment", name)
        c.wait_child("Service", name)
    assert c.get("Job", EVALJOB) is None, "the eval Job waits for its servers"
    servers_up(c)

    c.progress(RUN, "eval", {"results": [{"model": "student", "mode": "rag", "topK": 5, "judgeScore": 0.8}],
                             "summary": {"model": "student", "judgeScore": 0.8, "improvement": {"base": 0.25}}})
    finish(c, "eval")
    for name in SERVERS:
        c.wait_gone("Deployment", name)
        c.wait_gone("Service", name)
    c.wait_child("Deployment", TEACHER, lambda d: d["spec"]["replicas"] == 0)
    # The pass after success finds nothing left to release: the run is at rest and its timer stops.
    status = wait_for(lambda: (r := c.get("RaftRun", RUN))["status"].get("score") and at_rest(r) and r["status"],
                      what="score in status, the run at rest")  # one read: status and rest of the same version
    assert status["score"] == "judge 0.80 (+25% vs base)"
    assert status["results"]["reportPath"] == f"/data/runs/{RUN}/eval/report.html"
    assert {cond["type"]: cond["status"] for cond in status["conditions"]} == {
        "Ready": "True", "Succeeded": "True", "Stalled": "False", "Reconciling": "False", "TeacherReady": "False",
        "InputsReady": "True",
        "DataGenerated": "True", "ModelTrained": "True", "Evaluated": "True"}
    assert status["observedGeneration"] == run["metadata"]["generation"]
    c.settle()
    c.assert_quiet()

    assert_created_once(c, ALL_CHILDREN)
    assert phase_events(c) == PHASES, "one Event per phase change, in order"
    events = c.events(RUN)
    assert all(e["involvedObject"]["uid"] == uid and e["involvedObject"]["kind"] == "RaftRun" for e in events)
    assert {e["type"] for e in events} == {"Normal"}
    for e in events:
        assert e["message"], e

    # Kopf and the kubernetes client both authenticate from the kubeconfig.
    assert {r.headers.get("Authorization") for r in c.operator_requests()} == {"Bearer kmock-token"}
    assert {r.headers.get("User-Agent", "").split("/")[0] for r in c.operator_requests()} == {"kopf", "OpenAPI-Generator"}

    # The operator writes the run's status only through the status subresource; the object itself
    # only gets Kopf's finalizer (a JSON patch guarded by a resourceVersion test).
    run_patches = [r for r in c.operator_requests() if r.method.value == "PATCH" and r.resource.plural == "raftruns"]
    assert {r.subresource for r in run_patches if isinstance(r.data, dict)} == {"status"}
    assert {op["path"] for r in run_patches if isinstance(r.data, list) for op in r.data} <= \
        {"/metadata/finalizers", "/metadata/resourceVersion"}

    # Every child carries the run's labels and a controller reference to it, as sent on the wire.
    for r in c.operator_requests():
        if r.method.value == "POST" and r.resource.plural != "events":
            meta = r.data["metadata"]
            assert {k: meta["labels"].get(k) for k in LABELS} == LABELS, meta
            assert meta["labels"]["app.kubernetes.io/component"]
            assert meta["ownerReferences"] == [{"apiVersion": "raftoperator.io/v1alpha1", "kind": "RaftRun", "name": RUN,
                                                "uid": uid, "controller": True, "blockOwnerDeletion": True}], meta


def test_an_idle_run_sends_no_writes_while_the_timer_ticks(cluster: Cluster) -> None:
    """The teacher is available but does not answer: every tick probes it, none writes."""
    c = cluster
    c.teacher.ok = False
    start_run(c)
    teacher_up(c)
    wait_for(lambda: c.condition(RUN, "TeacherReady").get("reason") == "ProbeFailed", what="TeacherReady ProbeFailed")
    assert "HTTP 503" in c.condition(RUN, "TeacherReady")["message"]
    probes = len(c.teacher.calls)
    c.assert_quiet(intervals=6)
    assert len(c.teacher.calls) - probes >= 3, "the reconcile timer kept running"
    assert [e["type"] for e in c.events(RUN) if e["reason"] == "ProbeFailed"] == ["Warning"]

    c.teacher.ok = True
    c.wait_phase(RUN, "GeneratingData")


def crash_loop_past_the_startup_timeout(c: Cluster) -> None:
    """A teacher pod in CrashLoopBackOff, and the stage started two hours ago (startupTimeoutSeconds 3600).

    The clock is not faked: the stage's startTime in status is, as after an operator restart.
    """
    pod = c.create("Pod", {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": f"{TEACHER}-7f9c-abcde", "labels": {**LABELS, "app.kubernetes.io/component": "teacher"}}, "spec": {}})
    c.set_status("Pod", pod["metadata"]["name"], {"phase": "Running", "containerStatuses": [{
        "name": "vllm", "ready": False, "restartCount": 5,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}}}]})
    wait_for(lambda: c.condition(RUN, "TeacherReady").get("reason") == "CrashLoopBackOff", what="the pod's problem in status")
    long_ago = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    c.patch("RaftRun", RUN, {"status": {"stages": {"teacher": {"startTime": long_ago}}}}, subresource="status")


# stage: (what its controller reports, the run's reason)
FAILURES = {
    "teacher": (crash_loop_past_the_startup_timeout, "TeacherNotReadyCrashLoopBackOff"),
    "datagen": (lambda c: c.rayjob(RAYJOB, "Failed", "FAILED", reason="DeadlineExceeded",
                                   message="the RayJob ran past its activeDeadlineSeconds"), "RayJobDeadlineExceeded"),
    "finetune": (lambda c: c.pytorchjob(PTJOB, "Failed", reason="PyTorchJobFailed",
                                        message="pytorch-worker-1 exited with code 137"), "PyTorchJobFailed"),
    "eval": (lambda c: c.job(EVALJOB, "Failed", reason="BackoffLimitExceeded",
                             message="Job has reached the specified backoff limit"), "BackoffLimitExceeded"),
}
STAGE_CONDITION = {"teacher": "TeacherReady", "datagen": "DataGenerated", "finetune": "ModelTrained", "eval": "Evaluated"}
STAGE_PHASE = dict(zip(STAGES, PHASES))
BATCH_CHILD = {"datagen": ("RayJob", RAYJOB), "finetune": ("PyTorchJob", PTJOB), "eval": ("Job", EVALJOB)}


def suspended(obj: dict[str, Any]) -> Any:
    """spec.suspend, or spec.runPolicy.suspend of a PyTorchJob."""
    spec = obj["spec"]
    return spec.get("runPolicy", {}).get("suspend") if obj["kind"] == "PyTorchJob" else spec.get("suspend")


@pytest.mark.parametrize("stage", STAGES)
def test_a_failed_stage_fails_the_run_with_the_childs_reason(cluster: Cluster, stage: str) -> None:
    c = cluster
    fail, reason = FAILURES[stage]
    to_stage(c, stage)
    fail(c)
    status = c.wait_phase(RUN, "Failed")
    assert status["stage"] == stage
    assert status["message"].startswith(f"{stage} failed: {reason}: ")
    conditions = {cond["type"]: cond for cond in status["conditions"]}
    assert (conditions["Stalled"]["status"], conditions["Ready"]["status"]) == ("True", "False")
    assert conditions["Succeeded"]["reason"] == conditions["Stalled"]["reason"] == reason
    if stage != "teacher":  # TeacherReady ends ScaledDown: the teacher is released after the failure
        assert (conditions[STAGE_CONDITION[stage]]["status"], conditions[STAGE_CONDITION[stage]]["reason"]) == \
            ("False", reason)

    # Nothing keeps running: servers released, teacher at zero.
    c.wait_child("Deployment", TEACHER, lambda d: d["spec"]["replicas"] == 0)
    for name in SERVERS:
        c.wait_gone("Deployment", name)

    c.settle()
    warnings = [(e["reason"], e["message"]) for e in c.events(RUN) if e["type"] == "Warning"]
    assert [r for r, _ in warnings][-2:] == [reason, "Failed"], warnings
    assert warnings[-1][1].startswith(f"phase {STAGE_PHASE[stage]} → Failed: {stage} failed: {reason}")
    assert phase_events(c).count("Failed") == 1
    c.assert_quiet()


@pytest.mark.parametrize("stage", ["datagen", "finetune", "eval"])
def test_suspend_pauses_the_children_and_resume_continues(cluster: Cluster, stage: str) -> None:
    c = cluster
    to_stage(c, stage)
    servers = [TEACHER] + (SERVERS if stage == "eval" else [])

    c.patch("RaftRun", RUN, {"spec": {"suspend": True}})
    status = c.wait_phase(RUN, "Suspended")
    assert status["stage"] == stage and status["observedGeneration"] == 2
    c.wait_child(*BATCH_CHILD[stage], lambda o: suspended(o) is True)
    for earlier in STAGES[1:STAGES.index(stage)]:
        assert not suspended(c.get(*BATCH_CHILD[earlier])), f"finished {BATCH_CHILD[earlier]} left as it ended"
    for name in servers:
        c.wait_child("Deployment", name, lambda d: d["spec"]["replicas"] == 0)
        c.deployment_rollout(name)
    c.settle()
    c.assert_quiet()

    c.patch("RaftRun", RUN, {"spec": {"suspend": False}})
    c.wait_phase(RUN, STAGE_PHASE[stage])
    if stage != "finetune":  # the teacher (and eval's servers) come back first
        for name in servers:
            c.wait_child("Deployment", name, lambda d: d["spec"]["replicas"] == 1)
            c.deployment_rollout(name)
    c.wait_child(*BATCH_CHILD[stage], lambda o: suspended(o) is False)
    run_to_success(c, stage)
    c.settle()
    assert_created_once(c, ALL_CHILDREN)
    assert phase_events(c) == PHASES[:STAGES.index(stage) + 1] + ["Suspended"] + PHASES[STAGES.index(stage):]


@pytest.mark.parametrize("stage", STAGES)
def test_a_restarted_operator_recreates_nothing_and_finishes_the_run(cluster: Cluster, stage: str) -> None:
    c = cluster
    to_stage(c, stage)
    c.settle()

    # A restart with nothing new to do: the new operator's indexes are full before its first tick.
    c.restart_operator()
    c.assert_quiet()

    # The stage's child finishes while no operator runs; the next one picks that up from its watches.
    c.stop_operator()
    END_STAGE[stage](c)
    c.start_operator()
    NEXT_STAGE[stage](c)
    for later in STAGES[STAGES.index(stage) + 1:]:
        finish(c, later)

    c.settle()
    assert_created_once(c, ALL_CHILDREN)
    assert phase_events(c) == PHASES, "no phase Event repeated by the new operators"


def refuse_rayjobs_then_start(c: Cluster, status: int, reason: str, message: str) -> None:
    """Make the API answer every RayJob create with ``status``; start the run up to datagen."""
    c.server.emulator.faults[("POST", "rayjobs")] = kmock.KubernetesError(status=status, reason=reason, message=message)
    start_run(c)
    teacher_up(c)


def test_a_transient_api_error_is_reported_in_one_line_and_retried(cluster: Cluster) -> None:
    """The API server is briefly unavailable for RayJobs: Ready=False in one line, then recovery."""
    c = cluster
    refuse_rayjobs_then_start(c, 503, "ServiceUnavailable", "the server is currently unable to handle the request")
    ready = wait_for(lambda: (r := c.condition(RUN, "Ready")).get("reason") == "ReconcileError" and r,
                     what="Ready ReconcileError")
    assert ready["status"] == "False" and ready["message"].startswith("503 ") and "\n" not in ready["message"]
    assert "unable to handle the request" in ready["message"] and "HTTP response headers" not in ready["message"]
    assert c.get("RayJob", RAYJOB) is None

    del c.server.emulator.faults[("POST", "rayjobs")]
    c.wait_child("RayJob", RAYJOB)
    wait_for(lambda: c.condition(RUN, "Ready").get("reason") == "Progressing", what="Ready again")
    assert c.status(RUN)["phase"] == "GeneratingData"
    c.settle()
    assert c.child_creates()[("RayJob", RAYJOB)] >= 2, "retried on later ticks"
    assert {k: n for k, n in c.child_creates().items() if n != 1 and k != ("RayJob", RAYJOB)} == {}


def test_transient_errors_back_off_exponentially_per_run(cluster: Cluster) -> None:
    """While the API keeps failing, attempts thin out (1, 2, 4, ... intervals), not one per tick."""
    c = cluster
    refuse_rayjobs_then_start(c, 500, "InternalError", "etcdserver: request timed out")
    wait_for(lambda: c.condition(RUN, "Ready").get("reason") == "ReconcileError", what="Ready ReconcileError")
    time.sleep(40 * c.interval)
    attempts = c.child_creates()[("RayJob", RAYJOB)]
    assert 2 <= attempts <= 7, f"{attempts} attempts in ~40 ticks: no exponential backoff"


def test_a_refusal_no_retry_changes_fails_the_run_in_one_line(cluster: Cluster) -> None:
    """A 403 on a kind (the operator lacks RBAC for RayJobs) fails the run with the server's cause,
    releases the teacher's GPUs, and is not retried."""
    c = cluster
    refuse_rayjobs_then_start(c, 403, "Forbidden", 'rayjobs.ray.io is forbidden: cannot create resource "rayjobs"')
    status = c.wait_phase(RUN, "Failed")
    assert status["message"] == ('datagen failed: RayJobRejected: creating RayJob demo-datagen: 403 rayjobs.ray.io is '
                                 'forbidden: cannot create resource "rayjobs"')
    assert c.condition(RUN, "Ready")["status"] == "False" and c.condition(RUN, "Stalled")["status"] == "True"
    c.wait_child("Deployment", TEACHER, lambda d: d["spec"]["replicas"] == 0)
    c.settle()
    assert c.child_creates()[("RayJob", RAYJOB)] == 1, "a permanent refusal is not retried"


def test_a_name_taken_by_an_object_of_someone_else_fails_the_run(cluster: Cluster) -> None:
    """A 409 is success only when the existing object is controlled by this RaftRun: a RaftRun
    whose <run>-workload names an existing ServiceAccount must not adopt it."""
    c = cluster
    c.create("ServiceAccount", {"apiVersion": "v1", "kind": "ServiceAccount",
                                "metadata": {"name": f"{RUN}-workload", "namespace": c.namespace}})
    c.create_run(RUN, SPEC)
    status = c.wait_phase(RUN, "Failed")
    assert f"ServiceAccount {RUN}-workload already exists and is not controlled by this RaftRun" in status["message"]
    assert c.get("Deployment", TEACHER) is None, "nothing that holds GPUs was created"
    c.settle()
    assert c.child_creates()[("ServiceAccount", f"{RUN}-workload")] == 1


def test_a_409_on_the_runs_own_child_is_success(cluster: Cluster) -> None:
    """The operator's own child (controller reference with the run's uid) is adopted after a 409,
    as after a restart whose watch had not yet delivered it."""
    c = cluster
    c.stop_operator()
    run = c.create_run(RUN, SPEC)
    owner = {"apiVersion": api.API_VERSION, "kind": api.KIND, "name": RUN, "uid": run["metadata"]["uid"],
             "controller": True, "blockOwnerDeletion": True}
    c.create("ServiceAccount", {"apiVersion": "v1", "kind": "ServiceAccount",  # unlabelled: the index misses it
                                "metadata": {"name": f"{RUN}-workload", "namespace": c.namespace,
                                             "ownerReferences": [owner]}})
    c.start_operator()
    c.wait_phase(RUN, "ServingTeacher")
    c.wait_child("Deployment", TEACHER)
    assert c.status(RUN).get("phase") == "ServingTeacher"


def test_a_retention_change_moves_the_claims_owner_reference(cluster: Cluster) -> None:
    """Merge patches on the wire: Delete → Retain drops the claim's ownerReferences, and back."""
    c = cluster
    uid = start_run(c)["metadata"]["uid"]
    claim = f"{RUN}-data"
    assert [o["uid"] for o in c.wait_child("PersistentVolumeClaim", claim)["metadata"]["ownerReferences"]] == [uid]
    c.patch("RaftRun", RUN, {"spec": {"storage": {"retentionPolicy": "Retain"}}})
    c.wait_child("PersistentVolumeClaim", claim, lambda pvc: pvc["metadata"]["ownerReferences"] == [])
    c.patch("RaftRun", RUN, {"spec": {"storage": {"retentionPolicy": "Delete"}}})
    pvc = c.wait_child("PersistentVolumeClaim", claim, lambda pvc: pvc["metadata"]["ownerReferences"] != [])
    assert pvc["metadata"]["ownerReferences"][0]["uid"] == uid
    c.settle()
    assert c.child_creates()[("PersistentVolumeClaim", claim)] == 1
