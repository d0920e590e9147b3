"""Kueue's admission as the operator sees it: servers whose pods wait for quota behind Kueue's
scheduling gate, children Kueue queued by itself (a LocalQueue named ``default``), and Kueue's
waitForPodsReady timeout against the run's own start-up deadlines."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from harness import FakeCluster, raftrun
from raft_operator import handlers
from raft_operator.observed import summarize

from test_reconciler import EVALJOB, PTJOB, RAYJOB, TEACHER, servers_up, to_datagen, to_eval, to_finetune

TEACHER_POD = "demo-teacher-7d9f8c-x2x4k"
STUDENT_POD = "demo-serve-student-5c6d7-q8w9e"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
NO_QUOTA = "couldn't assign flavors to pod set main: insufficient unused quota for nvidia.com/gpu in flavor h100"


def ts(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def gated_pod(c: FakeCluster, name: str, component: str) -> None:
    """A server pod as Kueue's pod webhook leaves it: gated until its Workload is admitted. The API
    server sets PodScheduled=False/SchedulingGated when it creates a pod with gates."""
    c.objects[("Pod", name)] = {
        "kind": "Pod",
        "metadata": {"name": name, "creationTimestamp": ts(c.now), "resourceVersion": "1", "labels": {
            "app.kubernetes.io/managed-by": "raft-operator", "raftoperator.io/run": "demo",
            "app.kubernetes.io/component": component, QUEUE_LABEL: "default", "kueue.x-k8s.io/managed": "true"}},
        "spec": {"schedulingGates": [{"name": "kueue.x-k8s.io/admission"}]},
        "status": {"phase": "Pending", "conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "SchedulingGated",
            "message": "Scheduling is blocked due to non-empty scheduling gates", "lastTransitionTime": ts(c.now)}]}}


def pod_workload(c: FakeCluster, pod: str, message: str = NO_QUOTA) -> None:
    """Kueue's Workload of one server pod (the pod and deployment integrations make one per pod), pending."""
    c.objects[("Workload", f"pod-{pod}-1a2b3")] = {
        "apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "Workload",
        "metadata": {"name": f"pod-{pod}-1a2b3", "resourceVersion": "1", "ownerReferences": [
            {"apiVersion": "v1", "kind": "Pod", "name": pod, "uid": "u", "controller": True}]},
        "status": {"conditions": [{"type": "QuotaReserved", "status": "False", "reason": "Pending",
                                   "message": message, "lastTransitionTime": ts(c.now)}]}}


def admit(c: FakeCluster, pod: str, *, scheduled: bool) -> None:
    """Kueue admits the pod's Workload now and removes the gate. Scheduled: the pod is bound and
    its container loads; else the scheduler finds no node, and PodScheduled keeps the
    lastTransitionTime of the gated pod (its status stays False)."""
    c.objects[("Workload", f"pod-{pod}-1a2b3")]["status"] = {"conditions": [
        {"type": "QuotaReserved", "status": "True", "reason": "QuotaReserved", "message": "", "lastTransitionTime": ts(c.now)},
        {"type": "Admitted", "status": "True", "reason": "Admitted", "message": "", "lastTransitionTime": ts(c.now)}]}
    obj = c.objects[("Pod", pod)]
    obj["spec"] = {}
    cond = obj["status"]["conditions"][0]
    if scheduled:
        obj["status"] = {"phase": "Running", "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": ts(c.now)},
            {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "lastTransitionTime": ts(c.now)}]}
    else:
        cond.update(reason="Unschedulable", message="0/4 nodes are available: 4 Insufficient nvidia.com/gpu.")


# ---- 1. queued servers wait for quota, and their deadlines start at admission ---------------------


