"""SIMULATED stand-ins for the KubeRay and Kubeflow training-operator controllers.

Used by the local test cluster (``hack/cluster``) and the demo only; nothing here is KubeRay or
the training operator, and nothing in production imports it. One process, one worker thread,
level-triggered reconciles driven by watches and timed requeues:

* **RayJob** (ray.io/v1): ``Initializing`` (creates the head and worker pods from the templates,
  so the real scheduler places them on the fake GPU nodes) → ``Running``/``RUNNING`` once every
  pod runs → after the simulated duration ``Complete``/``SUCCEEDED`` or ``Failed``/``FAILED``.
  A name KubeRay refuses (over 47 characters, not DNS-1035) ends in ``ValidationFailed``, as there.
  Honours ``suspend`` (``Suspending`` → ``Suspended``), ``backoffLimit`` (``Retrying``),
  ``activeDeadlineSeconds`` (``DeadlineExceeded``), ``preRunningDeadlineSeconds``
  (``PreRunningDeadlineExceeded``), ``shutdownAfterJobFinishes`` with
  ``ttlSecondsAfterFinished`` (deletes the pods).
* **PyTorchJob** (kubeflow.org/v1): condition ``Created`` (creates ``<job>-master-0`` and
  ``<job>-worker-<i>``) → ``Running`` once every pod runs → ``Succeeded`` or ``Failed``.
  Honours ``runPolicy.suspend`` (``Suspended``), ``backoffLimit`` with a restarting
  ``restartPolicy`` (``Restarting``), ``activeDeadlineSeconds``, ``cleanPodPolicy`` and
  ``ttlSecondsAfterFinished``.
* **eval Job** (batch/v1, label ``app.kubernetes.io/component=eval``): the real Job controller
  makes the pod and kwok runs it, but kwok leaves eval pods Running (hack/cluster/kwok-stages.yaml);
  this controller sets them ``Succeeded`` after the duration, or ``Failed`` when asked to.
* **TrainJob** (trainer.kubeflow.org/v1alpha1), when installed: see :mod:`raft_sim.trainjob`.
* **LeaderWorkerSet** (leaderworkerset.x-k8s.io/v1): see :mod:`raft_sim.leaderworkerset`.
* **PersistentVolumeClaims** of the ``sim.raftoperator.io/hostpath`` provisioner get a hostPath
  PersistentVolume (there is no kubelet, nothing is ever mounted), Released ones are deleted.

While a stage runs, the controller also plays the workload program's part of the progress
channel: it patches key ``datagen`` / ``finetune`` / ``eval`` of ConfigMap ``<run>-progress``
with plausible numbers (see docs/architecture.md, "Progress channel").

Failure injection never needs a changed manifest: annotations are read from the object's
owners (ownerReferences, any kind, typically the RaftRun) and then from the object itself:

* ``sim.raftoperator.io/fail``: comma-separated stages to fail (``datagen``, ``finetune``,
  ``eval``, or ``all``);
* ``sim.raftoperator.io/fail-message``: the failure message;
* ``sim.raftoperator.io/duration-seconds``: how long each stage runs (default ``--duration``);
  ``sim.raftoperator.io/<stage>-duration-seconds`` overrides it for one stage.

Run it as ``python -m raft_sim.controllers --kubeconfig PATH``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import heapq
import json
import logging
import math
import re
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import yaml
from kubernetes import config as kube_config
from kubernetes.client import ApiClient
from kubernetes.dynamic import DynamicClient
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError
from raft_jobs.common.progress_schema import DatagenReport, EvalReport, FinetuneReport, Report, encode_report

from . import workload_pods

log = logging.getLogger("raft_sim.controllers")

ANNOTATION_PREFIX = "sim.raftoperator.io/"
FAIL_ANNOTATION = ANNOTATION_PREFIX + "fail"
FAIL_MESSAGE_ANNOTATION = ANNOTATION_PREFIX + "fail-message"
DURATION_ANNOTATION = ANNOTATION_PREFIX + "duration-seconds"
PROVISIONER = "sim.raftoperator.io/hostpath"
EVAL_SELECTOR = "app.kubernetes.io/component=eval"
RUN_LABEL = "raftoperator.io/run"
MERGE_PATCH = "application/merge-patch+json"

Obj = dict[str, Any]
Key = tuple[str, str, str]  # (kind, namespace, name)


# --------------------------------------------------------------------------- small helpers


def now() -> dt.datetime:
    """The current UTC time, truncated to seconds like Kubernetes timestamps."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def stamp(t: dt.datetime | None = None) -> str:
    """``t`` (default now) as a Kubernetes RFC 3339 timestamp."""
    return (t or now()).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | None) -> dt.datetime | None:
    """Parse a Kubernetes timestamp; None stays None."""
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def seconds_since(value: str | None) -> float:
    """Seconds elapsed since the timestamp ``value`` (0 when unset)."""
    t = parse_time(value)
    return (dt.datetime.now(dt.timezone.utc) - t).total_seconds() if t else 0.0


def meta(obj: Obj) -> Obj:
    """The object's metadata (never None)."""
    return obj.get("metadata") or {}


