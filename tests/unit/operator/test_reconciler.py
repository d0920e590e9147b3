"""The reconciler's state machine: every stage, each stage's failure, suspend/resume, restarts."""

from __future__ import annotations

import copy
import json

import pytest

from harness import FakeCluster, raftrun
from raft_operator.conditions import ONE_LINE_LIMIT, one_line
from raft_operator.settled import at_rest

TEACHER, RAYJOB, PTJOB, EVALJOB = "demo-teacher", "demo-datagen", "demo-finetune", "demo-eval"
SERVERS = ["demo-serve-student", "demo-serve-base"]


def to_datagen(c: FakeCluster) -> None:
    c.step()
    c.deployment_available(TEACHER)
    c.step()


def to_finetune(c: FakeCluster) -> None:
    to_datagen(c)
    c.rayjob(RAYJOB, "Complete", "SUCCEEDED")
    c.step()


def to_eval(c: FakeCluster) -> None:
    to_finetune(c)
    c.pytorchjob(PTJOB, "Succeeded")
    c.step()


def servers_up(c: FakeCluster) -> None:
    c.deployment_available(TEACHER)
    for s in SERVERS:
        c.deployment_available(s)
    c.step()


def test_happy_path_walks_every_stage_in_order() -> None:
    c = FakeCluster(raftrun())
    c.step()
    assert c.phase == "ServingTeacher"
    assert ("Deployment", TEACHER) in c.objects and ("RayJob", RAYJOB) not in c.objects
    assert {k for k, _ in c.creates} >= {"ServiceAccount", "Role", "RoleBinding", "ConfigMap", "PersistentVolumeClaim",
                                         "Deployment", "Service"}
    c.deployment_available(TEACHER)
    c.step()
    assert c.phase == "GeneratingData" and c.condition("TeacherReady")["status"] == "True"
    assert ("RayJob", RAYJOB) in c.objects
    c.progress("datagen", json.dumps({"chunksDone": 30, "chunksTotal": 120, "records": 100, "malformed": 2, "retries": 5}))
    c.rayjob(RAYJOB, "Running", "RUNNING")
    c.step()
    assert c.run["status"]["progress"] == "chunks 30/120 (25%)"
    assert c.run["status"]["datagen"]["malformed"] == 2
    c.rayjob(RAYJOB, "Complete", "SUCCEEDED")
    c.step()
    assert c.phase == "FineTuning"
    assert c.get("Deployment", TEACHER)["spec"]["replicas"] == 0, "teacher scaled to zero during fine-tuning"
    assert c.condition("TeacherReady")["reason"] == "ScaledDown"
    assert ("PyTorchJob", PTJOB) in c.objects
    c.pytorchjob(PTJOB, "Succeeded")
    c.step()
    assert c.phase == "Evaluating"
    assert c.get("Deployment", TEACHER)["spec"]["replicas"] == 1, "teacher back as judge"
    assert all(("Deployment", s) in c.objects for s in SERVERS)
    assert ("Job", EVALJOB) not in c.objects, "eval waits for its servers"
    servers_up(c)
    assert ("Job", EVALJOB) in c.objects
    c.progress("eval", json.dumps({"results": [{"model": "student", "mode": "rag", "topK": 5, "judgeScore": 0.8}],
                                   "summary": {"model": "student", "judgeScore": 0.8, "improvement": {"base": 0.25}}}))
    c.job(EVALJOB, "Complete")
    c.step()
    assert c.phase == "Succeeded"
    status = c.run["status"]
    assert status["score"] == "judge 0.80 (+25% vs base)"
    assert c.condition("Succeeded")["status"] == "True" and c.condition("Ready")["status"] == "True"
    assert c.get("Deployment", TEACHER)["spec"]["replicas"] == 0
    assert not any(("Deployment", s) in c.objects for s in SERVERS), "eval servers deleted"
    assert all("completionTime" in status["stages"][s] for s in ("teacher", "datagen", "finetune", "eval"))
    phases = [m for t, r, m in c.events if "→" in m]
    assert phases == ["phase None → ServingTeacher", "phase ServingTeacher → GeneratingData",
                      "phase GeneratingData → FineTuning", "phase FineTuning → Evaluating", "phase Evaluating → Succeeded"]
    assert status["observedGeneration"] == 1
    for cond in status["conditions"]:
        assert cond["observedGeneration"] == 1 and cond["reason"] and "lastTransitionTime" in cond


