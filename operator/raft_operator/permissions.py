"""What the operator does to each kind of child: the one source of the chart's RBAC verbs.

The applier refuses a write that is not listed here (:func:`require`), and a test walks the
reconciler through every stage, suspension, failure and retention change to check that each
listed write happens, so the table is neither narrower nor wider than the code. The chart's
Role is compared with it (tests/chart/rbac_derivation.py).

Reads by name outside the watches are listed too: every kind the operator creates is read
back (get) after a 409 to check that the object holding the name is this run's
(:mod:`raft_operator.adoption`), and the preflight reads what a run names
(:data:`PREFLIGHT_READS`, :data:`PREFLIGHT_CLUSTER_READS`).
"""

from __future__ import annotations

CREATE, PATCH, DELETE, GET = "create", "patch", "delete", "get"

# kind → the writes the operator makes (reads come from the watches: list, watch).
WRITES: dict[str, frozenset[str]] = {
    "ServiceAccount": frozenset({CREATE}),
    "ConfigMap": frozenset({CREATE}),
    "PersistentVolumeClaim": frozenset({CREATE, PATCH}),  # patch: owner reference follows the retention policy
    "Service": frozenset({CREATE, DELETE}),  # delete: student servers after eval
    "Role": frozenset({CREATE}),
    "RoleBinding": frozenset({CREATE}),
    "Deployment": frozenset({CREATE, PATCH, DELETE}),  # patch: replicas; delete: student servers
    "Job": frozenset({CREATE, PATCH}),  # patch: suspend
    "RayJob": frozenset({CREATE, PATCH}),
    "PyTorchJob": frozenset({CREATE, PATCH}),
    "TrainJob": frozenset({CREATE, PATCH}),  # patch: suspend
    "LeaderWorkerSet": frozenset({CREATE, PATCH}),  # the multi-node teacher; patch: replicas
    "NetworkPolicy": frozenset({CREATE}),
    # The run's server key (server_keys.py): created once, read back by name; never listed or watched.
    "Secret": frozenset({CREATE, GET}),
}
UNWATCHED = {"Secret": ("", "secrets")}  # kind → (API group, plural) of what no index watches

KUEUE_GROUP = "kueue.x-k8s.io"
# The preflight's reads (get by name), as (API group, resource): in the run's namespace, and
# cluster-scoped ones that only a cluster-wide operator is granted (a 403 skips the check).
PREFLIGHT_READS = frozenset({("", "persistentvolumeclaims"), ("", "secrets"), (KUEUE_GROUP, "localqueues")})
PREFLIGHT_CLUSTER_READS = frozenset({("storage.k8s.io", "storageclasses"), ("scheduling.k8s.io", "priorityclasses")})


def verbs(kind: str) -> frozenset[str]:
    """Every verb the operator uses on ``kind`` by name: its writes, and get after a 409 on create."""
    writes = WRITES.get(kind, frozenset())
    return writes | {GET} if CREATE in writes else writes


def require(kind: str, verb: str) -> None:
    """Raise PermissionError unless the operator is meant to ``verb`` a ``kind`` (the chart grants only that)."""
    if verb not in verbs(kind):
        raise PermissionError(f"the operator does not {verb} {kind}: not in raft_operator.permissions.WRITES "
                              "(and so not granted by the chart)")
