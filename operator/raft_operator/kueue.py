"""Kueue: tell a job Kueue will admit later from one it will never see, and servers waiting for
quota from stuck ones.

Whether Kueue queues a child is read from the child, not from the spec: its
``kueue.x-k8s.io/queue-name`` label (the builders set it from spec.scheduling.queueName; Kueue's
webhook sets it, and suspends the job, in a namespace with a LocalQueue named ``default``) or a
Workload it owns. The operator never un-suspends such a child: Kueue does when it admits it.

Kueue manages a queued (suspended) job only when the job's integration is enabled in its
Configuration (``integrations.frameworks``). Kueue 0.19 and later no longer enable
``kubeflow.org/pytorchjob`` by default: such a job gets no Workload and stays suspended for
ever. Kueue makes a job's Workload within seconds of the job's creation, so a queued child that
is still suspended :data:`WORKLOAD_WAIT_SECONDS` after its creation with no Workload owned by it
fails the run with a message naming the setting. A child with a Workload is waiting for quota,
which may take long: the Workload's own condition says why.

Servers (Deployments, a LeaderWorkerSet) are not suspended: Kueue's deployment, pod and
leaderworkerset integrations let their pods be created behind the scheduling gate
:data:`ADMISSION_GATE` and remove it when the pod's (or group's) Workload is admitted. Gated pods
wait for quota, they are not stuck, and the operator's start-up and pending deadlines start at the
admission: the Workload's Admitted condition, which Kueue's own waitForPodsReady timeout counts
from too. Kueue evicts and requeues a workload whose pods are not ready that long after admission,
so a start-up deadline longer than that timeout (:func:`slower_than_pods_ready`) would never be
reached: the server restarts in a loop instead.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable

from . import api, child_kinds
from .observed import Observed, Summary

WORKLOAD_WAIT_SECONDS = 120
# Kueue's waitForPodsReady.timeout when its Configuration sets none: on by default since Kueue 0.19
# (apis/config/v1beta2 DefaultWaitForPodsReadyTimeout, 30 minutes).
WAIT_FOR_PODS_READY_SECONDS = 1800
ADMISSION_GATE = "kueue.x-k8s.io/admission"  # Kueue's scheduling gate on a pod waiting for admission
QUEUED = "queued in Kueue"
SLOWER_THAN_PODS_READY = "StartupTimeoutExceedsKueueWaitForPodsReady"
NOT_INSTALLED = ("spec.scheduling.queueName is set but the cluster serves no Kueue Workload API "
                 "(kueue.x-k8s.io): install Kueue or remove queueName")


def _created(child: Summary) -> dt.datetime | None:
    text = child.get("created")
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def unmanaged_deadline(child: Summary, workloads: list[Summary]) -> dt.datetime | None:
    """When :func:`unmanaged` may first find ``child`` unmanaged (None: it cannot, as things stand)."""
    created = _created(child)
    if not child.get("suspend") or workloads or created is None:
        return None
    return created + dt.timedelta(seconds=WORKLOAD_WAIT_SECONDS)


def unmanaged(child: Summary, workloads: list[Summary], now: dt.datetime) -> str | None:
    """Why Kueue will never admit ``child`` (suspended, no Workload after the wait), else None."""
    created = _created(child)
    if not child.get("suspend") or workloads or created is None:
        return None
    waited = (now - created).total_seconds()
    if waited < WORKLOAD_WAIT_SECONDS:
        return None
    kind = child["kind"]
    framework = child_kinds.of(kind).kueue_framework
    advice = ("; Kueue 0.19 and later leave it out by default: add it, or use spec.student.trainingApi TrainJob, "
              "which Kueue manages by default" if kind == "PyTorchJob" else "")
    return (f"{kind} {child['name']} is still suspended {int(waited)}s after its creation and Kueue made no Workload "
            f"for it: enable the {framework} integration in Kueue's Configuration (integrations.frameworks in "
            f"ConfigMap kueue-manager-config) and restart Kueue{advice}")


def manages(child: Summary, workloads: list[Summary]) -> bool:
    """Whether Kueue queues ``child``: it carries Kueue's queue-name label or owns a Workload."""
    return api.KUEUE_QUEUE_LABEL in (child.get("labels") or {}) or bool(workloads)


def gated(pod: Summary) -> bool:
    """Whether the pod waits behind Kueue's admission gate."""
    return ADMISSION_GATE in (pod.get("gates") or [])


def waiting(workloads: list[Summary]) -> str:
    """'queued in Kueue', with what the Workload says while it waits for admission when it says something."""
    for workload in workloads:
        for cond in workload["status"].get("conditions") or []:
            if cond.get("type") in ("QuotaReserved", "Admitted") and cond.get("status") == "False" and cond.get("message"):
                return f"{QUEUED}: {cond['message']}"
    return QUEUED


def _time(text: str | None) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None


def admitted_at(workloads: Iterable[Summary]) -> dt.datetime | None:
    """When Kueue last admitted one of ``workloads`` (their Admitted condition); None when none is admitted."""
    times = [_time(cond.get("lastTransitionTime")) for w in workloads for cond in w["status"].get("conditions") or []
             if cond.get("type") == "Admitted" and cond.get("status") == "True"]
    return max((t for t in times if t is not None), default=None)


@dataclass(frozen=True)
class ServerQueue:
    """Where Kueue's admission of one server component's pods stands."""

    waiting: str = ""  # what Kueue says while some of its pods wait for quota; '' when none does
    admitted: dt.datetime | None = None  # when Kueue last admitted them: deadlines start no earlier


def servers(observed: Observed, component: str, owners: Iterable[tuple[str, str]] = ()) -> ServerQueue:
    """The admission of ``component``'s pods, from their gates and the Workloads they (or ``owners``,
    a LeaderWorkerSet as (kind, name)) own. A component with more than one admitted pod counts from
    the latest admission."""
    pods = [p for p in observed.pods_of(component)
            if not p.get("deleting") and p["status"].get("phase") not in ("Succeeded", "Failed")]
    workloads = [w for p in pods for w in observed.workloads_of("Pod", p["name"])]
    workloads += [w for kind, name in owners for w in observed.workloads_of(kind, name)]
    return ServerQueue(waiting=waiting(workloads) if any(gated(p) for p in pods) else "",
                       admitted=admitted_at(workloads))


def slower_than_pods_ready(deadlines: Iterable[tuple[str, int, bool]], timeout: int) -> str:
    """One line on each start-up deadline, (what, seconds, whether the RaftRun sets it), longer than
    Kueue's waitForPodsReady ``timeout`` and how to fix it; '' when none is (or ``timeout`` is 0: off)."""
    out = []
    for what, seconds, settable in deadlines:
        if not timeout or seconds <= timeout:
            continue
        raise_kueue = (f"raise waitForPodsReady.timeout in Kueue's Configuration to at least {seconds}s "
                       "(and the operator's kueueWaitForPodsReadySeconds with it)")
        out.append(f"{what} is {seconds}s but Kueue evicts and requeues pods not ready {timeout}s after admission "
                   f"(waitForPodsReady.timeout, as the operator's kueueWaitForPodsReadySeconds says), so a server "
                   f"that loads longer restarts in a loop: "
                   + (f"set {what} to at most {timeout} or {raise_kueue}" if settable else raise_kueue))
    return "; ".join(out)
