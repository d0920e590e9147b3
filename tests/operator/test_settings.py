"""Operator settings reach Kopf and the API client."""

from __future__ import annotations

import kopf
import pytest
from kubernetes import client as kube_client

from raft_operator import handlers, metrics
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
    finally:
        kube_client.Configuration.set_default(before)
