"""The SIMULATED controllers' watch cache against the real API server: one list, then a watch
resumed from the last resourceVersion (no relist when a watch request ends), an index of pods by
owner uid, deletions, and a callback per change."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from kubernetes.dynamic import DynamicClient

from raft_dev.cluster import LocalCluster
from raft_sim.controllers.cache import WatchCache, owner_uids

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # on the session's simulated cluster


def _configmap(namespace: str, name: str, owner: dict[str, Any] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": {"cache-test": "yes"}}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "ConfigMap", "name": owner["metadata"]["name"],
                                    "uid": owner["metadata"]["uid"]}]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": "v"}}


def _until(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the cache did not catch up"
        time.sleep(0.1)


def test_cache_lists_once_then_follows_changes(cluster: LocalCluster, namespace: str) -> None:
    dyn = DynamicClient(cluster.api_client())
    configmaps = dyn.resources.get(api_version="v1", kind="ConfigMap")
    owner = configmaps.create(body=_configmap(namespace, "owner"), namespace=namespace).to_dict()
    configmaps.create(body=_configmap(namespace, "before", owner), namespace=namespace)
    seen: list[str] = []
    stop = threading.Event()
    cache = WatchCache(dyn, configmaps, label_selector="cache-test=yes", index=owner_uids,
                       on_event=lambda obj: seen.append(obj["metadata"]["name"]), watch_seconds=2)
    cache.start(stop)
    try:
        _until(cache.synced.is_set)
        assert cache.get(namespace, "before") is not None
        assert [o["metadata"]["name"] for o in cache.indexed(owner["metadata"]["uid"])] == ["before"]
        time.sleep(4.5)  # two watch requests end on their timeout and are resumed
        configmaps.create(body=_configmap(namespace, "after", owner), namespace=namespace)
        _until(lambda: cache.get(namespace, "after") is not None)
        assert sorted(o["metadata"]["name"] for o in cache.indexed(owner["metadata"]["uid"])) == ["after", "before"]
        configmaps.delete(name="before", namespace=namespace)
        _until(lambda: cache.get(namespace, "before") is None)
        assert [o["metadata"]["name"] for o in cache.indexed(owner["metadata"]["uid"])] == ["after"]
        assert cache.relists == 1, "a watch that ended on its timeout must resume, not list again"
        assert {"owner", "before", "after"} <= set(seen)
        assert cache.get(namespace, "owner")["kind"] == "ConfigMap"  # listed items carry their kind
    finally:
        stop.set()
