"""From per-answer records to per-model, per-mode results, improvements and the summary."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from ..common.progress_schema import EvalReport, EvalResult
from . import metrics
from .judge import ERROR, NO, RUBRIC_CRITERIA, UNPARSEABLE, YES
from .records import AnswerRecord, Mode


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def summarize_group(records: Sequence[AnswerRecord], *, seed: int = 0) -> dict[str, Any]:
    """The results row of one model in one mode.

    ``judgeScore`` is the share of YES among the parseable verdicts (unparseable ones are
    counted in ``judgeUnparseable`` and left out rather than guessed); ``judgeCI`` is its
    seeded bootstrap 95% interval. ``refusals`` is a count out of ``total``; ``precision``
    follows :func:`metrics.precision_score` and is ``None`` when every answer was a refusal.
    """
    first = records[0]
    total = len(records)
    yes = sum(r.verdict == YES for r in records)
    no = sum(r.verdict == NO for r in records)
    unparseable = sum(r.verdict == UNPARSEABLE for r in records)
    judge_errors = sum(r.verdict == ERROR for r in records)
    judged = [1.0 if r.verdict == YES else 0.0 for r in records if r.verdict in (YES, NO)]
    judge_score = yes / (yes + no) if yes + no else None
    ci = metrics.bootstrap_ci(judged, seed=seed)
    refusals = sum(r.refusal for r in records)
    row: dict[str, Any] = {
        "model": first.model,
        "role": first.role,
        "mode": first.mode,
        "topK": first.top_k,
        "total": total,
        "judgeScore": judge_score,
        "judgeCI": list(ci) if ci else None,
        "judgeYes": yes,
        "judgeNo": no,
        "judgeUnparseable": unparseable,
        "judgeErrors": judge_errors,
        "errors": sum(bool(r.error) for r in records),
        "exactMatch": _mean(r.exact_match for r in records),
        "f1": _mean(r.f1 for r in records),
        "rouge1": _mean(r.rouge1 for r in records),
        "rouge2": _mean(r.rouge2 for r in records),
        "rougeL": _mean(r.rougeL for r in records),
        "bleu": metrics.corpus_bleu([r.answer for r in records], [r.reference for r in records]),
        "refusals": refusals,
        "refusalRate": refusals / total,
        "precision": metrics.precision_score(judge_score, refusals, total),
        "meanLatencySeconds": _mean(r.latency_s for r in records),
    }
    with_oracle = [r.oracle_retrieved for r in records if r.oracle_retrieved is not None]
    if with_oracle:
        row["retrievalRecall"] = _mean(float(hit) for hit in with_oracle)
    if any(r.rubric for r in records):
        rubric = {}
        for name in RUBRIC_CRITERIA:
            scores = [r.rubric.get(name) for r in records if r.rubric.get(name) is not None]
            rubric[name] = statistics.fmean(scores) if scores else None
        row["rubric"] = rubric
    return row


def group_records(records: Iterable[AnswerRecord]) -> dict[tuple[str, Mode], list[AnswerRecord]]:
    """Records keyed by (model, mode), in insertion order of the first record of each key."""
    groups: dict[tuple[str, Mode], list[AnswerRecord]] = defaultdict(list)
    for record in records:
        groups[(record.model, record.mode_obj)].append(record)
    return groups


def build_results(
    records: Sequence[AnswerRecord], model_order: Sequence[str], *, seed: int = 0
) -> list[dict[str, Any]]:
    """One row per (model, mode): models in configured order, modes no-RAG then by k."""
    groups = group_records(records)
    rank = {name: i for i, name in enumerate(model_order)}
    keys = sorted(groups, key=lambda key: (rank.get(key[0], len(rank)), key[1].sort_key()))
    return [summarize_group(groups[key], seed=seed) for key in keys]


def build_improvements(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each student's relative improvement over each baseline, mode by mode.

    ``relative`` is ``(student - baseline) / baseline`` of the judge score (``None`` when the
    baseline scored 0); F1 and ROUGE-L are compared the same way for context.
    """
    by_mode: dict[tuple[str, int | None], list[dict[str, Any]]] = defaultdict(list)
    for row in results:
        by_mode[(row["mode"], row["topK"])].append(row)
    improvements = []
    for (mode, top_k), rows in by_mode.items():
        for student in (r for r in rows if r["role"] == "student"):
            for baseline in (r for r in rows if r["role"] != "student"):
                improvements.append(
                    {
                        "student": student["model"],
                        "baseline": baseline["model"],
                        "mode": mode,
                        "topK": top_k,
                        "studentJudgeScore": student["judgeScore"],
                        "baselineJudgeScore": baseline["judgeScore"],
                        "relative": metrics.relative_improvement(
                            student["judgeScore"], baseline["judgeScore"]
                        ),
                        "relativeF1": metrics.relative_improvement(student["f1"], baseline["f1"]),
                        "relativeRougeL": metrics.relative_improvement(student["rougeL"], baseline["rougeL"]),
                    }
                )
    return improvements


