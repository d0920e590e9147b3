"""Operator settings, from the environment (the chart sets them)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .builders.network_policy import NetworkPolicyOptions
from .kueue import WAIT_FOR_PODS_READY_SECONDS


def _labels(text: str | None, default: dict[str, str]) -> dict[str, str]:
    """``k=v,k2=v2`` → a dict; ``default`` when unset."""
    if not text:
        return dict(default)
    return dict(pair.split("=", 1) for pair in text.split(",") if "=" in pair)


@dataclass(frozen=True)
class Settings:
    """What an operator deployment may tune."""

    reconcile_interval: float = 10.0
    # Reconcile passes that may wait on the API server at once (Kopf runs sync handlers in a thread
    # pool, by default of only CPUs + 4 threads; a run's first pass makes about ten requests).
    reconcile_workers: int = 32
    metrics_port: int = 8080
    # How the operator reaches a run's servers for the teacher probe. In the cluster: the Service DNS name.
    endpoint_url_template: str = "http://{service}.{namespace}.svc:{port}"
    probe_timeout: float = 10.0
    # Kueue's waitForPodsReady.timeout in this cluster (0: off), to compare the runs' start-up
    # deadlines with: the operator cannot read Kueue's Configuration in kueue-system itself.
    kueue_wait_for_pods_ready_seconds: int = WAIT_FOR_PODS_READY_SECONDS
    network_policy: NetworkPolicyOptions = field(default_factory=NetworkPolicyOptions)

    @classmethod
    def from_env(cls) -> "Settings":
        """Read RAFT_RECONCILE_INTERVAL, RAFT_RECONCILE_WORKERS, RAFT_METRICS_PORT, RAFT_ENDPOINT_URL_TEMPLATE, RAFT_PROBE_TIMEOUT,
        RAFT_KUEUE_WAIT_FOR_PODS_READY_SECONDS and the NetworkPolicy settings RAFT_NETWORK_POLICY (true/false), RAFT_OPERATOR_NAMESPACE,
        RAFT_OPERATOR_POD_LABELS and RAFT_RAY_OPERATOR_POD_LABELS (k=v,…), RAFT_API_SERVER_CIDRS (a,b)."""
        env = os.environ
        default = NetworkPolicyOptions()
        network = NetworkPolicyOptions(
            enabled=env.get("RAFT_NETWORK_POLICY", "true").lower() not in ("false", "0", "no"),
            operator_namespace=env.get("RAFT_OPERATOR_NAMESPACE") or None,
            operator_pod_labels=_labels(env.get("RAFT_OPERATOR_POD_LABELS"), default.operator_pod_labels),
            ray_operator_pod_labels=_labels(env.get("RAFT_RAY_OPERATOR_POD_LABELS"), default.ray_operator_pod_labels),
            api_server_cidrs=tuple(c.strip() for c in env.get("RAFT_API_SERVER_CIDRS", "").split(",") if c.strip()),
        )
        return cls(
            network_policy=network,
            reconcile_interval=float(env.get("RAFT_RECONCILE_INTERVAL", cls.reconcile_interval)),
            reconcile_workers=int(env.get("RAFT_RECONCILE_WORKERS", cls.reconcile_workers)),
            metrics_port=int(env.get("RAFT_METRICS_PORT", cls.metrics_port)),
            endpoint_url_template=env.get("RAFT_ENDPOINT_URL_TEMPLATE", cls.endpoint_url_template),
            probe_timeout=float(env.get("RAFT_PROBE_TIMEOUT", cls.probe_timeout)),
            kueue_wait_for_pods_ready_seconds=int(env.get("RAFT_KUEUE_WAIT_FOR_PODS_READY_SECONDS",
                                                          cls.kueue_wait_for_pods_ready_seconds)),
        )
