"""The operator as a local process on the local cluster, authenticated as the chart's ServiceAccount.

Running it outside the cluster but with the token of the chart's ServiceAccount means every API
call it makes goes through the chart's real RBAC. Used by the e2e tests on the simulated nodes;
real local runs run the chart's operator pod instead (:mod:`raft_dev.operator_pod`).
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

from .cluster import REPO_ROOT, LocalCluster, bin_dir

RELEASE, RELEASE_NAMESPACE = "raft-operator", "raft-system"
CHART = REPO_ROOT / "charts" / "raft-operator"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def helm(cluster: LocalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the helm built with the cluster (bin dir) against the cluster."""
    result = subprocess.run([str(bin_dir() / "helm"), "--kubeconfig", str(cluster.kubeconfig), *args],
                            capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"helm {' '.join(args)} failed: {result.stderr}")
    return result


def install_chart(cluster: LocalCluster, *values: str) -> None:
    """helm upgrade --install the chart (CRDs, RBAC, ServiceAccount, peering object)."""
    helm(cluster, "upgrade", "--install", RELEASE, str(CHART), "--namespace", RELEASE_NAMESPACE, "--create-namespace",
         *[arg for v in values for arg in ("--set", v)])


class OperatorProcess:
    """Start, stop (gracefully or SIGKILL) and restart ``python -m raft_operator``.

    ``env`` adds settings (e.g. ``RAFT_ENDPOINT_URL_TEMPLATE``).
    """

    def __init__(self, cluster: LocalCluster, log_dir: Path, *, service_account: str = RELEASE,
                 interval: float = 1.0, env: dict[str, str] | None = None) -> None:
        self.cluster = cluster
        self.kubeconfig = cluster.service_account_kubeconfig(RELEASE_NAMESPACE, service_account)
        self.env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "RAFT_RECONCILE_INTERVAL": str(interval),
                    "PYTHONUNBUFFERED": "1", **(env or {})}
        self.log_dir = log_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.metrics_port = 0

    @property
    def log_path(self) -> Path:
        """The log of the current (latest) start."""
        return self.log_dir / f"operator-{self.starts}.log"

    def start(self) -> "OperatorProcess":
        """Start and wait until its liveness endpoint answers."""
        self.starts += 1
        liveness, self.metrics_port = free_port(), free_port()
        env = {**self.env, "RAFT_METRICS_PORT": str(self.metrics_port)}
        # Each start outranks the last: a SIGKILLed operator's peering record lives on for its
        # lifetime (a minute), and a successor of the same priority would pause until it expires.
        command = [sys.executable, "-m", "raft_operator", "--all-namespaces", "--peering", RELEASE,
                   "--priority", str(self.starts), "--liveness", f"http://127.0.0.1:{liveness}/healthz"]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + 90
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
        """SIGTERM (or SIGKILL) the operator and wait for it."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def restart(self, kill: bool = True) -> None:
        """Stop (SIGKILL by default) and start again."""
        self.stop(kill=kill)
        self.start()

    def metrics(self) -> str:
        """The Prometheus text of the running operator."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            return response.read().decode()

    def log_tail(self, lines: int = 60) -> str:
        """The end of the current log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def logs(self) -> str:
        """Every start's log, in order."""
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("operator-*.log")))
