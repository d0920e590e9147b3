"""The operator as a local process on the local cluster, authenticated as the chart's ServiceAccount.

Running it outside the cluster (kwok pods do not execute) but with the token of the chart's
ServiceAccount means every API call it makes goes through the chart's real RBAC.
"""

from __future__ import annotations

from pathlib import Path

from raft_dev.cluster import LocalCluster
from raft_dev.operator_process import RELEASE, RELEASE_NAMESPACE, helm, install_chart  # noqa: F401 - re-exported
from raft_dev.operator_process import OperatorProcess as LocalOperatorProcess



class OperatorProcess(LocalOperatorProcess):
    """The operator process of the e2e tests: the simulated vLLM endpoint stands for every Service."""

    def __init__(self, cluster: LocalCluster, vllm_url: str, log_dir: Path, service_account: str = RELEASE,
                 interval: float = 1.0) -> None:
        super().__init__(cluster, log_dir, service_account=service_account, interval=interval,
                         env={"RAFT_ENDPOINT_URL_TEMPLATE": vllm_url})


def install(cluster):
    """Install the chart with the real helm (CRDs, RBAC, ServiceAccount, peering); returns ``cluster``."""
    install_chart(cluster, "replicaCount=0")
    cluster.wait_for(lambda: "Established" in cluster.kubectl(
        "get", "crd", "raftruns.raftoperator.io", "-o", "jsonpath={.status.conditions[*].type}").stdout,
        message="RaftRun CRD established")
    return cluster


def run_operator(cluster, vllm_port: int, workdir: Path):
    """The operator process (restartable by tests) until the generator is closed."""
    proc = OperatorProcess(cluster, f"http://127.0.0.1:{vllm_port}", workdir)
    proc.start()
    yield proc
    proc.stop()
