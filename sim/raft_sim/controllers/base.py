"""The shared base of the SIMULATED controllers: object helpers, settings, failure injection, the
cluster operations every controller needs (:class:`SimApi`) and the :class:`Controller` class each
one derives from. Local test cluster and demo only; nothing in production imports it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any, ClassVar

import yaml
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError
from raft_api.layout import RUN_CONFIG_KEY
from raft_api.progress import Report, encode_report
from raft_operator.api import ChildNames

from .cache import WatchCache, owner_uids

log = logging.getLogger(__name__)

ANNOTATION_PREFIX = "sim.raftoperator.io/"
FAIL_ANNOTATION = ANNOTATION_PREFIX + "fail"
FAIL_MESSAGE_ANNOTATION = ANNOTATION_PREFIX + "fail-message"
DURATION_ANNOTATION = ANNOTATION_PREFIX + "duration-seconds"
SIMULATED_LABEL = "raftoperator.io/simulated"
RUN_LABEL = "raftoperator.io/run"
MERGE_PATCH = "application/merge-patch+json"

Obj = dict[str, Any]


# --------------------------------------------------------------------------- object helpers


def stamp() -> str:
    """The current time as a Kubernetes RFC 3339 timestamp (whole seconds, UTC)."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def seconds_since(value: str | None) -> float:
    """Seconds elapsed since the Kubernetes timestamp ``value`` (0 when unset)."""
    if not value:
        return 0.0
    return (dt.datetime.now(dt.timezone.utc) - dt.datetime.fromisoformat(value.replace("Z", "+00:00"))).total_seconds()


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


def api_message(exc: ApiException) -> str:
    """The API server's message of a refused request."""
    try:
        return json.loads(exc.body).get("message", exc.reason)
    except (TypeError, ValueError):
        return str(exc.reason)


# --------------------------------------------------------------------------- conditions


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


def set_condition(conditions: list[Obj], type_: str, status: str, reason: str, message: str,
                  generation: int | None) -> None:
    """Set a metav1.Condition in ``conditions``: the transition time moves only when the status changes."""
    current = next((c for c in conditions if c["type"] == type_), None)
    if current is None:
        conditions.append(current := {"type": type_, "lastTransitionTime": stamp()})
    elif current.get("status") != status:
        current["lastTransitionTime"] = stamp()
    current.update(status=status, reason=reason, message=message)
    if generation is not None:
        current["observedGeneration"] = generation


def is_true(conditions: list[Obj], type_: str) -> bool:
    """Whether the metav1.Condition ``type_`` has status True."""
    return any(c["type"] == type_ and c.get("status") == "True" for c in conditions)


# --------------------------------------------------------------------------- settings


@dataclass
class SimSettings:
    """Knobs of the simulation; annotations override the durations per object."""

    duration: float = 3.0  # seconds a stage runs once its pods run
    progress_interval: float = 1.0  # seconds between progress reports
    create_pods: bool = True  # create the pods KubeRay / the training operator would
    pv_root: str = "/tmp/raft-sim-volumes"  # hostPath of simulated volumes (never mounted)
    # Pods really run (the real node, hack/cluster/node.sh): inject what KubeRay / the training operator
    # inject, read outcomes from the workloads, and leave progress and eval Jobs to the programs.
    real_workloads: bool = False


@dataclass
class Injection:
    """What the annotations on an object and its owners ask of one stage."""

    fail: bool
    message: str
    duration: float

    def fraction(self, elapsed: float) -> float:
        """How far the simulated stage is after ``elapsed`` seconds (0 to 1)."""
        return min(elapsed / self.duration, 1.0) if self.duration else 1.0

    def next_check(self, elapsed: float, interval: float) -> float:
        """Seconds until the next progress report, or the end of the stage when that comes first."""
        return min(interval, max(self.duration - elapsed, 0.05))


# --------------------------------------------------------------------------- the cluster


