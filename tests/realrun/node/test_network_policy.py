"""The per-run NetworkPolicy, enforced for real (kube-router on the real node).

Run ``alpha`` has a teacher (model-server port) and a Ray head (GCS and dashboard ports) in
namespace ``tenant-a``; run ``beta`` lives beside it, and namespace ``tenant-b`` holds a pod of no
run. Each run gets the policy the operator builds (``builders.network_policy``). Probes are TCP
connections made from inside the pods.
"""

from __future__ import annotations

import pytest

from raft_operator import api
from raft_operator.builders import network_policy
from raft_operator.run import Run
from raft_dev.cluster import LocalCluster
from real_node_support import real_node_cluster

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1200)]

IMAGE = "localhost/raft-operator/operator:local"
GCS, DASHBOARD = 6379, 8265
LISTEN = f"""
import socket, threading
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen()
    while True:
        c, _ = s.accept(); c.sendall(b"ok"); c.close()
ports = [int(p) for p in __import__("sys").argv[1:]]
for p in ports[1:]:
    threading.Thread(target=serve, args=(p,), daemon=True).start()
serve(ports[0])
"""
# kube-router applies a change (a new pod, a removed policy) within seconds, not at once. The
# probe waits that out before its first try; a connection that should open is tried for up to
# 30 s more, one that should be refused is tried once.
PROBE = """
import os, socket, sys, time
time.sleep(8)
patience = 30 if os.environ.get("EXPECT") == "open" else 0
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    deadline = time.monotonic() + patience
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=3):
                print(target, "open")
            break
        except OSError as exc:
            if time.monotonic() >= deadline:
                print(target, "closed", type(exc).__name__)
                break
            time.sleep(1)
"""


def run_of(name: str, namespace: str) -> Run:
    body = {"apiVersion": "raftoperator.io/v1alpha1", "kind": "RaftRun",
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "generation": 1},
            "spec": {"corpus": {"volume": {"claimName": "docs"}},
                     "teacher": {"vllm": {"model": "m"}}, "student": {"baseModel": "s"}, "storage": {"size": "1Gi"}}}
    return Run.from_body(body)


def policy(run: Run) -> dict:
    (manifest,) = network_policy.build(run, network_policy.NetworkPolicyOptions(operator_namespace="raft-system"))
    manifest["metadata"].pop("ownerReferences", None)  # no RaftRun object here for the collector to find
    return manifest


def pod(name: str, namespace: str, labels: dict, args: list[str], script: str, restart: str = "Always",
        env: dict[str, str] | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"restartPolicy": restart, "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "main", "image": IMAGE, "imagePullPolicy": "Never",
                                     "command": ["python3", "-c", script, *args],
                                     "env": [{"name": k, "value": v} for k, v in (env or {}).items()]}]}}


def run_labels(run: str, component: str) -> dict:
    return {api.RUN_LABEL: run, "app.kubernetes.io/component": component}


@pytest.fixture(scope="module")
def cluster():
    with real_node_cluster("raft-netpol-test", ("tenant-a", "tenant-b")) as cluster:
        cluster.apply([
            pod("alpha-teacher", "tenant-a", run_labels("alpha", "teacher"), [str(api.SERVER_PORT)], LISTEN),
            pod("alpha-head", "tenant-a", run_labels("alpha", "datagen"), [str(GCS), str(DASHBOARD)], LISTEN),
            pod("other-server", "tenant-b", {"app": "other"}, ["8080"], LISTEN),
        ])
        for name, ns in (("alpha-teacher", "tenant-a"), ("alpha-head", "tenant-a"), ("other-server", "tenant-b")):
            cluster.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "-n", ns, "--timeout=180s", timeout=200)
        cluster.apply([policy(run_of("alpha", "tenant-a")), policy(run_of("beta", "tenant-a"))])
        yield cluster


def ip(cluster: LocalCluster, name: str, namespace: str) -> str:
    return cluster.kubectl_json("get", "pod", name, "-n", namespace)["status"]["podIP"]


def probe(cluster: LocalCluster, name: str, namespace: str, labels: dict, targets: list[str],
          expect: str = "closed") -> dict[str, str]:
    """Connect from a new pod to each ``host:port``; ``{target: "open" | "closed"}``. With
    ``expect="open"`` each connection is retried while kube-router catches up."""
    cluster.apply(pod(name, namespace, labels, targets, PROBE, restart="Never", env={"EXPECT": expect}))
    cluster.wait_for(lambda: cluster.kubectl_json("get", "pod", name, "-n", namespace)["status"].get("phase")
                     in ("Succeeded", "Failed"), timeout=180, interval=1.0, message=f"probe {name}")
    out = cluster.kubectl("logs", name, "-n", namespace).stdout
    cluster.kubectl("delete", "pod", name, "-n", namespace, "--wait=false")
    return {line.split()[0]: line.split()[1] for line in out.splitlines() if line.strip()}


def alpha_ports(cluster: LocalCluster) -> list[str]:
    teacher, head = ip(cluster, "alpha-teacher", "tenant-a"), ip(cluster, "alpha-head", "tenant-a")
    return [f"{teacher}:{api.SERVER_PORT}", f"{head}:{GCS}", f"{head}:{DASHBOARD}"]


def test_the_runs_own_pods_reach_its_teacher_and_ray_head(cluster):
    seen = probe(cluster, "alpha-probe", "tenant-a", run_labels("alpha", "eval"), alpha_ports(cluster), expect="open")
    assert set(seen.values()) == {"open"}, seen


def test_another_runs_pod_is_refused_on_the_teacher_and_ray_ports(cluster):
    seen = probe(cluster, "beta-probe", "tenant-a", run_labels("beta", "eval"), alpha_ports(cluster))
    assert set(seen.values()) == {"closed"}, seen


def test_a_pod_of_another_namespace_is_refused(cluster):
    seen = probe(cluster, "b-probe", "tenant-b", {"app": "curious"}, alpha_ports(cluster))
    assert set(seen.values()) == {"closed"}, seen


def test_egress_reaches_dns_and_the_api_server_but_not_another_namespaces_pod(cluster):
    other = ip(cluster, "other-server", "tenant-b")
    seen = probe(cluster, "alpha-egress", "tenant-a", run_labels("alpha", "eval"),
                 ["kube-dns.kube-system.svc.cluster.local:53", "kubernetes.default.svc.cluster.local:443",
                  f"{other}:8080"])
    assert seen == {"kube-dns.kube-system.svc.cluster.local:53": "open",
                    "kubernetes.default.svc.cluster.local:443": "open", f"{other}:8080": "closed"}, seen


def test_without_the_policy_another_namespace_gets_through(cluster):
    """The refusals above are the policy's doing: with alpha's policy removed, the same probe from
    tenant-b (whose pods no policy selects) reaches every port."""
    cluster.kubectl("delete", "networkpolicy", "alpha-network", "-n", "tenant-a")
    try:
        seen = probe(cluster, "b-probe-2", "tenant-b", {"app": "curious"}, alpha_ports(cluster), expect="open")
        assert set(seen.values()) == {"open"}, seen
    finally:
        cluster.apply(policy(run_of("alpha", "tenant-a")))