def owner_ref(obj: Obj) -> Obj:
    """An ownerReference pointing at ``obj`` as its controller."""
    m = meta(obj)
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": m["name"],
        "uid": m["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def short_hash(text: str, length: int = 5) -> str:
    """A short, stable, DNS-safe hash (stands in for the random suffixes real controllers use)."""
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def pod_running(pod: Obj) -> bool:
    """True when the pod is Running and not being deleted."""
    return (pod.get("status") or {}).get("phase") == "Running" and not meta(pod).get("deletionTimestamp")


def pod_finished(pod: Obj) -> bool:
    """True when the pod reached Succeeded or Failed."""
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


# --------------------------------------------------------------------------- work queue


class DelayQueue:
    """A deduplicating queue of keys, each due at a time; ``get`` blocks until one is due."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Key]] = []
        self._due: dict[Key, float] = {}
        self._seq = 0
        self._cv = threading.Condition()

    def add(self, key: Key, delay: float = 0.0) -> None:
        """Schedule ``key`` in ``delay`` seconds unless it is already due sooner."""
        due = time.monotonic() + max(delay, 0.0)
        with self._cv:
            if key in self._due and self._due[key] <= due:
                return
            self._due[key] = due
            self._seq += 1
            heapq.heappush(self._heap, (due, self._seq, key))
            self._cv.notify()

    def get(self, stop: threading.Event) -> Key | None:
        """The next due key, or None once ``stop`` is set."""
        with self._cv:
            while not stop.is_set():
                if self._heap:
                    due, _, key = self._heap[0]
                    wait = due - time.monotonic()
                    if wait <= 0:
                        heapq.heappop(self._heap)
                        if self._due.get(key) != due:
                            continue  # superseded by an earlier schedule
                        del self._due[key]
                        return key
                else:
                    wait = 0.5
                self._cv.wait(min(wait, 0.5))
        return None


# --------------------------------------------------------------------------- settings


@dataclass
class SimSettings:
    """Knobs of the simulation; annotations override the durations per object."""

    duration: float = 3.0  # seconds a stage runs once its pods run
    progress_interval: float = 1.0  # seconds between progress reports
    create_pods: bool = True  # create the pods KubeRay / the training operator would
    pv_root: str = "/tmp/raft-sim-volumes"  # hostPath of simulated volumes (never mounted)
    # Pods really run (raft_sim.localrun.kubelet): inject what KubeRay / the training operator
    # inject, read outcomes from the workloads, and leave progress and eval Jobs to the programs.
    real_workloads: bool = False


@dataclass
class Injection:
    """What the annotations on an object and its owners ask of one stage."""

    fail: bool
    message: str
    duration: float


# --------------------------------------------------------------------------- the controller


class SimController:
    """SIMULATED RayJob / PyTorchJob / eval-Job / volume controller (see the module docstring)."""

    def __init__(self, api_client: ApiClient, settings: SimSettings) -> None:
        self.dyn = DynamicClient(api_client)
        self.settings = settings
        self.queue = DelayQueue()
        self.stop = threading.Event()
        self._rayjobs = self._resource("ray.io/v1", "RayJob")
        self._pytorchjobs = self._resource("kubeflow.org/v1", "PyTorchJob")
        self._jobs = self._resource("batch/v1", "Job")
        self._pods = self._resource("v1", "Pod")
        self._pvcs = self._resource("v1", "PersistentVolumeClaim")
        self._pvs = self._resource("v1", "PersistentVolume")
        self._configmaps = self._resource("v1", "ConfigMap")
        self._classes = self._resource("storage.k8s.io/v1", "StorageClass")
        self._services = self._resource("v1", "Service")
        self._handlers: dict[str, Callable[[str, str], float | None]] = {
            "RayJob": self.reconcile_rayjob,
            "PyTorchJob": self.reconcile_pytorchjob,
            "Job": self.reconcile_eval_job,
            "PersistentVolumeClaim": self.reconcile_pvc,
            "PersistentVolume": self.reconcile_pv,
        }
        self._extra_watches: list[Any] = []
        from . import leaderworkerset, trainjob

        self.attach(trainjob.API_VERSION, "TrainJob", trainjob.TrainJobController)
        self.attach(leaderworkerset.API_VERSION, "LeaderWorkerSet", leaderworkerset.LeaderWorkerSetController)

    def attach(self, api_version: str, kind: str, controller: Callable[["SimController", Any], Any]) -> None:
        """Also reconcile ``kind`` with ``controller(self, resource).reconcile`` when the cluster serves it."""
        try:
            resource = self.dyn.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            return
        self._handlers[kind] = controller(self, resource).reconcile
        self._extra_watches.append(resource)
        log.info("SIMULATED %s controller attached", kind)

    def _resource(self, api_version: str, kind: str) -> Any:
        return self.dyn.resources.get(api_version=api_version, kind=kind)

    # ------------------------------------------------------------------ plumbing

    def run(self) -> None:
        """Start the watches and process the queue until :attr:`stop` is set."""
        watches = [
            (self._rayjobs, None),
            (self._pytorchjobs, None),
            (self._jobs, EVAL_SELECTOR),
            (self._pvcs, None),
            (self._pvs, None),
        ] + [(resource, None) for resource in self._extra_watches]
        for resource, selector in watches:
            threading.Thread(
                target=self._watch, args=(resource, selector), name=f"watch-{resource.kind}", daemon=True
            ).start()
        log.info("SIMULATED controllers running (duration %.1fs)", self.settings.duration)
        while (key := self.queue.get(self.stop)) is not None:
            kind, namespace, name = key
            try:
                requeue = self._handlers[kind](namespace, name)
            except ApiException as exc:
                log.warning("%s %s/%s: API error %s %s", kind, namespace, name, exc.status, exc.reason)
                requeue = 1.0
            except Exception:  # noqa: BLE001 - a bad object must not stop the simulation
                log.exception("%s %s/%s: reconcile failed", kind, namespace, name)
                requeue = 2.0
            if requeue is not None:
                self.queue.add(key, requeue)

    def _watch(self, resource: Any, selector: str | None) -> None:
        while not self.stop.is_set():
            try:
                listing = resource.get(label_selector=selector)
                for item in listing.items:
                    self._enqueue(resource.kind, item.metadata.namespace or "", item.metadata.name)
                for event in self.dyn.watch(
                    resource,
                    label_selector=selector,
                    resource_version=listing.metadata.resourceVersion,
                    timeout=60,
                ):
                    raw = event["raw_object"]
                    if event["type"] == "ERROR":
                        break  # e.g. 410 Gone: list again
                    self._enqueue(resource.kind, meta(raw).get("namespace", ""), meta(raw)["name"])
            except Exception as exc:  # noqa: BLE001 - keep watching through API hiccups
                if not self.stop.is_set():
                    log.debug("watch %s restarting: %s", resource.kind, exc)
                    time.sleep(1.0)

    def _enqueue(self, kind: str, namespace: str, name: str) -> None:
        self.queue.add((kind, namespace, name))

    def _get(self, resource: Any, namespace: str, name: str) -> Obj | None:
        try:
            return resource.get(name=name, namespace=namespace or None).to_dict()
        except NotFoundError:
            return None

    def _patch_status(self, resource: Any, obj: Obj, status: Obj) -> None:
        m = meta(obj)
        resource.status.patch(
            body={"status": status}, name=m["name"], namespace=m.get("namespace"), content_type=MERGE_PATCH
        )

    def _pods_of(self, obj: Obj) -> list[Obj]:
        m = meta(obj)
        pods = self._pods.get(namespace=m["namespace"]).to_dict()["items"]
        return [p for p in pods if any(r.get("uid") == m["uid"] for r in meta(p).get("ownerReferences") or [])]

    def _delete_pods(self, pods: list[Obj]) -> None:
        for pod in pods:
            try:
                self._pods.delete(name=meta(pod)["name"], namespace=meta(pod)["namespace"])
            except NotFoundError:
                pass

    def _finish_pods(self, pods: list[Obj], *, failed: bool, message: str = "") -> None:
        """Move running pods to Succeeded/Failed, as if their containers had exited."""
        t = stamp()
        for pod in pods:
            if pod_finished(pod) or meta(pod).get("deletionTimestamp"):
                continue
            spec = pod.get("spec") or {}
            terminated = {
                "exitCode": 1 if failed else 0,
                "reason": "Error" if failed else "Completed",
                "startedAt": (pod.get("status") or {}).get("startTime") or t,
                "finishedAt": t,
            }
            if failed and message:
                terminated["message"] = message
            status = {
                "phase": "Failed" if failed else "Succeeded",
                "conditions": [
                    {"type": c, "status": "False", "reason": "PodFailed" if failed else "PodCompleted",
                     "lastTransitionTime": t}
                    for c in ("Ready", "ContainersReady")
                ],
                "containerStatuses": [
                    {"name": c["name"], "image": c.get("image", ""), "ready": False, "started": False,
                     "restartCount": 0, "imageID": "", "state": {"terminated": terminated}}
                    for c in spec.get("containers") or []
                ],
            }
            if failed:
                status["message"] = message or "simulated failure"
                status["reason"] = "Error"
            try:
                self._pods.status.patch(
                    body={"status": status}, name=meta(pod)["name"], namespace=meta(pod)["namespace"],
                    content_type="application/strategic-merge-patch+json",
                )
            except NotFoundError:
                pass

    def _create_pod(self, owner: Obj, name: str, template: Obj, labels: dict[str, str],
                    restart_policy: str | None = None) -> str | None:
        """Create one pod from a pod template; returns an error message if it was refused."""
        tmeta = template.get("metadata") or {}
        spec = json.loads(json.dumps(template.get("spec") or {}))
        if restart_policy:
            spec["restartPolicy"] = restart_policy
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": meta(owner)["namespace"],
                "labels": {**(tmeta.get("labels") or {}), **labels},
                "annotations": tmeta.get("annotations") or {},
                "ownerReferences": [owner_ref(owner)],
            },
            "spec": spec,
        }
        try:
            self._pods.create(body=body, namespace=meta(owner)["namespace"])
        except ApiException as exc:
            if exc.status == 409:
                return None
            if exc.status in (400, 403, 422):
                return f"creating pod {name}: {_api_message(exc)}"
            raise
        return None

    # ------------------------------------------------------------------ annotations and progress

    def injection(self, obj: Obj, stage: str) -> Injection:
        """The failure/duration annotations of ``obj``'s owners, then of ``obj`` itself."""
        annotations: dict[str, str] = {}
        for ref in meta(obj).get("ownerReferences") or []:
            owner = self._owner(ref, meta(obj).get("namespace", ""))
            if owner is not None:
                annotations.update(meta(owner).get("annotations") or {})
        annotations.update(meta(obj).get("annotations") or {})
        stages = {s.strip() for s in annotations.get(FAIL_ANNOTATION, "").split(",") if s.strip()}
        duration = annotations.get(f"{ANNOTATION_PREFIX}{stage}-duration-seconds") or annotations.get(
            DURATION_ANNOTATION
        )
        try:
            seconds = float(duration) if duration is not None else self.settings.duration
        except ValueError:
            seconds = self.settings.duration
        message = annotations.get(FAIL_MESSAGE_ANNOTATION) or f"SIMULATED {stage} failure (injected by {FAIL_ANNOTATION})"
        return Injection(fail=bool(stages & {stage, "all"}), message=message, duration=max(seconds, 0.0))

    def _owner(self, ref: Obj, namespace: str) -> Obj | None:
        try:
            resource = self._resource(ref["apiVersion"], ref["kind"])
            owner = resource.get(name=ref["name"], namespace=namespace if resource.namespaced else None)
            return owner.to_dict()
        except (NotFoundError, ResourceNotFoundError, ApiException, KeyError):
            return None

    def run_name(self, obj: Obj) -> str | None:
        """The RaftRun a child belongs to: its ``raftoperator.io/run`` label or RaftRun owner."""
        label = (meta(obj).get("labels") or {}).get(RUN_LABEL)
        if label:
            return label
        for ref in meta(obj).get("ownerReferences") or []:
            if ref.get("kind") == "RaftRun":
                return ref.get("name")
        return None

    def report(self, obj: Obj, stage: str, payload: Report) -> None:
        """Patch key ``stage`` of ``<run>-progress`` like the workload program would."""
        run = self.run_name(obj)
        if not run:
            return
        try:
            self._configmaps.patch(
                body={"data": {stage: encode_report(stage, payload)}},
                name=f"{run}-progress", namespace=meta(obj)["namespace"], content_type=MERGE_PATCH,
            )
        except NotFoundError:
            log.debug("no progress ConfigMap %s-progress for %s", run, stage)

    def run_config(self, obj: Obj) -> Obj:
        """The run's ``run.yaml`` (ConfigMap ``<run>-config``), or {} when there is none."""
        run = self.run_name(obj)
        if not run:
            return {}
        cm = self._get(self._configmaps, meta(obj)["namespace"], f"{run}-config")
        try:
            return yaml.safe_load(((cm or {}).get("data") or {}).get("run.yaml") or "") or {}
        except yaml.YAMLError:
            return {}

    # ------------------------------------------------------------------ RayJob

    def reconcile_rayjob(self, namespace: str, name: str) -> float | None:
        """Move one RayJob through KubeRay's jobDeploymentStatus machine (SIMULATED)."""
        job = self._get(self._rayjobs, namespace, name)
        if job is None:
            return None
        spec, status = job.get("spec") or {}, job.get("status") or {}
        phase = status.get("jobDeploymentStatus") or ""
        suspend = bool(spec.get("suspend"))
        tick = self.settings.progress_interval

        if phase == "ValidationFailed":
            return None  # terminal, as in KubeRay: nothing was created
        if phase == "" and (invalid := rayjob_metadata_error(name)):
            self._patch_status(self._rayjobs, job, {
                "jobDeploymentStatus": "ValidationFailed", "reason": "ValidationFailed", "message": invalid})
            return None
        if phase in ("Complete", "Failed"):
            return self._rayjob_cleanup(job)
        if suspend:
            if phase in ("", "Suspended"):
                if phase == "":
                    self._patch_status(self._rayjobs, job, {"jobDeploymentStatus": "Suspended"})
                return None
            if phase != "Suspending":
                self._patch_status(self._rayjobs, job, {"jobDeploymentStatus": "Suspending"})
                return 0.2
            self._delete_pods(self._pods_of(job))
            self._patch_status(self._rayjobs, job, {
                "jobDeploymentStatus": "Suspended", "jobStatus": None, "rayClusterName": None,
                "rayJobInfo": None, "startTime": None, "message": None, "reason": None,
            })
            return None
        if phase in ("Suspended", "Suspending"):  # resumed: start over like a new job
            self._patch_status(self._rayjobs, job, {"jobDeploymentStatus": ""})
            return 0.0
        if phase == "Retrying":
            pods = self._pods_of(job)
            if pods:
                self._delete_pods(pods)
                return 0.5
            self._patch_status(self._rayjobs, job, {"jobDeploymentStatus": "", "jobStatus": None})
            return 0.0

        uid = meta(job)["uid"]
        cluster = f"{name}-raycluster-{short_hash(uid + str(status.get('failed') or 0))}"
        if phase == "":
            self._patch_status(self._rayjobs, job, {
                "jobDeploymentStatus": "Initializing",
                "startTime": stamp(),
                "rayClusterName": cluster,
                "jobId": spec.get("jobId") or f"{name}-{short_hash(uid, 8)}",
                "dashboardURL": f"{cluster}-head-svc.{namespace}.svc.cluster.local:8265",
                "observedGeneration": meta(job).get("generation"),
                "succeeded": status.get("succeeded") or 0,
                "failed": status.get("failed") or 0,
            })
            return 0.0

        deadline = spec.get("activeDeadlineSeconds")
        if deadline and seconds_since(status.get("startTime")) > deadline:
            return self._rayjob_finish(job, failed=True, reason="DeadlineExceeded", message=(
                f"The RayJob has passed the activeDeadlineSeconds. StartTime: {status.get('startTime')}. "
                f"ActiveDeadlineSeconds: {deadline}"), retry=False)

        pre_running = spec.get("preRunningDeadlineSeconds")
        if phase == "Initializing" and pre_running and seconds_since(status.get("startTime")) > pre_running:
            return self._rayjob_finish(job, failed=True, reason="PreRunningDeadlineExceeded", message=(
                f"The RayJob did not reach Running within preRunningDeadlineSeconds ({pre_running}s)"), retry=False)

        if phase == "Initializing":
            error = self._rayjob_ensure_pods(job, status.get("rayClusterName") or cluster)
            if error:
                self._patch_status(self._rayjobs, job, {"message": error})
                return 2.0
            pods = self._pods_of(job)
            if not self.settings.create_pods or (pods and all(pod_running(p) for p in pods)):
                self._patch_status(self._rayjobs, job, {
                    "jobDeploymentStatus": "Running", "jobStatus": "RUNNING", "message": None,
                    "rayJobInfo": {"startTime": stamp()},
                })
                return 0.0
            return tick

        if phase == "Running" and self.settings.real_workloads:
            return self._rayjob_watch_real(job, status.get("rayClusterName") or cluster)
        if phase == "Running":
            inj = self.injection(job, "datagen")
            elapsed = seconds_since((status.get("rayJobInfo") or {}).get("startTime"))
            fraction = min(elapsed / inj.duration, 1.0) if inj.duration else 1.0
            if fraction >= 1.0:
                if not inj.fail:
                    self.report(job, "datagen", datagen_progress(1.0, self.run_config(job)))
                return self._rayjob_finish(job, failed=inj.fail, reason="AppFailed", message=inj.message)
            self.report(job, "datagen", datagen_progress(fraction, self.run_config(job)))
            return min(tick, max(inj.duration - elapsed, 0.05))
        return None

    def _rayjob_ensure_pods(self, job: Obj, cluster: str) -> str | None:
        if not self.settings.create_pods:
            return None
        cspec = (job.get("spec") or {}).get("rayClusterSpec") or {}
        existing = {meta(p)["name"] for p in self._pods_of(job)}
        base = {"ray.io/cluster": cluster, "app.kubernetes.io/created-by": "kuberay-operator",
                "ray.io/is-ray-node": "yes", "raftoperator.io/simulated": "true"}
        head = cspec.get("headGroupSpec") or {}
        namespace = meta(job)["namespace"]

        def template(group: Obj, is_head: bool) -> Obj:
            if not self.settings.real_workloads:
                return group.get("template") or {}
            return workload_pods.ray_node_template(group.get("template") or {}, head=is_head, cluster=cluster,
                                                   namespace=namespace, start_params=group.get("rayStartParams"))

        if self.settings.real_workloads:
            self._create_if_absent(self._services, workload_pods.ray_head_service(cluster, namespace, owner_ref(job)))
        wanted = [(f"{cluster}-head", template(head, True), "head", "headgroup")]
        for group in cspec.get("workerGroupSpecs") or []:
            replicas = group.get("replicas", group.get("minReplicas", 0)) or 0
            gname = group.get("groupName", "workers")
            wanted += [(f"{cluster}-{gname}-worker-{i}", template(group, False), "worker", gname)
                       for i in range(replicas * (group.get("numOfHosts", 1) or 1))]
        for pod_name, template, node_type, gname in wanted:
            if pod_name in existing:
                continue
            error = self._create_pod(job, pod_name, template,
                                     {**base, "ray.io/node-type": node_type, "ray.io/group": gname})
            if error:
                return error
        return None

    def _rayjob_watch_real(self, job: Obj, cluster: str) -> float | None:
        """Real workloads: submit the entrypoint once the dashboard answers, then follow the Ray job."""
        status = job.get("status") or {}
        job_id = status.get("jobId") or meta(job)["name"]
        head = next((p for p in self._pods_of(job) if meta(p)["name"] == f"{cluster}-head"), None)
        head_ip = ((head or {}).get("status") or {}).get("podIP")
        if head is None or (head.get("status") or {}).get("phase") in ("Failed", "Succeeded"):
            return self._rayjob_finish(job, failed=True, reason="AppFailed", message="the Ray head pod is gone or ended")
        if not head_ip:
            return self.settings.progress_interval
        info = workload_pods.ray_job_info(head_ip, job_id)
        submitter = self._get(self._jobs, meta(job)["namespace"], meta(job)["name"])
        if submitter is None:
            if workload_pods.ray_head_healthy(head_ip):
                self._create_if_absent(self._jobs, workload_pods.ray_submitter_job(job, cluster, job_id, owner_ref(job)))
            return self.settings.progress_interval
        state = (info or {}).get("status")
        if state == "SUCCEEDED":
            return self._rayjob_finish(job, failed=False, reason="", message="")
        if state in ("FAILED", "STOPPED"):
            return self._rayjob_finish(job, failed=True, reason="AppFailed",
                                       message=f"Ray job {job_id} {state}: {(info or {}).get('message') or ''}".strip())
        if Conditions((submitter.get("status") or {}).get("conditions")).true("Failed"):
            return self._rayjob_finish(job, failed=True, reason="SubmissionFailed",
                                       message=f"the submitter Job {meta(submitter)['name']} failed")
        if state and state != status.get("jobStatus"):
            self._patch_status(self._rayjobs, job, {"jobStatus": state})
        return self.settings.progress_interval

    def _create_if_absent(self, resource: Any, body: Obj) -> None:
        try:
            resource.create(body=body, namespace=body["metadata"].get("namespace"))
        except ApiException as exc:
            if exc.status != 409:
                raise

    def _rayjob_finish(self, job: Obj, *, failed: bool, reason: str, message: str, retry: bool = True) -> float | None:
        spec, status = job.get("spec") or {}, job.get("status") or {}
        pods = [] if self.settings.real_workloads else self._pods_of(job)
        if not failed:
            self._finish_pods(pods, failed=False)
            self._patch_status(self._rayjobs, job, {
                "jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED", "endTime": stamp(),
                "rayJobInfo": {"endTime": stamp()}, "succeeded": (status.get("succeeded") or 0) + 1,
                "reason": None, "message": None,
            })
            return 0.0
        failures = (status.get("failed") or 0) + 1
        self._finish_pods(pods, failed=True, message=message)
        if retry and failures <= (spec.get("backoffLimit") or 0):
            self._patch_status(self._rayjobs, job, {
                "jobDeploymentStatus": "Retrying", "jobStatus": "FAILED", "failed": failures,
                "reason": reason, "message": message,
            })
            return 0.5
        self._patch_status(self._rayjobs, job, {
            "jobDeploymentStatus": "Failed", "jobStatus": "FAILED", "endTime": stamp(),
            "rayJobInfo": {"endTime": stamp()}, "failed": failures, "reason": reason, "message": message,
        })
        return 0.0

    def _rayjob_cleanup(self, job: Obj) -> float | None:
        spec, status = job.get("spec") or {}, job.get("status") or {}
        if not spec.get("shutdownAfterJobFinishes"):
            return None
        wait = (spec.get("ttlSecondsAfterFinished") or 0) - seconds_since(status.get("endTime"))
        if wait > 0:
            return wait
        self._delete_pods(self._pods_of(job))
        if self.settings.real_workloads:
            cluster = status.get("rayClusterName") or ""
            for resource, name in ((self._services, workload_pods.head_service_name(cluster)),
                                   (self._jobs, meta(job)["name"])):
                try:
                    resource.delete(name=name, namespace=meta(job)["namespace"], body={"propagationPolicy": "Background"})
                except NotFoundError:
                    pass
        return None

    # ------------------------------------------------------------------ PyTorchJob

    def reconcile_pytorchjob(self, namespace: str, name: str) -> float | None:
        """Move one PyTorchJob through the training operator's conditions (SIMULATED)."""
        job = self._get(self._pytorchjobs, namespace, name)
        if job is None:
            return None
        spec, status = job.get("spec") or {}, job.get("status") or {}
        run_policy = spec.get("runPolicy") or {}
        conds = Conditions(status.get("conditions"))
        tick = self.settings.progress_interval
        ident = f"PyTorchJob {namespace}/{name}"

        if conds.true("Succeeded") or conds.true("Failed"):
            return self._pytorchjob_cleanup(job, conds)
        if not conds.has("Created"):
            conds.set("Created", "True", "PyTorchJobCreated", f"{ident} is created.")
            self._patch_status(self._pytorchjobs, job, {
                "conditions": conds.items, "replicaStatuses": {}, "startTime": stamp(),
                "lastReconcileTime": stamp(),
            })
            return 0.0

        if run_policy.get("suspend"):
            if conds.true("Suspended"):
                return None
            self._delete_pods(self._pods_of(job))
            conds.set("Running", "False", "PyTorchJobSuspended", f"{ident} is suspended.")
            conds.set("Suspended", "True", "PyTorchJobSuspended", f"{ident} is suspended.")
            self._patch_status(self._pytorchjobs, job, {
                "conditions": conds.items, "startTime": None, "replicaStatuses": {}})
            return None
        if conds.true("Suspended"):
            conds.set("Suspended", "False", "PyTorchJobResumed", f"{ident} is resumed.")
            self._patch_status(self._pytorchjobs, job, {"conditions": conds.items, "startTime": stamp()})
            return 0.0

        deadline = run_policy.get("activeDeadlineSeconds")
        if deadline and seconds_since(status.get("startTime")) > deadline:
            return self._pytorchjob_finish(job, conds, failed=True, reason="DeadlineExceeded", message=(
                f"PyTorchJob {name} has failed because it was active longer than specified deadline"),
                retry=False)

        replicas = replica_plan(spec, name)
        if conds.true("Restarting"):
            pods = self._pods_of(job)
            if pods:
                self._delete_pods(pods)
                return 0.5
            conds.set("Restarting", "False", "PyTorchJobRestarting", f"{ident} is restarting.")
            conds.set("Running", "False", "PyTorchJobRestarting", f"{ident} is restarting.")

        if self.settings.create_pods:
            existing = {meta(p)["name"] for p in self._pods_of(job)}
            for rtype, pod_name, template, restart in replicas:
                if pod_name in existing:
                    continue
                labels = {
                    "training.kubeflow.org/job-name": name,
                    "training.kubeflow.org/operator-name": "pytorchjob-controller",
                    "training.kubeflow.org/replica-type": rtype.lower(),
                    "training.kubeflow.org/replica-index": pod_name.rsplit("-", 1)[1],
                    "raftoperator.io/simulated": "true",
                }
                if rtype == "Master":
                    labels["training.kubeflow.org/job-role"] = "master"
                if self.settings.real_workloads:
                    rank = [r[1] for r in replicas].index(pod_name)
                    index = int(pod_name.rsplit("-", 1)[1])
                    self._create_if_absent(self._services, workload_pods.pytorch_replica_service(
                        name, namespace, rtype, index, owner_ref(job)))
                    template = workload_pods.pytorch_template(template, job=name, rank=rank, nodes=len(replicas),
                                                              nproc_per_node=str(spec.get("nprocPerNode") or "1"))
                error = self._create_pod(job, pod_name, template, labels,
                                         "Never" if restart == "ExitCode" else restart)
                if error:
                    conds.set("Created", "True", "PyTorchJobCreated", error)
                    self._patch_status(self._pytorchjobs, job, {"conditions": conds.items})
                    return 2.0
        pods = self._pods_of(job)
        all_running = not self.settings.create_pods or (
            len(pods) >= len(replicas) and all(pod_running(p) for p in pods))
        if not conds.true("Running"):
            if not all_running:
                if conds.changed:
                    self._patch_status(self._pytorchjobs, job, {"conditions": conds.items})
                return tick
            conds.set("Running", "True", "PyTorchJobRunning", f"{ident} is running.")
            self._patch_status(self._pytorchjobs, job, {
                "conditions": conds.items, "replicaStatuses": replica_statuses(replicas, name, active=True),
                "lastReconcileTime": stamp(),
            })
            return 0.0

        if self.settings.real_workloads:
            return self._pytorchjob_watch_real(job, conds, pods, replicas)
        inj = self.injection(job, "finetune")
        elapsed = seconds_since(conds.get("Running").get("lastTransitionTime"))
        fraction = min(elapsed / inj.duration, 1.0) if inj.duration else 1.0
        if fraction >= 1.0:
            if not inj.fail:
                self.report(job, "finetune", finetune_progress(1.0, self.run_config(job)))
            return self._pytorchjob_finish(job, conds, failed=inj.fail, reason="PyTorchJobFailed", message=(
                f"{ident} is failed because 1 Master replica(s) failed. {inj.message}"))
        self.report(job, "finetune", finetune_progress(fraction, self.run_config(job)))
        return min(tick, max(inj.duration - elapsed, 0.05))

    def _pytorchjob_watch_real(self, job: Obj, conds: "Conditions", pods: list[Obj],
                               replicas: list[tuple[str, str, Obj, str]]) -> float | None:
        """Real workloads: the job succeeds with its Master pod and fails with any failed pod."""
        name, namespace = meta(job)["name"], meta(job)["namespace"]
        limit = ((job.get("spec") or {}).get("runPolicy") or {}).get("backoffLimit") or 0
        by_name = {meta(p)["name"]: p for p in pods}
        master = by_name.get(replicas[0][1]) if replicas else None
        if master is not None and (master.get("status") or {}).get("phase") == "Succeeded":
            return self._pytorchjob_finish(job, conds, failed=False, reason="", message="")
        for pod in pods:
            pstatus = pod.get("status") or {}
            restarts = max([c.get("restartCount") or 0 for c in pstatus.get("containerStatuses") or []] or [0])
            if pstatus.get("phase") == "Failed" or restarts > limit:
                rtype = (meta(pod).get("labels") or {}).get("training.kubeflow.org/replica-type", "master").capitalize()
                return self._pytorchjob_finish(job, conds, failed=True, reason="PyTorchJobFailed", retry=False, message=(
                    f"PyTorchJob {namespace}/{name} is failed because 1 {rtype} replica(s) failed."))
        return self.settings.progress_interval

    def _pytorchjob_finish(self, job: Obj, conds: "Conditions", *, failed: bool, reason: str, message: str,
                           retry: bool = True) -> float | None:
        spec, status = job.get("spec") or {}, job.get("status") or {}
        name, namespace = meta(job)["name"], meta(job)["namespace"]
        replicas = replica_plan(spec, name)
        pods = [] if self.settings.real_workloads else self._pods_of(job)
        self._finish_pods(pods, failed=failed, message=message)
        restarts = 0
        if failed:
            restarts = int(((status.get("replicaStatuses") or {}).get("Master") or {}).get("failed") or 0) + 1
            restart_policy = replicas[0][3] if replicas else "Never"
            limit = (spec.get("runPolicy") or {}).get("backoffLimit") or 0
            if retry and restart_policy != "Never" and restarts <= limit:
                conds.set("Restarting", "True", "PyTorchJobRestarting",
                          f"PyTorchJob {namespace}/{name} is restarting because 1 Master replica(s) failed.")
                conds.set("Running", "False", "PyTorchJobRestarting", message)
                statuses = replica_statuses(replicas, name, active=False)
                statuses.setdefault("Master", {})["failed"] = restarts
                self._patch_status(self._pytorchjobs, job, {"conditions": conds.items, "replicaStatuses": statuses})
                return 0.5
            conds.set("Running", "False", reason, message)
            conds.set("Failed", "True", reason, message)
        else:
            msg = f"PyTorchJob {namespace}/{name} successfully completed."
            conds.set("Running", "False", "PyTorchJobSucceeded", msg)
            conds.set("Succeeded", "True", "PyTorchJobSucceeded", msg)
        statuses = replica_statuses(replicas, name, active=False, done=None if failed else "succeeded")
        if failed:
            statuses.setdefault("Master", {})["failed"] = restarts
        self._patch_status(self._pytorchjobs, job, {
            "conditions": conds.items, "replicaStatuses": statuses, "completionTime": stamp(),
            "lastReconcileTime": stamp(),
        })
        return 0.0

    def _pytorchjob_cleanup(self, job: Obj, conds: "Conditions") -> float | None:
        run_policy = (job.get("spec") or {}).get("runPolicy") or {}
        policy = run_policy.get("cleanPodPolicy") or "None"
        if policy in ("All", "Running"):
            pods = [p for p in self._pods_of(job) if policy == "All" or not pod_finished(p)]
            self._delete_pods(pods)
        ttl = run_policy.get("ttlSecondsAfterFinished")
        if ttl is None:
            return None
        wait = ttl - seconds_since((job.get("status") or {}).get("completionTime"))
        if wait > 0:
            return wait
        try:
            self._pytorchjobs.delete(name=meta(job)["name"], namespace=meta(job)["namespace"],
                                     body={"propagationPolicy": "Background"})
        except NotFoundError:
            pass
        return None

    # ------------------------------------------------------------------ eval Job

    def reconcile_eval_job(self, namespace: str, name: str) -> float | None:
        """Hold an eval Job's pods Running for the duration, reporting eval progress, then end them."""
        job = self._get(self._jobs, namespace, name)
        if job is None:
            return None
        conditions = Conditions((job.get("status") or {}).get("conditions"))
        if self.settings.real_workloads or conditions.true("Complete") or conditions.true("Failed"):
            return None
        uid = meta(job)["uid"]
        pods = [p for p in self._pods.get(namespace=namespace,
                                          label_selector=f"batch.kubernetes.io/controller-uid={uid}").to_dict()["items"]
                if pod_running(p)]
        if not pods:
            return self.settings.progress_interval
        inj = self.injection(job, "eval")
        elapsed = max(seconds_since((p.get("status") or {}).get("startTime")) for p in pods)
        fraction = min(elapsed / inj.duration, 1.0) if inj.duration else 1.0
        if fraction >= 1.0:
            if inj.fail:
                self._finish_pods(pods, failed=True, message=inj.message)
            else:
                self.report(job, "eval", eval_progress(1.0, self.run_config(job)))
                self._finish_pods(pods, failed=False)
            return self.settings.progress_interval
        self.report(job, "eval", eval_progress(fraction, self.run_config(job)))
        return min(self.settings.progress_interval, max(inj.duration - elapsed, 0.05))

    # ------------------------------------------------------------------ volumes

    def reconcile_pvc(self, namespace: str, name: str) -> float | None:
        """Provision a hostPath PersistentVolume for a pending claim of our provisioner."""
        pvc = self._get(self._pvcs, namespace, name)
        if pvc is None or (pvc.get("status") or {}).get("phase") != "Pending" or meta(pvc).get("deletionTimestamp"):
            return None
        spec = pvc.get("spec") or {}
        if spec.get("volumeName"):
            return None
        annotations = meta(pvc).get("annotations") or {}
        provisioner = annotations.get("volume.kubernetes.io/storage-provisioner") or annotations.get(
            "volume.beta.kubernetes.io/storage-provisioner")
        if provisioner is None and spec.get("storageClassName"):
            sc = self._get(self._classes, "", spec["storageClassName"])
            provisioner = (sc or {}).get("provisioner")
        if provisioner != PROVISIONER:
            return None
        uid = meta(pvc)["uid"]
        size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        pv = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {
                "name": f"pvc-{uid}",
                "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER, "raftoperator.io/simulated": "true"},
            },
            "spec": {
                "capacity": {"storage": size},
                "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Delete",
                "storageClassName": spec.get("storageClassName") or "",
                "volumeMode": spec.get("volumeMode") or "Filesystem",
                "hostPath": {"path": f"{self.settings.pv_root}/{uid}", "type": "DirectoryOrCreate"},
                "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": namespace,
                             "name": name, "uid": uid},
            },
        }
        try:
            self._pvs.create(body=pv)
            log.info("provisioned SIMULATED volume pvc-%s for %s/%s", uid, namespace, name)
        except ApiException as exc:
            if exc.status != 409:
                raise
        return None

    def reconcile_pv(self, namespace: str, name: str) -> float | None:
        """Delete Released volumes this provisioner made (reclaim policy Delete)."""
        pv = self._get(self._pvs, "", name)
        if pv is None:
            return None
        ours = (meta(pv).get("annotations") or {}).get("pv.kubernetes.io/provisioned-by") == PROVISIONER
        released = (pv.get("status") or {}).get("phase") == "Released"
        if ours and released and (pv.get("spec") or {}).get("persistentVolumeReclaimPolicy") == "Delete":
            try:
                self._pvs.delete(name=name)
            except NotFoundError:
                pass
        return None