class SimApi:
    """The cluster operations the simulated controllers share: pods, failure injection, progress.

    Pods, owners and run configs are read from watch caches once :meth:`start_caches` ran (the
    manager does), as the real controllers read their informers; before that, from the API server.
    """

    def __init__(self, dyn: DynamicClient, settings: SimSettings) -> None:
        self.dyn = dyn
        self.settings = settings
        self.pods = self.resource("v1", "Pod")
        self.services = self.resource("v1", "Service")
        self.jobs = self.resource("batch/v1", "Job")
        self.configmaps = self.resource("v1", "ConfigMap")
        self.pod_cache: WatchCache | None = None
        self.config_cache: WatchCache | None = None
        self._owner_caches: dict[tuple[str, str], WatchCache | None] = {}
        self._stop: threading.Event | None = None
        self._lock = threading.Lock()

    def start_caches(self, stop: threading.Event, on_pod_event: Any = None) -> None:
        """Follow pods (indexed by owner uid) and the runs' config ConfigMaps in local caches."""
        self._stop = stop
        self.pod_cache = WatchCache(self.dyn, self.pods, index=owner_uids, on_event=on_pod_event)
        self.config_cache = WatchCache(self.dyn, self.configmaps,
                                       label_selector=f"app.kubernetes.io/component=config,{RUN_LABEL}")
        for cache in (self.pod_cache, self.config_cache):
            cache.start(stop)

    @staticmethod
    def _ready(cache: WatchCache | None) -> bool:
        return cache is not None and cache.synced.is_set()

    def resource(self, api_version: str, kind: str) -> Any:
        """The dynamic client's resource of ``kind`` (ResourceNotFoundError when not served)."""
        return self.dyn.resources.get(api_version=api_version, kind=kind)

    @staticmethod
    def get(resource: Any, namespace: str, name: str) -> Obj | None:
        """The object, or None when it does not exist."""
        try:
            return resource.get(name=name, namespace=namespace or None).to_dict()
        except NotFoundError:
            return None

    @staticmethod
    def patch_status(resource: Any, obj: Obj, status: Obj) -> None:
        """Merge-patch ``obj``'s status subresource."""
        m = meta(obj)
        resource.status.patch(
            body={"status": status}, name=m["name"], namespace=m.get("namespace"), content_type=MERGE_PATCH
        )

    @staticmethod
    def create_if_absent(resource: Any, body: Obj) -> None:
        """Create ``body``; one that exists already is left as it is."""
        try:
            resource.create(body=body, namespace=body["metadata"].get("namespace"))
        except ApiException as exc:
            if exc.status != 409:
                raise

    # ------------------------------------------------------------------ pods

    def pods_of(self, obj: Obj) -> list[Obj]:
        """The pods ``obj`` owns."""
        m = meta(obj)
        if self._ready(self.pod_cache):
            return [p for p in self.pod_cache.indexed(m["uid"]) if meta(p).get("namespace") == m["namespace"]]
        pods = self.pods.get(namespace=m["namespace"]).to_dict()["items"]
        return [p for p in pods if any(r.get("uid") == m["uid"] for r in meta(p).get("ownerReferences") or [])]

    def delete_pods(self, pods: list[Obj]) -> None:
        """Delete ``pods`` (those already gone are skipped)."""
        for pod in pods:
            try:
                self.pods.delete(name=meta(pod)["name"], namespace=meta(pod)["namespace"])
            except NotFoundError:
                pass

    def finish_pods(self, pods: list[Obj], *, failed: bool, message: str = "") -> None:
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
                self.pods.status.patch(
                    body={"status": status}, name=meta(pod)["name"], namespace=meta(pod)["namespace"],
                    content_type="application/strategic-merge-patch+json",
                )
            except NotFoundError:
                pass

    def create_pod(self, owner: Obj, name: str, template: Obj, labels: dict[str, str],
                   restart_policy: str | None = None) -> str | None:
        """Create one pod of ``owner`` from a pod template; returns an error message if it was refused."""
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
                "labels": {**(tmeta.get("labels") or {}), **labels, SIMULATED_LABEL: "true"},
                "annotations": tmeta.get("annotations") or {},
                "ownerReferences": [owner_ref(owner)],
            },
            "spec": spec,
        }
        try:
            self.pods.create(body=body, namespace=meta(owner)["namespace"])
        except ApiException as exc:
            if exc.status == 409:
                return None
            if exc.status in (400, 403, 422):
                return f"creating pod {name}: {api_message(exc)}"
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
        cache = self._owner_cache(ref.get("apiVersion", ""), ref.get("kind", ""))
        if self._ready(cache) and (owner := cache.get(namespace, ref.get("name", ""))) is not None:
            return owner
        try:
            resource = self.resource(ref["apiVersion"], ref["kind"])
            owner = resource.get(name=ref["name"], namespace=namespace if resource.namespaced else None)
            return owner.to_dict()
        except (NotFoundError, ResourceNotFoundError, ApiException, KeyError):
            return None

    def _owner_cache(self, api_version: str, kind: str) -> WatchCache | None:
        """A cache of an owner kind, started on first use (owner kinds such as RaftRun may be
        installed after the controllers start); None before :meth:`start_caches` or when not served."""
        if self._stop is None:
            return None
        with self._lock:
            if (api_version, kind) not in self._owner_caches:
                try:
                    cache: WatchCache | None = WatchCache(self.dyn, self.resource(api_version, kind))
                except (ResourceNotFoundError, ApiException, ValueError):
                    cache = None
                self._owner_caches[(api_version, kind)] = cache
                if cache is not None:
                    cache.start(self._stop)
            return self._owner_caches[(api_version, kind)]

    @staticmethod
    def run_name(obj: Obj) -> str | None:
        """The RaftRun a child belongs to: its ``raftoperator.io/run`` label or RaftRun owner."""
        label = (meta(obj).get("labels") or {}).get(RUN_LABEL)
        if label:
            return label
        for ref in meta(obj).get("ownerReferences") or []:
            if ref.get("kind") == "RaftRun":
                return ref.get("name")
        return None

    def report(self, obj: Obj, stage: str, payload: Report) -> None:
        """Patch key ``stage`` of the progress ConfigMap like the workload program would.

        As the programs do, take the ConfigMap from run.yaml (``progress.configMap``; none: no
        report) and its namespace from there too, else the workload's own.
        """
        progress = self.run_config(obj).get("progress") or {}
        name = progress.get("configMap")
        if not name:
            return
        namespace = progress.get("namespace") or meta(obj)["namespace"]
        try:
            self.configmaps.patch(
                body={"data": {stage: encode_report(stage, payload)}},
                name=name, namespace=namespace, content_type=MERGE_PATCH,
            )
        except NotFoundError:
            log.debug("no progress ConfigMap %s/%s for %s", namespace, name, stage)

    def run_config(self, obj: Obj) -> Obj:
        """The run's ``run.yaml`` (ConfigMap ``<run>-config``), or {} when there is none."""
        run = self.run_name(obj)
        if not run:
            return {}
        name = ChildNames(run).config
        cm = self.config_cache.get(meta(obj)["namespace"], name) if self._ready(self.config_cache) else None
        if cm is None:
            cm = self.get(self.configmaps, meta(obj)["namespace"], name)
        try:
            return yaml.safe_load(((cm or {}).get("data") or {}).get(RUN_CONFIG_KEY) or "") or {}
        except yaml.YAMLError:
            return {}


# --------------------------------------------------------------------------- the controllers' base


class Controller:
    """One SIMULATED controller: reconciles objects of one kind, one at a time, by name.

    The manager (:mod:`raft_sim.controllers.manager`) watches ``kind`` (filtered by
    ``label_selector``), queues every object it sees, and calls :meth:`reconcile`; what that
    returns is the delay in seconds until the object is reconciled again (None: only on change).
    An ``optional`` controller runs only when the cluster serves its kind.
    """

    api_version: ClassVar[str]
    kind: ClassVar[str]
    label_selector: ClassVar[str | None] = None
    optional: ClassVar[bool] = False

    def __init__(self, api: SimApi, resource: Any) -> None:
        self.api = api
        self.settings = api.settings
        self.resource = resource

    def get(self, namespace: str, name: str) -> Obj | None:
        """The object of this controller's kind, or None when it does not exist."""
        return self.api.get(self.resource, namespace, name)

    def patch_status(self, obj: Obj, status: Obj) -> None:
        """Merge-patch the status of an object of this controller's kind."""
        self.api.patch_status(self.resource, obj, status)

    def reconcile(self, namespace: str, name: str) -> float | None:
        """Move one object a step; the seconds until it is looked at again, or None."""
        raise NotImplementedError
