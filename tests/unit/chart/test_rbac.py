"""The rendered RBAC grants exactly what the operator's code calls (rbac_derivation.py), plus the
documented permissions Kopf itself needs: nothing missing, nothing extra, no wildcards."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from chartlib import by_kind, one  # noqa: E402
from raft_operator import permissions  # noqa: E402
from rbac_derivation import (kopf_peering_permissions, kopf_scanning_permissions, operator_permissions,  # noqa: E402
                             preflight_cluster_permissions, rule_permissions)

NAMESPACED = {"configmaps", "persistentvolumeclaims", "serviceaccounts", "services", "pods", "events", "roles",
              "rolebindings", "deployments", "jobs", "rayjobs", "pytorchjobs", "trainjobs", "workloads", "leaderworkersets",
              "raftruns", "raftruns/status", "raftruns/finalizers", "secrets", "networkpolicies", "localqueues"}


def diff_message(granted: set, wanted: set) -> str:
    return f"missing: {sorted(wanted - granted)}\nextra: {sorted(granted - wanted)}"


def test_derivation_sees_every_child_kind_and_the_raftrun() -> None:
    perms = operator_permissions()
    resources = {resource for _, resource, _ in perms}
    assert resources == NAMESPACED, "a new resource in the operator's code: check the chart's RBAC and this list"
    assert ("raftoperator.io", "raftruns/status", "patch") in perms
    assert ("", "configmaps", "get") in perms, "escalation prevention: the per-run Role grants get"
    assert ("raftoperator.io", "raftruns/finalizers", "update") in perms, "blockOwnerDeletion needs it"
    assert {(r, v) for _, r, v in perms if v == "update"} == {("raftruns/finalizers", "update")}
    assert not any(verb in ("deletecollection", "escalate", "bind", "impersonate") for _, _, verb in perms)
    for verb in ("delete", "patch"):
        assert not {r for _, r, v in perms if v == verb} & {"roles", "rolebindings", "serviceaccounts"}, \
            f"nothing deletes or patches the run's RBAC, so the chart must not grant {verb}"
    assert ("", "configmaps", "delete") not in perms
    assert "patch" not in permissions.WRITES["ConfigMap"], "patch on configmaps only for escalation prevention"
    assert ("", "persistentvolumeclaims", "delete") not in perms, "claims go by garbage collection only"
    assert {v for _, r, v in perms if r == "secrets"} == {"create", "get"}, "Secrets are never listed or watched"
    created = {r for _, r, v in perms if v == "create"} - {"events"}
    assert created <= {r for _, r, v in perms if v == "get"}, "a 409 on create reads the object back (adoption check)"


def check_bindings(docs: list[dict], role_kind: str, role_name: str) -> None:
    binding_kind = "ClusterRoleBinding" if role_kind == "ClusterRole" else "RoleBinding"
    bindings = [b for b in by_kind(docs, binding_kind) if b["roleRef"]["name"] == role_name]
    assert bindings, f"{role_kind} {role_name} is not bound"
    service_account = one(docs, "ServiceAccount")["metadata"]
    for binding in bindings:
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": service_account["name"],
                                        "namespace": service_account["namespace"]}]


def test_cluster_wide_cluster_role_is_exactly_what_the_operator_calls(render) -> None:
    docs = render("cluster-wide.yaml")
    assert not by_kind(docs, "Role") and not by_kind(docs, "RoleBinding")
    (role,) = by_kind(docs, "ClusterRole")
    wanted = (operator_permissions() | kopf_peering_permissions(True) | kopf_scanning_permissions(True)
              | preflight_cluster_permissions())
    granted = rule_permissions(role["rules"])
    assert granted == wanted, diff_message(granted, wanted)
    check_bindings(docs, "ClusterRole", role["metadata"]["name"])


def test_namespaced_roles_are_exactly_what_the_operator_calls(render) -> None:
    docs = render("namespaced.yaml")
    roles = by_kind(docs, "Role")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    wanted = operator_permissions() | kopf_peering_permissions(False)
    for role in roles:
        granted = rule_permissions(role["rules"])
        assert granted == wanted, diff_message(granted, wanted)
        bindings = [b for b in by_kind(docs, "RoleBinding") if b["metadata"]["namespace"] == role["metadata"]["namespace"]]
        assert len(bindings) == 1 and bindings[0]["roleRef"]["name"] == role["metadata"]["name"]
        check_bindings(docs, "Role", role["metadata"]["name"])
    (scanning,) = by_kind(docs, "ClusterRole")
    granted = rule_permissions(scanning["rules"])
    assert granted == kopf_scanning_permissions(False), diff_message(granted, kopf_scanning_permissions(False))
    check_bindings(docs, "ClusterRole", scanning["metadata"]["name"])


def test_standalone_tenant_has_no_cluster_scoped_rbac(render) -> None:
    docs = render("standalone.yaml")
    assert not by_kind(docs, "ClusterRole") and not by_kind(docs, "ClusterRoleBinding")
    role = one(docs, "Role")
    assert role["metadata"]["namespace"] == "ml"
    granted = rule_permissions(role["rules"])
    assert granted == operator_permissions(), diff_message(granted, operator_permissions())


@pytest.mark.parametrize("values", ["cluster-wide.yaml", "namespaced.yaml", "ha.yaml", "standalone.yaml"])
def test_rbac_off_renders_no_rbac(render, values: str) -> None:
    docs = render(values, sets=("rbac.create=false",))
    assert not {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"} & {d["kind"] for d in docs}
