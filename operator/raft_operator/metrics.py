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
    """Remember the phase of run ``uid`` (None when it is gone) and refresh the gauge."""
    with _lock:
        if phase is None:
            _phases.pop(uid, None)
        else:
            _phases[uid] = phase
        counts: dict[str, int] = {}
        for p in _phases.values():
            counts[p] = counts.get(p, 0) + 1
        for p in set(counts) | {labels[0] for labels in _known_labels()}:
            RUNS_BY_PHASE.labels(p).set(counts.get(p, 0))


def _known_labels() -> list[tuple[str, ...]]:
    return [tuple(s.labels.values()) for m in RUNS_BY_PHASE.collect() for s in m.samples]


def serve(port: int) -> None:
    """Start the metrics HTTP server (once)."""
    if port:
        start_http_server(port)
