"""The run's ServiceAccount and the Role that lets its workloads patch only their progress ConfigMap."""

from __future__ import annotations

from ..run import Run
from .common import Manifest, metadata


def service_account(run: Run) -> Manifest:
    """The identity of every workload pod of the run."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(run, run.names.service_account, "workload"),
    }


def progress_role(run: Run) -> Manifest:
    """get/patch on the run's progress ConfigMap, nothing else (resourceNames)."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": metadata(run, run.names.progress, "progress"),
        "rules": [{
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": [run.names.progress],
            "verbs": ["get", "patch"],
        }],
    }


def progress_role_binding(run: Run) -> Manifest:
    """Binds :func:`progress_role` to the run's ServiceAccount."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": metadata(run, run.names.progress, "progress"),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": run.names.progress},
        "subjects": [{"kind": "ServiceAccount", "name": run.names.service_account, "namespace": run.namespace}],
    }


def build(run: Run) -> list[Manifest]:
    """All RBAC children of the run."""
    return [service_account(run), progress_role(run), progress_role_binding(run)]
