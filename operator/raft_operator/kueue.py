"""Kueue: tell a job Kueue will admit later from one it will never see.

Kueue manages a queued (suspended) job only when the job's integration is enabled in its
Configuration (``integrations.frameworks``). Kueue 0.19 and later no longer enable
``kubeflow.org/pytorchjob`` by default: such a job gets no Workload and stays suspended for
ever. Kueue makes a job's Workload within seconds of the job's creation, so a queued child that
is still suspended :data:`WORKLOAD_WAIT_SECONDS` after its creation with no Workload owned by it
fails the run with a message naming the setting. A child with a Workload is waiting for quota,
which may take long: the Workload's own condition says why.
"""

from __future__ import annotations

import datetime as dt

from . import child_kinds
from .observed import Summary

WORKLOAD_WAIT_SECONDS = 120
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


def waiting(workloads: list[Summary]) -> str:
    """What the child's Workload says while it waits for admission ('' when it says nothing)."""
    for workload in workloads:
        for cond in workload["status"].get("conditions") or []:
            if cond.get("type") in ("QuotaReserved", "Admitted") and cond.get("status") == "False" and cond.get("message"):
                return f"Kueue: {cond['message']}"
    return ""