# --------------------------------------------------------------------------- status helpers


class Conditions:
    """A mutable list of training-operator style conditions (type, status, reason, message, times)."""

    def __init__(self, items: list[Obj] | None) -> None:
        self.items: list[Obj] = [dict(c) for c in items or []]
        self.changed = False

    def get(self, type_: str) -> Obj:
        """The condition of ``type_``, or {}."""
        return next((c for c in self.items if c.get("type") == type_), {})

    def has(self, type_: str) -> bool:
        """Whether a condition of ``type_`` exists."""
        return bool(self.get(type_))

    def true(self, type_: str) -> bool:
        """Whether the condition of ``type_`` has status True."""
        return self.get(type_).get("status") == "True"

    def set(self, type_: str, status: str, reason: str, message: str) -> None:
        """Set a condition; the transition time moves only when the status changes."""
        t = stamp()
        current = self.get(type_)
        if current:
            if current.get("status") != status:
                current["lastTransitionTime"] = t
            current.update(status=status, reason=reason, message=message, lastUpdateTime=t)
            self.items.remove(current)
            self.items.append(current)  # the printer column shows the last one, as upstream
        else:
            self.items.append({"type": type_, "status": status, "reason": reason, "message": message,
                               "lastUpdateTime": t, "lastTransitionTime": t})
        self.changed = True


