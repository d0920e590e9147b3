"""What the operator knows of a run's children: compact summaries kept in Kopf's in-memory indexes.

The indexes are fed by one watch per child kind, so a reconcile reads no objects from the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import api, child_kinds

Summary = dict[str, Any]


def run_key(namespace: str | None, labels: dict[str, str]) -> tuple[str, str] | None:
    """The (namespace, run) a child belongs to, from its labels; None for objects of no run."""
    if labels.get("app.kubernetes.io/managed-by") != api.MANAGER or api.RUN_LABEL not in labels:
        return None
    return (namespace or "default", labels[api.RUN_LABEL])


def _status(body: dict[str, Any]) -> dict[str, Any]:
    status = dict(body.get("status") or {})
    # A Workload's status also holds its admission and resource requests; only its conditions are
    # read, and the index holds a Workload of every Kueue-managed pod of the cluster.
    return {"conditions": status.get("conditions") or []} if body.get("kind") == child_kinds.WORKLOAD.kind else status


def summarize(body: dict[str, Any]) -> Summary:
    """The parts of a child the reconciler reads: identity, the fields it drives, a pod's
    scheduling gates, status."""
    meta = body.get("metadata", {})
    spec = body.get("spec") or {}
    kind = child_kinds.KINDS.get(body.get("kind") or "")
    return {
        "kind": body.get("kind"),
        "name": meta.get("name"),
        "resourceVersion": meta.get("resourceVersion"),
        "labels": dict(meta.get("labels") or {}),
        "ownerReferences": list(meta.get("ownerReferences") or []),
        "deleting": bool(meta.get("deletionTimestamp")),
        "created": meta.get("creationTimestamp") or "",
        "replicas": spec.get("replicas"),
        "suspend": kind.suspended(spec) if kind else None,
        "gates": [g.get("name") for g in spec.get("schedulingGates") or []] if body.get("kind") == "Pod" else None,
        "data": dict(body.get("data") or {}),
        "status": _status(body),
    }


@dataclass
class Observed:
    """A run's children as last seen, by kind and name; pods separately."""

    objects: dict[tuple[str, str], Summary] = field(default_factory=dict)
    pods: list[Summary] = field(default_factory=list)

    @classmethod
    def from_summaries(cls, summaries: list[Summary]) -> "Observed":
        """Group summaries (any kinds, pods included)."""
        obs = cls()
        for s in summaries:
            if s["kind"] == "Pod":
                obs.pods.append(s)
            else:
                obs.objects[(s["kind"], s["name"])] = s
        return obs

    def get(self, kind: str, name: str) -> Summary | None:
        """The child of ``kind`` named ``name``, if it exists."""
        return self.objects.get((kind, name))

    def has(self, kind: str, name: str) -> bool:
        """Whether it exists (and is not being deleted)."""
        s = self.get(kind, name)
        return bool(s and not s["deleting"])

    def workloads_of(self, kind: str, name: str) -> list[Summary]:
        """Kueue Workloads owned by the child ``kind``/``name``."""
        return [s for (k, _), s in self.objects.items() if k == "Workload"
                and any(o.get("kind") == kind and o.get("name") == name for o in s["ownerReferences"])]

    def pods_of(self, component: str) -> list[Summary]:
        """Pods of one component of the run."""
        return [p for p in self.pods if p["labels"].get("app.kubernetes.io/component") == component]
