"""Folding the programs' progress reports into the RaftRun status.

The reports are untrusted input (a job can write anything into its progress ConfigMap), so
each is read through its typed definition (:mod:`raft_api.progress`): an unreadable report is
ignored and a field of the wrong type is dropped, never fatal, and what reaches status is
bounded by the definition. Which stage writes which key, and where its report lands in status,
is the stage table's (:mod:`raft_operator.stages`).
"""

from __future__ import annotations

from typing import Any

from raft_api.progress import NOT_IN_STATUS, parse_report

from .run import Run
from .stages import PROGRESS_KEYS, STAGES

__all__ = ["NOT_IN_STATUS", "STATUS_TARGETS", "fold", "read_reports"]


def _status_targets() -> dict[tuple[str, str | None], tuple[str, ...]]:
    targets: dict[tuple[str, str | None], tuple[str, ...]] = {}
    for stage in STAGES:
        if stage.progress_key is None or stage.status_path is None:
            continue
        if not stage.report_parts:
            targets[(stage.progress_key, None)] = (stage.status_path,)
        for part, key in stage.report_parts:
            targets[(stage.progress_key, part)] = (stage.status_path, key)
    return targets


# Where each report's fields land in status: (report key, field or None for the whole report) → status path.
STATUS_TARGETS = _status_targets()


def read_reports(data: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The typed reports in a progress ConfigMap's ``data``, by stage key."""
    out: dict[str, dict[str, Any]] = {}
    for key in PROGRESS_KEYS:
        report = parse_report(key, (data or {}).get(key))
        if report:
            out[key] = report
    return out


def fold(status: dict[str, Any], reports: dict[str, dict[str, Any]], run: Run) -> None:
    """Fold each stage's report into ``status`` (datagen, training, results, score), in stage order."""
    for stage in STAGES:
        report = reports.get(stage.progress_key) if stage.progress_key else None
        if report:
            stage.fold(status, report, run)
