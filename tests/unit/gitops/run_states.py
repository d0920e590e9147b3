"""RaftRuns in every state, with the status the real reconciler writes (driven through the
operator tests' in-memory harness), for the Argo CD and Flux health checks."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))

from harness import FakeCluster, raftrun  # noqa: E402
from raft_operator.settled import at_rest  # noqa: E402

TEACHER, RAYJOB, PTJOB, EVALJOB = "demo-teacher", "demo-datagen", "demo-finetune", "demo-eval"
SERVERS = ["demo-serve-student", "demo-serve-base"]
FAILED_STAGES = ("teacher", "datagen", "finetune", "eval")


def _to_datagen(c: FakeCluster) -> None:
    c.step()
    c.deployment_available(TEACHER)
    c.step()


def _to_finetune(c: FakeCluster) -> None:
    _to_datagen(c)
    c.rayjob(RAYJOB, "Complete", "SUCCEEDED")
    c.step()


def _to_eval(c: FakeCluster) -> None:
    _to_finetune(c)
    c.pytorchjob(PTJOB, "Succeeded")
    c.step()


def _servers_up(c: FakeCluster) -> None:
    c.deployment_available(TEACHER)
    for name in SERVERS:
        c.deployment_available(name)
    c.step()


def _cluster() -> FakeCluster:
    spec = raftrun()["spec"]
    spec["teacher"]["vllm"]["startupTimeoutSeconds"] = 60
    return FakeCluster(raftrun(spec=spec))


def _failed(stage: str) -> FakeCluster:
    c = _cluster()
    if stage == "teacher":
        c.step()
        c.step(seconds=120)  # past startupTimeoutSeconds
    elif stage == "datagen":
        _to_datagen(c)
        c.rayjob(RAYJOB, "Failed", "FAILED", message="teacher stayed down")
        c.step()
    elif stage == "finetune":
        _to_finetune(c)
        c.pytorchjob(PTJOB, "Failed", message="pytorch replica Master-0 exited with code 1", reason="PyTorchJobFailed")
        c.step()
    else:
        _to_eval(c)
        _servers_up(c)
        c.job(EVALJOB, "Failed", message="Job has reached the specified backoff limit", reason="BackoffLimitExceeded")
        c.step()
    assert c.phase == "Failed"
    return _rested(c)


def _rested(c: FakeCluster) -> FakeCluster:
    """One more pass: an ended or suspended run has released its servers and is at rest."""
    c.step()
    assert at_rest(c.run), c.run["status"]["conditions"]
    return c


def _reconcile_error(c: FakeCluster) -> dict[str, Any]:
    """What raft_operator.handlers writes when a reconcile raises: the old status, Ready=False."""
    from raft_operator import api
    from raft_operator.conditions import set_condition

    run = copy.deepcopy(c.run)
    status = run["status"]
    set_condition(status["conditions"], api.READY, False, "ReconcileError",
                  "ApiException: (403) Forbidden: rayjobs.ray.io is forbidden",
                  generation=run["metadata"]["generation"], now="2026-01-01T01:00:00Z")
    return run


def run_states() -> dict[str, dict[str, Any]]:
    """State name → a RaftRun object as the API server would return it."""
    states: dict[str, dict[str, Any]] = {}
    fresh = raftrun()
    fresh.pop("status")
    states["new"] = fresh

    c = _cluster()
    c.step()
    states["serving-teacher"] = copy.deepcopy(c.run)

    c.deployment_available(TEACHER)
    c.step()
    c.progress("datagen", json.dumps({"chunksDone": 30, "chunksTotal": 120}))
    c.rayjob(RAYJOB, "Running", "RUNNING")
    c.step()
    states["generating-data"] = copy.deepcopy(c.run)
    states["reconcile-error"] = _reconcile_error(c)

    c.rayjob(RAYJOB, "Complete", "SUCCEEDED")
    c.step()
    c.progress("finetune", json.dumps({"step": 50, "totalSteps": 200}))
    c.step()
    states["fine-tuning"] = copy.deepcopy(c.run)

    c.pytorchjob(PTJOB, "Succeeded")
    c.step()
    states["evaluating"] = copy.deepcopy(c.run)

    changed = copy.deepcopy(c.run)
    changed["metadata"]["generation"] = 2  # a spec change the operator has not seen yet
    states["new-generation"] = changed

    suspended = _cluster()
    _to_finetune(suspended)
    suspended.run["spec"]["suspend"] = True
    suspended.step()
    assert suspended.phase == "Suspended"
    states["suspended"] = copy.deepcopy(_rested(suspended).run)

    _servers_up(c)
    c.progress("eval", json.dumps({"results": [{"model": "student", "mode": "rag", "topK": 5, "judgeScore": 0.8}],
                                   "summary": {"model": "student", "judgeScore": 0.8, "improvement": {"base": 0.25}}}))
    c.job(EVALJOB, "Complete")
    c.step()
    assert c.phase == "Succeeded"
    states["succeeded"] = copy.deepcopy(_rested(c).run)

    for stage in FAILED_STAGES:
        states[f"failed-in-{stage}"] = copy.deepcopy(_failed(stage).run)
    return states


def condition(run: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    """A status condition of ``run``, or None."""
    return next((c for c in (run.get("status") or {}).get("conditions", []) if c["type"] == ctype), None)