def test_a_teacher_waiting_for_kueue_quota_is_queued_not_stuck() -> None:
    c = FakeCluster(raftrun())
    c.step()
    gated_pod(c, TEACHER_POD, "teacher")
    pod_workload(c, TEACHER_POD)
    c.step(seconds=2000)  # past failurePolicy.pendingDeadlineSeconds (1800)
    assert c.phase == "ServingTeacher"
    cond = c.condition("TeacherReady")
    assert cond["reason"] == "WaitingForQuota" and f"queued in Kueue: {NO_QUOTA}" in cond["message"]
    # The Deployment controller gives up on a rollout whose pods never start; a queued one is not stuck.
    c.get("Deployment", TEACHER)["status"] = {"conditions": [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
         "message": f'ReplicaSet "{TEACHER}-7d9f8c" has timed out progressing.', "lastTransitionTime": ts(c.now)}]}
    plan = c.step(seconds=2000)  # past startupTimeoutSeconds (3600) too
    assert c.phase == "ServingTeacher" and c.condition("TeacherReady")["reason"] == "WaitingForQuota"
    assert plan.recheck_at is None, "no deadline runs while the teacher waits for quota"
    warnings = {reason for kind, reason, _ in c.events if kind == "Warning"}
    # Kueue queued the teacher by itself (no queueName): it would evict a teacher loading 3,600 s.
    assert warnings == {"StartupTimeoutExceedsKueueWaitForPodsReady"}, "waiting for quota is no warning"


def test_the_teachers_startup_timeout_starts_when_kueue_admits_it() -> None:
    c = FakeCluster(raftrun())
    c.step()
    gated_pod(c, TEACHER_POD, "teacher")
    pod_workload(c, TEACHER_POD)
    c.step(seconds=5000)
    admit(c, TEACHER_POD, scheduled=True)
    admitted = c.now
    plan = c.step()
    assert c.phase == "ServingTeacher" and c.condition("TeacherReady")["reason"] == "Loading"
    assert plan.recheck_at == admitted + dt.timedelta(seconds=3600)
    c.step(seconds=3500)
    assert c.phase == "ServingTeacher", "3,510 s after admission: within startupTimeoutSeconds"
    c.step(seconds=100)
    assert c.phase == "Failed" and c.condition("TeacherReady")["reason"] == "TeacherNotReady"


def test_the_pending_deadline_of_an_admitted_pod_starts_at_admission() -> None:
    c = FakeCluster(raftrun())
    c.step()
    gated_pod(c, TEACHER_POD, "teacher")
    pod_workload(c, TEACHER_POD)
    c.step(seconds=3000)
    admit(c, TEACHER_POD, scheduled=False)  # PodScheduled=False since the pod's creation, 3,000 s ago
    c.step(seconds=10)
    assert c.phase == "ServingTeacher" and c.condition("TeacherReady")["reason"] == "Unschedulable"
    c.step(seconds=1700)
    assert c.phase == "ServingTeacher", "1,710 s after admission: within pendingDeadlineSeconds"
    c.step(seconds=200)
    assert c.phase == "Failed" and c.condition("TeacherReady")["reason"] == "TeacherPodUnschedulable"


def test_student_servers_waiting_for_kueue_quota_hold_the_eval_stage_not_fail_it() -> None:
    c = FakeCluster(raftrun())
    to_eval(c)
    c.deployment_available(TEACHER)
    gated_pod(c, STUDENT_POD, "student-server")
    pod_workload(c, STUDENT_POD)
    for _ in range(3):
        c.step(seconds=2000)
    assert c.phase == "Evaluating"
    cond = c.condition("Evaluated")
    assert cond["reason"] == "WaitingForQuota" and NO_QUOTA in cond["message"]


# ---- 2. a child Kueue queued by itself (a LocalQueue named default) ------------------------------


