"""From per-answer records to per-model, per-mode results, improvements and the summary."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from raft_api.progress import EvalReport, EvalResult
from . import metrics, stats
from .judge import ERROR, NO, RUBRIC_CRITERIA, UNPARSEABLE, YES
from .records import AnswerRecord, Mode

# Below this share of readable verdicts (YES or NO) a model's judge score is not reported: a
# score built from the few verdicts left would say more about the judge than about the model.
JUDGE_COVERAGE_THRESHOLD = 0.9


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def cluster_of(record: AnswerRecord) -> str:
    """The bootstrap unit of ``record``: its source chunk, or the question itself when unknown."""
    return record.cluster or f"question:{record.question_id}"


def judge_withheld_reason(parseable: int, total: int, threshold: float = JUDGE_COVERAGE_THRESHOLD) -> str | None:
    """Why there is no judge score for ``total`` answers with ``parseable`` readable verdicts, or None."""
    if total == 0:
        return "no answers were judged"
    if parseable / total < threshold:
        return (
            f"only {parseable} of {total} judge verdicts ({100 * parseable / total:.1f}%) could be read as "
            f"YES or NO, below the {100 * threshold:.0f}% coverage threshold"
        )
    return None


def summarize_group(records: Sequence[AnswerRecord], *, seed: int = 0) -> dict[str, Any]:
    """The results row of one model in one mode.

    ``judgeScore`` is YES over every answer: an unparseable verdict or a failed judge request
    counts as not correct, never dropped. It is withheld (``None``, with ``judgeWithheld``
    saying why) when fewer than :data:`JUDGE_COVERAGE_THRESHOLD` of the verdicts were
    readable (``judgeCoverage``). ``judgeCI`` is a seeded bootstrap 95% interval that
    resamples source chunks. ``precision`` is the share judged correct among the answers that
    are not refusals (:func:`metrics.precision_score`). ``formatFollowed`` is the share of
    replies that ended in the ``<ANSWER>:`` line.
    """
    first = records[0]
    total = len(records)
    yes = sum(r.verdict == YES for r in records)
    no = sum(r.verdict == NO for r in records)
    unparseable = sum(r.verdict == UNPARSEABLE for r in records)
    judge_errors = sum(r.verdict == ERROR for r in records)
    withheld = judge_withheld_reason(yes + no, total)
    correct = [1.0 if r.verdict == YES else 0.0 for r in records]
    judge_score = yes / total if withheld is None else None
    ci = stats.cluster_bootstrap_ci(correct, [cluster_of(r) for r in records], seed=seed) if withheld is None else None
    refusals = sum(r.refusal for r in records)
    answered = [r for r in records if not r.refusal]
    row: dict[str, Any] = {
        "model": first.model,
        "role": first.role,
        "mode": first.mode,
        "topK": first.top_k,
        "total": total,
        "formatFollowed": sum(r.follows_format for r in records) / total,
        "judgeScore": judge_score,
        "judgeCI": list(ci) if ci else None,
        "judgeCoverage": (yes + no) / total,
        "judgeYes": yes,
        "judgeNo": no,
        "judgeUnparseable": unparseable,
        "judgeErrors": judge_errors,
        "judgeExactMatchAgreement": judge_agreement(records)["agreement"],
        "errors": sum(bool(r.error) for r in records),
        "exactMatch": _mean(r.exact_match for r in records),
        "f1": _mean(r.f1 for r in records),
        "rouge1": _mean(r.rouge1 for r in records),
        "rouge2": _mean(r.rouge2 for r in records),
        "rougeL": _mean(r.rougeL for r in records),
        "bleu": metrics.corpus_bleu([r.answer for r in records], [r.reference for r in records]),
        "refusals": refusals,
        "refusalRate": refusals / total,
        "precision": metrics.precision_score(sum(r.verdict == YES for r in answered), len(answered))
        if withheld is None
        else None,
        "meanLatencySeconds": _mean(r.latency_s for r in records),
    }
    if withheld is not None:
        row["judgeWithheld"] = withheld
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


def judge_agreement(records: Sequence[AnswerRecord]) -> dict[str, Any]:
    """How often the judge agrees with exact match, over answers with a readable verdict.

    ``agreement`` is the share where (judge YES) equals (exact match); the four counts show
    where they part: ``judgeYesEmNo`` is usually a paraphrase the judge rightly accepts,
    ``judgeNoEmYes`` a judge mistake.
    """
    both = [r for r in records if r.verdict in (YES, NO)]
    counts = {
        "judgeYesEmYes": sum(r.verdict == YES and r.exact_match == 1.0 for r in both),
        "judgeYesEmNo": sum(r.verdict == YES and r.exact_match != 1.0 for r in both),
        "judgeNoEmYes": sum(r.verdict == NO and r.exact_match == 1.0 for r in both),
        "judgeNoEmNo": sum(r.verdict == NO and r.exact_match != 1.0 for r in both),
    }
    agree = counts["judgeYesEmYes"] + counts["judgeNoEmNo"]
    return {"answers": len(both), "agreement": agree / len(both) if both else None, **counts}


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


def build_comparisons(
    records: Sequence[AnswerRecord], results: Sequence[dict[str, Any]], primary: Mode, *, seed: int = 0
) -> list[dict[str, Any]]:
    """Each student against each baseline in the ``primary`` mode, question by question.

    ``metric`` ``judge`` compares correct (YES) against not correct, and is present only when
    both rows have a judge score (coverage met); ``f1`` is always compared. See
    :func:`stats.paired_comparison` for the difference, its interval and the p-value.
    """
    rows = {(r["model"], r["mode"], r["topK"]): r for r in results}
    by_model: dict[str, dict[str, AnswerRecord]] = defaultdict(dict)
    for record in records:
        if record.mode_obj == primary:
            by_model[record.model][record.question_id] = record
    roles = {r["model"]: r["role"] for r in results}
    out = []
    for student in (m for m in by_model if roles.get(m) == "student"):
        for baseline in (m for m in by_model if roles.get(m) != "student"):
            shared = [q for q in by_model[student] if q in by_model[baseline]]
            pairs = [(by_model[student][q], by_model[baseline][q]) for q in shared]
            clusters = [cluster_of(s) for s, _ in pairs]
            judged = all(
                rows[(m, primary.name, primary.top_k)]["judgeScore"] is not None for m in (student, baseline)
            )
            metrics_to_compare = {"f1": lambda r: r.f1}
            if judged:
                metrics_to_compare = {"judge": lambda r: 1.0 if r.verdict == YES else 0.0, **metrics_to_compare}
            for name, value in metrics_to_compare.items():
                result = stats.paired_comparison(
                    [value(s) for s, _ in pairs], [value(b) for _, b in pairs], clusters, seed=seed
                )
                out.append({"student": student, "baseline": baseline, "metric": name, **result})
    return out


def build_summary(
    results: Sequence[dict[str, Any]],
    improvements: Sequence[dict[str, Any]],
    comparisons: Sequence[dict[str, Any]],
    primary: Mode,
    *,
    judge_is_teacher: bool = False,
) -> dict[str, Any]:
    """The headline: the student in the ``primary`` mode, declared before any result is seen.

    Never the best mode picked on the eval set: every mode stays in ``results``. Without a
    student the first model is reported. ``improvement`` maps each baseline to the relative
    judge-score improvement in that mode; ``comparisons`` hold the paired differences.
    """
    in_mode = [r for r in results if r["mode"] == primary.name and r["topK"] == primary.top_k]
    candidates = [r for r in in_mode if r["role"] == "student"] or in_mode
    head: dict[str, Any] = {"mode": primary.name, "topK": primary.top_k, "judgeIsTeacher": judge_is_teacher}
    if not candidates:
        return {**head, "model": None, "judgeScore": None, "improvement": {}, "comparisons": []}
    row = candidates[0]
    head.update(
        model=row["model"],
        judgeScore=row["judgeScore"],
        judgeCI=row["judgeCI"],
        judgeCoverage=row["judgeCoverage"],
        formatFollowed=row["formatFollowed"],
    )
    if row.get("judgeWithheld"):
        head["judgeWithheld"] = row["judgeWithheld"]
    head["improvement"] = {
        i["baseline"]: i["relative"]
        for i in improvements
        if i["student"] == row["model"] and i["mode"] == primary.name and i["topK"] == primary.top_k
    }
    head["comparisons"] = [c for c in comparisons if c["student"] == row["model"]]
    return head


PROGRESS_FIELDS = tuple(EvalResult.__annotations__)


SUMMARY_FIELDS = ("model", "mode", "topK", "judgeScore", "judgeCoverage", "judgeWithheld", "judgeIsTeacher", "formatFollowed")


def progress_payload(results: Sequence[dict[str, Any]], summary: dict[str, Any]) -> EvalReport:
    """The compact ``eval`` progress object (docs/architecture.md, "Progress channel").

    Fields without a value (``topK`` without RAG, an undefined precision or improvement, a
    withheld judge score) are left out rather than sent as null: the RaftRun status schema
    types them as numbers. ``summary.judgeWithheld`` says why a judge score is missing.
    """

    def compact(values: dict[str, Any]) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in values.items() if v is not None}

    rows = [compact({k: row.get(k) for k in PROGRESS_FIELDS}) for row in results]
    head = compact({k: summary.get(k) for k in SUMMARY_FIELDS})
    comparisons = [
        compact(
            {
                "baseline": c["baseline"],
                "metric": c["metric"],
                "difference": c["difference"],
                "ciLow": (c["ci"] or [None, None])[0],
                "ciHigh": (c["ci"] or [None, None])[1],
                "pValue": c["pValue"],
            }
        )
        for c in summary.get("comparisons") or []
    ]
    return {
        "results": rows,
        "summary": {**head, "improvement": compact(summary.get("improvement") or {}), "comparisons": comparisons},
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
