"""The whole stack of a real local run: cluster, real node, images, chart, volumes, operator, one RaftRun.

Used by ``make demo`` (:mod:`raft_dev.localrun.demo`) and the real-run CI test. Everything that
runs is real: the API server and controllers, the node (containerd, kubelet, kube-proxy, pod
network, CoreDNS: ``hack/cluster/node.sh``), the operator (the chart's Deployment, from the image
built here), and every pod of the run, each a container of an image built from ``images/``.
The add-on controllers are the real ones too (``hack/cluster/addons.sh``): KubeRay makes the Ray
head, worker and submitter pods, Kubeflow Trainer (through JobSet) or the training operator the
trainer pods, and Kueue is installed. What stands in: the vLLM servers, whose image (``vllm-standin``) runs ``transformers
serve`` on CPU behind vLLM's command line, and the SIMULATED teacher (``sim-teacher``).

The run's volume is a pre-bound claim (``existingClaim``) whose folder already holds the model at
``models/SmolLM2-135M-Instruct``; the corpus is a second claim holding documents.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from ..cluster import LocalCluster
from ..operator_pod import OperatorPod
from . import model as local_model

# What a real run's pods and the operator run (hack/images/images.tsv), loaded into the node.
RUN_IMAGES = ("operator", "datagen", "trainer", "eval", "vllm-standin", "sim-teacher")
MODEL_DIR_ON_VOLUME = "models/SmolLM2-135M-Instruct"
EMBEDDER_DIR_ON_VOLUME = "models/all-MiniLM-L6-v2"


def link_tree(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` as hard links where the file system allows (instant, no space)."""
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copytree(source, target, copy_function=os.link)
    except OSError:
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target)


class RealStack:
    """Start, use and stop the local stack (see the module docstring)."""

    def __init__(self, name: str = "raft-real", namespace: str = "default", interval: float = 2.0) -> None:
        self.cluster = LocalCluster(name, gpu_nodes=0, cpu_nodes=0, real_node=True, real_controllers=True,
                                    sim_progress_interval=1.0)
        self.namespace = namespace
        self.interval = interval
        self.operator: OperatorPod | None = None
        self._api: Any = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "RealStack":
        """Cluster with the real node, the images, the chart and its operator pod."""
        local_model.prepare()
        self.cluster.start()
        self.cluster.load_images(*RUN_IMAGES)
        self.operator = OperatorPod(self.cluster, self.cluster.state_dir / "operator", interval=self.interval).install()
        self.cluster.wait_for(lambda: "Established" in self.cluster.kubectl(
            "get", "crd", "raftruns.raftoperator.io", "-o", "jsonpath={.status.conditions[*].type}").stdout,
            timeout=60, message="RaftRun CRD established")
        return self

    def stop(self) -> None:
        """Keep the operator's log, then tear the cluster (and every pod) down."""
        if self.operator is not None:
            self.operator.save_logs()
        self.cluster.stop()

    def keep(self) -> Path:
        """Leave the cluster, the node and the operator running after this process; the kubeconfig."""
        if self.operator is not None:
            self.operator.save_logs()
        return self.cluster.detach()

    def __enter__(self) -> "RealStack":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ files

    def static_claim(self, claim: str, fill: Callable[[Path], None]) -> Path:
        """A ReadWriteMany claim bound to a hostPath volume whose folder ``fill`` prepares; returns the folder."""
        folder = self.cluster.state_dir / "static" / claim
        folder.mkdir(parents=True, exist_ok=True)
        fill(folder)
        pv_name = f"{self.namespace}-{claim}"
        self.cluster.apply([
            {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": pv_name},
             "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteMany"],
                      "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "",
                      "hostPath": {"path": str(folder), "type": "Directory"},
                      "claimRef": {"namespace": self.namespace, "name": claim}}},
            {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": claim, "namespace": self.namespace},
             "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "", "volumeName": pv_name,
                      "resources": {"requests": {"storage": "10Gi"}}}},
        ])
        self.cluster.wait_for(lambda: self.cluster.kubectl(
            "get", "pvc", claim, "-n", self.namespace, "-o", "jsonpath={.status.phase}").stdout == "Bound",
            timeout=60, message=f"claim {claim} bound")
        return folder

    def data_claim(self, claim: str) -> Path:
        """The run's volume, holding the real small model at :data:`MODEL_DIR_ON_VOLUME` and the
        eval's embedder at :data:`EMBEDDER_DIR_ON_VOLUME` (no pod reaches the Hugging Face hub here)."""
        def fill(folder: Path) -> None:
            link_tree(local_model.prepare(), folder / MODEL_DIR_ON_VOLUME)
            link_tree(local_model.readable(local_model.embedder_dir()), folder / EMBEDDER_DIR_ON_VOLUME)
            os.chmod(folder, 0o777)
        return self.static_claim(claim, fill)

    def corpus_claim(self, claim: str, documents: Iterable[Path]) -> Path:
        """The corpus volume: copies of ``documents`` (the team's files)."""
        def fill(folder: Path) -> None:
            for doc in documents:
                shutil.copy(doc, folder / doc.name)
        return self.static_claim(claim, fill)

    # ------------------------------------------------------------------ the run

    def apply(self, manifest: dict[str, Any]) -> None:
        """``kubectl apply`` a RaftRun (into the stack's namespace)."""
        manifest.setdefault("metadata", {})["namespace"] = self.namespace
        self.cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))

    def get(self, name: str) -> dict[str, Any]:
        """The RaftRun as the API server has it ({} when absent). Polled often: no kubectl process."""
        from kubernetes import client as k8s
        from kubernetes.client.exceptions import ApiException

        if self._api is None:
            self._api = k8s.CustomObjectsApi(self.cluster.api_client())
        try:
            return self._api.get_namespaced_custom_object("raftoperator.io", "v1alpha1", self.namespace, "raftruns", name)
        except ApiException as exc:
            if exc.status == 404:
                return {}
            raise

    def watch(self, name: str, timeout: float, on_change: Callable[[dict[str, Any]], None] | None = None,
              during: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Poll the run until it is Succeeded or Failed (or ``timeout``); returns its last status.

        ``on_change`` sees every new (phase, progress) status; ``during`` sees every poll.
        """
        deadline = time.monotonic() + timeout
        last: tuple[Any, ...] = ()
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = self.get(name).get("status") or {}
            key = (status.get("phase"), status.get("stage"), status.get("progress"))
            if key != last and on_change is not None:
                on_change(status)
            last = key
            if during is not None:
                during(status)
            if status.get("phase") in ("Succeeded", "Failed"):
                return status
            time.sleep(2.0)
        raise TimeoutError(f"RaftRun {name} did not finish in {timeout:.0f}s (phase {status.get('phase')}); "
                           f"operator log:\n{self.operator.log_tail() if self.operator else ''}")

    def pod_logs(self, lines: int = 30) -> str:
        """The end of every pod's container logs in the run's namespace (for failure messages)."""
        out = []
        pods = self.cluster.kubectl_json("get", "pods", "-n", self.namespace)["items"]
        for pod in pods:
            name = pod["metadata"]["name"]
            result = self.cluster.kubectl("logs", name, "-n", self.namespace, "--all-containers", "--prefix",
                                          f"--tail={lines}", check=False)
            out.append(f"==> {name} ({pod['status'].get('phase')})\n{result.stdout or result.stderr}")
        return "\n".join(out)