def replica_plan(spec: Obj, name: str) -> list[tuple[str, str, Obj, str]]:
    """(replica type, pod name, template, restart policy) of every pod a PyTorchJob asks for."""
    plan = []
    for rtype in ("Master", "Worker"):
        rspec = (spec.get("pytorchReplicaSpecs") or {}).get(rtype)
        if not rspec:
            continue
        restart = rspec.get("restartPolicy") or "OnFailure"
        count = 1 if rspec.get("replicas") is None else int(rspec["replicas"])
        for i in range(count):
            plan.append((rtype, f"{name}-{rtype.lower()}-{i}", rspec.get("template") or {}, restart))
    return plan


def replica_statuses(plan: list[tuple[str, str, Obj, str]], name: str, *, active: bool,
                     done: str | None = None) -> Obj:
    """``status.replicaStatuses`` for a replica plan.

    Written with a merge patch, so counts not named here (``failed`` across restarts) survive.
    """
    statuses: Obj = {}
    for rtype, _, _, _ in plan:
        entry = statuses.setdefault(rtype, {"selector": (
            f"training.kubeflow.org/job-name={name},training.kubeflow.org/operator-name=pytorchjob-controller,"
            f"training.kubeflow.org/replica-type={rtype.lower()}")})
        entry.setdefault("active", 0)  # merge-patched: an explicit 0 clears a stale count
        key = "active" if active else done
        if key:
            entry[key] = entry.get(key, 0) + 1
    return statuses


