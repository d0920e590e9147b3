"""How each child kind says it is done, failed or stuck, read the way its own controller writes it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .builders.vllm_server import CHECK_CONTAINER

if TYPE_CHECKING:  # observed reads the kinds table, which reads this module
    from .observed import Summary

MODEL_CHECK_FAILED = "ModelConfigMismatch"


@dataclass(frozen=True)
class Outcome:
    """A batch child's state: running (neither flag), succeeded or failed with reason and message."""

    succeeded: bool = False
    failed: bool = False
    reason: str = ""
    message: str = ""


def _conditions(summary: Summary) -> dict[str, dict]:
    return {c.get("type"): c for c in summary["status"].get("conditions") or []}


# KubeRay's terminal jobDeploymentStatus values other than Complete: ValidationFailed is what it
# writes for a RayJob it refuses (a name over 47 characters or not DNS-1035, a bad spec).
RAYJOB_FAILED_STATES = frozenset({"Failed", "ValidationFailed"})


def rayjob_outcome(summary: Summary) -> Outcome:
    """KubeRay RayJob: success needs jobDeploymentStatus Complete AND jobStatus SUCCEEDED."""
    status = summary["status"]
    deployment, job = status.get("jobDeploymentStatus", ""), status.get("jobStatus", "")
    detail = status.get("message") or status.get("reason") or ""
    if deployment == "Complete" and job == "SUCCEEDED":
        return Outcome(succeeded=True, reason="RayJobSucceeded", message=detail)
    if deployment in RAYJOB_FAILED_STATES or (deployment == "Complete" and job != "SUCCEEDED"):
        reason = status.get("reason") or "RayJobFailed"
        return Outcome(failed=True, reason=f"RayJob{reason}" if not reason.startswith("RayJob") else reason,
                       message=detail or f"RayJob ended with jobStatus {job or 'unknown'}")
    return Outcome(message=f"{deployment or 'Pending'}/{job or 'PENDING'}")


def pytorchjob_outcome(summary: Summary) -> Outcome:
    """Kubeflow PyTorchJob: the Succeeded or Failed condition with status True."""
    conds = _conditions(summary)
    for ctype, kwargs in (("Succeeded", {"succeeded": True}), ("Failed", {"failed": True})):
        cond = conds.get(ctype)
        if cond and cond.get("status") == "True":
            return Outcome(reason=cond.get("reason") or f"PyTorchJob{ctype}", message=cond.get("message", ""), **kwargs)
    running = conds.get("Running")
    return Outcome(message=(running or {}).get("message", "") if running and running.get("status") == "True" else "")


def trainjob_outcome(summary: Summary) -> Outcome:
    """Kubeflow Trainer TrainJob: the Complete or Failed condition with status True; else its jobs' counts."""
    conds = _conditions(summary)
    for ctype, kwargs in (("Complete", {"succeeded": True}), ("Failed", {"failed": True})):
        cond = conds.get(ctype)
        if cond and cond.get("status") == "True":
            reason = cond.get("reason") or ctype
            return Outcome(reason=reason if reason.startswith("TrainJob") else f"TrainJob{reason}",
                           message=cond.get("message", ""), **kwargs)
    if conds.get("Suspended", {}).get("status") == "True":
        return Outcome(message="suspended")
    jobs = summary["status"].get("jobsStatus") or []
    return Outcome(message=", ".join(f"{j.get('name')}: {j.get('active', 0)} active, {j.get('ready', 0)} ready"
                                     for j in jobs))


def job_outcome(summary: Summary) -> Outcome:
    """batch/v1 Job: the Complete or Failed condition with status True."""
    conds = _conditions(summary)
    # FailureTarget: the Job controller has decided the Job fails and is terminating its pods.
    for ctype, kwargs in (("Complete", {"succeeded": True}), ("Failed", {"failed": True}),
                          ("FailureTarget", {"failed": True})):
        cond = conds.get(ctype)
        if cond and cond.get("status") == "True":
            return Outcome(reason=cond.get("reason") or f"Job{ctype}", message=cond.get("message", ""), **kwargs)
    return Outcome()


def deployment_available(summary: Summary | None) -> bool:
    """At least one available replica (a LeaderWorkerSet: ready group) and the Available condition True."""
    if not summary:
        return False
    status = summary["status"]
    available = _conditions(summary).get("Available", {}).get("status") == "True"
    counted = status.get("readyReplicas") if summary["kind"] == "LeaderWorkerSet" else status.get("availableReplicas")
    return available and (counted or 0) >= 1


@dataclass(frozen=True)
class PodProblem:
    """Why a pod is not coming up, and since when (ISO time; '' when unknown)."""

    reason: str
    message: str
    since: str


STARTUP_FAILURES = frozenset({"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError",
                              "InvalidImageName", "CreateContainerError", "RunContainerError"})


def deployment_problems(summary: Summary | None) -> list[PodProblem]:
    """A Deployment that cannot create its pods (ReplicaFailure: quota, LimitRange, Pod Security)
    or gave up rolling out (ProgressDeadlineExceeded)."""
    found = []
    for cond in (summary or {}).get("status", {}).get("conditions") or []:
        failing = (cond.get("type") == "ReplicaFailure" and cond.get("status") == "True") or (
            cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded")
        if failing:
            found.append(PodProblem(cond.get("reason") or cond["type"], f"Deployment {summary['name']}: "
                                    f"{cond.get('message', '')}", cond.get("lastTransitionTime") or ""))
    return found


def _model_check_failure(pod: Summary) -> PodProblem | None:
    """The student server's init container found that its image misreads the export."""
    for cs in pod["status"].get("initContainerStatuses") or []:
        state = cs.get("state") or {}
        terminated = state.get("terminated") or (cs.get("lastState") or {}).get("terminated") or {}
        if cs.get("name") == CHECK_CONTAINER and terminated.get("exitCode", 0) != 0:
            message = (terminated.get("message") or "").strip() or \
                f"init container {CHECK_CONTAINER} exited {terminated.get('exitCode')}"
            return PodProblem(MODEL_CHECK_FAILED, message, pod.get("created") or "")
    return None


def pod_problems(pods: list[Summary]) -> list[PodProblem]:
    """Problems of pods that are not running: unschedulable (claim not found, not enough GPUs),
    failing to start (image pull, missing Secret key, crash loop), OOM-killed, or a student server
    whose image misreads the export (:data:`MODEL_CHECK_FAILED`)."""
    found = []
    for pod in pods:
        status = pod["status"]
        if status.get("phase") in ("Succeeded", "Failed") or pod.get("deleting"):
            continue
        created = pod.get("created") or ""
        check = _model_check_failure(pod)
        if check is not None:
            found.append(check)
            continue
        for cond in status.get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                found.append(PodProblem(cond.get("reason") or "Unschedulable",
                                        f"pod {pod['name']}: {cond.get('message', '')}",
                                        cond.get("lastTransitionTime") or created))
        for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in STARTUP_FAILURES:
                found.append(PodProblem(waiting["reason"], f"pod {pod['name']} container {cs.get('name')}: "
                                        f"{waiting.get('message', '')}", created))
            terminated = (cs.get("lastState") or {}).get("terminated") or {}
            if terminated.get("reason") == "OOMKilled":
                found.append(PodProblem("OOMKilled", f"pod {pod['name']} container {cs.get('name')} was killed for "
                                        "exceeding its memory limit", created))
    return found