def test_steady_state_plans_nothing() -> None:
    c = FakeCluster(raftrun())
    to_finetune(c)
    c.step()
    before = copy.deepcopy(c.run["status"])
    plan = c.step()
    assert not plan.create and not plan.patch and not plan.delete and not plan.events
    assert plan.status == before


def test_external_teacher_skips_serving() -> None:
    spec = raftrun()["spec"]
    spec["teacher"] = {"external": {"url": "https://api.example.com/v1", "model": "big",
                                    "apiKeySecretRef": {"name": "key"}}}
    c = FakeCluster(raftrun(spec=spec))
    c.step()
    assert c.phase == "GeneratingData"
    assert not any(k == "Deployment" for k, _ in c.creates)
    assert c.condition("TeacherReady")["reason"] == "ExternalEndpoint"


@pytest.mark.parametrize("stage", ["teacher", "datagen", "finetune", "eval"])
def test_failure_of_each_stage_fails_the_run_with_the_childs_reason(stage: str) -> None:
    spec = raftrun()["spec"]
    spec["teacher"]["vllm"]["startupTimeoutSeconds"] = 60
    c = FakeCluster(raftrun(spec=spec))
    if stage == "teacher":
        c.step()
        pod = {"kind": "Pod", "metadata": {"name": "demo-teacher-abc", "labels": {
            "app.kubernetes.io/managed-by": "raft-operator", "raftoperator.io/run": "demo",
            "app.kubernetes.io/component": "teacher"}},
            "status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                       "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}]}}
        c.objects[("Pod", "demo-teacher-abc")] = pod
        c.step()
        assert c.phase == "ServingTeacher"
        assert c.condition("TeacherReady")["reason"] == "Unschedulable"
        c.step(seconds=120)
        expect = "Insufficient nvidia.com/gpu"
    elif stage == "datagen":
        to_datagen(c)
        c.rayjob(RAYJOB, "Failed", "FAILED", message="teacher http://demo-teacher:8000 stayed down")
        c.step()
        expect = "stayed down"
    elif stage == "finetune":
        to_finetune(c)
        c.pytorchjob(PTJOB, "Failed", message="pytorch replica Master-0 exited with code 1", reason="PyTorchJobFailed")
        c.step()
        expect = "Master-0 exited"
    else:
        to_eval(c)
        servers_up(c)
        c.job(EVALJOB, "Failed", message="Job has reached the specified backoff limit", reason="BackoffLimitExceeded")
        c.step()
        expect = "backoff limit"
    assert c.phase == "Failed"
    assert expect in c.run["status"]["message"]
    stalled, ready = c.condition("Stalled"), c.condition("Ready")
    assert stalled["status"] == "True" and ready["status"] == "False" and expect in ready["message"]
    assert any(t == "Warning" and expect in m for t, _, m in c.events)
    if ("Deployment", TEACHER) in c.objects:
        assert c.get("Deployment", TEACHER)["spec"]["replicas"] == 0, "a failed run holds no GPUs"
    plan = c.step()
    assert c.phase == "Failed" and not plan.create, "a failed run stays failed"


def test_probe_failure_keeps_waiting_then_succeeds() -> None:
    c = FakeCluster(raftrun(), probe_ok=False)
    c.step()
    c.deployment_available(TEACHER)
    c.step()
    assert c.phase == "ServingTeacher" and c.condition("TeacherReady")["reason"] == "ProbeFailed"
    c.probe_ok = True
    c.step()
    assert c.phase == "GeneratingData"
    probes = c.probes
    c.step()
    assert c.probes == probes, "no probe once the teacher is confirmed"


