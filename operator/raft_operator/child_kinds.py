"""Every kind of object the operator creates or watches, one typed entry each.

An entry says where the kind is served (apiVersion, plural), which index of
:mod:`raft_operator.handlers` watches it, what the operator writes to it (the chart's RBAC is
derived from these verbs: :mod:`raft_operator.permissions`), where its suspend flag lives, how a
batch kind says it is done or failed (:mod:`raft_operator.child_status`), which Kueue integration
manages it and whether the cluster serves it only when an add-on is installed
(:mod:`raft_operator.discovery`). The other modules read this table; none repeats it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from . import child_status
from .child_status import Outcome

CREATE, PATCH, DELETE, GET = "create", "patch", "delete", "get"


@dataclass(frozen=True)
class ChildKind:
    """What the operator knows about one kind."""

    kind: str
    api_version: str  # "v1", "apps/v1", "ray.io/v1", …
    plural: str
    # Id of the handlers' index that watches it, keyed by (namespace, run); None when no such
    # index does (a Secret is read back by name only, Kueue's Workloads are indexed by owner).
    index: str | None = None
    writes: frozenset[str] = frozenset()  # verbs the operator uses on it by name, besides list/watch
    suspend_path: tuple[str, ...] | None = None  # where a batch kind's suspend flag lives
    outcome: Callable[[dict[str, Any]], Outcome] | None = None  # done / failed / running, as its controller says
    kueue_framework: str | None = None  # Kueue's integration name, for a kind Kueue can queue
    optional: bool = False  # served only where its add-on is installed (found by discovery)
    server: bool = False  # a model server scaled by spec.replicas (zero while the run does not need it)

    @property
    def group(self) -> str:
        """API group ('' for the core group)."""
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        """API version within the group."""
        return self.api_version.rpartition("/")[2]

    def collection_path(self, namespace: str) -> str:
        """/api/v1/namespaces/ns/configmaps, /apis/apps/v1/namespaces/ns/deployments, …"""
        prefix = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        return f"{prefix}/namespaces/{namespace}/{self.plural}"

    def suspended(self, spec: dict[str, Any]) -> bool | None:
        """The suspend flag in a child's ``spec``; None for a kind without one or when unset."""
        if self.suspend_path is None:
            return None
        value: Any = {"spec": spec}
        for key in self.suspend_path:
            value = (value or {}).get(key)
        return value

    def suspend_patch(self, suspend: bool) -> dict[str, Any]:
        """The merge patch that sets the suspend flag."""
        if self.suspend_path is None:
            raise ValueError(f"{self.kind} cannot be suspended")
        patch: Any = suspend
        for key in reversed(self.suspend_path):
            patch = {key: patch}
        return patch


_SUSPEND = ("spec", "suspend")
SERVICE_ACCOUNT = ChildKind("ServiceAccount", "v1", "serviceaccounts", index="serviceaccounts",
                            writes=frozenset({CREATE}))
CONFIG_MAP = ChildKind("ConfigMap", "v1", "configmaps", index="configmaps", writes=frozenset({CREATE}))
# patch: the claim's owner reference follows the retention policy.
PVC = ChildKind("PersistentVolumeClaim", "v1", "persistentvolumeclaims", index="pvcs",
                writes=frozenset({CREATE, PATCH}))
# delete: the student servers' Services after eval.
SERVICE = ChildKind("Service", "v1", "services", index="services", writes=frozenset({CREATE, DELETE}))
ROLE = ChildKind("Role", "rbac.authorization.k8s.io/v1", "roles", index="roles", writes=frozenset({CREATE}))
ROLE_BINDING = ChildKind("RoleBinding", "rbac.authorization.k8s.io/v1", "rolebindings", index="rolebindings",
                         writes=frozenset({CREATE}))
