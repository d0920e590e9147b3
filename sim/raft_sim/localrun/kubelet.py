"""A local kubelet: runs the pods bound to one node as processes on this machine.

The local cluster's real API server, scheduler and controllers decide *what* runs; this module
is the node agent that makes it run when there is no container engine. It registers a Node
(``local-node``, no kwok annotation, so kwok leaves it alone), keeps its Lease and Ready condition
fresh, and for each pod the scheduler binds to it:

* gives the pod its own loopback address (``127.0.1.x``, reported as ``status.podIP``);
* materialises the pod's volumes: PersistentVolumeClaims (the bound PersistentVolume's
  ``hostPath``), ConfigMaps, Secrets, emptyDirs and the projected ServiceAccount token (a real
  token from the TokenRequest API, bound to the pod, with the cluster CA and namespace);
* resolves the environment exactly as a kubelet does (``value`` with ``$(VAR)`` expansion,
  ``secretKeyRef``, ``configMapKeyRef``, ``fieldRef``, ``envFrom``, ``KUBERNETES_SERVICE_*``);
* runs each container's command and args (``$(VAR)`` expanded) through
  :mod:`raft_sim.localrun.podexec` in its own mount namespace, where every volume is bound at its
  ``mountPath`` and ``/etc/hosts`` maps the cluster's Service names to the addresses of their
  ready pods; the image decides only which local program stands in for the image's file system
  (:mod:`raft_sim.localrun.images`);
* probes ``httpGet`` readiness probes, restarts containers per ``restartPolicy`` with back-off,
  and reports phase, conditions and container states the way a kubelet does;
* stops a deleted pod's processes (SIGTERM, then SIGKILL after the grace period) and removes it.

Not modelled: resource limits, ``runAsUser`` (processes run as the user running the kubelet),
liveness probes, image pulls, and a network namespace per pod (a pod's servers listen on its
own loopback address instead). Services resolve straight to a ready pod's address, so a
Service's port must equal its target port (true of every Service the operator, the simulated
KubeRay and the simulated training operator create).

Run ``python -m raft_sim.localrun.kubelet --kubeconfig PATH --state DIR``.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as kube_config
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException

from ..cluster import REPO_ROOT
from .images import ImageNotAvailable, local_program

log = logging.getLogger("raft_sim.localrun.kubelet")

NODE_NAME = "local-node"
HEARTBEAT_SECONDS = 10.0
MAX_BACKOFF_SECONDS = 20.0
TERMINATION_GRACE_CAP = 15.0
VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)|\$\$")
Obj = dict[str, Any]


def now() -> str:
    """An RFC 3339 timestamp, as Kubernetes writes them."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: unknown references stay as they are, ``$$`` is ``$``."""
    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))
    return VAR_REF.sub(sub, text)


class ContainerConfigError(Exception):
    """A container cannot be configured yet (missing Secret, key, ConfigMap or claim)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class ContainerRun:
    """One container's process and its history."""

    name: str
    image: str
    process: subprocess.Popen[bytes] | None = None
    started_at: str | None = None
    restarts: int = 0
    last_exit: tuple[int, str, str] | None = None  # (code, startedAt, finishedAt)
    next_start: float = 0.0
    waiting: tuple[str, str] | None = None  # (reason, message)
    ready: bool = False
    done: bool = False


@dataclass
class PodRun:
    """A pod this kubelet runs."""

    uid: str
    namespace: str
    name: str
    ip: str
    directory: Path
    containers: list[ContainerRun] = field(default_factory=list)
    init_containers: list[ContainerRun] = field(default_factory=list)
    start_time: str = field(default_factory=now)
    next_probe: float = 0.0
    last_status: str = ""


