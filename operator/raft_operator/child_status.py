"""How each child kind says it is done, failed or stuck, read the way its own controller writes it."""

from __future__ import annotations

from dataclasses import dataclass

from .builders.vllm_server import CHECK_CONTAINER
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


def rayjob_outcome(summary: Summary) -> Outcome:
    """KubeRay RayJob: success needs jobDeploymentStatus Complete AND jobStatus SUCCEEDED."""
    status = summary["status"]
    deployment, job = status.get("jobDeploymentStatus", ""), status.get("jobStatus", "")
    detail = status.get("message") or status.get("reason") or ""
    if deployment == "Complete" and job == "SUCCEEDED":
        return Outcome(succeeded=True, reason="RayJobSucceeded", message=detail)
    if deployment == "Failed" or (deployment == "Complete" and job in ("FAILED", "STOPPED")):
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
    for ctype, kwargs in (("Complete", {"succeeded": True}), ("Failed", {"failed": True})):
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


def pod_problem(pods: list[Summary]) -> tuple[str, str] | None:
    """Why a server's pods are not coming up (unschedulable, crash loop, image pull), if they say."""
    for pod in pods:
        status = pod["status"]
        for cs in status.get("initContainerStatuses") or []:
            state = cs.get("state") or {}
            terminated = state.get("terminated") or (cs.get("lastState") or {}).get("terminated") or {}
            if cs.get("name") == CHECK_CONTAINER and terminated.get("exitCode", 0) != 0:
                return MODEL_CHECK_FAILED, (terminated.get("message") or "").strip() or \
                    f"init container {CHECK_CONTAINER} exited {terminated.get('exitCode')}"
        for cond in status.get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                return cond.get("reason") or "Unschedulable", cond.get("message", "")
        for cs in status.get("containerStatuses") or []:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull",
                                         "CreateContainerConfigError", "InvalidImageName"):
                return waiting["reason"], waiting.get("message", "")
            terminated = (cs.get("lastState") or {}).get("terminated") or {}
            if terminated.get("reason") == "OOMKilled":
                return "OOMKilled", f"container {cs.get('name')} was killed for exceeding its memory limit"
    return None