def build_summary(
    results: Sequence[dict[str, Any]], improvements: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """The headline: the student's best mode by judge score and its improvement there.

    ``improvement`` maps each baseline to the student's relative judge-score improvement over
    it in that same mode. Without a student the best model overall is reported.
    """
    candidates = [r for r in results if r["role"] == "student"] or list(results)
    scored = [r for r in candidates if r["judgeScore"] is not None]
    if not scored:
        return {
            "model": candidates[0]["model"] if candidates else None,
            "judgeScore": None,
            "improvement": {},
        }
    best = max(scored, key=lambda r: (r["judgeScore"], -(r["topK"] or 0)))
    improvement = {
        i["baseline"]: i["relative"]
        for i in improvements
        if i["student"] == best["model"] and i["mode"] == best["mode"] and i["topK"] == best["topK"]
    }
    return {
        "model": best["model"],
        "mode": best["mode"],
        "topK": best["topK"],
        "judgeScore": best["judgeScore"],
        "judgeCI": best["judgeCI"],
        "improvement": improvement,
    }


PROGRESS_FIELDS = tuple(EvalResult.__annotations__)


def progress_payload(results: Sequence[dict[str, Any]], summary: dict[str, Any]) -> EvalReport:
    """The compact ``eval`` progress object (docs/architecture.md, "Progress channel").

    Fields without a value (``topK`` without RAG, an undefined precision or improvement) are
    left out rather than sent as null: the RaftRun status schema types them as numbers.
    """

    def compact(values: dict[str, Any]) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in values.items() if v is not None}

    rows = [compact({k: row.get(k) for k in PROGRESS_FIELDS}) for row in results]
    head = {"model": summary.get("model"), "judgeScore": summary.get("judgeScore")}
    return {
        "results": rows,
        "summary": {**compact(head), "improvement": compact(summary.get("improvement") or {})},
    }


def disagreements(records: Sequence[AnswerRecord]) -> list[dict[str, Any]]:
    """Questions where one model was judged right and another wrong, in the same mode.

    Modes come no-RAG first then by k; questions keep the eval file's order. Every model's
    answer is listed. Unparseable verdicts alone do not make a disagreement.
    """
    by_question: dict[tuple[Mode, str], list[AnswerRecord]] = defaultdict(list)
    for record in records:
        by_question[(record.mode_obj, record.question_id)].append(record)
    out = []
    for _, group in sorted(by_question.items(), key=lambda kv: kv[0][0].sort_key()):
        verdicts = {r.verdict for r in group}
        if YES in verdicts and NO in verdicts:
            first = group[0]
            out.append(
                {
                    "questionId": first.question_id,
                    "question": first.question,
                    "reference": first.reference,
                    "mode": first.mode,
                    "topK": first.top_k,
                    "answers": [
                        {"model": r.model, "answer": r.answer, "verdict": r.verdict, "refusal": r.refusal}
                        for r in group
                    ],
                }
            )
    return out
