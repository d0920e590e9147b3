"""Runs the SIMULATED controllers in one process: a watch cache per kind (:mod:`.cache`), one
deduplicating delay queue, worker threads (one by default, like KubeRay's and the training
operator's default concurrency; more for large benchmarks), level-triggered reconciles driven by
the watches (an object's own changes and its pods' changes, as the real controllers watch the pods
they own) and timed requeues; and the command line ``python -m raft_sim.controllers``."""

from __future__ import annotations

import argparse
import heapq
import logging
import signal
import threading
import time
from typing import Iterator

from kubernetes import config as kube_config
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from .base import Controller, Obj, SimApi, SimSettings, meta
from .cache import WatchCache
from .evaljob import EvalJobController
from .leaderworkerset import LeaderWorkerSetController
from .pytorchjob import PyTorchJobController
from .rayjob import RayJobController
from .trainjob import TrainJobController
from .volumes import ClaimProvisioner, VolumeReclaimer

log = logging.getLogger(__name__)

# Every simulated controller; the optional ones run only where the cluster serves their kind.
CONTROLLERS: tuple[type[Controller], ...] = (
    RayJobController, PyTorchJobController, EvalJobController, ClaimProvisioner, VolumeReclaimer,
    TrainJobController, LeaderWorkerSetController,
)

Key = tuple[str, str, str]  # (kind, namespace, name)