def kueue_defaults(c: FakeCluster, kind: str, name: str) -> None:
    """What Kueue's webhook does to a job created without a queue-name in a namespace with a
    LocalQueue named default: labels it, suspends it; then Kueue makes its Workload."""
    obj = c.get(kind, name)
    obj["metadata"]["labels"][QUEUE_LABEL] = "default"
    if kind == "PyTorchJob":
        obj["spec"]["runPolicy"]["suspend"] = True
    else:
        obj["spec"]["suspend"] = True
    c.objects[("Workload", f"{kind.lower()}-{name}-1a2b3")] = {
        "apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "Workload",
        "metadata": {"name": f"{kind.lower()}-{name}-1a2b3", "ownerReferences": [
            {"apiVersion": "x", "kind": kind, "name": name, "uid": "u", "controller": True}]},
        "status": {"conditions": [{"type": "QuotaReserved", "status": "False", "reason": "Pending",
                                   "message": NO_QUOTA}]}}


@pytest.mark.parametrize("kind,name", [("RayJob", RAYJOB), ("PyTorchJob", PTJOB), ("Job", EVALJOB)])
def test_the_operator_never_unsuspends_a_child_that_kueue_queued_by_default(kind: str, name: str) -> None:
    c = FakeCluster(raftrun(), served=frozenset({"PyTorchJob", "Workload"}))  # no spec.scheduling.queueName
    {"RayJob": to_datagen, "PyTorchJob": to_finetune, "Job": lambda c: (to_eval(c), servers_up(c))}[kind](c)
    kueue_defaults(c, kind, name)
    for _ in range(3):
        plan = c.step()
        assert not [ref for ref, _ in plan.patch if ref.kind == kind], f"the operator fights Kueue over {kind} {name}"
    obj = c.get(kind, name)
    assert (obj["spec"]["runPolicy"] if kind == "PyTorchJob" else obj["spec"])["suspend"] is True
    if kind != "Job":
        stage = {"RayJob": "DataGenerated", "PyTorchJob": "ModelTrained"}[kind]
        assert NO_QUOTA in c.condition(stage)["message"]


def test_a_child_kueue_labelled_but_never_manages_fails_the_run() -> None:
    c = FakeCluster(raftrun(), served=frozenset({"PyTorchJob", "Workload"}))  # no spec.scheduling.queueName
    to_datagen(c)
    kueue_defaults(c, "RayJob", RAYJOB)
    c.objects.pop(("Workload", f"rayjob-{RAYJOB}-1a2b3"))  # ... but no Workload ever comes
    c.get("RayJob", RAYJOB)["metadata"]["creationTimestamp"] = ts(c.now)
    c.step(seconds=60)
    assert c.phase == "GeneratingData"
    c.step(seconds=90)
    assert c.phase == "Failed" and c.condition("DataGenerated")["reason"] == "KueueNotManaging"


def test_the_operator_still_resumes_what_it_suspended_itself_where_kueue_is_installed() -> None:
    c = FakeCluster(raftrun(), served=frozenset({"PyTorchJob", "Workload"}))
    to_datagen(c)
    c.run["spec"]["suspend"] = True
    c.step()
    assert c.get("RayJob", RAYJOB)["spec"]["suspend"] is True
    c.run["spec"]["suspend"] = False
    c.step()
    assert c.get("RayJob", RAYJOB)["spec"]["suspend"] is False, "no Kueue label, no Workload: the operator's own"


def test_the_index_lookup_finds_the_workloads_of_the_runs_pods_and_leaderworkerset() -> None:
    pod = summarize({"kind": "Pod", "metadata": {"name": TEACHER_POD, "labels": {"app.kubernetes.io/component": "teacher"}},
                     "spec": {"schedulingGates": [{"name": "kueue.x-k8s.io/admission"}]}})
    assert pod["gates"] == ["kueue.x-k8s.io/admission"]

    def workload(name: str, kind: str, owner: str) -> dict[str, Any]:
        return summarize({"kind": "Workload", "metadata": {"name": name, "ownerReferences": [
            {"kind": kind, "name": owner}]}, "status": {"conditions": [], "admission": {"clusterQueue": "big"}}})
    indexes = {"children_pods": {("team", "demo"): [pod]},
               "workloads": {("team", TEACHER_POD): [workload("w-pod", "Pod", TEACHER_POD)],
                             ("team", TEACHER): [workload("w-lws", "LeaderWorkerSet", TEACHER)],
                             ("team", "other-pod"): [workload("w-other", "Pod", "other-pod")]}}
    observed = handlers.observe("team", "demo", indexes)
    assert [w["name"] for w in observed.workloads_of("Pod", TEACHER_POD)] == ["w-pod"]
    assert [w["name"] for w in observed.workloads_of("LeaderWorkerSet", TEACHER)] == ["w-lws"]
    assert observed.get("Workload", "w-other") is None
    assert observed.get("Workload", "w-pod")["status"] == {"conditions": []}, "a Workload's summary keeps its conditions only"


