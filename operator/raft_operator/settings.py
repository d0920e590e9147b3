"""Operator settings, from the environment (the chart sets them)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    """What an operator deployment may tune."""

    reconcile_interval: float = 10.0
    metrics_port: int = 8080
    # How the operator reaches a run's servers for the teacher probe. In the cluster: the Service DNS name.
    endpoint_url_template: str = "http://{service}.{namespace}.svc:{port}"
    probe_timeout: float = 10.0

    @classmethod
    def from_env(cls) -> "Settings":
        """Read RAFT_RECONCILE_INTERVAL, RAFT_METRICS_PORT, RAFT_ENDPOINT_URL_TEMPLATE, RAFT_PROBE_TIMEOUT."""
        env = os.environ
        return cls(
            reconcile_interval=float(env.get("RAFT_RECONCILE_INTERVAL", cls.reconcile_interval)),
            metrics_port=int(env.get("RAFT_METRICS_PORT", cls.metrics_port)),
            endpoint_url_template=env.get("RAFT_ENDPOINT_URL_TEMPLATE", cls.endpoint_url_template),
            probe_timeout=float(env.get("RAFT_PROBE_TIMEOUT", cls.probe_timeout)),
        )
