"""Folding the programs' progress reports into the RaftRun status.

The reports are untrusted input (a job can write anything into its progress ConfigMap), so
each is read through its typed definition (:mod:`raft_api.progress`): an
unreadable report is ignored and a field of the wrong type is dropped, never fatal, and what
reaches status is bounded by the definition.
"""

from __future__ import annotations

from typing import Any

from raft_api.progress import STAGE_KEYS, parse_report

# Where each report's fields land in status: (report key, field or None for the whole report) → status path.
STATUS_TARGETS: dict[tuple[str, str | None], tuple[str, ...]] = {
    ("datagen", None): ("datagen",),
    ("finetune", None): ("training",),
    ("eval", "results"): ("results", "models"),
    ("eval", "summary"): ("results", "summary"),
}
NOT_IN_STATUS = frozenset({"updatedAt", "phase", "answersDone", "answersTotal"})  # shown in status.progress only


def read_reports(data: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The typed reports in a progress ConfigMap's ``data``, by stage key."""
    out: dict[str, dict[str, Any]] = {}
    for key in STAGE_KEYS:
        report = parse_report(key, (data or {}).get(key))
        if report:
            out[key] = report
    return out


def fold(status: dict[str, Any], reports: dict[str, dict[str, Any]], report_path: str) -> None:
    """Copy the reports' fields into ``status`` (datagen, training, results, score)."""
    for (key, part), (target, *_) in STATUS_TARGETS.items():
        if part is None and reports.get(key):
            status[target] = {k: v for k, v in reports[key].items() if k not in NOT_IN_STATUS}
    ev = reports.get("eval", {})
    rows, summary = ev.get("results") or [], ev.get("summary") or {}
    if rows:
        status["results"] = {"models": rows, "summary": {"improvement": {}, **summary}, "reportPath": report_path}
    if "judgeWithheld" in summary:
        status["score"] = f"no judge score: {summary['judgeWithheld']}"[:256]
    elif "judgeScore" in summary:
        score = f"judge {summary['judgeScore']:.2f}"
        if "base" in summary.get("improvement", {}):
            score += f" ({summary['improvement']['base']:+.0%} vs base)"
        status["score"] = score
