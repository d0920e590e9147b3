"""The API permissions the operator needs, derived from its code (not from the chart).

* Kopf handlers, read from Kopf's registry after importing ``raft_operator.handlers``: indexes
  and event handlers → list, watch; timers and change handlers also patch the resource (Kopf's
  finalizer and annotations) and its ``status`` subresource when its CRD has one.
* ``raft_operator.permissions.verbs``: the writes the applier makes per kind (create, patch,
  delete; the applier refuses others and a test checks the reconciler makes each) and get on
  every kind it creates (read back after a 409: is it this run's?); the API group is the one of
  the index that watches that kind's plural.
* ``raft_operator.permissions.PREFLIGHT_READS``: get on the claims, Secrets and Kueue
  LocalQueues a run names and, cluster-wide only, on storage classes and priority classes.
* Owner references with ``blockOwnerDeletion`` (``builders.common.owner_reference``) need
  ``update`` on the owner's ``finalizers`` subresource (OwnerReferencesPermissionEnforcement).
* Events: ``kopf.event`` and Kopf's own posting → create on core v1 events.
* RBAC escalation prevention: the operator creates each run's Role, so it must hold every
  permission that Role grants (``builders.workload_rbac``), minus the resourceNames.
* Kopf itself (the documented extras): its peering resource (list, watch, patch) and, with
  scanning, CRDs (list, watch) and, when it watches named namespaces, Namespaces (list, watch).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import yaml

Permission = tuple[str, str, str]  # (apiGroup, resource, verb)
REPO_ROOT = Path(__file__).resolve().parents[3]
WATCH_VERBS = ("list", "watch")


def _plural(selector: Any) -> str:
    return selector.plural or selector.any_name


def _crd_subresources() -> dict[tuple[str, str], set[str]]:
    """(group, plural) → subresources of the project's CRDs."""
    out: dict[tuple[str, str], set[str]] = {}
    for path in (REPO_ROOT / "crds").glob("*.yaml"):
        for crd in yaml.safe_load_all(path.read_text()):
            if crd and crd.get("kind") == "CustomResourceDefinition":
                subs = {name for v in crd["spec"]["versions"] for name in (v.get("subresources") or {})}
                out[(crd["spec"]["group"], crd["spec"]["names"]["plural"])] = subs
    return out


def operator_permissions() -> set[Permission]:
    """Every (group, resource, verb) the operator's own code calls, in the namespaces it serves."""
    import raft_operator.handlers  # noqa: F401  (registers the handlers in Kopf's default registry)
    from kopf._cogs.structs import references
    from kopf._core.intents import registries

    from raft_operator.child_kinds import KINDS
    from raft_operator.builders import workload_rbac
    from raft_operator.builders.common import owner_reference
    from raft_operator.run import Run
    from raft_operator.permissions import PREFLIGHT_READS, UNWATCHED, verbs

    registry = registries.get_default_registry()
    perms: set[Permission] = set()
    watched: dict[str, set[str]] = {}
    for handler in [*registry._indexing.get_all_handlers(), *registry._watching.get_all_handlers()]:
        group, plural = handler.selector.group, _plural(handler.selector)
        perms |= {(group, plural, verb) for verb in WATCH_VERBS}
        watched.setdefault(plural, set()).add(group)

    subresources = _crd_subresources()
    for handler in [*registry._spawning.get_all_handlers(), *registry._changing.get_all_handlers()]:
        group, plural = handler.selector.group, _plural(handler.selector)
        perms |= {(group, plural, verb) for verb in (*WATCH_VERBS, "patch")}
        if "status" in subresources.get((group, plural), set()):
            perms.add((group, f"{plural}/status", "patch"))

    for kind, plural in ((k.kind, k.plural) for k in KINDS.values() if k.writes and k.index):
        groups = watched.get(plural, set())
        assert len(groups) == 1, f"{kind}: the applier writes {plural}, which no single index watches: {groups}"
        (group,) = groups
        perms |= {(group, plural, verb) for verb in verbs(kind)}
    for kind, (group, plural) in UNWATCHED.items():
        perms |= {(group, plural, verb) for verb in verbs(kind)}

    run = Run.from_body({"metadata": {"name": "run", "namespace": "ns", "uid": "uid"}, "spec": {
        "corpus": {"volume": {"claimName": "docs"}}, "teacher": {"vllm": {"model": "m"}},
        "student": {"baseModel": "m"}, "storage": {"size": "1Gi"}}})
    owner = owner_reference(run)
    if owner.get("blockOwnerDeletion"):
        group = owner["apiVersion"].split("/")[0]
        (plural,) = {p for g, p, _ in perms if g == group and "/" not in p}
        perms.add((group, f"{plural}/finalizers", "update"))

    perms.add((references.EVENTS.group, _plural(references.EVENTS), "create"))
    perms |= {(group, resource, "get") for group, resource in PREFLIGHT_READS}

    role = workload_rbac.progress_role(run)
    for rule in role["rules"]:
        perms |= {(g, r, v) for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
    return perms


def preflight_cluster_permissions() -> set[Permission]:
    """Cluster-scoped reads of the preflight, granted only to a cluster-wide operator."""
    from raft_operator.permissions import PREFLIGHT_CLUSTER_READS

    return {(group, resource, "get") for group, resource in PREFLIGHT_CLUSTER_READS}


def kopf_peering_permissions(clusterwide: bool) -> set[Permission]:
    """Keep-alives in the peering object and watching it."""
    from kopf._cogs.structs import references

    selector = references.CLUSTER_PEERINGS_K if clusterwide else references.NAMESPACED_PEERINGS_K
    return {(selector.group, _plural(selector), verb) for verb in (*WATCH_VERBS, "patch")}


def kopf_scanning_permissions(clusterwide: bool) -> set[Permission]:
    """Cluster-scoped: CRDs always, Namespaces only when the operator watches named namespaces."""
    from kopf._cogs.structs import references

    selectors = [references.CRDS] + ([] if clusterwide else [references.NAMESPACES])
    return {(s.group, _plural(s), verb) for s in selectors for verb in WATCH_VERBS}


def rule_permissions(rules: Iterable[dict[str, Any]]) -> set[Permission]:
    """Flatten RBAC rules; wildcards, resourceNames and nonResourceURLs are errors here."""
    perms: set[Permission] = set()
    for rule in rules:
        assert not rule.get("resourceNames") and not rule.get("nonResourceURLs"), rule
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], f"wildcard in {field}: {rule}"
        perms |= {(g, r, v) for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
    return perms