def drive_to_success(c: FakeCluster, max_steps: int = 20) -> None:
    """Play every controller's part until the run ends."""
    for _ in range(max_steps):
        for (kind, name), obj in list(c.objects.items()):
            if kind == "Deployment" and obj["spec"]["replicas"]:
                c.deployment_available(name)
            elif kind == "RayJob" and not obj["spec"]["suspend"]:
                c.rayjob(name, "Complete", "SUCCEEDED")
            elif kind == "PyTorchJob" and not obj["spec"]["runPolicy"]["suspend"]:
                c.pytorchjob(name, "Succeeded")
            elif kind == "TrainJob" and not obj["spec"]["suspend"]:
                c.trainjob(name, "Complete")
            elif kind == "Job" and not obj["spec"]["suspend"]:
                c.job(name, "Complete")
        c.step()
        if c.phase in ("Succeeded", "Failed"):
            return


def suspended(obj: dict) -> bool:
    return bool(obj["spec"]["runPolicy"]["suspend"] if obj["kind"] == "PyTorchJob" else obj["spec"].get("suspend"))


@pytest.mark.parametrize("stage", ["teacher", "datagen", "finetune", "eval"])
def test_suspend_and_resume_in_each_stage(stage: str) -> None:
    c = FakeCluster(raftrun())
    {"teacher": lambda: c.step(), "datagen": lambda: to_datagen(c), "finetune": lambda: to_finetune(c),
     "eval": lambda: (to_eval(c), servers_up(c))}[stage]()
    c.run["spec"]["suspend"] = True
    c.step()
    assert c.phase == "Suspended" and c.condition("Ready")["reason"] == "Suspended"
    batch = {"datagen": ("RayJob", RAYJOB), "finetune": ("PyTorchJob", PTJOB), "eval": ("Job", EVALJOB)}.get(stage)
    if batch:
        assert suspended(c.get(*batch)), f"{batch} suspended"
    for name in [TEACHER] + SERVERS:
        if c.get("Deployment", name):
            assert c.get("Deployment", name)["spec"]["replicas"] == 0, f"{name} scaled to zero"
    assert not c.step().create, "nothing new starts while suspended"
    c.run["spec"]["suspend"] = False
    c.step()
    assert c.phase != "Suspended"
    if batch:
        assert not suspended(c.get(*batch)), f"{batch} resumed"
    drive_to_success(c)
    assert c.phase == "Succeeded"


@pytest.mark.parametrize("stage", ["teacher", "datagen", "finetune", "eval"])
def test_restart_mid_stage_creates_no_duplicates(stage: str) -> None:
    """A restarted operator sees the same status and children: it creates nothing twice."""
    c = FakeCluster(raftrun())
    {"teacher": lambda: c.step(), "datagen": lambda: to_datagen(c), "finetune": lambda: to_finetune(c),
     "eval": lambda: (to_eval(c), servers_up(c))}[stage]()
    fresh = FakeCluster(copy.deepcopy(c.run))  # a new operator process: nothing in memory
    fresh.objects = copy.deepcopy(c.objects)
    fresh.now = c.now
    plan = fresh.step()
    assert plan.create == [], f"restart in {stage} created {[(m['kind'], m['metadata']['name']) for m in plan.create]}"
    assert fresh.phase == c.phase


def test_retention_policy_sets_pvc_owner_reference() -> None:
    spec = raftrun()["spec"]
    spec["storage"]["retentionPolicy"] = "Delete"
    c = FakeCluster(raftrun(spec=spec))
    c.step()
    assert c.get("PersistentVolumeClaim", "demo-data")["metadata"]["ownerReferences"][0]["uid"] == "uid-demo"
    c.run["spec"]["storage"]["retentionPolicy"] = "Retain"
    c.step()
    assert c.get("PersistentVolumeClaim", "demo-data")["metadata"]["ownerReferences"] == []


def test_existing_claim_is_not_created() -> None:
    spec = raftrun()["spec"]
    spec["storage"] = {"existingClaim": "shared"}
    c = FakeCluster(raftrun(spec=spec))
    c.step()
    assert not any(k == "PersistentVolumeClaim" for k, _ in c.creates)
    vols = c.get("Deployment", TEACHER)["spec"]["template"]["spec"]["volumes"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "shared"}} in vols


