"""The run's NetworkPolicy: its pods talk to each other, to the operator and out, nothing else.

It selects every pod of the run (label ``raftoperator.io/run``) and allows

* in: from the run's own pods; from the operator to the model-server port (the teacher
  probe); from the KubeRay operator to the Ray dashboard port (it polls the job there);
* out: to the run's own pods; DNS; the Kubernetes API server (the progress channel); the
  ports of the external teacher, judge and sitemap URLs; and addresses outside the private
  ranges (model and dataset downloads, public sitemaps, hosted endpoints).

So no other pod of the cluster can reach a run's Ray head, model servers or trainers, and a
run's pods cannot reach other in-cluster services or cloud metadata. Switched off in the
chart (``networkPolicy.enabled``), no policy is created.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from .. import api
from ..run import Run
from .common import Manifest, metadata

RAY_DASHBOARD_PORT = 8265
DNS_PORT = 53
API_SERVER_PORTS = (443, 6443)
PRIVATE_V4 = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "127.0.0.0/8")
PRIVATE_V6 = ("fc00::/7", "fe80::/10", "::1/128")


@dataclass(frozen=True)
class NetworkPolicyOptions:
    """How the operator's chart configured the policies (see settings.py)."""

    enabled: bool = True
    operator_namespace: str | None = None  # None: the operator's pods in any namespace
    operator_pod_labels: dict[str, str] = field(default_factory=lambda: {"app.kubernetes.io/name": "raft-operator"})
    # The label both of KubeRay's installs put on the operator pod (Helm chart and kustomize manifests).
    ray_operator_pod_labels: dict[str, str] = field(default_factory=lambda: {"app.kubernetes.io/component": "kuberay-operator"})
    api_server_cidrs: tuple[str, ...] = ()  # empty: the API server ports to any address


def _run_pods(run: Run) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": {api.RUN_LABEL: run.name}}}


def _tcp(*ports: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": p} for p in ports]


def _peer(pod_labels: dict[str, str], namespace: str | None) -> dict[str, Any]:
    namespaces = {"matchLabels": {"kubernetes.io/metadata.name": namespace}} if namespace else {}
    return {"namespaceSelector": namespaces, "podSelector": {"matchLabels": dict(pod_labels)}}


def _url_ports(run: Run) -> list[int]:
    """Ports of the URLs the run calls outside itself: external teacher, judge, sitemaps."""
    spec = run.spec
    urls = [endpoint.url for endpoint in (spec.teacher.external, spec.eval.judge) if endpoint]
    urls += list(spec.corpus.sitemap.urls if spec.corpus.sitemap else [])
    ports = set()
    for url in filter(None, urls):
        parts = urllib.parse.urlsplit(url)
        ports.add(parts.port or (443 if parts.scheme == "https" else 80))
    return sorted(ports)


def network_policy(run: Run, options: NetworkPolicyOptions) -> Manifest:
    """The NetworkPolicy ``<run>-network``."""
    outside = [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(PRIVATE_V4)}},
               {"ipBlock": {"cidr": "::/0", "except": list(PRIVATE_V6)}}]
    api_servers = [{"ipBlock": {"cidr": c}} for c in options.api_server_cidrs]
    egress: list[dict[str, Any]] = [
        {"to": [_run_pods(run)]},
        {"ports": [{"protocol": "UDP", "port": DNS_PORT}, {"protocol": "TCP", "port": DNS_PORT}]},
        {"ports": _tcp(*API_SERVER_PORTS), **({"to": api_servers} if api_servers else {})},
        {"to": outside},
    ]
    if _url_ports(run):
        egress.append({"ports": _tcp(*_url_ports(run))})
    ingress = [
        {"from": [_run_pods(run)]},
        {"from": [_peer(options.operator_pod_labels, options.operator_namespace)], "ports": _tcp(api.SERVER_PORT)},
        {"from": [_peer(options.ray_operator_pod_labels, None)], "ports": _tcp(RAY_DASHBOARD_PORT)},
    ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(run, f"{run.name}-network", "network"),
        "spec": {
            "podSelector": {"matchLabels": {api.RUN_LABEL: run.name}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": egress,
        },
    }


def build(run: Run, options: NetworkPolicyOptions) -> list[Manifest]:
    """The policy, or nothing when policies are switched off."""
    return [network_policy(run, options)] if options.enabled else []
