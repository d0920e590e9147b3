"""Operator settings reach Kopf and the API client."""

from __future__ import annotations

import inspect

import kopf
import pytest
from kubernetes import client as kube_client

from raft_operator import api, child_kinds, handlers, metrics
from raft_operator.settings import Settings


def test_reconcile_workers_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAFT_RECONCILE_WORKERS", "48")
    assert Settings.from_env().reconcile_workers == 48
    monkeypatch.delenv("RAFT_RECONCILE_WORKERS")
    assert Settings.from_env().reconcile_workers == 32


def test_startup_sizes_kopfs_thread_pool_and_the_connection_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    # Kopf's default pool (CPUs + 4 threads) let a few slow first passes hold up a thousand runs.
    monkeypatch.setattr(handlers, "SETTINGS", Settings(reconcile_workers=40))
    monkeypatch.setattr(handlers.kube_config, "load_incluster_config", lambda: None)
    monkeypatch.setattr(metrics, "serve", lambda port: None)
    before = kube_client.Configuration.get_default_copy()
    try:
        settings = kopf.OperatorSettings()
        handlers.configure(settings=settings, memo=kopf.Memo())
        assert settings.execution.max_workers == 40
        assert kube_client.Configuration.get_default_copy().connection_pool_maxsize == 40
        assert settings.watching.label_selectors, "children are selected on the server"
        # Kopf logs each retry of a throttled request; posted as Events they would add writes.
        assert settings.posting.loggers is False
    finally:
        kube_client.Configuration.set_default(before)


def _resource(api_version: str, plural: str) -> kopf.Resource:
    group, _, version = api_version.rpartition("/")
    return kopf.Resource(group=group, version=version, plural=plural)


def test_the_api_server_streams_only_the_operators_children() -> None:
    # Kopf's labels= filter runs on the client: without a server-side selector every Pod and
    # ConfigMap of the cluster reaches the operator, and Kopf keeps a worker and memory for each.
    settings = kopf.OperatorSettings()
    handlers.select_children_on_the_server(settings)
    for kind in child_kinds.INDEXED:
        (selector,) = settings.watching.label_selectors.collect(_resource(kind.api_version, kind.plural))
        assert selector == handlers.CHILD_SELECTOR
    assert not settings.watching.label_selectors.collect(_resource(f"{api.GROUP}/{api.VERSION}", api.PLURAL))
    assert not settings.watching.label_selectors.collect(_resource(child_kinds.WORKLOAD.api_version,
                                                                    child_kinds.WORKLOAD.plural)), \
        "Kueue Workloads carry no run labels"
    # The selector is the index's own filter, as the API server reads it.
    required = dict(term.partition("=")[::2] for term in handlers.CHILD_SELECTOR.split(","))
    assert required == {k: ("" if v is kopf.PRESENT else v) for k, v in handlers.MANAGED.items()}


def test_only_the_reconcile_pass_runs_in_kopfs_thread_pool() -> None:
    # Kopf runs a sync handler in its thread pool. Were the indexers sync, each child event would
    # wait there (body and all) behind the reconcile passes: with 300 runs applied at once that
    # queue raised the operator's peak RSS and delayed every run's view of its children.
    registry = kopf.get_default_registry()
    per_event = [*registry._indexing.get_all_handlers(), *registry._watching.get_all_handlers()]
    assert {h.id for h in per_event} >= {f"{handlers.INDEX_PREFIX}{k.index}" for k in child_kinds.INDEXED}
    assert all(inspect.iscoroutinefunction(h.fn) for h in per_event), \
        [h.id for h in per_event if not inspect.iscoroutinefunction(h.fn)]
    assert [h.id for h in registry._spawning.get_all_handlers()] == ["reconcile_run"]