def test_separate_judge_and_no_teacher_baseline_keeps_teacher_down_in_eval() -> None:
    spec = raftrun()["spec"]
    spec["eval"] = {"judge": {"url": "https://judge.example.com/v1", "model": "judge"}, "baselines": {"teacher": False}}
    c = FakeCluster(raftrun(spec=spec))
    to_eval(c)
    assert c.phase == "Evaluating"
    assert c.get("Deployment", TEACHER)["spec"]["replicas"] == 0
    for s in SERVERS:
        c.deployment_available(s)
    c.step()
    assert ("Job", EVALJOB) in c.objects


@pytest.mark.parametrize("payload", [
    "not json", "[1, 2]", '{"results": 3}', '{"results": [1, {"model": 2}], "summary": 0.5}',
    '{"summary": {"judgeScore": "high", "improvement": 0.3}}', '{"results": [{"model": "s", "judgeScore": true}]}',
])
def test_malformed_progress_never_breaks_reconcile(payload: str) -> None:
    c = FakeCluster(raftrun())
    to_eval(c)
    for key in ("datagen", "finetune", "eval"):
        c.progress(key, payload)
    servers_up(c)
    assert c.phase == "Evaluating"
    assert c.condition("Ready")["status"] == "True"


def test_eval_interim_progress_is_shown() -> None:
    c = FakeCluster(raftrun())
    to_eval(c)
    servers_up(c)
    c.progress("eval", json.dumps({"phase": "answering", "answersDone": 120, "answersTotal": 480}))
    c.step()
    assert c.run["status"]["progress"] == "answers 120/480 (25%)"


