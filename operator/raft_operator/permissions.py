"""What the operator may do to each kind of child, which is what the chart's RBAC grants.

The applier refuses a write that is not listed here (:func:`require`), and a test walks the
reconciler through every stage, suspension, failure and retention change to check that each
listed write happens, so the table is neither narrower nor wider than the code. The chart's
Role is compared with it (tests/chart/rbac_derivation.py). The verbs per kind live in
:mod:`raft_operator.child_kinds`.

Reads by name outside the watches are listed too: every kind the operator creates is read
back (get) after a 409 to check that the object holding the name is this run's
(:mod:`raft_operator.adoption`), and the preflight reads what a run names
(:data:`PREFLIGHT_READS`, :data:`PREFLIGHT_CLUSTER_READS`).
"""

from __future__ import annotations

from . import child_kinds
from .child_kinds import CREATE, DELETE, GET, PATCH

__all__ = ["CREATE", "DELETE", "GET", "PATCH", "WRITES", "UNWATCHED", "verbs", "require"]

# kind → the verbs the operator uses by name (reads come from the watches: list, watch), from
# the kinds table; a mutable copy so a test can take one verb away.
WRITES: dict[str, frozenset[str]] = {k.kind: k.writes for k in child_kinds.KINDS.values() if k.writes}
# kind → (API group, plural) of what the operator writes but no index watches.
UNWATCHED = {k.kind: (k.group, k.plural) for k in child_kinds.KINDS.values() if k.writes and not k.index}

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
