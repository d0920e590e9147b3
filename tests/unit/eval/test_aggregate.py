"""Aggregation: results rows, improvements, summary, the progress payload, disagreements."""

from __future__ import annotations

import pytest
from raft_jobs.eval import aggregate, report
from raft_jobs.eval.judge import NO, UNPARSEABLE, YES
from raft_jobs.eval.records import AnswerRecord, Mode


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


def test_group_row_counts_unparseable_as_not_correct() -> None:
    records = [_record("s", "student", str(i), YES) for i in range(6)]
    records += [_record("s", "student", "6", NO, refusal=True), _record("s", "student", "7", NO)]
    records += [_record("s", "student", "8", NO), _record("s", "student", "9", UNPARSEABLE)]
    row = aggregate.summarize_group(records)
    assert row["total"] == 10
    assert row["judgeCoverage"] == pytest.approx(0.9)
    assert row["judgeScore"] == pytest.approx(6 / 10)  # the unparseable verdict counts, as not correct
    assert (row["judgeYes"], row["judgeNo"], row["judgeUnparseable"]) == (6, 3, 1)
    assert row["refusals"] == 1 and row["refusalRate"] == 0.1
    assert row["precision"] == pytest.approx(6 / 9)
    assert row["judgeCI"][0] <= row["judgeScore"] <= row["judgeCI"][1]


def test_low_judge_coverage_gives_no_score_and_says_why() -> None:
    """The measured case: a judge answering in prose left 70 of 71 verdicts unparseable."""
    records = [_record("s", "student", "0", YES)]
    records += [_record("s", "student", str(i), UNPARSEABLE) for i in range(1, 71)]
    rows = aggregate.build_results(records, ["s"])
    row = rows[0]
    assert row["judgeScore"] is None and row["judgeCI"] is None and row["precision"] is None
    assert "1 of 71" in row["judgeWithheld"] and "90%" in row["judgeWithheld"]
    primary = Mode("rag", 3)
    summary = aggregate.build_summary(rows, [], aggregate.build_comparisons(records, rows, primary), primary)
    assert summary["judgeScore"] is None and "1 of 71" in summary["judgeWithheld"]
    payload = aggregate.progress_payload(rows, summary)
    assert "judgeScore" not in payload["results"][0] and "judgeScore" not in payload["summary"]
    assert payload["summary"]["judgeWithheld"] == summary["judgeWithheld"]
    results = {"summary": summary, "meta": {"judgeModel": "j"}}
    assert report.summary_sentence(results).startswith("No judge score")


def test_precision_has_one_denominator() -> None:
    """A judge that accepts some refusals made precision 1.5 with the old formula
    judge / (1 - refusals / total); now it is correct non-refusals over non-refusals."""
    records = [_record("s", "student", str(i), YES) for i in range(10)]
    records += [_record("s", "student", str(i), YES, refusal=True) for i in range(10, 15)]
    records += [_record("s", "student", str(i), NO, refusal=True) for i in range(15, 20)]
    row = aggregate.summarize_group(records)
    assert row["judgeScore"] == pytest.approx(0.75) and row["refusalRate"] == 0.5
    assert row["precision"] == pytest.approx(1.0)
    for group in ([*records[:3], *records[15:]], records[10:]):
        precision = aggregate.summarize_group(group)["precision"]
        assert precision is None or 0.0 <= precision <= 1.0


def test_judge_agreement_with_exact_match() -> None:
    records = [_record("s", "student", "1", YES), _record("s", "student", "2", NO)]
    records += [_record("s", "student", "3", YES), _record("s", "student", "4", UNPARSEABLE)]
    records[0].exact_match = 1.0
    records[1].exact_match = 1.0  # the judge said NO to an exact match
    agreement = aggregate.judge_agreement(records)
    assert agreement["answers"] == 3
    assert agreement["agreement"] == pytest.approx(1 / 3)
    assert (agreement["judgeYesEmYes"], agreement["judgeNoEmYes"], agreement["judgeYesEmNo"]) == (1, 1, 1)


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
    primary = Mode("rag", 3)
    comparisons = aggregate.build_comparisons(records, results, primary)
    summary = aggregate.build_summary(results, improvements, comparisons, primary)
    assert (summary["model"], summary["mode"], summary["topK"]) == ("student", "rag", 3)
    assert summary["judgeScore"] == pytest.approx(0.6)
    payload = aggregate.progress_payload(results, summary)
    assert set(payload) == {"results", "summary"}
    assert set(payload["results"][1]) == set(aggregate.PROGRESS_FIELDS)
    assert set(payload["results"][0]) == set(aggregate.PROGRESS_FIELDS) - {"topK"}  # no-RAG row
    assert payload["summary"]["improvement"] == {"base": 0.5, "teacher": 0.2}
    assert {(c["baseline"], c["metric"]) for c in payload["summary"]["comparisons"]} == {
        (b, m) for b in ("base", "teacher") for m in ("judge", "f1")
    }
    assert (payload["summary"]["model"], payload["summary"]["judgeScore"]) == ("student", 0.6)
    none_summary = aggregate.build_summary(results, improvements, comparisons, Mode("none"))
    # base scored 0 without RAG: no relative improvement over it
    assert aggregate.progress_payload(results, none_summary)["summary"]["improvement"] == {"teacher": round(-1 / 3, 4)}


def test_headline_is_the_declared_mode_not_the_best_one() -> None:
    records = []
    for i in range(20):
        records.append(_record("student", "student", str(i), YES if i < 10 else NO, k=3))
        records.append(_record("student", "student", str(i), YES if i < 16 else NO, k=5))
        records.append(_record("base", "baseline", str(i), YES if i < 9 else NO, k=3))
        records.append(_record("base", "baseline", str(i), YES if i < 9 else NO, k=5))
    for record in records:
        record.cluster = f"chunk-{int(record.question_id) // 4}"
    results = aggregate.build_results(records, ["student", "base"])
    primary = Mode("rag", 3)
    comparisons = aggregate.build_comparisons(records, results, primary, seed=1)
    summary = aggregate.build_summary(results, aggregate.build_improvements(results), comparisons, primary)
    assert (summary["topK"], summary["judgeScore"]) == (3, 0.5)  # not k=5, where the student did best
    judge = next(c for c in summary["comparisons"] if c["metric"] == "judge")
    assert judge["difference"] == pytest.approx(0.05) and judge["clusters"] == 5 and judge["n"] == 20
    assert judge["ci"][0] <= 0.05 <= judge["ci"][1] and 0 < judge["pValue"] <= 1
    assert len(results) == 4  # every mode stays in the results


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
