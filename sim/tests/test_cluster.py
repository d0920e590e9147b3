"""The local cluster is a real one: API server with RBAC, controller manager, scheduler, kwok nodes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from raft_dev.cluster import LocalCluster, bin_dir, cache_dir, pinned_versions

from cluster_manifests import deployment, job, owner_reference

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_components_are_the_pinned_builds(cluster: LocalCluster) -> None:
    version = cluster.kubectl_json("version")["serverVersion"]
    pinned = pinned_versions()
    assert version["gitVersion"] == pinned["K8S_VERSION"]
    assert version["gitTreeState"] == "clean"
    # The one controller manager and scheduler run without leader election (a late lease renewal
    # on a loaded machine would make them exit for good).
    pids = cache_dir() / "kwok" / "clusters" / cluster.name / "pids"
    for component in ("kube-controller-manager", "kube-scheduler"):
        pid = int((pids / f"{component}.pid").read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert b"--leader-elect=false" in cmdline, component
        if component == "kube-controller-manager":  # not held to 20 requests/s (operator_scale, 1,000 runs)
            assert b"--kube-api-qps=200" in cmdline and b"--kube-api-burst=400" in cmdline
    leases = {item["metadata"]["name"] for item in cluster.kubectl_json("get", "lease", "-n", "kube-system")["items"]}
    assert not {"kube-controller-manager", "kube-scheduler"} & leases
    helm = subprocess.run([str(bin_dir() / "helm"), "version", "--template", "{{.Version}}"],
                          capture_output=True, text=True, check=True)
    assert helm.stdout.strip() == pinned["HELM_VERSION"]


def test_listens_on_loopback_only(cluster: LocalCluster) -> None:
    assert cluster.server_url().startswith("https://127.0.0.1:")


def test_fake_nodes_offer_gpus(cluster: LocalCluster) -> None:
    nodes = cluster.kubectl_json("get", "nodes")["items"]
    gpus = {n["metadata"]["name"]: n["status"]["allocatable"].get("nvidia.com/gpu") for n in nodes}
    assert sum(1 for g in gpus.values() if g == "8") == 4
    assert "cpu-node-0" in gpus and gpus["cpu-node-0"] is None
    for node in nodes:
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True"


def test_gpu_deployment_is_scheduled_and_available(cluster: LocalCluster, namespace: str) -> None:
    cluster.apply(deployment("teacher", gpus=8), namespace)
    cluster.kubectl("wait", "-n", namespace, "--for=condition=Available", "deployment/teacher", "--timeout=60s")
    pod = cluster.kubectl_json("get", "pods", "-n", namespace, "-l", "app=teacher")["items"][0]
    assert pod["spec"]["nodeName"].startswith("gpu-node-")
    assert pod["status"]["podIP"]


def test_too_many_gpus_stay_unschedulable(cluster: LocalCluster, namespace: str) -> None:
    cluster.apply(deployment("huge", gpus=9), namespace)

    def unschedulable() -> bool:
        pods = cluster.kubectl_json("get", "pods", "-n", namespace, "-l", "app=huge")["items"]
        conditions = pods[0]["status"].get("conditions", []) if pods else []
        return any(c["type"] == "PodScheduled" and c.get("reason") == "Unschedulable" for c in conditions)

    cluster.wait_for(unschedulable, timeout=60, message="9-GPU pod not marked Unschedulable")
    pod = cluster.kubectl_json("get", "pods", "-n", namespace, "-l", "app=huge")["items"][0]
    assert pod["status"]["phase"] == "Pending"
    assert "nvidia.com/gpu" in json.dumps(pod["status"]["conditions"])


def test_job_completes(cluster: LocalCluster, namespace: str) -> None:
    cluster.apply(job("hello"), namespace)
    cluster.kubectl("wait", "-n", namespace, "--for=condition=Complete", "job/hello", "--timeout=60s")


def test_owner_reference_garbage_collection(cluster: LocalCluster, namespace: str) -> None:
    cluster.kubectl("create", "configmap", "parent", "-n", namespace)
    parent = cluster.kubectl_json("get", "configmap", "parent", "-n", namespace)
    child = {"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": "child", "ownerReferences": [owner_reference(parent)]}}
    cluster.apply(child, namespace)
    cluster.kubectl("delete", "configmap", "parent", "-n", namespace)
    cluster.wait_for(
        lambda: cluster.kubectl("get", "configmap", "child", "-n", namespace, check=False).returncode != 0,
        timeout=60, message="child not garbage-collected",
    )


def test_rbac_denies_a_service_account_without_a_role(cluster: LocalCluster, namespace: str) -> None:
    cluster.kubectl("create", "serviceaccount", "nobody", "-n", namespace)
    kubeconfig = cluster.service_account_kubeconfig(namespace, "nobody")
    as_sa = ["kubectl", "--kubeconfig", str(kubeconfig), "get", "configmaps", "-n", namespace]
    denied = subprocess.run(as_sa, capture_output=True, text=True)
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr.lower()
    assert f"system:serviceaccount:{namespace}:nobody" in denied.stderr

    cluster.kubectl("create", "role", "read-cm", "-n", namespace, "--verb=get,list", "--resource=configmaps")
    cluster.kubectl("create", "rolebinding", "read-cm", "-n", namespace, "--role=read-cm",
                    f"--serviceaccount={namespace}:nobody")
    cluster.wait_for(lambda: subprocess.run(as_sa, capture_output=True).returncode == 0,
                     message="Role did not grant access")


def test_default_storage_class_binds_claims(cluster: LocalCluster, namespace: str) -> None:
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
             "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "10Gi"}}}}
    cluster.apply(claim, namespace)
    cluster.kubectl("wait", "-n", namespace, "--for=jsonpath={.status.phase}=Bound", "pvc/data", "--timeout=60s")
