"""Run the real Kopf operator against KMock's Kubernetes emulator, and play the child controllers.

Pieces:

* :class:`ApiServer` — KMock's ``KubernetesEmulator`` plus the server-side bookkeeping Kopf and the
  operator rely on and the emulator leaves out: ``metadata.uid``/``resourceVersion``/
  ``generation``/``creationTimestamp``, ``generateName`` (Events), the status subresource
  (a PATCH of ``/status`` changes only status, a PATCH of the object never does), and JSON patch
  ``test`` failures answered with 422 (Kopf's optimistic-concurrency finalizer patch).
* :class:`ApiServerThread` — the emulator on a local port, in its own thread and event loop.
* :class:`OperatorThread` — ``kopf.operator()`` with the project's handlers in another thread.
* :class:`Cluster` — what a test sees: the RaftRun API, the children's controllers (set their
  status the way Deployment/KubeRay/Kubeflow/Job controllers would), the request log.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import datetime as dt
import http.server
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator

import attrs
import jsonpatch
import kmock
import kopf
import kubernetes.client
import kubernetes.config.kube_config

from raft_operator import api
from raft_operator import handlers as operator_handlers
from raft_operator.settings import Settings

NAMESPACE = "team"
TEST_AGENT = "raft-operator-tests"  # User-Agent of the test's own requests, to tell them from the operator's
WRITE_METHODS = {"POST", "PATCH", "PUT", "DELETE"}
VERBS = {"get", "list", "watch", "create", "patch", "update", "delete"}
# How long a test waits for something the operator should do. Waits end as soon as it is done, so this
# only matters on a loaded CI machine, where a first pass has been seen to take over 10 s.
WAIT_TIMEOUT = 60.0


def _info(kind: str, *subresources: str, namespaced: bool = True) -> kmock.ResourceInfo:
    return kmock.ResourceInfo(kind=kind, singular=kind.lower(), namespaced=namespaced, verbs=VERBS,
                              subresources=set(subresources))


# Everything the operator watches or writes, for discovery (Kopf scans /api and /apis), and what
# Kopf itself watches: namespaces and CRDs (it waits for both to be discoverable before serving).
RESOURCES: dict[str, kmock.ResourceInfo] = {
    "v1/namespaces": _info("Namespace", "status", namespaced=False),
    "apiextensions.k8s.io/v1/customresourcedefinitions": _info("CustomResourceDefinition", "status", namespaced=False),
    f"{api.GROUP}/{api.VERSION}/{api.PLURAL}": _info(api.KIND, "status"),
    "v1/configmaps": _info("ConfigMap"),
    "v1/secrets": _info("Secret"),
    "v1/serviceaccounts": _info("ServiceAccount"),
    "v1/services": _info("Service", "status"),
    "v1/persistentvolumeclaims": _info("PersistentVolumeClaim", "status"),
    "v1/pods": _info("Pod", "status"),
    "v1/events": _info("Event"),
    "apps/v1/deployments": _info("Deployment", "status", "scale"),
    "batch/v1/jobs": _info("Job", "status"),
    "rbac.authorization.k8s.io/v1/roles": _info("Role"),
    "rbac.authorization.k8s.io/v1/rolebindings": _info("RoleBinding"),
    "ray.io/v1/rayjobs": _info("RayJob", "status"),
    "kubeflow.org/v1/pytorchjobs": _info("PyTorchJob", "status"),
    "networking.k8s.io/v1/networkpolicies": _info("NetworkPolicy"),
}

# kind → (API path prefix, plural) for the children and the run.
PATHS: dict[str, tuple[str, str]] = {
    api.KIND: (f"/apis/{api.GROUP}/{api.VERSION}", api.PLURAL),
    "ConfigMap": ("/api/v1", "configmaps"),
    "Secret": ("/api/v1", "secrets"),
    "ServiceAccount": ("/api/v1", "serviceaccounts"),
    "Service": ("/api/v1", "services"),
    "PersistentVolumeClaim": ("/api/v1", "persistentvolumeclaims"),
    "Pod": ("/api/v1", "pods"),
    "Event": ("/api/v1", "events"),
    "Deployment": ("/apis/apps/v1", "deployments"),
    "Job": ("/apis/batch/v1", "jobs"),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles"),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings"),
    "RayJob": ("/apis/ray.io/v1", "rayjobs"),
    "PyTorchJob": ("/apis/kubeflow.org/v1", "pytorchjobs"),
    "NetworkPolicy": ("/apis/networking.k8s.io/v1", "networkpolicies"),
}
KIND_OF_PLURAL = {plural: kind for kind, (_, plural) in PATHS.items()}


# ---- the API server -------------------------------------------------------------------------


@attrs.define(kw_only=True)
class ApiServer(kmock.KubernetesEmulator):
    """KMock's emulator with the object bookkeeping a real API server does (see the module doc)."""

    _revision: int = attrs.field(default=0, init=False)
    # (method, plural) → an error to answer instead of serving, e.g. a 403 for missing RBAC.
    faults: dict[tuple[str, str], kmock.KubernetesError] = attrs.field(factory=dict, init=False)
    journal: list[kmock.Request] = attrs.field(factory=list, init=False)  # every request, in arrival order

    def _next_revision(self) -> str:
        self._revision += 1
        return str(self._revision)

    def _has_status_subresource(self, request: kmock.Request) -> bool:
        info = self.resources[request.resource] if request.resource in self.resources else None
        return bool(info and "status" in info.subresources)

    async def _handle(self, request: kmock.Request) -> Any:
        self.journal.append(request)
        # KMock matches each request by scanning every request served so far (O(n) per request, so a
        # test slows down as it goes); the journal above is the log, KMock keeps only a recent tail.
        if len(self._requests) > 32:
            del self._requests[:-16]
        if request.resource is not None:
            fault = self.faults.get((request.method.value, request.resource.plural))
            if fault is not None:
                raise fault
            # Rewrites the request's body in place, just before the emulator stores it.
            if request.action == kmock.action.CREATE and isinstance(request.data, dict):
                self._on_create(request)
            elif request.action == kmock.action.UPDATE and request.name is not None:
                self._on_patch(request)
        return await super()._handle(request)

    def _on_create(self, request: kmock.Request) -> None:
        data: dict[str, Any] = request.data
        meta = data.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)
        meta["namespace"] = request.namespace or meta.get("namespace")
        meta.update(uid=str(uuid.uuid4()), resourceVersion=self._next_revision(), generation=1,
                    creationTimestamp=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
        if self._has_status_subresource(request):
            data.pop("status", None)

    def _on_patch(self, request: kmock.Request) -> None:
        key = (request.resource, request.namespace, request.name)
        if key not in self.objects or self.objects[key].deleted:
            return  # the emulator answers 404
        current = self.objects[key].raw
        status_only = request.subresource == "status"
        if isinstance(request.data, list):  # JSON patch (RFC 6902): Kopf's finalizers, with a resourceVersion test
            try:
                patched = jsonpatch.apply_patch(copy.deepcopy(current), request.data)
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                raise kmock.KubernetesError(status=422, reason="Invalid", message=str(exc)) from None
            spec_changed = patched.get("spec") != current.get("spec")
            request.data.append({"op": "replace", "path": "/metadata/resourceVersion", "value": self._next_revision()})
            if spec_changed and not status_only:
                generation = int(current.get("metadata", {}).get("generation") or 1) + 1
                request.data.append({"op": "replace", "path": "/metadata/generation", "value": generation})
        elif isinstance(request.data, dict):  # JSON merge patch (RFC 7386)
            if self._has_status_subresource(request):
                kept = {"status": request.data.get("status")} if status_only else \
                    {k: v for k, v in request.data.items() if k != "status"}
                request.data.clear()
                request.data.update({k: v for k, v in kept.items() if v is not None or not status_only})
            meta = request.data.setdefault("metadata", {})
            meta["resourceVersion"] = self._next_revision()
            if "spec" in request.data and not status_only:
                meta["generation"] = int(current.get("metadata", {}).get("generation") or 1) + 1


class ApiServerThread:
    """An :class:`ApiServer` listening on a local port, served from its own thread and event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="kmock", daemon=True)
        self.stack = contextlib.AsyncExitStack()
        self.emulator: ApiServer
        self.url = ""

    async def _start(self) -> None:
        self.emulator = ApiServer()
        for key, info in RESOURCES.items():
            self.emulator.resources[key] = info
        await self.stack.enter_async_context(self.emulator)
        server = await self.stack.enter_async_context(kmock.Server(self.emulator))
        self.url = str(server.url).rstrip("/")

    def __enter__(self) -> "ApiServerThread":
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=10)
        return self

    def __exit__(self, *exc: Any) -> None:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self.stack.aclose(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    def requests(self) -> list[kmock.Request]:
        """Every request served so far, in arrival order (a snapshot)."""
        return list(self.emulator.journal)


def write_kubeconfig(path: Path, server: str) -> Path:
    """A kubeconfig whose only context points at ``server`` with a dummy token."""
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "kmock",
        "clusters": [{"name": "kmock", "cluster": {"server": server}}],
        "users": [{"name": "kmock", "user": {"token": "kmock-token"}}],
        "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "kmock", "namespace": NAMESPACE}}],
    }
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


# ---- the teacher ----------------------------------------------------------------------------


class TeacherStub:
    """A local HTTP server answering ``POST …/v1/completions`` like vLLM would (or failing on demand)."""

    def __init__(self) -> None:
        stub = self
        self.ok = True
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.authorizations: list[str | None] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's naming
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                stub.calls.append((self.path, body))
                stub.authorizations.append(self.headers.get("Authorization"))
                ok = stub.ok and self.path.endswith("/v1/completions")
                payload = json.dumps({"choices": [{"index": 0, "text": "!"}]} if ok else {"error": "loading"}).encode()
                self.send_response(200 if ok else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="teacher-stub", daemon=True)

    @property
    def url_template(self) -> str:
        """RAFT_ENDPOINT_URL_TEMPLATE pointing every run's servers here."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/{{namespace}}/{{service}}/{{port}}"

    def __enter__(self) -> "TeacherStub":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---- the operator ---------------------------------------------------------------------------


def operator_registry(interval: float) -> kopf.OperatorRegistry:
    """The project's handlers (registered on import) in a fresh registry, with a fast reconcile timer.

    The timer's interval is fixed when ``raft_operator.handlers`` is imported (from the environment),
    so the test copies the handlers rather than depending on the import order of test modules.
    """
    source = kopf.get_default_registry()
    registry = kopf.OperatorRegistry()
    for name in ("_activities", "_indexing", "_watching", "_spawning", "_changing", "_webhooks"):
        for handler in getattr(source, name).get_all_handlers():
            if getattr(handler, "interval", None) is not None:  # the reconcile timer
                handler = dataclasses.replace(handler, interval=interval)
            getattr(registry, name).append(handler)
    return registry


class OperatorThread:
    """``kopf.operator()`` serving all namespaces (as the chart runs it), in a thread with its own
    event loop; stop() ends it."""

    def __init__(self, registry: kopf.OperatorRegistry) -> None:
        self.registry = registry
        self.stop_flag = threading.Event()
        self.ready_flag = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, name="raft-operator", daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(kopf.operator(registry=self.registry, standalone=True, clusterwide=True,
                                      stop_flag=self.stop_flag, ready_flag=self.ready_flag))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread by stop()
            self.error = exc

    def start(self, timeout: float = 20) -> "OperatorThread":
        """Start and wait until Kopf says it is ready (startup handlers done)."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.ready_flag.wait(0.05):
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the operator did not start: {self.error!r}")
        return self

    def stop(self, timeout: float = 20) -> None:
        """Ask Kopf to stop, wait for the thread, re-raise what the operator raised."""
        self.stop_flag.set()
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise RuntimeError("the operator did not stop")
        if self.error is not None:
            raise self.error


# ---- what a test sees -----------------------------------------------------------------------


def wait_for(predicate: Callable[[], Any], timeout: float = WAIT_TIMEOUT, what: str = "condition",
             describe: Callable[[], Any] | None = None) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``describe()`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; "
                                 f"state: {describe() if describe else value!r}")
        time.sleep(0.05)


@dataclasses.dataclass
class Cluster:
    """The emulated cluster, the teacher stub and the operator, seen from a test."""

    server: ApiServerThread
    teacher: TeacherStub
    registry: kopf.OperatorRegistry
    interval: float
    operator: OperatorThread | None = None
    namespace: str = NAMESPACE

    # ---- HTTP, as a client of the API server (marked as the test's own requests)

    def http(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        """One request to the emulator; the decoded JSON answer, or None for 404."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.server.url + path, data=data, method=method,
                                         headers={"Content-Type": content_type, "User-Agent": TEST_AGENT})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=10) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise AssertionError(f"{method} {path}: HTTP {exc.code}: {exc.read()[:500]!r}") from None

    def path(self, kind: str, name: str | None = None, subresource: str | None = None) -> str:
        prefix, plural = PATHS[kind]
        return "/".join(p for p in (f"{prefix}/namespaces/{self.namespace}/{plural}", name, subresource) if p)

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        """The object as the API server has it, or None."""
        return self.http("GET", self.path(kind, name))

    def create(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.http("POST", self.path(kind), body)

    def patch(self, kind: str, name: str, patch: dict[str, Any], subresource: str | None = None) -> dict[str, Any]:
        return self.http("PATCH", self.path(kind, name, subresource), patch, "application/merge-patch+json")

    # ---- the operator

    def start_operator(self) -> OperatorThread:
        assert self.operator is None, "already running"
        self.operator = OperatorThread(self.registry).start()
        return self.operator

    def stop_operator(self) -> None:
        if self.operator is not None:
            operator, self.operator = self.operator, None
            operator.stop()

    def restart_operator(self) -> None:
        """Stop this operator and start a new one against the same API server state."""
        self.stop_operator()
        self.start_operator()

    # ---- the RaftRun

    def create_run(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        claim = (spec.get("corpus") or {}).get("volume", {}).get("claimName")
        if claim and self.get("PersistentVolumeClaim", claim) is None:  # the preflight looks for it
            self.create("PersistentVolumeClaim", {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                                  "metadata": {"name": claim, "namespace": self.namespace}})
        body = {"apiVersion": api.API_VERSION, "kind": api.KIND, "metadata": {"name": name, "namespace": self.namespace},
                "spec": spec}
        return self.create(api.KIND, body)

    def run(self, name: str) -> dict[str, Any]:
        run = self.get(api.KIND, name)
        assert run is not None, f"RaftRun {name} is gone"
        return run

    def status(self, name: str) -> dict[str, Any]:
        return self.run(name).get("status") or {}

    def condition(self, name: str, ctype: str) -> dict[str, Any]:
        return next((c for c in self.status(name).get("conditions", []) if c["type"] == ctype), {})

    def wait_phase(self, name: str, phase: str, timeout: float = WAIT_TIMEOUT) -> dict[str, Any]:
        """Wait until status.phase is ``phase``; the status then."""
        def check() -> dict[str, Any] | None:
            status = self.status(name)
            return status if status.get("phase") == phase else None
        return wait_for(check, timeout, f"phase {phase} of {name}", lambda: self.status(name))

    def wait_child(self, kind: str, name: str, predicate: Callable[[dict[str, Any]], Any] = bool,
                   timeout: float = WAIT_TIMEOUT) -> dict[str, Any]:
        """Wait until child ``kind/name`` exists and satisfies ``predicate``; the object then."""
        def check() -> dict[str, Any] | None:
            obj = self.get(kind, name)
            return obj if obj is not None and predicate(obj) else None
        return wait_for(check, timeout, f"{kind}/{name}", lambda: self.get(kind, name))

    def wait_gone(self, kind: str, name: str, timeout: float = WAIT_TIMEOUT) -> None:
        wait_for(lambda: self.get(kind, name) is None, timeout, f"{kind}/{name} deleted")

    # ---- the children's controllers

    def set_status(self, kind: str, name: str, status: dict[str, Any]) -> None:
        """Write a child's status through the status subresource, as its controller would."""
        current = self.get(kind, name)
        assert current is not None, f"{kind}/{name} does not exist"
        cleared = {k: None for k in current.get("status") or {}}  # replace, not merge
        self.patch(kind, name, {"status": {**cleared, **status}}, subresource="status")

    def deployment_rollout(self, name: str, available: bool = True) -> None:
        """The Deployment controller: pods of spec.replicas ready (or none ready)."""
        replicas = (self.get("Deployment", name) or {}).get("spec", {}).get("replicas", 1)
        ready = replicas if available else 0
        self.set_status("Deployment", name, {
            "replicas": replicas, "readyReplicas": ready, "availableReplicas": ready,
            "conditions": [{"type": "Available", "status": "True" if available and ready else "False",
                            "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable"}]})

    def rayjob(self, name: str, deployment: str, job: str, reason: str = "", message: str = "") -> None:
        """KubeRay: jobDeploymentStatus and jobStatus."""
        status = {"jobDeploymentStatus": deployment, "jobStatus": job}
        status.update({k: v for k, v in (("reason", reason), ("message", message)) if v})
        self.set_status("RayJob", name, status)

    def pytorchjob(self, name: str, ctype: str, reason: str = "", message: str = "") -> None:
        """The Kubeflow training operator: a condition of type ``ctype`` True."""
        self.set_status("PyTorchJob", name, {"conditions": [
            {"type": "Created", "status": "True", "reason": "PyTorchJobCreated"},
            {"type": ctype, "status": "True", "reason": reason or f"PyTorchJob{ctype}", "message": message}]})

    def job(self, name: str, ctype: str, reason: str = "", message: str = "") -> None:
        """The Job controller: a Complete or Failed condition True."""
        self.set_status("Job", name, {"conditions": [
            {"type": ctype, "status": "True", "reason": reason or ctype, "message": message}]})

    def progress(self, run: str, key: str, value: dict[str, Any]) -> None:
        """A workload program reporting on the progress channel."""
        self.patch("ConfigMap", f"{run}-progress", {"data": {key: json.dumps(value)}})

    # ---- the request log

    def operator_requests(self, since: int = 0) -> list[kmock.Request]:
        """Requests the operator (Kopf or the kubernetes client) sent, from index ``since`` of the log."""
        return [r for r in self.server.requests()[since:] if r.headers.get("User-Agent") != TEST_AGENT]

    def mark(self) -> int:
        """A position in the request log."""
        return len(self.server.requests())

    def writes(self, since: int = 0) -> list[str]:
        """The operator's write requests, as "METHOD path"."""
        return [f"{r.method.value} {r.url.path}" for r in self.operator_requests(since) if r.method.value in WRITE_METHODS]

    def child_creates(self) -> Counter[tuple[str, str]]:
        """How many times the operator POSTed each child, by (kind, name): 409s included."""
        counts: Counter[tuple[str, str]] = Counter()
        for r in self.operator_requests():
            if r.method.value == "POST" and r.resource is not None and r.resource.plural != "events":
                counts[(KIND_OF_PLURAL.get(r.resource.plural, r.resource.plural),
                        (r.data or {}).get("metadata", {}).get("name"))] += 1
        return counts

    def events(self, name: str) -> list[dict[str, Any]]:
        """Events the operator posted about RaftRun ``name``, in order."""
        return [r.data for r in self.operator_requests()
                if r.method.value == "POST" and r.resource is not None and r.resource.plural == "events"
                and (r.data or {}).get("involvedObject", {}).get("name") == name]

    def assert_quiet(self, intervals: int = 5) -> None:
        """No write request from the operator over several reconcile intervals."""
        since = self.mark()
        time.sleep(intervals * self.interval)
        assert self.writes(since) == [], f"an idle run made writes: {self.writes(since)}"

    def settle(self, intervals: int = 3, timeout: float = WAIT_TIMEOUT) -> None:
        """Wait until the operator has sent no write for ``intervals`` reconcile intervals (its status
        patches and Events have landed); a run that never goes quiet fails here."""
        deadline = time.monotonic() + timeout
        while True:
            since = self.mark()
            time.sleep(intervals * self.interval)
            if not self.writes(since):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the operator kept writing: {self.writes(since)}")


@contextlib.contextmanager
def cluster_with_operator(tmp_path: Path, monkeypatch: Any, interval: float = 0.1,
                          start: bool = True) -> Iterator[Cluster]:
    """The emulator, the teacher stub, a kubeconfig in KUBECONFIG, the operator's settings; the operator."""
    with ApiServerThread() as server, TeacherStub() as teacher:
        kubeconfig = str(write_kubeconfig(tmp_path / "kubeconfig", server.url))
        monkeypatch.setenv("KUBECONFIG", kubeconfig)
        # The kubernetes client reads KUBECONFIG once, when imported; the operator's load_kube_config()
        # replaces the client's process-wide default configuration, restored after the test.
        monkeypatch.setattr(kubernetes.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", kubeconfig)
        monkeypatch.setattr(kubernetes.client.Configuration, "_default", kubernetes.client.Configuration._default)
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        monkeypatch.setattr(operator_handlers, "SETTINGS", Settings(
            reconcile_interval=interval, metrics_port=0, endpoint_url_template=teacher.url_template, probe_timeout=2))
        cluster = Cluster(server=server, teacher=teacher, registry=operator_registry(interval), interval=interval)
        try:
            if start:
                cluster.start_operator()
            yield cluster
        finally:
            cluster.stop_operator()