# ---- 3. Kueue's waitForPodsReady timeout against the run's start-up deadlines ---------------------


def queued_run(**vllm: Any) -> FakeCluster:
    body = raftrun()
    body["spec"]["scheduling"] = {"queueName": "gpus"}
    body["spec"]["teacher"]["vllm"].update(vllm)
    return FakeCluster(body, served=frozenset({"PyTorchJob", "Workload"}))


def test_a_queued_run_whose_teacher_may_load_longer_than_kueue_waits_says_so() -> None:
    c = queued_run()  # startupTimeoutSeconds 3600 by default; Kueue's waitForPodsReady.timeout 1800 by default
    c.step()
    cond = c.condition("KueueDeadlines")
    assert cond["status"] == "False" and cond["reason"] == "StartupTimeoutExceedsKueueWaitForPodsReady"
    message = cond["message"]
    assert "\n" not in message
    for words in ("spec.teacher.vllm.startupTimeoutSeconds", "3600", "1800", "waitForPodsReady.timeout",
                  "kueueWaitForPodsReadySeconds"):
        assert words in message, words
    assert any(kind == "Warning" and reason == "StartupTimeoutExceedsKueueWaitForPodsReady" for kind, reason, _ in c.events)
    c.kueue_pods_ready_seconds = 7200  # Kueue's timeout raised, and the operator told so
    c.step()
    assert c.condition("KueueDeadlines")["status"] == "True"


@pytest.mark.parametrize("case", ["short startup timeout", "waitForPodsReady disabled", "not queued"])
def test_no_kueue_deadline_warning_when_kueue_cannot_evict_the_teacher_first(case: str) -> None:
    c = queued_run(startupTimeoutSeconds=1200) if case == "short startup timeout" else queued_run()
    if case == "waitForPodsReady disabled":
        c.kueue_pods_ready_seconds = 0
    if case == "not queued":
        c = FakeCluster(raftrun(), served=frozenset({"PyTorchJob", "Workload"}))
    c.step()
    assert not [x for x in c.run["status"]["conditions"] if x["type"] == "KueueDeadlines"]


def test_a_run_queued_by_kueues_default_localqueue_gets_the_warning_too() -> None:
    c = FakeCluster(raftrun(), served=frozenset({"PyTorchJob", "Workload"}))
    c.step()
    c.get("Deployment", TEACHER)["metadata"]["labels"][QUEUE_LABEL] = "default"  # Kueue's deployment webhook
    c.step()
    assert c.condition("KueueDeadlines")["reason"] == "StartupTimeoutExceedsKueueWaitForPodsReady"


def test_the_kueue_timeout_is_an_operator_setting_defaulting_to_kueues_own(monkeypatch: pytest.MonkeyPatch) -> None:
    from raft_operator.settings import Settings

    assert Settings.from_env().kueue_wait_for_pods_ready_seconds == 1800, "Kueue 0.19's default: 30 minutes"
    monkeypatch.setenv("RAFT_KUEUE_WAIT_FOR_PODS_READY_SECONDS", "0")
    assert Settings.from_env().kueue_wait_for_pods_ready_seconds == 0