MAX_RAYJOB_NAME = 47  # KubeRay's MaxRayJobNameLength
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def rayjob_metadata_error(name: str) -> str | None:
    """What KubeRay's metadata validation says of a RayJob name, or None when it passes."""
    if len(name) > MAX_RAYJOB_NAME:
        return f"The RayJob metadata is invalid: RayJob name should be no more than {MAX_RAYJOB_NAME} characters"
    if not DNS_1035.match(name) or len(name) > 63:
        return ("The RayJob metadata is invalid: RayJob name should be a valid DNS1035 label: [a DNS-1035 label must "
                "consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end "
                "with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
                "'[a-z]([-a-z0-9]*[a-z0-9])?')]")
    return None


def _api_message(exc: ApiException) -> str:
    try:
        return json.loads(exc.body).get("message", exc.reason)
    except (TypeError, ValueError):
        return str(exc.reason)


# --------------------------------------------------------------------------- simulated progress


def datagen_progress(fraction: float, run: Obj) -> DatagenReport:
    """A plausible ``datagen`` progress object at ``fraction`` of the way (SIMULATED)."""
    per_chunk = int((run.get("datagen") or {}).get("questionsPerChunk") or 4)
    total = 48
    done = round(total * fraction)
    return {
        "chunksDone": done,
        "chunksTotal": total,
        "records": done * per_chunk,
        "malformed": done // 12,
        "retries": done // 16,
        "tokensPerSecond": round(1850.0 + 150.0 * math.sin(fraction * 6), 1),
    }