class LocalKubelet:
    """Runs the pods bound to :data:`NODE_NAME` as local processes (see the module docstring)."""

    def __init__(self, api_client: k8s.ApiClient, state_dir: Path, *, node_name: str = NODE_NAME,
                 gpus: int = 8) -> None:
        self.api_client = api_client
        self.core = k8s.CoreV1Api(api_client)
        self.coord = k8s.CoordinationV1Api(api_client)
        self.node_name = node_name
        self.gpus = gpus
        self.state = state_dir
        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / "hosts").mkdir(exist_ok=True)
        self.pods: dict[str, PodRun] = {}
        self._labels: dict[str, dict[str, str]] = {}  # pod uid → labels (Service selection)
        self.lock = threading.RLock()
        self.stop = threading.Event()
        self.wake = threading.Event()
        self._addresses = (f"127.0.{a}.{b}" for a in range(1, 255) for b in range(2, 255))
        server = api_client.configuration.host.split("://", 1)[-1]
        self.api_host, _, port = server.rpartition(":")
        self.api_port = port or "443"
        self.base_hosts = Path("/etc/hosts").read_text() if Path("/etc/hosts").exists() else ""

    # ------------------------------------------------------------------ node

    def register(self) -> None:
        """Create (or refresh) the Node object this kubelet stands for."""
        capacity = {"cpu": "64", "memory": "256Gi", "pods": "110", "ephemeral-storage": "500Gi",
                    "nvidia.com/gpu": str(self.gpus)}
        body = {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": self.node_name, "labels": {
                "kubernetes.io/hostname": self.node_name, "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64", "raftoperator.io/node-kind": "local",
                "nvidia.com/gpu.present": "true"}},
        }
        try:
            self.core.create_node(body)
        except ApiException as exc:
            if exc.status != 409:
                raise
        self.core.patch_node_status(self.node_name, {"status": {
            "capacity": capacity, "allocatable": capacity,
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                          {"type": "Hostname", "address": self.node_name}],
            "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux", "kubeletVersion": "local",
                         "kubeProxyVersion": "local", "containerRuntimeVersion": "local-process://1",
                         "bootID": "", "kernelVersion": os.uname().release, "machineID": "",
                         "osImage": "local", "systemUUID": ""},
        }})
        self.heartbeat()

    def heartbeat(self) -> None:
        """Renew the node Lease and the Ready condition."""
        stamp = now()
        micro = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": self.node_name, "namespace": "kube-node-lease"},
                 "spec": {"holderIdentity": self.node_name, "leaseDurationSeconds": 40, "renewTime": micro}}
        try:
            self.coord.patch_namespaced_lease(self.node_name, "kube-node-lease", {"spec": lease["spec"]})
        except ApiException as exc:
            if exc.status != 404:
                raise
            self.coord.create_namespaced_lease("kube-node-lease", lease)
        conditions = [{"type": t, "status": "False", "reason": f"KubeletHas{r}", "message": m,
                       "lastHeartbeatTime": stamp, "lastTransitionTime": stamp}
                      for t, r, m in (("MemoryPressure", "SufficientMemory", "local"),
                                      ("DiskPressure", "NoDiskPressure", "local"),
                                      ("PIDPressure", "SufficientPID", "local"))]
        conditions.append({"type": "Ready", "status": "True", "reason": "KubeletReady",
                           "message": "local kubelet is posting ready status", "lastHeartbeatTime": stamp,
                           "lastTransitionTime": stamp})
        self.core.patch_node_status(self.node_name, {"status": {"conditions": conditions}})

    # ------------------------------------------------------------------ main loop

    def run(self) -> None:
        """Register the node, watch pods and services, and run pods until :attr:`stop` is set."""
        self.register()
        for target, name in ((self._watch_pods, "pods"), (self._watch_services, "services"),
                             (self._heartbeats, "heartbeat")):
            threading.Thread(target=target, name=name, daemon=True).start()
        log.info("local kubelet running node %s (state %s)", self.node_name, self.state)
        while not self.stop.is_set():
            self.wake.wait(0.5)
            self.wake.clear()
            try:
                self.sync_all()
            except Exception:  # noqa: BLE001 - one bad pod or API hiccup must not stop the node
                log.exception("sync failed")
                time.sleep(1.0)
        self.shutdown()

    def _heartbeats(self) -> None:
        while not self.stop.wait(HEARTBEAT_SECONDS):
            try:
                self.heartbeat()
            except Exception as exc:  # noqa: BLE001
                log.warning("heartbeat failed: %s", exc)

    def _watch_pods(self) -> None:
        selector = f"spec.nodeName={self.node_name}"
        while not self.stop.is_set():
            try:
                for _ in k8s_watch.Watch().stream(self.core.list_pod_for_all_namespaces, field_selector=selector,
                                                  timeout_seconds=60):
                    self.wake.set()
            except Exception as exc:  # noqa: BLE001 - keep watching
                log.debug("pod watch restarting: %s", exc)
                time.sleep(1.0)

    def _watch_services(self) -> None:
        while not self.stop.is_set():
            try:
                for _ in k8s_watch.Watch().stream(self.core.list_service_for_all_namespaces, timeout_seconds=60):
                    self.wake.set()
            except Exception as exc:  # noqa: BLE001 - keep watching
                log.debug("service watch restarting: %s", exc)
                time.sleep(1.0)

    def sync_all(self) -> None:
        """One pass: start, watch over and stop every pod of this node."""
        pods = self.core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={self.node_name}")
        seen = set()
        bodies = [self.api_client.sanitize_for_serialization(pod) for pod in pods.items]
        for body in bodies:
            seen.add(body["metadata"]["uid"])
            try:
                self.sync_pod(body)
            except Exception:  # noqa: BLE001 - one pod's failure must not stop the others
                log.exception("pod %s/%s: sync failed", body["metadata"]["namespace"], body["metadata"]["name"])
        self.write_hosts()
        with self.lock:
            gone = [uid for uid in self.pods if uid not in seen]
        for uid in gone:
            self.kill(self.pods[uid], grace=0)
            with self.lock:
                self.pods.pop(uid, None)

    # ------------------------------------------------------------------ one pod

    def sync_pod(self, pod: Obj) -> None:
        """Bring one pod's processes and status in line with its spec."""
        meta, spec = pod["metadata"], pod["spec"]
        uid = meta["uid"]
        run = self.pods.get(uid)
        if meta.get("deletionTimestamp"):
            if run is not None:
                self.kill(run, grace=min(float(meta.get("deletionGracePeriodSeconds") or 30), TERMINATION_GRACE_CAP))
                with self.lock:
                    self.pods.pop(uid, None)
            try:
                # The grace period goes in the body: the API server reads DeleteOptions from the body when
                # there is one, and a query parameter beside it is ignored (the pod would stay Terminating).
                self.core.delete_namespaced_pod(meta["name"], meta["namespace"], body=k8s.V1DeleteOptions(
                    grace_period_seconds=0, preconditions=k8s.V1Preconditions(uid=uid)))
            except ApiException as exc:
                if exc.status not in (404, 409):
                    raise
            return
        phase = (pod.get("status") or {}).get("phase")
        self._labels[uid] = dict(meta.get("labels") or {})
        if run is None:
            if phase in ("Succeeded", "Failed"):
                return
            pod_dir = self.state / "pods" / f"{meta['namespace']}_{meta['name']}_{uid[:8]}"
            run = PodRun(uid=uid, namespace=meta["namespace"], name=meta["name"], ip=next(self._addresses),
                         directory=pod_dir,
                         containers=[ContainerRun(name=c["name"], image=c.get("image", ""))
                                     for c in spec.get("containers") or []],
                         init_containers=[ContainerRun(name=c["name"], image=c.get("image", ""))
                                          for c in spec.get("initContainers") or []])
            pod_dir.mkdir(parents=True, exist_ok=True)
            with self.lock:
                self.pods[uid] = run
            log.info("pod %s/%s: starting at %s (logs in %s)", run.namespace, run.name, run.ip, pod_dir)
        self.step_containers(pod, run)
        self.probe(pod, run)
        self.post_status(pod, run)

    def step_containers(self, pod: Obj, run: PodRun) -> None:
        """Run the init containers one by one to success, then the containers; restart per restartPolicy."""
        policy = pod["spec"].get("restartPolicy") or "Always"
        pending_init = [cr for cr in run.init_containers if not cr.done]
        if pending_init:
            # An init container restarts on failure unless the pod's policy is Never.
            specs = {c["name"]: c for c in pod["spec"].get("initContainers") or []}
            self._step(pod, run, [pending_init[0]], specs, "Never" if policy == "Never" else "OnFailure")
            return
        self._step(pod, run, run.containers, {c["name"]: c for c in pod["spec"].get("containers") or []}, policy)

    def _step(self, pod: Obj, run: PodRun, runs: list[ContainerRun], containers: dict[str, Obj], policy: str) -> None:
        for cr in runs:
            if cr.done:
                continue
            if cr.process is not None:
                code = cr.process.poll()
                if code is None:
                    continue
                cr.last_exit = (code, cr.started_at or now(), now())
                cr.process, cr.ready = None, False
                log.info("pod %s/%s container %s exited with %s", run.namespace, run.name, cr.name, code)
                if policy == "Never" or (policy == "OnFailure" and code == 0):
                    cr.done = True
                    continue
                cr.restarts += 1
                backoff = min(2.0 ** cr.restarts, MAX_BACKOFF_SECONDS)
                cr.next_start = time.monotonic() + backoff
                cr.waiting = ("CrashLoopBackOff", f"back-off {backoff:.0f}s restarting failed container {cr.name}")
            if time.monotonic() < cr.next_start:
                continue
            try:
                self.start_container(pod, run, containers[cr.name], cr)
            except ContainerConfigError as exc:
                cr.waiting = (exc.reason, str(exc))
                cr.next_start = time.monotonic() + 2.0
            except ImageNotAvailable as exc:
                cr.waiting = ("ErrImagePull", str(exc))
                cr.next_start = time.monotonic() + 5.0

    def start_container(self, pod: Obj, run: PodRun, container: Obj, cr: ContainerRun) -> None:
        """Materialise volumes and environment, then start the container's process."""
        env = self.environment(pod, run, container)
        argv = [expand(part, env) for part in (container.get("command") or []) + (container.get("args") or [])]
        program = local_program(container.get("image", ""), argv, run.ip)
        mounts = self.mounts(pod, run, container)
        mounts.append({"source": str(self.hosts_file(run.namespace)), "target": "/etc/hosts", "readOnly": True})
        workdir = container.get("workingDir") or "/"
        if program.links:
            links = run.directory / f"{cr.name}-links"
            shutil.rmtree(links, ignore_errors=True)
            for name, target in program.links.items():
                path = links / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.symlink_to(target)
            mounts.append({"source": str(links), "target": "/run/raft-local/links", "readOnly": True})
            workdir = "/run/raft-local/links"
        for target, content in program.files.items():
            path = run.directory / "image-files" / cr.name / target.lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            mounts.append({"source": str(path), "target": target, "readOnly": True})
        spec = {"mounts": mounts, "keep": [str(REPO_ROOT), sys.prefix], "argv": program.argv, "env": {**env, **program.env}, "workingDir": workdir}
        spec_file = run.directory / f"{cr.name}.json"
        spec_file.write_text(json.dumps(spec))
        spec_file.chmod(0o600)  # the environment may hold Secret values
        log_file = open(run.directory / f"{cr.name}.log", "ab")
        log_file.write(f"--- {now()} starting {cr.name}: {program.argv}\n".encode())
        log_file.flush()
        cr.process = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", sys.executable, "-m", "raft_sim.localrun.podexec",
             str(spec_file)],
            stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
        )
        log_file.close()
        cr.started_at, cr.waiting, cr.ready = now(), None, False

    # ------------------------------------------------------------------ environment and volumes

    def environment(self, pod: Obj, run: PodRun, container: Obj) -> dict[str, str]:
        """The container's environment, resolved the way a kubelet resolves it."""
        ns = run.namespace
        env: dict[str, str] = {
            "HOSTNAME": pod["metadata"]["name"],
            "KUBERNETES_SERVICE_HOST": self.api_host,
            "KUBERNETES_SERVICE_PORT": self.api_port,
            "KUBERNETES_SERVICE_PORT_HTTPS": self.api_port,
        }
        for source in container.get("envFrom") or []:
            prefix = source.get("prefix") or ""
            if source.get("configMapRef"):
                data = self._configmap_data(ns, source["configMapRef"]["name"], source["configMapRef"].get("optional"))
            else:
                data = self._secret_data(ns, source["secretRef"]["name"], source["secretRef"].get("optional"))
            env.update({prefix + k: v for k, v in data.items()})
        for item in container.get("env") or []:
            name = item["name"]
            if "valueFrom" not in item:
                env[name] = expand(item.get("value") or "", env)
                continue
            ref = item["valueFrom"]
            if ref.get("secretKeyRef") or ref.get("configMapKeyRef"):
                value = self._key_ref(ns, ref)
            elif ref.get("fieldRef"):
                value = self._field(pod, run, ref["fieldRef"]["fieldPath"])
            else:
                value = None  # resourceFieldRef: not modelled
            if value is not None:
                env[name] = value
        return env

    def _key_ref(self, ns: str, ref: Obj) -> str | None:
        """One key of a Secret or ConfigMap (``secretKeyRef`` / ``configMapKeyRef``), as a kubelet reads it."""
        kind, r = ("Secret", ref["secretKeyRef"]) if ref.get("secretKeyRef") else ("ConfigMap", ref["configMapKeyRef"])
        read = self._secret_data if kind == "Secret" else self._configmap_data
        value = read(ns, r["name"], r.get("optional")).get(r["key"])
        if value is None and not r.get("optional"):
            raise ContainerConfigError("CreateContainerConfigError", f"couldn't find key {r['key']} in {kind} {ns}/{r['name']}")
        return value

    def _field(self, pod: Obj, run: PodRun, path: str) -> str:
        meta = pod["metadata"]
        simple = {"metadata.name": meta["name"], "metadata.namespace": meta["namespace"], "metadata.uid": meta["uid"],
                  "spec.nodeName": self.node_name, "spec.serviceAccountName": pod["spec"].get("serviceAccountName", ""),
                  "status.podIP": run.ip, "status.hostIP": "127.0.0.1", "status.podIPs": run.ip}
        if path in simple:
            return simple[path]
        match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
        if match:
            return (meta.get(match.group(1)) or {}).get(match.group(2), "")
        return ""

    def _configmap_data(self, ns: str, name: str, optional: bool | None) -> dict[str, str]:
        try:
            return dict(self.core.read_namespaced_config_map(name, ns).data or {})
        except ApiException as exc:
            if exc.status == 404 and optional:
                return {}
            if exc.status == 404:
                raise ContainerConfigError("CreateContainerConfigError", f"configmap \"{name}\" not found") from exc
            raise

    def _secret_data(self, ns: str, name: str, optional: bool | None) -> dict[str, str]:
        try:
            data = self.core.read_namespaced_secret(name, ns).data or {}
        except ApiException as exc:
            if exc.status == 404 and optional:
                return {}
            if exc.status == 404:
                raise ContainerConfigError("CreateContainerConfigError", f"secret \"{name}\" not found") from exc
            raise
        return {k: base64.b64decode(v).decode() for k, v in data.items()}

    def mounts(self, pod: Obj, run: PodRun, container: Obj) -> list[Obj]:
        """Bind mounts for the container's volumeMounts (volumes materialised under the pod's folder)."""
        volumes = {v["name"]: v for v in pod["spec"].get("volumes") or []}
        out = []
        for mount in container.get("volumeMounts") or []:
            source = self.volume_path(pod, run, volumes[mount["name"]])
            if mount.get("subPath"):
                source = source / mount["subPath"]
                if not source.exists():
                    source.mkdir(parents=True, exist_ok=True)
            out.append({"source": str(source), "target": mount["mountPath"], "readOnly": bool(mount.get("readOnly"))})
        return out

    def volume_path(self, pod: Obj, run: PodRun, volume: Obj) -> Path:
        """Where a volume's files are on this machine (created or refreshed as needed)."""
        name, ns = volume["name"], run.namespace
        if volume.get("persistentVolumeClaim"):
            claim = volume["persistentVolumeClaim"]["claimName"]
            try:
                pvc = self.core.read_namespaced_persistent_volume_claim(claim, ns)
            except ApiException as exc:
                if exc.status == 404:
                    raise ContainerConfigError("ContainerCreating", f"persistentvolumeclaim \"{claim}\" not found") from exc
                raise
            if not pvc.spec.volume_name:
                raise ContainerConfigError("ContainerCreating", f"persistentvolumeclaim \"{claim}\" is not bound")
            pv = self.core.read_persistent_volume(pvc.spec.volume_name)
            if not pv.spec.host_path:
                raise ContainerConfigError("ContainerCreating", f"volume {pv.metadata.name} has no hostPath")
            path = Path(pv.spec.host_path.path)
            path.mkdir(parents=True, exist_ok=True)
            return path
        path = run.directory / "volumes" / name
        if volume.get("emptyDir") is not None:
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o1777)
            return path
        if volume.get("configMap"):
            ref = volume["configMap"]
            self._write_files(path, self._configmap_data(ns, ref["name"], ref.get("optional")), ref.get("items"))
            return path
        if volume.get("secret"):
            ref = volume["secret"]
            self._write_files(path, self._secret_data(ns, ref["secretName"], ref.get("optional")), ref.get("items"))
            return path
        if volume.get("projected"):
            files: dict[str, str] = {}
            for source in volume["projected"].get("sources") or []:
                if source.get("serviceAccountToken"):
                    files[source["serviceAccountToken"]["path"]] = self._token(pod, source["serviceAccountToken"])
                elif source.get("configMap"):
                    ref = source["configMap"]
                    files.update(self._select(self._configmap_data(ns, ref["name"], ref.get("optional")), ref.get("items")))
                elif source.get("secret"):
                    ref = source["secret"]
                    files.update(self._select(self._secret_data(ns, ref["name"], ref.get("optional")), ref.get("items")))
                elif source.get("downwardAPI"):
                    for item in source["downwardAPI"].get("items") or []:
                        files[item["path"]] = self._field(pod, run, (item.get("fieldRef") or {}).get("fieldPath", ""))
            self._write_files(path, files, None)
            return path
        raise ContainerConfigError("CreateContainerConfigError", f"volume {name}: kind not supported by the local kubelet")

    def _token(self, pod: Obj, source: Obj) -> str:
        meta = pod["metadata"]
        request = {"spec": {"expirationSeconds": int(source.get("expirationSeconds") or 3607),
                            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]}}}
        if source.get("audience"):
            request["spec"]["audiences"] = [source["audience"]]
        result = self.core.create_namespaced_service_account_token(
            pod["spec"].get("serviceAccountName") or "default", meta["namespace"], request)
        return result.status.token

    @staticmethod
    def _select(data: dict[str, str], items: list[Obj] | None) -> dict[str, str]:
        if not items:
            return dict(data)
        return {i["path"]: data[i["key"]] for i in items if i["key"] in data}

    def _write_files(self, path: Path, data: dict[str, str], items: list[Obj] | None) -> None:
        path.mkdir(parents=True, exist_ok=True)
        for rel, text in self._select(data, items).items():
            target = path / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)

    # ------------------------------------------------------------------ names

    def hosts_file(self, namespace: str) -> Path:
        """The /etc/hosts of pods in ``namespace`` (kept current by :meth:`write_hosts`)."""
        path = self.state / "hosts" / namespace
        if not path.exists():
            self.write_hosts()
        return path

    def service_addresses(self) -> dict[tuple[str, str], str]:
        """(namespace, Service) → the address of one ready pod it selects.

        The cluster's EndpointSlice controller refuses loopback addresses, so the selection is
        made here, from the pods this kubelet runs (Ready, or running when the Service publishes
        not-ready addresses).
        """
        with self.lock:
            runs = {(r.namespace, r.name): r for r in self.pods.values()}
        pods = {}
        for (ns, name), run in runs.items():
            running = any(c.process is not None for c in run.containers)
            pods[(ns, name)] = (run, running, running and all(c.ready for c in run.containers))
        labels = self._labels
        out: dict[tuple[str, str], str] = {}
        for svc in self.core.list_service_for_all_namespaces().items:
            selector = svc.spec.selector or {}
            if not selector:
                continue
            for (ns, name), (run, running, ready) in sorted(pods.items()):
                if ns != svc.metadata.namespace or not (ready or (running and svc.spec.publish_not_ready_addresses)):
                    continue
                if all(labels.get(run.uid, {}).get(k) == v for k, v in selector.items()):
                    out[(ns, svc.metadata.name)] = run.ip
                    break
        return out

    def write_hosts(self) -> None:
        """Map every Service to a ready pod address, one file per namespace (rewritten in place)."""
        services = self.service_addresses()
        namespaces = {ns.metadata.name for ns in self.core.list_namespace().items}
        for namespace in namespaces:
            lines = [self.base_hosts.rstrip("\n"), "# Services of the local cluster (raft_sim.localrun.kubelet)"]
            for (ns, svc), ip in sorted(services.items()):
                names = [f"{svc}.{ns}.svc.cluster.local", f"{svc}.{ns}.svc", f"{svc}.{ns}"]
                if ns == namespace:
                    names.append(svc)
                lines.append(f"{ip}\t{' '.join(names)}")
            text = "\n".join(lines) + "\n"
            path = self.state / "hosts" / namespace
            if not path.exists() or path.read_text() != text:
                with open(path, "r+" if path.exists() else "w") as f:  # in place: bind mounts see the inode
                    f.seek(0)
                    f.write(text)
                    f.truncate()

    # ------------------------------------------------------------------ probes and status

    def probe(self, pod: Obj, run: PodRun) -> None:
        """Readiness: an httpGet probe's answer, else running means ready."""
        if time.monotonic() < run.next_probe:
            return
        run.next_probe = time.monotonic() + 1.0
        containers = {c["name"]: c for c in pod["spec"].get("containers") or []}
        for cr in run.containers:
            if cr.process is None or cr.process.poll() is not None:
                cr.ready = False
                continue
            http = (containers[cr.name].get("readinessProbe") or {}).get("httpGet")
            if not http:
                cr.ready = True
                continue
            port = http.get("port")
            if isinstance(port, str) and not port.isdigit():
                port = next((p["containerPort"] for p in containers[cr.name].get("ports") or []
                             if p.get("name") == port), 0)
            try:
                with urllib.request.urlopen(f"http://{run.ip}:{port}{http.get('path', '/')}", timeout=2) as r:
                    cr.ready = 200 <= r.status < 400
            except Exception:  # noqa: BLE001 - any failure is "not ready"
                cr.ready = False

    def post_status(self, pod: Obj, run: PodRun) -> None:
        """Write the pod's status when it changed."""
        statuses = [self._container_status(cr) for cr in run.containers]
        init_statuses = [self._container_status(cr) for cr in run.init_containers]
        init_failed = any(cr.done and cr.last_exit and cr.last_exit[0] != 0 for cr in run.init_containers)
        initialized = all(cr.done for cr in run.init_containers) and not init_failed
        phase = "Running"
        if init_failed:
            phase = "Failed"
        elif not initialized:
            phase = "Pending"
        elif run.containers and all(cr.done for cr in run.containers):
            phase = "Succeeded" if all(cr.last_exit and cr.last_exit[0] == 0 for cr in run.containers) else "Failed"
        elif not any(cr.process is not None or cr.done for cr in run.containers):
            phase = "Pending"
        ready = phase == "Running" and all(cr.ready for cr in run.containers)
        t = now()
        status = {
            "phase": phase, "podIP": run.ip, "podIPs": [{"ip": run.ip}], "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}], "startTime": run.start_time,
            "containerStatuses": statuses,
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Initialized", "status": "True" if initialized else "False"},
                {"type": "ContainersReady", "status": "True" if ready else "False"},
                {"type": "Ready", "status": "True" if ready else "False"},
            ],
        }
        if init_statuses:
            status["initContainerStatuses"] = init_statuses
        fingerprint = json.dumps(status, sort_keys=True)
        if fingerprint == run.last_status:
            return
        for condition in status["conditions"]:
            condition["lastTransitionTime"] = t
        try:
            self.core.patch_namespaced_pod_status(run.name, run.namespace, {"status": status})
            run.last_status = fingerprint
        except ApiException as exc:
            if exc.status != 404:
                raise

    @staticmethod
    def _container_status(cr: ContainerRun) -> Obj:
        """One entry of containerStatuses / initContainerStatuses."""
        state: Obj
        if cr.process is not None:
            state = {"running": {"startedAt": cr.started_at}}
        elif cr.done and cr.last_exit:
            code, started, finished = cr.last_exit
            state = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                    "startedAt": started, "finishedAt": finished}}
        else:
            reason, message = cr.waiting or ("ContainerCreating", "")
            state = {"waiting": {"reason": reason, "message": message}}
        entry = {"name": cr.name, "image": cr.image, "imageID": "", "ready": cr.ready,
                 "started": cr.process is not None, "restartCount": cr.restarts, "state": state}
        if cr.last_exit and not cr.done:
            code, started, finished = cr.last_exit
            entry["lastState"] = {"terminated": {"exitCode": code, "reason": "Error" if code else "Completed",
                                                 "startedAt": started, "finishedAt": finished}}
        return entry

    # ------------------------------------------------------------------ stopping

    def kill(self, run: PodRun, grace: float) -> None:
        """SIGTERM every container's process group, SIGKILL what is left after ``grace`` seconds."""
        procs = [cr.process for cr in run.containers + run.init_containers if cr.process is not None]
        for proc in procs:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
            time.sleep(0.1)
        for proc in procs:
            if proc.poll() is None:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=10)
        for cr in run.containers + run.init_containers:
            cr.process = None
        if procs:
            log.info("pod %s/%s: stopped", run.namespace, run.name)

    def shutdown(self) -> None:
        """Stop every pod's processes at once (the node goes away with them)."""
        with self.lock:
            procs = [c.process for r in self.pods.values() for c in r.containers + r.init_containers
                     if c.process is not None]
        for proc in procs:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + 3.0
        while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
            time.sleep(0.1)
        for proc in procs:
            if proc.poll() is None:
                _signal_group(proc, signal.SIGKILL)


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def main(argv: list[str] | None = None) -> int:
    """Run the local kubelet until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--state", required=True, help="folder for pod files, volumes, logs and hosts files")
    parser.add_argument("--node-name", default=NODE_NAME)
    parser.add_argument("--gpus", type=int, default=8, help="nvidia.com/gpu the node advertises (nothing is on them)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    api_client = kube_config.new_client_from_config(config_file=args.kubeconfig)
    kubelet = LocalKubelet(api_client, Path(args.state), node_name=args.node_name, gpus=args.gpus)
    def stop(*_: object) -> None:
        # Stop the pods here, not after the loop's current pass: whoever sent the signal may
        # SIGKILL this process in a few seconds, and the pods' processes must not outlive the node.
        kubelet.shutdown()
        kubelet.stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    kubelet.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

