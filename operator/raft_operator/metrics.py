"""Prometheus metrics of the operator, served on the metrics port."""

from __future__ import annotations

import threading

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RUNS_BY_PHASE = Gauge("raft_operator_runs", "RaftRuns by phase, as last reconciled.", ["phase"])
STAGE_DURATION = Histogram("raft_operator_stage_duration_seconds", "Wall time of finished stages.", ["stage"],
                           buckets=(60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200))
RECONCILE_ERRORS = Counter("raft_operator_reconcile_errors_total", "Reconciles that raised an error.")
RECONCILE_SECONDS = Histogram("raft_operator_reconcile_seconds", "Time of one reconcile, API calls included.")
API_WRITES = Counter("raft_operator_api_writes_total", "Writes the operator sent to the API server.", ["verb", "kind"])

_phases: dict[str, str] = {}
_lock = threading.Lock()


def record_phase(uid: str, phase: str | None) -> None:
    """Remember the phase of run ``uid`` (None when it is gone) and move its count in the gauge.

    Called on every RaftRun event, so it does O(1) work: only the old and the new phase change.
    """
    with _lock:
        old = _phases.pop(uid, None) if phase is None else _phases.get(uid)
        if old == phase:
            return
        if phase is not None:
            _phases[uid] = phase
            RUNS_BY_PHASE.labels(phase).inc()
        if old is not None:
            RUNS_BY_PHASE.labels(old).dec()


def serve(port: int) -> None:
    """Start the metrics HTTP server (once)."""
    if port:
        start_http_server(port)