def test_student_model_check_failure_fails_the_run_at_once() -> None:
    """The student server's init container found the image misreads the export: no waiting."""
    c = FakeCluster(raftrun())
    to_eval(c)
    message = ("served model config differs from the export (this server's transformers 4.57.1): "
               "rope.rope_theta: export 100000.0, served 10000.0")
    c.objects[("Pod", "demo-serve-student-abc")] = {
        "kind": "Pod", "metadata": {"name": "demo-serve-student-abc", "labels": {
            "app.kubernetes.io/managed-by": "raft-operator", "raftoperator.io/run": "demo",
            "app.kubernetes.io/component": "student-server"}},
        "status": {"initContainerStatuses": [{"name": "check-model", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                                              "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                                                                           "message": message}}}]}}
    c.step()
    assert c.phase == "Failed"
    assert c.condition("Evaluated")["reason"] == "StudentModelConfigMismatch"
    assert c.condition("Stalled")["status"] == "True"
    assert "rope.rope_theta: export 100000.0, served 10000.0" in c.run["status"]["message"]


BOTH = frozenset({"TrainJob", "PyTorchJob"})


def test_trainjob_when_trainer_is_served_success_and_failure_read_from_its_conditions() -> None:
    c = FakeCluster(raftrun(), served=BOTH)
    to_finetune(c)
    assert ("TrainJob", PTJOB) in c.objects and ("PyTorchJob", PTJOB) not in c.objects
    assert c.condition("ModelTrained")["message"] == "TrainJob created"
    c.set_status("TrainJob", PTJOB, {"jobsStatus": [{"name": "node", "active": 2, "ready": 2, "succeeded": 0,
                                                      "failed": 0, "suspended": 0}]})
    c.step()
    assert c.condition("ModelTrained")["reason"] == "Running" and "node: 2 active, 2 ready" in c.condition("ModelTrained")["message"]
    c.trainjob(PTJOB, "Complete", reason="JobsCompleted", message="jobset completed")
    c.step()
    assert c.condition("ModelTrained")["reason"] == "TrainJobSucceeded" and c.run["status"]["stage"] == "eval"

    failing = FakeCluster(raftrun(), served=BOTH)
    to_finetune(failing)
    failing.trainjob(PTJOB, "Failed", reason="DeadlineExceeded", message="TrainJob exceeded its activeDeadlineSeconds")
    failing.step()
    assert failing.phase == "Failed" and failing.condition("ModelTrained")["reason"] == "TrainJobDeadlineExceeded"


def test_trainjob_suspend_and_resume_patch_spec_suspend() -> None:
    c = FakeCluster(raftrun(), served=BOTH)
    to_finetune(c)
    c.run["spec"]["suspend"] = True
    c.step()
    assert c.get("TrainJob", PTJOB)["spec"]["suspend"] is True
    c.run["spec"]["suspend"] = False
    c.step()
    assert c.get("TrainJob", PTJOB)["spec"]["suspend"] is False


def test_a_run_keeps_the_kind_it_started_with() -> None:
    c = FakeCluster(raftrun(), served=frozenset({"PyTorchJob"}))
    to_finetune(c)
    assert ("PyTorchJob", PTJOB) in c.objects
    c.served = BOTH  # Trainer installed mid-run (or the operator restarted)
    c.step()
    assert ("TrainJob", PTJOB) not in c.objects
    c.pytorchjob(PTJOB, "Succeeded")
    c.step()
    assert c.run["status"]["stage"] == "eval"


def test_no_training_api_fails_before_the_teacher_takes_gpus() -> None:
    c = FakeCluster(raftrun(), served=frozenset())
    c.step()
    assert c.phase == "Failed" and c.condition("ModelTrained")["reason"] == "TrainingApiNotServed"
    assert "install Kubeflow Trainer" in c.run["status"]["message"]
    assert ("Deployment", TEACHER) not in c.objects


def workload(owner_kind: str, owner: str, message: str = "") -> dict:
    """A Kueue Workload owned by a child, not admitted."""
    return {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "Workload",
            "metadata": {"name": f"{owner_kind.lower()}-{owner}-1a2b3", "ownerReferences": [
                {"apiVersion": "x", "kind": owner_kind, "name": owner, "uid": "u", "controller": True}]},
            "status": {"conditions": [{"type": "QuotaReserved", "status": "False", "reason": "Pending",
                                       "message": message}]}}


def queued_to_finetune(served: frozenset) -> FakeCluster:
    body = raftrun()
    body["spec"]["scheduling"] = {"queueName": "gpus"}
    c = FakeCluster(body, served=served)
    to_datagen(c)
    c.get("RayJob", RAYJOB)["spec"]["suspend"] = False  # Kueue admitted datagen
    c.rayjob(RAYJOB, "Complete", "SUCCEEDED")
    c.step()
    return c


@pytest.mark.parametrize("kind", ["PyTorchJob", "TrainJob"])
def test_kueue_that_never_manages_the_job_fails_the_run_naming_the_setting(kind: str) -> None:
    served = frozenset({kind, "Workload"})
    c = queued_to_finetune(served)
    job = c.get(kind, PTJOB)
    job["metadata"]["creationTimestamp"] = c.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    c.step(seconds=60)
    assert c.phase == "FineTuning", "Kueue gets time to make the Workload"
    c.step(seconds=90)
    assert c.phase == "Failed" and c.condition("ModelTrained")["reason"] == "KueueNotManaging"
    message = c.run["status"]["message"]
    framework = {"PyTorchJob": "kubeflow.org/pytorchjob", "TrainJob": "trainer.kubeflow.org/trainjob"}[kind]
    assert f"enable the {framework} integration" in message and "kueue-manager-config" in message
    assert ("spec.student.trainingApi TrainJob" in message) == (kind == "PyTorchJob")


def test_a_job_with_a_workload_waits_for_quota_as_long_as_it_takes() -> None:
    c = queued_to_finetune(frozenset({"PyTorchJob", "Workload"}))
    c.get("PyTorchJob", PTJOB)["metadata"]["creationTimestamp"] = c.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    wl = workload("PyTorchJob", PTJOB, "couldn't assign flavors to pod set master: insufficient quota for nvidia.com/gpu")
    c.objects[("Workload", wl["metadata"]["name"])] = wl
    c.step(seconds=3600)
    assert c.phase == "FineTuning"
    assert "insufficient quota for nvidia.com/gpu" in c.condition("ModelTrained")["message"]


def test_queue_name_without_kueue_fails_before_anything_runs() -> None:
    body = raftrun()
    body["spec"]["scheduling"] = {"queueName": "gpus"}
    c = FakeCluster(body, served=frozenset({"TrainJob"}))
    c.step()
    assert c.phase == "Failed" and "serves no Kueue Workload API" in c.run["status"]["message"]
    assert ("Deployment", TEACHER) not in c.objects


def test_reconciling_is_true_while_a_stage_runs_for_kstatus() -> None:
    c = FakeCluster(raftrun())
    c.step()
    rec = c.condition("Reconciling")
    assert rec["status"] == "True" and rec["reason"] == "ServingTeacher" and rec["message"].startswith("stage teacher")
    to_finetune(c)
    assert c.condition("Reconciling")["reason"] == "FineTuning"
    c.run["spec"]["suspend"] = True
    c.step()
    rec = c.condition("Reconciling")  # the pass that suspends the PyTorchJob still writes
    assert rec["status"] == "True" and rec["reason"] == "Releasing" and c.phase == "Suspended"
    assert not at_rest(c.run)
    c.step()
    assert c.condition("Reconciling")["status"] == "False" and c.condition("Reconciling")["reason"] == "Suspended"
    assert at_rest(c.run), "nothing left to do: the timer may stop"
    c.run["spec"]["suspend"] = False
    c.run["metadata"]["generation"] += 1
    assert not at_rest(c.run), "a new generation needs a pass"
    c.step()
    assert c.condition("Reconciling")["status"] == "True"
    c.pytorchjob(PTJOB, "Failed", message="boom")
    c.step()
    c.step()
    rec = c.condition("Reconciling")
    assert rec["status"] == "False" and rec["reason"] == "Failed" and "boom" in rec["message"]
    assert c.condition("Stalled")["status"] == "True"
    assert not any(r == "Reconciling" or "Reconciling=" in m for _, r, m in c.events), "no Event per tick"


def multi_node_run() -> dict:
    body = raftrun()
    body["spec"]["teacher"]["vllm"].update(tensorParallelSize=8, pipelineParallelSize=2)
    return body


def test_multi_node_teacher_runs_as_a_leaderworkerset_and_scales_to_zero_after_datagen() -> None:
    c = FakeCluster(multi_node_run(), served=frozenset({"PyTorchJob", "LeaderWorkerSet"}))
    c.step()
    assert ("LeaderWorkerSet", TEACHER) in c.objects and ("Deployment", TEACHER) not in c.objects
    c.set_status("LeaderWorkerSet", TEACHER, {"replicas": 1, "readyReplicas": 1,
                                              "conditions": [{"type": "Available", "status": "True"}]})
    c.step()
    assert c.condition("TeacherReady")["status"] == "True" and c.phase == "GeneratingData"
    c.rayjob(RAYJOB, "Complete", "SUCCEEDED")
    c.step()
    assert c.get("LeaderWorkerSet", TEACHER)["spec"]["replicas"] == 0, "the teacher's GPUs go back during fine-tuning"


def test_multi_node_teacher_without_leaderworkerset_fails_at_once() -> None:
    c = FakeCluster(multi_node_run(), served=frozenset({"PyTorchJob"}))
    c.step()
    assert c.phase == "Failed" and c.condition("TeacherReady")["reason"] == "LeaderWorkerSetNotServed"
    assert not c.creates or all(k != "LeaderWorkerSet" for k, _ in c.creates)


def test_a_failed_runs_message_is_one_line_and_its_condition_keeps_the_logs():
    """KubeRay appends the job's last log lines to a failed RayJob's message (seen with KubeRay
    v1.6.2): status.message is one line, the first and the last of them; the stage condition
    keeps the whole text."""
    logs = ("Job entrypoint command failed with exit code 2, last available logs (truncated to 20 lines):\n"
            "Traceback (most recent call last):\n  File \"x.py\", line 1\n"
            "raft_jobs.datagen.pipeline.DatagenError: the volume corpus yielded no text\n")
    c = FakeCluster(raftrun())
    to_datagen(c)
    c.rayjob(RAYJOB, "Failed", "FAILED", message=logs)
    c.step()
    assert c.phase == "Failed"
    assert c.run["status"]["message"] == (
        "datagen failed: RayJobFailed: Job entrypoint command failed with exit code 2, last available logs "
        "(truncated to 20 lines): … raft_jobs.datagen.pipeline.DatagenError: the volume corpus yielded no text")
    assert c.condition("DataGenerated")["message"] == logs
    long = one_line("x" * 2000)
    assert long.endswith("…") and len(long) == ONE_LINE_LIMIT and one_line("") == ""
