"""The operator as a local process on the local cluster, authenticated as the chart's ServiceAccount.

Running it outside the cluster (kwok pods do not execute) but with the token of the chart's
ServiceAccount means every API call it makes goes through the chart's real RBAC.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from raft_sim.cluster import LocalCluster

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "charts" / "raft-operator"
RELEASE, RELEASE_NAMESPACE = "raft-operator", "raft-system"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def helm(cluster: LocalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the helm built with the cluster (bin dir) against the cluster."""
    from raft_sim.cluster import bin_dir

    result = subprocess.run([str(bin_dir() / "helm"), "--kubeconfig", str(cluster.kubeconfig), *args],
                            capture_output=True, text=True, timeout=180)
    if result.returncode != 0:
        raise RuntimeError(f"helm {' '.join(args)} failed: {result.stderr}")
    return result


def install_chart(cluster: LocalCluster, *values: str) -> None:
    """helm upgrade --install the chart (CRDs, RBAC, ServiceAccount, peering object)."""
    helm(cluster, "upgrade", "--install", RELEASE, str(CHART), "--namespace", RELEASE_NAMESPACE, "--create-namespace",
         *[arg for v in values for arg in ("--set", v)])


class OperatorProcess:
    """Start, stop (gracefully or SIGKILL) and restart ``python -m raft_operator``."""

    def __init__(self, cluster: LocalCluster, vllm_url: str, log_dir: Path, service_account: str = RELEASE,
                 interval: float = 1.0) -> None:
        self.cluster = cluster
        self.kubeconfig = cluster.service_account_kubeconfig(RELEASE_NAMESPACE, service_account)
        self.env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "RAFT_RECONCILE_INTERVAL": str(interval),
            "RAFT_ENDPOINT_URL_TEMPLATE": vllm_url,
            "PYTHONUNBUFFERED": "1",
        }
        self.log_dir = log_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.metrics_port = 0

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"operator-{self.starts}.log"

    def start(self) -> "OperatorProcess":
        self.starts += 1
        liveness, self.metrics_port = free_port(), free_port()
        env = {**self.env, "RAFT_METRICS_PORT": str(self.metrics_port)}
        log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "raft_operator", "--all-namespaces", "--peering", RELEASE,
             "--liveness", f"http://127.0.0.1:{liveness}/healthz"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"operator exited: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{liveness}/healthz", timeout=1):
                    return self
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"operator not live: {self.log_tail()}")

    def stop(self, kill: bool = False) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def restart(self, kill: bool = True) -> None:
        self.stop(kill=kill)
        self.start()

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            return response.read().decode()

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("operator-*.log")))


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
