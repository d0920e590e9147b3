"""The real node (hack/cluster/node.sh): real containers from images built here, pod network,
Services through ClusterIPs, cluster DNS, probes and cgroup limits, and the failures a real
kubelet reports."""

from __future__ import annotations

import json
import time

import pytest

from raft_dev.cluster import LocalCluster, pinned_versions
from real_node_support import real_node_cluster

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1800)]

NS = "node-test"
IMAGE = "localhost/raft-operator/operator:local"  # built from images/operator/Dockerfile on the local base

# kube-proxy programs a new Service's endpoints within its sync period: until then the ClusterIP
# refuses, so the client tries for up to 30 s, as any client of a fresh Service would.
CLIENT = r"""
import json, socket, ssl, time, urllib.request
print("resolved", socket.gethostbyname("web.node-test.svc.cluster.local"))
for attempt in range(30):
    try:
        print("web", urllib.request.urlopen("http://web.node-test.svc.cluster.local/", timeout=10).status)
        break
    except OSError as exc:
        print("retrying:", exc)
        time.sleep(1)
ca = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
token = open("/var/run/secrets/kubernetes.io/serviceaccount/token").read()
context = ssl.create_default_context(cafile=ca)
for host in ("kubernetes.default.svc", "10.96.0.1"):
    request = urllib.request.Request(f"https://{host}/version", headers={"Authorization": "Bearer " + token})
    print("api", host, json.load(urllib.request.urlopen(request, context=context, timeout=10))["gitVersion"])
"""


def pod(name: str, command: list[str], **spec: object) -> dict:
    container = {"name": "main", "image": IMAGE, "imagePullPolicy": "Never", "command": command,
                 **spec.pop("container", {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS, "labels": {"app": name}},
            "spec": {"containers": [container], "terminationGracePeriodSeconds": 1, **spec}}


@pytest.fixture(scope="module")
def cluster():
    with real_node_cluster("raft-node-test", (NS,)) as cluster:
        yield cluster


def pod_json(cluster: LocalCluster, name: str) -> dict:
    return cluster.kubectl_json("get", "pod", name, "-n", NS)


def wait_pod(cluster: LocalCluster, name: str, check, timeout: float = 180, message: str = "") -> dict:
    def ready():
        p = pod_json(cluster, name)
        return p if check(p) else None
    return cluster.wait_for(ready, timeout=timeout, interval=1.0, message=message or f"pod {name}")


def container_state(p: dict) -> dict:
    statuses = p.get("status", {}).get("containerStatuses") or [{}]
    return statuses[0]


def test_the_node_is_a_real_kubelet_on_containerd(cluster):
    node = cluster.kubectl_json("get", "node", "raft-node")
    info = node["status"]["nodeInfo"]
    assert info["kubeletVersion"] == pinned_versions()["K8S_VERSION"]
    assert info["containerRuntimeVersion"].startswith("containerd://")
    assert {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"] == "True"
    dns = cluster.kubectl_json("get", "pods", "-n", "kube-system", "-l", "k8s-app=kube-dns")["items"]
    assert dns and all(container_state(p).get("ready") for p in dns)


def test_a_service_is_reached_by_name_and_cluster_ip_from_another_pod(cluster):
    web = pod("web", ["python3", "-m", "http.server", "8080", "--bind", "0.0.0.0"],
              container={"ports": [{"containerPort": 8080}],
                         "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1}})
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": NS},
               "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}
    cluster.apply([web, service])
    p = wait_pod(cluster, "web", lambda p: container_state(p).get("ready"), message="web ready (readiness probe)")
    assert container_state(p)["containerID"].startswith("containerd://")
    assert p["status"]["podIP"].startswith("10.244.0.") and p["status"]["podIP"] != "10.244.0.1"
    cluster.apply(pod("client", ["python3", "-c", CLIENT], restartPolicy="Never"))
    p = wait_pod(cluster, "client", lambda p: p["status"].get("phase") in ("Succeeded", "Failed"), message="client done")
    logs = cluster.kubectl("logs", "client", "-n", NS).stdout
    assert p["status"]["phase"] == "Succeeded", logs
    cluster_ip = cluster.kubectl_json("get", "service", "web", "-n", NS)["spec"]["clusterIP"]
    assert f"resolved {cluster_ip}" in logs and "web 200" in logs
    version = pinned_versions()["K8S_VERSION"]
    assert f"api kubernetes.default.svc {version}" in logs and f"api 10.96.0.1 {version}" in logs


def test_exec_reaches_the_container_through_the_kubelet(cluster):
    wait_pod(cluster, "web", lambda p: container_state(p).get("ready"))
    out = cluster.kubectl("exec", "web", "-n", NS, "--", "python3", "-c", "import os; print(os.getuid(), os.uname().nodename)")
    assert out.stdout.split() == ["1000", "web"]  # the image's USER, in the pod's own UTS namespace


def test_a_memory_limit_is_enforced_by_the_cgroup(cluster):
    cluster.apply(pod("hog", ["python3", "-c", "x = bytearray(400 * 2**20); import time; time.sleep(60)"],
                      restartPolicy="Never", container={"resources": {"limits": {"memory": "64Mi", "cpu": "500m"}}}))
    p = wait_pod(cluster, "hog", lambda p: "terminated" in container_state(p).get("state", {}), message="hog killed")
    assert container_state(p)["state"]["terminated"]["reason"] == "OOMKilled"


def test_a_failing_liveness_probe_restarts_the_container(cluster):
    cluster.apply(pod("sick", ["sleep", "600"],
                      container={"livenessProbe": {"exec": {"command": ["false"]}, "periodSeconds": 1,
                                                   "failureThreshold": 1}}))
    p = wait_pod(cluster, "sick", lambda p: container_state(p).get("restartCount", 0) >= 1, message="sick restarted")
    assert container_state(p)["restartCount"] >= 1


@pytest.mark.parametrize("policy,reasons", [("Never", {"ErrImageNeverPull"}),
                                            ("IfNotPresent", {"ErrImagePull", "ImagePullBackOff"})])
def test_an_image_that_is_not_here_fails_as_a_kubelet_reports_it(cluster, policy, reasons):
    name = f"ghost-{policy.lower()}"
    manifest = pod(name, ["true"], restartPolicy="Never")
    manifest["spec"]["containers"][0].update(image="localhost/raft-operator/no-such-image:local", imagePullPolicy=policy)
    cluster.apply(manifest)
    p = wait_pod(cluster, name, lambda p: container_state(p).get("state", {}).get("waiting", {}).get("reason") in reasons,
                 timeout=60, message=f"{name} waiting with {reasons}")
    assert p["status"]["phase"] == "Pending"


def test_deleted_pods_are_gone_from_the_runtime(cluster):
    cluster.kubectl("delete", "pod", "sick", "-n", NS, "--wait=true", timeout=120)
    assert "sick" not in cluster.kubectl("get", "pods", "-n", NS, "-o", "name").stdout
    for _ in range(60):
        out = json.loads(cluster.node_crictl("pods", "-o", "json") or "{}")
        if not [s for s in out.get("items", []) if s["metadata"]["name"] == "sick" and s["state"] == "SANDBOX_READY"]:
            return
        time.sleep(1)
    pytest.fail("the deleted pod's sandbox is still running")
