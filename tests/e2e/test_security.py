"""Security on the real local API server: Pod Security `restricted`, owner references under
OwnerReferencesPermissionEnforcement, NetworkPolicy and server key per run."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from operator_process import RELEASE, RELEASE_NAMESPACE
from raft_operator.builders import datagen, evaluation, finetune, teacher
from raft_operator.builders.common import owner_reference
from raft_operator.run import Run

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}


def pod_templates(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod templates of a Deployment, Job, RayJob or PyTorchJob, where each controller reads them (none for a Service)."""
    spec = manifest["spec"]
    if manifest["kind"] == "RayJob":
        cluster = spec["rayClusterSpec"]
        return [spec["submitterPodTemplate"], cluster["headGroupSpec"]["template"],
                *(group["template"] for group in cluster["workerGroupSpecs"])]
    if manifest["kind"] == "PyTorchJob":
        return [replica["template"] for replica in spec["pytorchReplicaSpecs"].values()]
    return [spec["template"]] if "template" in spec else []


def restricted_namespace(cluster, name: str) -> str:
    cluster.kubectl("create", "namespace", name)
    cluster.kubectl("label", "namespace", name, *[f"{k}={v}" for k, v in RESTRICTED.items()])
    return name


def test_every_pod_the_operator_creates_is_admitted_under_restricted(installed) -> None:
    namespace = restricted_namespace(installed, "restricted-pods")
    body = yaml.safe_load((ROOT / "examples" / "demo.yaml").read_text())
    body["metadata"] = {"name": "psa", "namespace": namespace, "uid": "00000000-0000-0000-0000-000000000001"}
    body["spec"]["student"]["nodes"] = 3  # Master and Workers
    run = Run.from_body(body)
    installed.kubectl("create", "serviceaccount", run.names.service_account, "-n", namespace)
    workloads = teacher.build(run) + datagen.build(run) + finetune.build(run) + evaluation.server_manifests(run) \
        + [evaluation.job(run)]
    templates = [(m["kind"], m["metadata"]["name"], t) for m in workloads for t in pod_templates(m)]
    assert len(templates) >= 8
    for kind, name, template in templates:
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": f"{name}-{len(name)}", "namespace": namespace,
                            "labels": template.get("metadata", {}).get("labels", {})},
               "spec": copy.deepcopy(template["spec"])}
        result = installed.kubectl("create", "--dry-run=server", "-f", "-", input=yaml.safe_dump(pod), check=False)
        assert result.returncode == 0, f"a pod of {kind} {name} is refused under restricted: {result.stderr}"

    # The namespace does enforce: the same pod without its seccomp profile is refused.
    pod["spec"]["securityContext"].pop("seccompProfile")
    result = installed.kubectl("create", "--dry-run=server", "-f", "-", input=yaml.safe_dump(pod), check=False)
    assert result.returncode != 0 and "restricted" in result.stderr


def test_a_run_succeeds_in_a_restricted_namespace(runs) -> None:
    runs.cluster.kubectl("label", "namespace", runs.namespace, *[f"{k}={v}" for k, v in RESTRICTED.items()])
    runs.create("strict")
    runs.wait_phase("strict", "Succeeded", timeout=300)
    policy = runs.cluster.kubectl_json("get", "networkpolicy", "strict-network", "-n", runs.namespace)
    assert policy["spec"]["podSelector"] == {"matchLabels": {"raftoperator.io/run": "strict"}}
    secret = runs.cluster.kubectl_json("get", "secret", "strict-server-key", "-n", runs.namespace)
    assert secret["metadata"]["ownerReferences"][0]["name"] == "strict"


def impersonate(cluster, service_account: str, namespace: str, manifest: dict[str, Any]):
    return cluster.kubectl("create", "-f", "-", f"--as=system:serviceaccount:{RELEASE_NAMESPACE}:{service_account}",
                           "-n", namespace, input=yaml.safe_dump(manifest), check=False)


def test_owner_references_need_update_on_raftruns_finalizers(runs) -> None:
    """With OwnerReferencesPermissionEnforcement on (raft_dev.shared_cluster), a child blocking its
    RaftRun's deletion may be created only by who may update raftruns/finalizers: the chart's
    operator may; the same ClusterRole without that rule may not."""
    cluster, namespace = runs.cluster, runs.namespace
    runs.create("owner")
    run = Run.from_body(runs.get("owner"))

    def child(name: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": namespace, "ownerReferences": [owner_reference(run)]}}

    allowed = impersonate(cluster, RELEASE, namespace, child("owner-probe-a"))
    assert allowed.returncode == 0, allowed.stderr

    role = cluster.kubectl_json("get", "clusterrole", RELEASE)
    role["rules"] = [r for r in role["rules"] if "raftruns/finalizers" not in r["resources"]]
    name = f"{RELEASE}-no-finalizers"
    cluster.apply([
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": RELEASE_NAMESPACE}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name},
         "rules": role["rules"]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": RELEASE_NAMESPACE}]},
    ])

    def refused_for_owner_reference() -> str | None:
        # Retried until the new binding is in the authorizer's cache: until then every create is forbidden.
        result = impersonate(cluster, name, namespace, child("owner-probe-b"))
        assert result.returncode != 0, "created without update on raftruns/finalizers"
        return result.stderr if "blockOwnerDeletion" in result.stderr else None

    message = runs.until(refused_for_owner_reference, timeout=40, message="no blockOwnerDeletion refusal")
    assert "finalizers" in message