# patch: replicas; delete: the student servers after eval.
DEPLOYMENT = ChildKind("Deployment", "apps/v1", "deployments", index="deployments",
                       writes=frozenset({CREATE, PATCH, DELETE}), server=True)
JOB = ChildKind("Job", "batch/v1", "jobs", index="jobs", writes=frozenset({CREATE, PATCH}), suspend_path=_SUSPEND,
                outcome=child_status.job_outcome, kueue_framework="batch/job")
RAYJOB = ChildKind("RayJob", "ray.io/v1", "rayjobs", index="rayjobs", writes=frozenset({CREATE, PATCH}),
                   suspend_path=_SUSPEND, outcome=child_status.rayjob_outcome, kueue_framework="ray.io/rayjob")
PYTORCHJOB = ChildKind("PyTorchJob", "kubeflow.org/v1", "pytorchjobs", index="pytorchjobs",
                       writes=frozenset({CREATE, PATCH}), suspend_path=("spec", "runPolicy", "suspend"),
                       outcome=child_status.pytorchjob_outcome, kueue_framework="kubeflow.org/pytorchjob",
                       optional=True)
NETWORK_POLICY = ChildKind("NetworkPolicy", "networking.k8s.io/v1", "networkpolicies", index="networkpolicies",
                           writes=frozenset({CREATE}))
TRAINJOB = ChildKind("TrainJob", "trainer.kubeflow.org/v1alpha1", "trainjobs", index="trainjobs",
                     writes=frozenset({CREATE, PATCH}), suspend_path=_SUSPEND, outcome=child_status.trainjob_outcome,
                     kueue_framework="trainer.kubeflow.org/trainjob", optional=True)
# The multi-node teacher; patch: replicas.
# Kueue's leaderworkerset integration makes one Workload per group, owned by the LeaderWorkerSet.
LEADER_WORKER_SET = ChildKind("LeaderWorkerSet", "leaderworkerset.x-k8s.io/v1", "leaderworkersets",
                              index="leaderworkersets", writes=frozenset({CREATE, PATCH}), optional=True, server=True,
                              kueue_framework="leaderworkerset.x-k8s.io/leaderworkerset")
# Pods of every component: their scheduling or start-up problems surface in conditions. A queued
# server Deployment's pods are Kueue's (its deployment integration): each gets a Workload it owns.
POD = ChildKind("Pod", "v1", "pods", index="pods", kueue_framework="pod")
# The run's server key (server_keys.py): created once, read back by name; never listed or watched.
SECRET = ChildKind("Secret", "v1", "secrets", writes=frozenset({CREATE, GET}))
# Kueue's Workload of a queued child: not the operator's, indexed by owner (handlers.workloads).
WORKLOAD = ChildKind("Workload", "kueue.x-k8s.io/v1beta2", "workloads", optional=True)

KINDS: dict[str, ChildKind] = {k.kind: k for k in (
    SERVICE_ACCOUNT, CONFIG_MAP, PVC, SERVICE, ROLE, ROLE_BINDING, DEPLOYMENT, JOB, RAYJOB, PYTORCHJOB,
    NETWORK_POLICY, TRAINJOB, LEADER_WORKER_SET, POD, SECRET, WORKLOAD)}
INDEXED = tuple(k for k in KINDS.values() if k.index)  # one watch each, keyed by (namespace, run)
QUEUED = frozenset(k.kind for k in KINDS.values() if k.kueue_framework)  # kinds a Kueue Workload may own
SERVERS = frozenset(k.kind for k in KINDS.values() if k.server)


def of(kind: str) -> ChildKind:
    """The entry of ``kind``; KeyError for a kind the operator knows nothing of."""
    return KINDS[kind]


def outcome(summary: dict[str, Any]) -> Outcome:
    """A batch child's state (done, failed or running), read the way its kind's controller writes it."""
    read = of(summary["kind"]).outcome
    if read is None:
        raise ValueError(f"{summary['kind']} is not a batch kind")
    return read(summary)
