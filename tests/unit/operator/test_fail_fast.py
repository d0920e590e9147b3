"""Fail fast: the preflight, stuck pods, terminal states of children, permanent vs transient API
errors, and the run-name budget (issue 11). Admission rules run on the real API server in
tests/e2e/test_crd_validation.py and tests/e2e/test_bad_manifests.py."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from kubernetes.client.rest import ApiException

from harness import FakeCluster, raftrun
from raft_operator import admission, adoption, api, preflight
from raft_operator.backoff import Backoff
from raft_operator.run import Run
from raft_operator.child_status import job_outcome, rayjob_outcome
from raft_operator.errors import PERMANENT_ON_CREATE, PermanentError, api_cause, refused
from raft_operator.observed import Observed
from raft_operator.reconciler import fail_run, needs_preflight

TEACHER, RAYJOB = "demo-teacher", "demo-datagen"
GPU_KINDS = {"Deployment", "RayJob", "PyTorchJob", "Job"}


def ts(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(c: FakeCluster, name: str, component: str, status: dict, created: dt.datetime) -> None:
    c.objects[("Pod", name)] = {
        "kind": "Pod", "metadata": {"name": name, "creationTimestamp": ts(created),
                                    "labels": {"app.kubernetes.io/component": component, "raftoperator.io/run": "demo"}},
        "status": status}


def unschedulable(message: str, since: dt.datetime) -> dict:
    return {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                                "message": message, "lastTransitionTime": ts(since)}]}


# ---- preflight --------------------------------------------------------------------------------


def test_a_run_with_missing_inputs_waits_in_pending_creating_nothing_and_goes_on() -> None:
    c = FakeCluster(raftrun())
    c.missing = ["Secret hf (spec.scheduling.huggingFaceTokenSecretRef.name) not found in namespace team: create it"]
    for _ in range(3):
        c.step()
    assert c.phase == "Pending" and c.objects == {}, "nothing is created, least of all the teacher"
    cond = c.condition("InputsReady")
    assert cond["status"] == "False" and "Secret hf" in cond["message"]
    assert c.condition("Ready")["status"] == "False" and "Secret hf" in c.run["status"]["message"]
    assert any(e[0] == "Warning" and e[1] == "Missing" for e in c.events)
    c.missing = []
    c.step()
    assert c.phase == "ServingTeacher" and ("Deployment", TEACHER) in c.objects
    assert c.condition("InputsReady")["status"] == "True" and "message" not in c.run["status"]
    assert not needs_preflight(c.run), "the preflight stops once the teacher has started"


def reader(objects: dict[str, dict | None], forbidden: tuple[str, ...] = ()):
    def read(path: str):
        if path.startswith(forbidden) and forbidden:
            raise ApiException(status=403, reason="Forbidden")
        return objects.get(path)
    return read


FULL_SPEC = {
    "corpus": {"volume": {"claimName": "docs"}},
    "teacher": {"external": {"url": "https://api.example.com/v1", "model": "m", "apiKeySecretRef": {"name": "api"}}},
    "student": {"baseModel": "s"},
    "storage": {"size": "1Gi", "storageClassName": "rwx", "modelCache": {"claimName": "models"}},
    "eval": {"judge": {"url": "https://j.example.com/v1", "model": "j", "apiKeySecretRef": {"name": "judge", "key": "k"}}},
    "scheduling": {"huggingFaceTokenSecretRef": {"name": "hf"}, "imagePullSecrets": [{"name": "reg"}],
                   "priorityClassName": "batch", "queueName": "team-q"},
}
ALL_THERE = {
    "/api/v1/namespaces/team/persistentvolumeclaims/docs": {},
    "/api/v1/namespaces/team/persistentvolumeclaims/models": {},
    "/api/v1/namespaces/team/secrets/api": {"data": {"api-key": "eA=="}},
    "/api/v1/namespaces/team/secrets/judge": {"data": {"k": "eA=="}},
    "/api/v1/namespaces/team/secrets/hf": {"data": {"token": "eA=="}},
    "/api/v1/namespaces/team/secrets/reg": {"data": {}},
    "/apis/storage.k8s.io/v1/storageclasses/rwx": {},
    "/apis/scheduling.k8s.io/v1/priorityclasses/batch": {},
    "/apis/kueue.x-k8s.io": {"preferredVersion": {"groupVersion": "kueue.x-k8s.io/v1beta1"}},
    "/apis/kueue.x-k8s.io/v1beta1/namespaces/team/localqueues/team-q": {},
}


def test_preflight_finds_nothing_missing_when_everything_exists() -> None:
    assert preflight.missing(Run.from_body(raftrun(spec=FULL_SPEC)), reader(ALL_THERE)) == []


@pytest.mark.parametrize("path,expected", [
    ("/api/v1/namespaces/team/persistentvolumeclaims/docs", "PersistentVolumeClaim docs (spec.corpus.volume.claimName)"),
    ("/api/v1/namespaces/team/persistentvolumeclaims/models",
     "PersistentVolumeClaim models (spec.storage.modelCache.claimName)"),
    ("/api/v1/namespaces/team/secrets/api", "Secret api (spec.teacher.external.apiKeySecretRef.name)"),
    ("/api/v1/namespaces/team/secrets/judge", "Secret judge (spec.eval.judge.apiKeySecretRef.name)"),
    ("/api/v1/namespaces/team/secrets/hf", "Secret hf (spec.scheduling.huggingFaceTokenSecretRef.name)"),
    ("/api/v1/namespaces/team/secrets/reg", "Secret reg (spec.scheduling.imagePullSecrets[0].name)"),
    ("/apis/storage.k8s.io/v1/storageclasses/rwx", "StorageClass rwx (spec.storage.storageClassName)"),
    ("/apis/scheduling.k8s.io/v1/priorityclasses/batch", "PriorityClass batch (spec.scheduling.priorityClassName)"),
    ("/apis/kueue.x-k8s.io/v1beta1/namespaces/team/localqueues/team-q", "Kueue LocalQueue team-q"),
    ("/apis/kueue.x-k8s.io", "Kueue is not installed"),
])
def test_preflight_names_each_missing_input_and_its_field(path: str, expected: str) -> None:
    objects = {k: v for k, v in ALL_THERE.items() if k != path}
    (line,) = preflight.missing(Run.from_body(raftrun(spec=FULL_SPEC)), reader(objects))
    assert expected in line and ("create it" in line or "install Kueue" in line), line


def test_preflight_names_a_missing_secret_key_and_skips_what_it_may_not_read() -> None:
    objects = {**ALL_THERE, "/api/v1/namespaces/team/secrets/hf": {"data": {"other": "eA=="}}}
    (line,) = preflight.missing(Run.from_body(raftrun(spec=FULL_SPEC)), reader(objects))
    assert line == "Secret hf has no key token (spec.scheduling.huggingFaceTokenSecretRef.key): add it or fix " \
                   "spec.scheduling.huggingFaceTokenSecretRef.key"
    no_classes = {k: v for k, v in ALL_THERE.items() if "classes" not in k}
    assert preflight.missing(Run.from_body(raftrun(spec=FULL_SPEC)), reader(no_classes, forbidden=("/apis/s",))) == []


# ---- stuck children -----------------------------------------------------------------------


def to_datagen(c: FakeCluster) -> None:
    c.step()
    c.deployment_available(TEACHER)
    c.step()


def test_pods_that_cannot_be_scheduled_are_reported_then_fail_the_run_after_the_pending_deadline() -> None:
    c = FakeCluster(raftrun(failurePolicy={"pendingDeadlineSeconds": 600}))
    to_datagen(c)
    c.rayjob(RAYJOB, "Initializing", "")
    pod(c, "demo-datagen-raycluster-abcde-head", "datagen",
        unschedulable('0/5 nodes are available: persistentvolumeclaim "docs" not found.', c.now), c.now)
    c.step()
    cond = c.condition("DataGenerated")
    assert c.phase == "GeneratingData" and cond["reason"] == "Unschedulable"
    assert 'persistentvolumeclaim "docs" not found' in cond["message"]
    c.step(seconds=300)
    assert c.phase == "GeneratingData"
    c.step(seconds=400)
    assert c.phase == "Failed"
    message = c.run["status"]["message"]
    assert message.startswith("datagen failed: PodUnschedulable: pod demo-datagen-raycluster-abcde-head: ")
    assert "pendingDeadlineSeconds is 600" in message and "\n" not in message
    assert c.get("RayJob", RAYJOB)["spec"]["suspend"] is True, "suspended: KubeRay deletes its pending pods"
    assert c.get("Deployment", TEACHER)["spec"]["replicas"] == 0, "the teacher's GPUs are released"


@pytest.mark.parametrize("component,status", [
    ("teacher", unschedulable("0/5 nodes are available: 5 Insufficient nvidia.com/gpu.", dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))),
    ("teacher", {"phase": "Pending", "containerStatuses": [{"name": "vllm", "state": {"waiting": {
        "reason": "ImagePullBackOff", "message": 'Back-off pulling image "vllm/vllm-openai:nope"'}}}]}),
])
def test_a_teacher_that_cannot_start_fails_before_its_startup_timeout(component: str, status: dict) -> None:
    c = FakeCluster(raftrun(failurePolicy={"pendingDeadlineSeconds": 60}))
    c.step()
    pod(c, "demo-teacher-abc", component, status, c.now)
    c.step()
    assert c.phase == "ServingTeacher" and c.condition("TeacherReady")["status"] == "False"
    c.step(seconds=120)
    assert c.phase == "Failed" and c.run["status"]["message"].startswith("teacher failed: Teacher")
    assert c.get("Deployment", TEACHER)["spec"]["replicas"] == 0


def test_a_teacher_deployment_that_cannot_create_pods_fails_the_run() -> None:
    c = FakeCluster(raftrun(failurePolicy={"pendingDeadlineSeconds": 60}))
    c.step()
    c.set_status("Deployment", TEACHER, {"conditions": [{
        "type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "lastTransitionTime": ts(c.now),
        "message": 'pods "demo-teacher-x" is forbidden: exceeded quota: gpu, requested: requests.nvidia.com/gpu=4'}]})
    c.step()
    assert c.phase == "ServingTeacher" and c.condition("TeacherReady")["reason"] == "FailedCreate"
    c.step(seconds=120)
    assert c.phase == "Failed" and "exceeded quota" in c.run["status"]["message"]


def test_kuberay_validation_failed_is_a_failure() -> None:
    out = rayjob_outcome({"status": {"jobDeploymentStatus": "ValidationFailed", "reason": "ValidationFailed",
                                     "message": "RayJob name should be no more than 47 characters"}})
    assert out.failed and out.reason == "RayJobValidationFailed" and "47 characters" in out.message
    c = FakeCluster(raftrun())
    to_datagen(c)
    c.rayjob(RAYJOB, "ValidationFailed", "", message="RayJob name should be no more than 47 characters")
    c.step()
    assert c.phase == "Failed" and "47 characters" in c.run["status"]["message"]


@pytest.mark.parametrize("status", [{"jobDeploymentStatus": "Complete", "jobStatus": "STOPPED"},
                                    {"jobDeploymentStatus": "Complete", "jobStatus": ""},
                                    {"jobDeploymentStatus": "Failed", "jobStatus": "FAILED"}])
def test_every_terminal_rayjob_state_but_success_is_a_failure(status: dict) -> None:
    assert rayjob_outcome({"status": status}).failed


def test_a_job_marked_failure_target_is_a_failure() -> None:
    summary = {"status": {"conditions": [{"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded",
                                          "message": "Job has reached the specified backoff limit"}]}}
    assert job_outcome(summary).failed and job_outcome(summary).reason == "BackoffLimitExceeded"


# ---- API errors -----------------------------------------------------------------------------


def api_error(status: int, message: str) -> ApiException:
    exc = ApiException(status=status, reason="Unprocessable Entity")
    exc.body = json.dumps({"kind": "Status", "message": message})
    exc.headers = {"Audit-Id": "x", "Content-Type": "application/json"}
    return exc


def test_a_refused_create_is_permanent_and_told_in_one_line_without_headers() -> None:
    exc = api_error(422, 'Deployment.apps "demo-teacher" is invalid: spec.template.spec.containers[0].resources.'
                         'requests: Invalid value: "2":\nmust be less than or equal to cpu limit of 1')
    error = refused("creating", "Deployment", "demo-teacher", exc, PERMANENT_ON_CREATE)
    assert isinstance(error, PermanentError) and error.reason == "DeploymentRejected"
    assert error.message.startswith("creating Deployment demo-teacher: 422 Deployment.apps")
    assert "\n" not in error.message and "Audit-Id" not in error.message
    for status in (400, 403, 404):
        assert isinstance(refused("creating", "RayJob", "x", api_error(status, "m"), PERMANENT_ON_CREATE), PermanentError)
    for status in (429, 500, 503, 504):
        transient = api_error(status, "m")
        assert refused("creating", "RayJob", "x", transient, PERMANENT_ON_CREATE) is transient
    assert api_cause(api_error(500, "etcdserver: request timed out")) == "500 etcdserver: request timed out"


def test_a_permanent_error_fails_the_run_and_releases_the_teacher() -> None:
    c = FakeCluster(raftrun())
    to_datagen(c)
    plan = fail_run(c.run, c.observed(), c.now, "RayJobRejected", "creating RayJob demo-datagen: 403 forbidden")
    assert plan.status["phase"] == "Failed" and plan.create == []
    assert plan.status["message"] == "datagen failed: RayJobRejected: creating RayJob demo-datagen: 403 forbidden"
    assert any(ref.name == TEACHER and body == {"spec": {"replicas": 0}} for ref, body in plan.patch)
    c.run["status"] = plan.status
    c.objects.pop(("ConfigMap", "demo-config"))
    assert c.step().create == [], "a failed run creates nothing, not even a base child that went missing"


def test_backoff_doubles_per_run_up_to_a_cap_and_resets() -> None:
    now = [0.0]
    b = Backoff(base=1.0, cap=8.0, clock=lambda: now[0])
    assert [b.failed("a") for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert not b.ready("a") and b.ready("b"), "per run"
    now[0] = 8.0
    assert b.ready("a")
    b.succeeded("a")
    assert b.failed("a") == 1.0


def test_adoption_needs_this_runs_controller_reference() -> None:
    run = Run.from_body(raftrun())
    from raft_operator.builders import storage, workload_rbac
    wanted = workload_rbac.build(run)[0]
    ours = {"metadata": {"ownerReferences": [{"kind": "RaftRun", "name": "demo", "uid": "uid-demo", "controller": True}]}}
    adoption.check(ours, wanted)
    for other in ({"metadata": {}},
                  {"metadata": {"ownerReferences": [{"kind": "RaftRun", "name": "demo", "uid": "old", "controller": True}]}},
                  {"metadata": {"ownerReferences": [{"kind": "RaftRun", "name": "demo", "uid": "uid-demo"}]}}):
        with pytest.raises(PermanentError, match="already exists and is"):
            adoption.check(other, wanted)
    kept_claim = storage.build(run)  # retention Retain: created without an owner reference
    adoption.check({"metadata": {"labels": {api.RUN_LABEL: "demo"}}}, kept_claim)
    with pytest.raises(PermanentError):
        adoption.check({"metadata": {"labels": {}}}, kept_claim)


# ---- the run-name budget ------------------------------------------------------------------


def test_the_run_name_budget_fits_kuberay_and_every_child_name() -> None:
    assert admission.MAX_RUN_NAME == 47 - len("-datagen") == 39
    longest = api.ChildNames("r" * admission.MAX_RUN_NAME)
    assert len(longest.datagen) == 47
    assert max(len(v) for v in vars(longest).values()) <= 63


# ---- deadlines a settled run must not sleep through (raft_operator.settled) -------------------


def test_every_clock_check_says_when_it_would_fire() -> None:
    c = FakeCluster(raftrun(failurePolicy={"pendingDeadlineSeconds": 600}))
    plan = c.step()
    assert plan.external is False and plan.create, "the first pass creates the teacher"
    started = c.now
    plan = c.step()  # the teacher is loading: its startup timeout (default 3600 s) is the deadline
    assert plan.recheck_at == started + dt.timedelta(seconds=3600) and not plan.external
    c.deployment_available(TEACHER)
    assert c.step().external, "the readiness probe reads the teacher itself, outside the run's children"

    c.rayjob(RAYJOB, "Initializing", "")
    pod(c, "demo-datagen-raycluster-abcde-head", "datagen", unschedulable("0/5 nodes are available.", c.now), c.now)
    since = c.now
    c.step()
    plan = c.step(seconds=100)
    assert plan.recheck_at == since + dt.timedelta(seconds=600), "the pending-pod deadline"
    c.objects.pop(("Pod", "demo-datagen-raycluster-abcde-head"))
    c.rayjob(RAYJOB, "Running", "RUNNING")
    plan = c.step()
    assert plan.recheck_at is None and not plan.external, "a healthy running stage waits only on its children"


def test_a_queued_child_declares_kueues_admission_deadline() -> None:
    from raft_operator import kueue

    child = {"kind": "RayJob", "name": "x", "suspend": True, "created": "2026-01-01T00:00:00Z"}
    deadline = kueue.unmanaged_deadline(child, [])
    assert deadline == dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=kueue.WORKLOAD_WAIT_SECONDS)
    assert kueue.unmanaged(child, [], deadline - dt.timedelta(seconds=1)) is None
    assert kueue.unmanaged(child, [], deadline + dt.timedelta(seconds=1)) is not None
    assert kueue.unmanaged_deadline(child, [{"kind": "Workload"}]) is None
    assert kueue.unmanaged_deadline({**child, "suspend": False}, []) is None
