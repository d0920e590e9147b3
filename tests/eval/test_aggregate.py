"""Aggregation: results rows, improvements, summary, the progress payload, disagreements."""

from __future__ import annotations

import pytest
from raft_jobs.eval import aggregate
from raft_jobs.eval.judge import NO, UNPARSEABLE, YES
from raft_jobs.eval.records import AnswerRecord


def _record(
    model: str,
    role: str,
    qid: str,
    verdict: str,
    *,
    refusal: bool = False,
    mode: str = "rag",
    k: int | None = 3,
) -> AnswerRecord:
    return AnswerRecord(
        question_id=qid,
        question=f"q{qid}",
        reference="ref",
        model=model,
        role=role,
        mode=mode,
        top_k=k,
        answer="ans",
        verdict=verdict,
        refusal=refusal,
        f1=1.0 if verdict == YES else 0.0,
    )


def test_group_row_counts_unparseable_and_refusals() -> None:
    records = [
        _record("s", "student", "1", YES),
        _record("s", "student", "2", YES),
        _record("s", "student", "3", NO, refusal=True),
        _record("s", "student", "4", UNPARSEABLE),
    ]
    row = aggregate.summarize_group(records)
    assert row["total"] == 4
    assert row["judgeScore"] == pytest.approx(2 / 3)  # unparseable left out, not guessed
    assert (row["judgeYes"], row["judgeNo"], row["judgeUnparseable"]) == (2, 1, 1)
    assert row["refusals"] == 1 and row["refusalRate"] == 0.25
    assert row["precision"] == pytest.approx((2 / 3) / 0.75)
    assert row["judgeCI"][0] <= row["judgeScore"] <= row["judgeCI"][1]


def test_all_refused_has_no_precision() -> None:
    row = aggregate.summarize_group([_record("s", "student", str(i), NO, refusal=True) for i in range(3)])
    assert row["judgeScore"] == 0.0 and row["precision"] is None


def test_improvements_summary_and_progress() -> None:
    records = []
    for i in range(10):
        records.append(_record("student", "student", str(i), YES if i < 6 else NO))
        records.append(_record("base", "baseline", str(i), YES if i < 4 else NO))
        records.append(_record("teacher", "baseline", str(i), YES if i < 5 else NO))
        records.append(_record("student", "student", str(i), YES if i < 2 else NO, mode="none", k=None))
        records.append(_record("base", "baseline", str(i), NO, mode="none", k=None))
        records.append(_record("teacher", "baseline", str(i), YES if i < 3 else NO, mode="none", k=None))
    results = aggregate.build_results(records, ["student", "base", "teacher"])
    assert [(r["model"], r["mode"]) for r in results] == [
        ("student", "none"),
        ("student", "rag"),
        ("base", "none"),
        ("base", "rag"),
        ("teacher", "none"),
        ("teacher", "rag"),
    ]
    improvements = aggregate.build_improvements(results)
    rag = {i["baseline"]: i["relative"] for i in improvements if i["mode"] == "rag"}
    assert rag == {"base": pytest.approx(0.5), "teacher": pytest.approx(0.2)}
    none = {i["baseline"]: i["relative"] for i in improvements if i["mode"] == "none"}
    assert none["base"] is None  # baseline scored 0: no relative improvement
    summary = aggregate.build_summary(results, improvements)
    assert (summary["model"], summary["mode"], summary["topK"]) == ("student", "rag", 3)
    assert summary["judgeScore"] == pytest.approx(0.6)
    payload = aggregate.progress_payload(results, summary)
    assert set(payload) == {"results", "summary"}
    assert set(payload["results"][1]) == set(aggregate.PROGRESS_FIELDS)
    assert set(payload["results"][0]) == set(aggregate.PROGRESS_FIELDS) - {"topK"}  # no-RAG row
    assert payload["summary"] == {
        "model": "student",
        "judgeScore": 0.6,
        "improvement": {"base": 0.5, "teacher": 0.2},
    }
    none_rows = aggregate.build_summary(
        results[:1] + results[2:3], aggregate.build_improvements(results[:1] + results[2:3])
    )
    assert aggregate.progress_payload(results, none_rows)["summary"]["improvement"] == {}  # base scored 0


def test_disagreements_need_a_yes_and_a_no() -> None:
    records = [
        _record("a", "student", "1", YES),
        _record("b", "baseline", "1", NO),
        _record("a", "student", "2", YES),
        _record("b", "baseline", "2", UNPARSEABLE),
        _record("a", "student", "3", NO),
        _record("b", "baseline", "3", NO),
    ]
    found = aggregate.disagreements(records)
    assert [d["questionId"] for d in found] == ["1"]
    assert [a["model"] for a in found[0]["answers"]] == ["a", "b"]