class DelayQueue:
    """A deduplicating queue of keys, each due at a time; ``get`` blocks until one is due.

    A key handed out by ``get`` is not handed out again until ``done`` (so two workers never
    reconcile one object at once); adding it meanwhile schedules it for after ``done``.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Key]] = []
        self._due: dict[Key, float] = {}
        self._busy: set[Key] = set()
        self._after_busy: dict[Key, float] = {}
        self._seq = 0
        self._cv = threading.Condition()

    def add(self, key: Key, delay: float = 0.0) -> None:
        """Schedule ``key`` in ``delay`` seconds unless it is already due sooner."""
        due = time.monotonic() + max(delay, 0.0)
        with self._cv:
            if key in self._busy:
                self._after_busy[key] = min(due, self._after_busy.get(key, due))
                return
            self._push(key, due)

    def done(self, key: Key) -> None:
        """A worker finished ``key``: it may be handed out again (when it was added meanwhile)."""
        with self._cv:
            self._busy.discard(key)
            if key in self._after_busy:
                self._push(key, self._after_busy.pop(key))

    def _push(self, key: Key, due: float) -> None:
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
                        self._busy.add(key)
                        return key
                else:
                    wait = 0.5
                self._cv.wait(min(wait, 0.5))
        return None


class ControllerManager:
    """Every simulated controller the cluster serves a kind for, on one queue and one worker thread."""

    def __init__(self, api_client: ApiClient, settings: SimSettings, workers: int = 1,
                 skip: frozenset[str] = frozenset()) -> None:
        self.dyn = DynamicClient(api_client)
        self.settings = settings
        self.workers = workers
        self.queue = DelayQueue()
        self.stop = threading.Event()
        self.api = api = SimApi(self.dyn, settings)
        self.controllers: dict[str, Controller] = {}
        self.caches: dict[str, WatchCache] = {}
        for controller in CONTROLLERS:
            if controller.kind in skip:
                log.info("%s: the real controller runs; no simulation", controller.kind)
                continue
            try:
                resource = api.resource(controller.api_version, controller.kind)
            except ResourceNotFoundError:
                if controller.optional:
                    continue
                raise
            self.controllers[controller.kind] = controller(api, resource)
            self.caches[controller.kind] = WatchCache(
                self.dyn, resource, label_selector=controller.label_selector,
                on_event=lambda obj, kind=controller.kind: self._queue(kind, obj))
            if controller.optional:
                log.info("SIMULATED %s controller attached", controller.kind)

    def run(self) -> None:
        """Start the watches and process the queue until :attr:`stop` is set."""
        for cache in self.caches.values():
            cache.start(self.stop)
        self.api.start_caches(self.stop, on_pod_event=self._queue_owners)
        log.info("SIMULATED controllers running (duration %.1fs, %d workers)", self.settings.duration, self.workers)
        workers = [threading.Thread(target=self._work, name=f"worker-{i}", daemon=True) for i in range(self.workers - 1)]
        for worker in workers:
            worker.start()
        self._work()
        for worker in workers:
            worker.join()

    def _work(self) -> None:
        while (key := self.queue.get(self.stop)) is not None:
            kind, namespace, name = key
            try:
                requeue = self.controllers[kind].reconcile(namespace, name)
            except ApiException as exc:
                log.warning("%s %s/%s: API error %s %s", kind, namespace, name, exc.status, exc.reason)
                requeue = 1.0
            except Exception:  # noqa: BLE001 - a bad object must not stop the simulation
                log.exception("%s %s/%s: reconcile failed", kind, namespace, name)
                requeue = 2.0
            self.queue.done(key)
            if requeue is not None:
                self.queue.add(key, requeue)

    def _queue(self, kind: str, obj: Obj) -> None:
        self.queue.add((kind, meta(obj).get("namespace", ""), meta(obj)["name"]))

    def _queue_owners(self, pod: Obj) -> None:
        """A pod changed: queue the objects of our kinds that own it (those our watches follow)."""
        namespace = meta(pod).get("namespace", "")
        for ref in meta(pod).get("ownerReferences") or []:
            cache = self.caches.get(ref.get("kind", ""))
            if cache is not None and cache.get(namespace, ref.get("name", "")) is not None:
                self.queue.add((ref["kind"], namespace, ref["name"]))


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m raft_sim.controllers``."""
    parser = argparse.ArgumentParser(prog="python -m raft_sim.controllers",
                                     description="SIMULATED KubeRay / training-operator controllers (tests, demo)")
    parser.add_argument("--kubeconfig", help="kubeconfig path (default: in-cluster or ~/.kube/config)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds each stage runs (default 3)")
    parser.add_argument("--progress-interval", type=float, default=1.0, help="seconds between progress reports")
    parser.add_argument("--no-pods", action="store_true", help="only move status; create no pods")
    parser.add_argument("--pv-root", default=SimSettings.pv_root, help="hostPath prefix of simulated volumes")
    parser.add_argument("--real-workloads", action="store_true",
                        help="pods really run (the real node, hack/cluster/node.sh): follow the workloads, simulate nothing")
    parser.add_argument("--workers", type=int, default=1,
                        help="objects reconciled at once (default 1, as the real controllers' default)")
    parser.add_argument("--skip", default="", help="comma-separated kinds whose real controllers run")
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
    skip = frozenset(kind for kind in args.skip.split(",") if kind)
    manager = _connect(client, settings, workers=args.workers, skip=skip)
    signal.signal(signal.SIGTERM, lambda *_: manager.stop.set())
    signal.signal(signal.SIGINT, lambda *_: manager.stop.set())
    manager.run()
    log.info("SIMULATED controllers stopped")
    return 0


def _connect(client: ApiClient, settings: SimSettings, attempts: int = 60, workers: int = 1,
             skip: frozenset[str] = frozenset()) -> ControllerManager:
    """Build the manager, waiting for the API server and the simulated CRDs to be served."""
    for attempt in _retries(attempts):
        try:
            return ControllerManager(client, settings, workers, skip)
        except (ResourceNotFoundError, ApiException, OSError) as exc:
            if attempt == attempts - 1:
                raise
            log.info("waiting for the API server / simulated CRDs: %s", exc)
    raise RuntimeError("unreachable")


def _retries(n: int) -> Iterator[int]:
    for i in range(n):
        yield i
        time.sleep(1.0)