def finetune_progress(fraction: float, run: Obj) -> FinetuneReport:
    """A plausible ``finetune`` progress object: a decaying loss curve (SIMULATED)."""
    epochs = int((run.get("student") or {}).get("epochs") or 1)
    total = 120 * epochs
    step = round(total * fraction)
    loss = 0.35 + 2.1 * math.exp(-3.0 * fraction)
    return {
        "step": step,
        "totalSteps": total,
        "epoch": round(epochs * fraction, 3),
        "loss": round(loss, 4),
        "validationLoss": round(loss + 0.08, 4),
        "tokensPerSecond": 5120.0,
        "mfu": 0.41,
    }


def eval_progress(fraction: float, run: Obj) -> EvalReport:
    """Plausible ``eval`` results for the run's models, student above baseline (SIMULATED).

    Results appear model by model as ``fraction`` grows; the summary comes with the last one.
    """
    cfg = run.get("eval") or {}
    models = [(m.get("name") or "model", m.get("role") or "baseline") for m in cfg.get("models") or []]
    models = models or [("student", "student"), ("base", "baseline")]
    modes = ([("none", 0)] if cfg.get("withoutRag", True) else []) + [
        ("rag", int(k)) for k in cfg.get("topK") or [3, 5, 7]]
    rows = []
    for name, role in models:
        lift = 0.18 if role == "student" else 0.0
        for mode, k in modes:
            base = (0.42 if mode == "rag" else 0.25) + lift + 0.01 * k
            total = 100
            rows.append({
                "model": name, "mode": mode, "topK": k, "judgeScore": round(min(base, 0.99), 3),
                "rouge1": round(base * 0.9, 3), "rouge2": round(base * 0.55, 3), "rougeL": round(base * 0.8, 3),
                "bleu": round(base * 0.4, 3), "exactMatch": round(base * 0.3, 3), "f1": round(base * 0.85, 3),
                "refusals": 3 if role == "student" else 9, "total": total,
                "precision": round(min(base + 0.05, 0.99), 3),
            })
    shown = rows[: max(1, math.floor(len(rows) * fraction))] if fraction < 1.0 else rows
    payload: EvalReport = {"results": shown}
    if fraction >= 1.0:
        # The headline is the declared primary mode (RAG at the first top k unless set), never the best one.
        mode = cfg.get("primaryMode") or "rag"
        k = int(cfg.get("primaryTopK") or (cfg.get("topK") or [3])[0]) if mode == "rag" else 0
        in_mode = [r for r in rows if r["mode"] == mode and r["topK"] == k]
        students = [r for r in in_mode if any(r["model"] == n and role == "student" for n, role in models)]
        head = (students or in_mode or rows)[0]
        payload["summary"] = {"model": head["model"], "mode": head["mode"], "topK": head["topK"],
                              "judgeScore": head["judgeScore"], "judgeCoverage": 1.0,
                              "improvement": {r["model"]: round(head["judgeScore"] / r["judgeScore"] - 1, 3)
                                              for r in in_mode if r is not head and r["judgeScore"]}}
    return payload


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m raft_sim.controllers``."""
    parser = argparse.ArgumentParser(description="SIMULATED KubeRay / training-operator controllers (tests, demo)")
    parser.add_argument("--kubeconfig", help="kubeconfig path (default: in-cluster or ~/.kube/config)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds each stage runs (default 3)")
    parser.add_argument("--progress-interval", type=float, default=1.0, help="seconds between progress reports")
    parser.add_argument("--no-pods", action="store_true", help="only move status; create no pods")
    parser.add_argument("--pv-root", default=SimSettings.pv_root, help="hostPath prefix of simulated volumes")
    parser.add_argument("--real-workloads", action="store_true",
                        help="pods really run (raft_sim.localrun.kubelet): follow the workloads, simulate nothing")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")

    client = kube_config.new_client_from_config(config_file=args.kubeconfig) if args.kubeconfig else None
    if client is None:
        try:
            kube_config.load_incluster_config()
        except kube_config.ConfigException:
            kube_config.load_kube_config()
        client = ApiClient()
    settings = SimSettings(duration=args.duration, progress_interval=args.progress_interval,
                           create_pods=not args.no_pods, pv_root=args.pv_root, real_workloads=args.real_workloads)
    controller = _connect(client, settings)
    signal.signal(signal.SIGTERM, lambda *_: controller.stop.set())
    signal.signal(signal.SIGINT, lambda *_: controller.stop.set())
    controller.run()
    log.info("SIMULATED controllers stopped")
    return 0


def _connect(client: ApiClient, settings: SimSettings, attempts: int = 60) -> SimController:
    """Build the controller, waiting for the API server and the simulated CRDs to be served."""
    for attempt in _retries(attempts):
        try:
            return SimController(client, settings)
        except (ResourceNotFoundError, ApiException, OSError) as exc:
            if attempt == attempts - 1:
                raise
            log.info("waiting for the API server / simulated CRDs: %s", exc)
    raise RuntimeError("unreachable")


def _retries(n: int) -> Iterator[int]:
    for i in range(n):
        yield i
        time.sleep(1.0)


if __name__ == "__main__":
    raise SystemExit(main())
