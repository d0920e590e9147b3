"""Local copies of watched objects for the SIMULATED controllers, like the informer caches the
real controllers (KubeRay, the training operator) read from.

A :class:`WatchCache` lists one kind once, then follows a watch from the last resourceVersion it
saw; it lists again only when the API server says that version is too old (410 Gone) or the
connection breaks. Reads are local, so a controller's step costs the API server only its writes
and the one GET of the object it reconciles. An optional index maps each object to keys (a pod
to the uids of its owners), and ``on_event`` hears every change (to queue the objects it
concerns). The copy can lag a write by a moment; every reader tolerates that (a pod created twice
gets 409, a pod finished twice is patched twice to the same end state).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace, name)
WATCH_SECONDS = 300  # how long one watch request stays open before it is resumed


def owner_uids(obj: Obj) -> list[str]:
    """The uids of the object's owners (the index a controller's "pods of this job" reads)."""
    return [ref["uid"] for ref in (obj.get("metadata") or {}).get("ownerReferences") or [] if ref.get("uid")]


class WatchCache:
    """One kind's objects (optionally filtered by a label selector), kept current by list + watch."""

    def __init__(self, dyn: DynamicClient, resource: Any, *, label_selector: str | None = None,
                 index: Callable[[Obj], list[str]] | None = None,
                 on_event: Callable[[Obj], None] | None = None, watch_seconds: int = WATCH_SECONDS) -> None:
        self.dyn = dyn
        self.watch_seconds = watch_seconds
        self.resource = resource
        self.label_selector = label_selector
        self._index_of = index
        self._on_event = on_event
        self._objects: dict[Key, Obj] = {}
        self._index: dict[str, set[Key]] = {}
        self._lock = threading.Lock()
        self.synced = threading.Event()
        self.relists = 0  # how often the kind was listed (1 unless a watch broke)

    def start(self, stop: threading.Event) -> threading.Thread:
        """Follow the kind in a daemon thread until ``stop`` is set."""
        thread = threading.Thread(target=self._run, args=(stop,), name=f"watch-{self.resource.kind}", daemon=True)
        thread.start()
        return thread

    # ------------------------------------------------------------------ reads

    def get(self, namespace: str, name: str) -> Obj | None:
        """The cached object, or None when the cache has not seen it."""
        with self._lock:
            return self._objects.get((namespace or "", name))

    def indexed(self, value: str) -> list[Obj]:
        """The cached objects whose index contains ``value`` (e.g. the pods an owner uid owns)."""
        with self._lock:
            return [self._objects[key] for key in self._index.get(value, ()) if key in self._objects]

    def __len__(self) -> int:
        with self._lock:
            return len(self._objects)

    # ------------------------------------------------------------------ the watch

    def _run(self, stop: threading.Event) -> None:
        version: str | None = None
        while not stop.is_set():
            try:
                if version is None:
                    version = self._relist()
                version = self._follow(version, stop)
            except ApiException as exc:
                if exc.status == 410:
                    version = None  # too old: list again
                    continue
                log.debug("watch %s: %s", self.resource.kind, exc)
                time.sleep(1.0)
            except Exception as exc:  # noqa: BLE001 - keep following through API hiccups
                if not stop.is_set():
                    log.debug("watch %s restarting: %s", self.resource.kind, exc)
                    version = None
                    time.sleep(1.0)

    def _relist(self) -> str:
        listing = self.resource.get(label_selector=self.label_selector).to_dict()
        items = listing.get("items") or []
        with self._lock:
            self._objects.clear()
            self._index.clear()
            for item in items:
                item.setdefault("apiVersion", self.resource.group_version)
                item.setdefault("kind", self.resource.kind)
                self._store(item)
        self.relists += 1
        self.synced.set()
        for item in items:
            self._notify(item)
        return listing["metadata"]["resourceVersion"]

    def _follow(self, version: str, stop: threading.Event) -> str | None:
        """One watch request from ``version``; the version to resume from (None: list again)."""
        for event in self.dyn.watch(self.resource, label_selector=self.label_selector,
                                    resource_version=version, timeout=self.watch_seconds):
            raw = event["raw_object"]
            if event["type"] == "ERROR":
                return None if (raw or {}).get("code") == 410 else version
            version = (raw.get("metadata") or {}).get("resourceVersion") or version
            if event["type"] == "BOOKMARK":
                continue
            with self._lock:
                if event["type"] == "DELETED":
                    self._remove(raw)
                else:
                    self._store(raw)
            self._notify(raw)
            if stop.is_set():
                break
        return version

    def _notify(self, obj: Obj) -> None:
        if self._on_event is not None:
            self._on_event(obj)

    def _key(self, obj: Obj) -> Key:
        m = obj.get("metadata") or {}
        return (m.get("namespace") or "", m["name"])

    def _store(self, obj: Obj) -> None:
        key = self._key(obj)
        self._unindex(key)
        self._objects[key] = obj
        for value in self._index_of(obj) if self._index_of else ():
            self._index.setdefault(value, set()).add(key)

    def _remove(self, obj: Obj) -> None:
        key = self._key(obj)
        self._unindex(key)
        self._objects.pop(key, None)

    def _unindex(self, key: Key) -> None:
        old = self._objects.get(key)
        if old is None or self._index_of is None:
            return
        for value in self._index_of(old):
            keys = self._index.get(value)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._index[value]
