"""The operator as the chart installs it: a Deployment's pod on the real node, from the image built here.

``helm upgrade --install`` with the image overrides of the local build
(``localhost/raft-operator/operator:local``, never pulled) starts it with the chart's
ServiceAccount, RBAC, probes and settings; killing it deletes the pod at once, as a node failure
or an eviction would, and the Deployment starts another. The logs of each pod are kept in
``log_dir`` (``operator-<n>.log``), so that the whole run's log survives the pods.
"""

from __future__ import annotations

from pathlib import Path

from .cluster import LocalCluster
from .operator_process import RELEASE, RELEASE_NAMESPACE, install_chart

IMAGE_REPOSITORY, IMAGE_TAG = "localhost/raft-operator/operator", "local"
SELECTOR = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/name=raft-operator"


class OperatorPod:
    """Install, kill and follow the chart's operator pod (the interface of ``OperatorProcess``)."""

    def __init__(self, cluster: LocalCluster, log_dir: Path, *, interval: float = 2.0) -> None:
        self.cluster = cluster
        self.log_dir = log_dir
        self.interval = interval
        self.starts = 0
        self.pod = ""

    @property
    def log_path(self) -> Path:
        """The log of the current (latest) pod, as last saved."""
        return self.log_dir / f"operator-{self.starts}.log"

    def install(self) -> "OperatorPod":
        """``helm upgrade --install`` with the local image, then wait for its pod to be Ready."""
        install_chart(self.cluster, f"image.repository={IMAGE_REPOSITORY}", f"image.tag={IMAGE_TAG}",
                      "image.pullPolicy=Never", f"operator.reconcileInterval={self.interval:g}")
        return self.start()

    def _ready_pods(self) -> list[str]:
        pods = self.cluster.kubectl_json("get", "pods", "-n", RELEASE_NAMESPACE, "-l", SELECTOR)["items"]
        return [p["metadata"]["name"] for p in pods
                if not p["metadata"].get("deletionTimestamp")
                and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]

    def start(self) -> "OperatorPod":
        """Wait until a pod other than the last one is Ready (the Deployment starts it)."""
        self.starts += 1
        previous = self.pod
        ready = self.cluster.wait_for(lambda: [p for p in self._ready_pods() if p != previous], timeout=300,
                                      interval=1.0, message="operator pod Ready")
        self.pod = ready[0]
        return self

    def save_logs(self) -> None:
        """Write the current pod's log to :attr:`log_path`."""
        if not self.pod:
            return
        self.log_dir.mkdir(parents=True, exist_ok=True)
        result = self.cluster.kubectl("logs", self.pod, "-n", RELEASE_NAMESPACE, "-c", "operator", check=False)
        if result.returncode == 0:
            self.log_path.write_text(result.stdout)

    def stop(self, kill: bool = False) -> None:
        """Delete the pod: gracefully, or (``kill``) at once, as a lost node would."""
        if not self.pod:
            return
        self.save_logs()
        grace = ["--grace-period=0", "--force"] if kill else []
        self.cluster.kubectl("delete", "pod", self.pod, "-n", RELEASE_NAMESPACE, "--wait=false", *grace)

    def log_tail(self, lines: int = 60) -> str:
        """The end of the current pod's log."""
        result = self.cluster.kubectl("logs", self.pod, "-n", RELEASE_NAMESPACE, "-c", "operator",
                                      f"--tail={lines}", check=False)
        return result.stdout if result.returncode == 0 else result.stderr

    def container_ids(self) -> list[str]:
        """The container IDs of the operator's pods (``containerd://…``)."""
        pods = self.cluster.kubectl_json("get", "pods", "-n", RELEASE_NAMESPACE, "-l", SELECTOR)["items"]
        return [s.get("containerID", "") for p in pods for s in p["status"].get("containerStatuses", [])]

    def logs(self) -> str:
        """Every pod's log, in order (the current one saved first)."""
        self.save_logs()
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("operator-*.log")))
