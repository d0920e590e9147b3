"""The recordings' status signatures, end states, replay rule and manifests (raft_sim.recording), on
status shapes as the real controllers write them; no cluster."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from raft_sim import recording
from raft_sim.recording import (KINDS, ObjectRecord, apply_merge_patch, clean_manifest, collapse, compare,
                                 is_terminal, match_prefix, merge_patch, signature)

T = "2025-01-01T00:00:00Z"


def cond(type_: str, status: str, reason: str, message: str = "whatever", when: str = T) -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": when}


def sigs(kind: str, *statuses: dict[str, Any]) -> list[dict[str, Any]]:
    return collapse(signature(kind, {"status": s}) for s in statuses)


# --------------------------------------------------------------------------- per kind


def test_rayjob_passes_initializing_running_complete() -> None:
    # KubeRay v1.6: jobStatus is '' until the submitter's job exists, then the Ray job's state.
    statuses = [
        {},
        {"jobDeploymentStatus": "Initializing", "jobStatus": "", "rayClusterName": "dg-raycluster-x", "startTime": T},
        {"jobDeploymentStatus": "Running", "jobStatus": "PENDING", "jobId": "dg-abc"},
        {"jobDeploymentStatus": "Running", "jobStatus": "RUNNING", "jobId": "dg-abc", "message": "started"},
        {"jobDeploymentStatus": "Running", "jobStatus": "RUNNING", "jobId": "dg-abc", "message": "still running"},
        {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED", "endTime": T, "succeeded": 1},
    ]
    assert sigs("RayJob", *statuses) == [
        {"jobDeploymentStatus": "Initializing"},
        {"jobDeploymentStatus": "Running", "jobStatus": "PENDING"},
        {"jobDeploymentStatus": "Running", "jobStatus": "RUNNING"},
        {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"},
    ]


@pytest.mark.parametrize(("status", "expected"), [
    ({"jobDeploymentStatus": "Failed", "jobStatus": "FAILED", "reason": "AppFailed", "message": "exit 1"},
     {"jobDeploymentStatus": "Failed", "jobStatus": "FAILED", "reason": "AppFailed"}),
    ({"jobDeploymentStatus": "ValidationFailed", "reason": "ValidationFailed", "message": "name too long"},
     {"jobDeploymentStatus": "ValidationFailed", "reason": "ValidationFailed"}),
    # A retry's reason is not part of the signature: only an end state's is.
    ({"jobDeploymentStatus": "Retrying", "jobStatus": "FAILED", "reason": "AppFailed"},
     {"jobDeploymentStatus": "Retrying", "jobStatus": "FAILED"}),
])
def test_rayjob_keeps_the_reason_of_a_failure_only(status: dict[str, Any], expected: dict[str, Any]) -> None:
    assert signature("RayJob", {"status": status}) == expected


def test_trainjob_conditions_and_collapsed_job_counts() -> None:
    # Trainer v2.3: Suspended (Suspended → Resumed), then Complete (AllJobsCompleted); jobsStatus as JobSet counts.
    def jobs(**counts: int) -> list[dict[str, Any]]:
        return [{"name": "node", **{k: counts.get(k, 0) for k in ("ready", "succeeded", "failed", "active", "suspended")}}]
    suspended = cond("Suspended", "True", "Suspended", "TrainJob is suspended")
    resumed = cond("Suspended", "False", "Resumed", "TrainJob is resumed", "2025-01-01T00:01:00Z")
    statuses = [
        {"conditions": [suspended], "jobsStatus": jobs(suspended=1)},
        {"conditions": [resumed], "jobsStatus": jobs()},
        {"conditions": [resumed], "jobsStatus": jobs(active=2)},
        {"conditions": [resumed], "jobsStatus": jobs(active=2, ready=2)},
        {"conditions": [cond("Complete", "True", "AllJobsCompleted", "jobset completed successfully"), resumed],
         "jobsStatus": jobs(succeeded=2)},
    ]
    assert sigs("TrainJob", *statuses) == [
        {"conditions": [["Suspended", "True", "Suspended"]]},
        {"conditions": [["Suspended", "False", "Resumed"]]},
        {"conditions": [["Suspended", "False", "Resumed"]], "jobsStatus": {"node": ["active"]}},
        {"conditions": [["Suspended", "False", "Resumed"]], "jobsStatus": {"node": ["active", "ready"]}},
        {"conditions": [["Complete", "True", "AllJobsCompleted"], ["Suspended", "False", "Resumed"]],
         "jobsStatus": {"node": ["succeeded"]}},
    ]


def test_trainjob_failure() -> None:
    status = {"conditions": [cond("Failed", "True", "FailedJobs", "jobset failed due to one or more job failures")],
              "jobsStatus": [{"name": "node", "failed": 1, "active": 0}]}
    sig = signature("TrainJob", {"status": status})
    assert sig == {"conditions": [["Failed", "True", "FailedJobs"]], "jobsStatus": {"node": ["failed"]}}
    assert is_terminal("TrainJob", sig)


def test_jobset_conditions_and_terminal_state() -> None:
    running = {"conditions": [cond("StartupPolicyCompleted", "True", "StartupPolicyCompleted")],
               "replicatedJobsStatus": [{"name": "node", "active": 1}]}
    done = {"conditions": [cond("StartupPolicyCompleted", "True", "StartupPolicyCompleted"),
                           cond("Completed", "True", "AllJobsCompleted")], "terminalState": "Completed"}
    assert sigs("JobSet", running, done) == [
        {"conditions": [["StartupPolicyCompleted", "True", "StartupPolicyCompleted"]]},
        {"conditions": [["Completed", "True", "AllJobsCompleted"],
                        ["StartupPolicyCompleted", "True", "StartupPolicyCompleted"]],
         "terminalState": "Completed"},
    ]
    assert not is_terminal("JobSet", sigs("JobSet", running)[0]) and is_terminal("JobSet", sigs("JobSet", done)[0])


def test_pytorchjob_keeps_true_conditions_and_nonzero_replica_counts() -> None:
    # training-operator v1.9: conditions stay in the list as False once replaced.
    selector = "training.kubeflow.org/job-name=ft"
    created = cond("Created", "True", "PyTorchJobCreated")
    statuses = [
        {"conditions": [created], "replicaStatuses": {}},
        {"conditions": [created], "replicaStatuses": {"Master": {"selector": selector}, "Worker": {"selector": selector}}},
        {"conditions": [created, cond("Running", "True", "PyTorchJobRunning")],
         "replicaStatuses": {"Master": {"active": 1, "selector": selector}, "Worker": {"active": 1, "selector": selector}}},
        {"conditions": [created, cond("Running", "False", "PyTorchJobSucceeded"),
                        cond("Succeeded", "True", "PyTorchJobSucceeded")],
         "replicaStatuses": {"Master": {"succeeded": 1, "active": 0, "selector": selector}, "Worker": {"succeeded": 1}}},
    ]
    assert sigs("PyTorchJob", *statuses) == [
        {"conditions": [["Created", "True", "PyTorchJobCreated"]]},
        {"conditions": [["Created", "True", "PyTorchJobCreated"], ["Running", "True", "PyTorchJobRunning"]],
         "replicaStatuses": {"Master": ["active"], "Worker": ["active"]}},
        {"conditions": [["Created", "True", "PyTorchJobCreated"], ["Succeeded", "True", "PyTorchJobSucceeded"]],
         "replicaStatuses": {"Master": ["succeeded"], "Worker": ["succeeded"]}},
    ]


def test_conditions_ignore_order_messages_and_times() -> None:
    a = {"conditions": [cond("Available", "True", "AllGroupsReady", "1/1", T), cond("Progressing", "False", "GroupsReady")]}
    b = {"conditions": [cond("Progressing", "False", "GroupsReady", "other"),
                        cond("Available", "True", "AllGroupsReady", "x", "2030-01-01T00:00:00Z")]}
    assert signature("LeaderWorkerSet", {"status": a}) == signature("LeaderWorkerSet", {"status": b}) == {
        "conditions": [["Available", "True", "AllGroupsReady"], ["Progressing", "False", "GroupsReady"]]}


def test_workload_admitted_then_finished() -> None:
    admitted = [cond("QuotaReserved", "True", "QuotaReserved"), cond("Admitted", "True", "Admitted")]
    statuses = [{"conditions": admitted[:1]}, {"conditions": admitted},
                {"conditions": [*admitted, cond("Finished", "True", "Succeeded", "Job finished successfully")]}]
    got = sigs("Workload", *statuses)
    assert [is_terminal("Workload", s) for s in got] == [False, False, True]
    assert got[-1]["conditions"][1] == ["Finished", "True", "Succeeded"]


@pytest.mark.parametrize(("kind", "status", "terminal"), [
    ("RayJob", {"jobDeploymentStatus": "Running", "jobStatus": "RUNNING"}, False),
    ("RayJob", {"jobDeploymentStatus": "Retrying", "jobStatus": "FAILED"}, False),
    ("RayJob", {"jobDeploymentStatus": "Suspended"}, False),
    ("RayJob", {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"}, True),
    ("RayJob", {"jobDeploymentStatus": "Failed", "jobStatus": "FAILED", "reason": "DeadlineExceeded"}, True),
    ("RayJob", {"jobDeploymentStatus": "ValidationFailed", "reason": "ValidationFailed"}, True),
    ("TrainJob", {"conditions": [cond("Suspended", "True", "Suspended")]}, False),
    ("TrainJob", {"conditions": [cond("Complete", "True", "AllJobsCompleted")]}, True),
    ("TrainJob", {"conditions": [cond("Failed", "True", "DeadlineExceeded")]}, True),
    ("PyTorchJob", {"conditions": [cond("Running", "True", "PyTorchJobRunning")]}, False),
    ("PyTorchJob", {"conditions": [cond("Succeeded", "True", "PyTorchJobSucceeded")]}, True),
    ("PyTorchJob", {"conditions": [cond("Failed", "True", "PyTorchJobFailed")]}, True),
    ("LeaderWorkerSet", {"conditions": [cond("Available", "False", "GroupsNotReady")]}, False),
    ("LeaderWorkerSet", {"conditions": [cond("Available", "True", "AllGroupsReady")]}, True),
    ("Workload", {"conditions": [cond("Finished", "True", "Failed")]}, True),
    ("JobSet", {"terminalState": "Failed"}, True),
    ("RayJob", {}, False),
])
def test_terminal_states(kind: str, status: dict[str, Any], terminal: bool) -> None:
    assert is_terminal(kind, signature(kind, {"status": status})) is terminal


def test_every_kind_without_status_has_an_empty_signature() -> None:
    for kind in KINDS:
        assert signature(kind, {"metadata": {"name": "x"}}) == {}
        assert signature(kind, {"status": {"conditions": [], "jobsStatus": [{"name": "node", "active": 0}],
                                           "replicaStatuses": {"Master": {}}}}) == {}


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="no signature for kind 'Deployment'"):
        signature("Deployment", {})


def test_collapse_drops_empty_and_consecutive_repeats_only() -> None:
    a, b = {"s": "a"}, {"s": "b"}
    assert collapse([{}, a, a, {}, b, b, a]) == [a, b, a]


# --------------------------------------------------------------------------- the replay rule

A, B, C, D = ({"s": x} for x in "ABCD")


@pytest.mark.parametrize(("recorded", "simulated"), [
    ([A, B, C], [A, B, C]),
    ([A, B, C], [A, C]),  # the simulator skipped an intermediate state
    ([A, B, C], [C]),
    ([A, B, A, C], [A, C]),
    ([], []),
])
def test_replays(recorded: list, simulated: list) -> None:
    assert compare(recorded, simulated) is None


@pytest.mark.parametrize(("recorded", "simulated", "message"), [
    ([A, B, C], [A, D, C], "#1 {'s': 'D'} is not in the rest"),  # a state the real controller never showed
    ([A, B, C], [B, A, C], "#1 {'s': 'A'} is not in the rest"),  # another order
    ([A, B, C], [A, B], "ends at {'s': 'B'}"),  # stopped short
    ([A, B, C], [A, B, C, D], "#3 {'s': 'D'}"),  # went on
    ([A, B], [], "the simulator wrote no status"),
    ([], [A], "the real controller wrote no status"),
])
def test_does_not_replay(recorded: list, simulated: list, message: str) -> None:
    assert message in (compare(recorded, simulated) or "")


def test_match_prefix_counts_the_recorded_states_passed() -> None:
    assert match_prefix([A, B, C], []) == 0
    assert match_prefix([A, B, C], [A]) == 1
    assert match_prefix([A, B, C], [B]) == 2
    assert match_prefix([A, B, C], [A, C]) == 3
    assert match_prefix([A, B, C], [C, A]) is None


# --------------------------------------------------------------------------- manifests and records


def live_rayjob(**status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1", "kind": "RayJob",
        "metadata": {"name": "dg", "namespace": "team", "uid": "u-1", "resourceVersion": "42", "generation": 1,
                     "creationTimestamp": T, "managedFields": [{"manager": "kopf"}],
                     "labels": {"raftoperator.io/run": "demo", "kueue.x-k8s.io/queue-name": "default"},
                     "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "keep": "me"},
                     "ownerReferences": [{"apiVersion": "raftoperator.io/v1alpha1", "kind": "RaftRun", "name": "demo",
                                          "uid": "u-0", "controller": True}]},
        "spec": {"entrypoint": "python -m x", "suspend": True},
        "status": status,
    }


def test_clean_manifest_keeps_what_replays() -> None:
    assert clean_manifest(live_rayjob(jobDeploymentStatus="Running")) == {
        "apiVersion": "ray.io/v1", "kind": "RayJob",
        "metadata": {"name": "dg", "labels": {"raftoperator.io/run": "demo", "kueue.x-k8s.io/queue-name": "default"},
                     "annotations": {"keep": "me"}},
        "spec": {"entrypoint": "python -m x", "suspend": True},
    }
    assert recording.owners(live_rayjob()) == [{"apiVersion": "raftoperator.io/v1alpha1", "kind": "RaftRun", "name": "demo"}]


def test_merge_patch_round_trips() -> None:
    old = {"suspend": True, "template": {"a": 1, "b": [1, 2], "c": {"d": 1}}, "gone": 1}
    new = {"suspend": False, "template": {"a": 1, "b": [1], "c": {"d": 1}, "e": {"f": 2}}}
    patch = merge_patch(old, new)
    assert patch == {"suspend": False, "gone": None, "template": {"b": [1], "e": {"f": 2}}}
    assert apply_merge_patch(old, patch) == new
    assert merge_patch(new, new) == {}


def test_object_record_follows_signatures_and_spec_changes() -> None:
    record = ObjectRecord.first("RayJob", live_rayjob())
    assert record.signatures == [] and record.manifest["spec"]["suspend"] is True
    record.observe(live_rayjob(jobDeploymentStatus="Suspended"))
    admitted = live_rayjob(jobDeploymentStatus="Suspended")
    admitted["spec"]["suspend"] = False  # Kueue admits the job
    record.observe(admitted)
    admitted["status"] = {"jobDeploymentStatus": "Initializing", "jobStatus": ""}
    assert record.observe(admitted) is True and record.observe(admitted) is False
    admitted["status"] = {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"}
    record.observe(admitted)
    entry = json.loads(json.dumps(record.to_dict()))
    assert entry["signatures"] == [{"jobDeploymentStatus": "Suspended"}, {"jobDeploymentStatus": "Initializing"},
                                   {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"}]
    assert entry["specChanges"] == [{"after": 1, "spec": {"suspend": False}}]
    assert entry["terminal"] is True and entry["deleted"] is False
    assert entry["manifest"]["spec"]["suspend"] is True  # as first seen


def test_load_checks_the_format(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"format": 1, "source": "real", "objects": [{"kind": "RayJob"}]}))
    assert recording.load(path)["source"] == "real"
    path.write_text(json.dumps({"format": 2, "objects": []}))
    with pytest.raises(ValueError, match="not a format-1 recording"):
        recording.load(path)


def test_cli_refuses_an_unknown_kind(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        recording.main(["--namespace", "x", "--kinds", "RayJob,Deployment", "--out", "unused.json"])
    assert exit_info.value.code == 2 and "no signature for kind 'Deployment'" in capsys.readouterr().err
