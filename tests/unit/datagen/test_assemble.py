"""RAFT record assembly without a server: format, P and refusal ratios, determinism, hold-out."""

import math
import re

from raft_api.runconfig import DatagenConfig
from raft_jobs.common.conversation import REFUSAL_ANSWER
from raft_jobs.datagen.assemble import DISTRACTOR, ORACLE, REFUSAL, assemble_records, make_plan
from raft_jobs.datagen.chunking import Chunk, chunk_id

FIELDS = {"id", "type", "question", "context", "oracle_context", "cot_answer", "instruction"}


def _chunks(n: int) -> list[Chunk]:
    texts = [f"Chunk {i} says the tower of place {i} guards sheep since {1500 + i}." for i in range(n)]
    return [Chunk(chunk_id(t), t, f"doc{i}.txt", f"Doc {i}") for i, t in enumerate(texts)]


def _assemble(chunks, config, plan):
    texts = {c.id: (c.text, c.title) for c in chunks}
    records = []
    for chunk in chunks:
        if plan.role(chunk.id) in ("eval", "buffer"):
            continue
        qa = [(i, f"Question {i} about {chunk.id}?", f"Because.\n<ANSWER>: {i}") for i in range(4)]
        records += assemble_records(chunk, qa, plan.pool_ids, texts, config)
    return records


def _binomial_ok(hits: int, n: int, p: float) -> bool:
    """Within 4.5 standard deviations (false failure odds below 1e-5)."""
    return abs(hits - n * p) <= 4.5 * math.sqrt(n * p * (1 - p)) + 1


def test_record_format() -> None:
    config = DatagenConfig(distractors=3, seed=1, evalQuestions=0)
    chunks = _chunks(20)
    plan = make_plan(chunks, config)
    records = _assemble(chunks, config, plan)
    by_id = {c.id: c for c in chunks}
    for record in records:
        assert FIELDS <= set(record)
        docs = record["context"]["sentences"][0]
        assert len(docs) == 4 and len(record["context"]["title"][0]) == 4
        assert record["instruction"] == "".join(f"<DOCUMENT>{d}</DOCUMENT>\n" for d in docs) + record["question"]
        assert record["instruction"].endswith(record["question"])
        assert len(re.findall("<DOCUMENT>", record["instruction"])) == 4
        oracle = by_id[record["oracle_chunk_id"]].text
        assert record["oracle_context"] == oracle
        assert (oracle in docs) == (record["type"] == ORACLE)
        assert len(set(docs)) == len(docs)
        if record["type"] == REFUSAL:
            assert record["cot_answer"].endswith(f"<ANSWER>: {REFUSAL_ANSWER}")
        else:
            assert "<ANSWER>:" in record["cot_answer"]
    assert len({r["id"] for r in records}) == len(records)


def test_oracle_and_refusal_ratios_are_within_statistical_bounds() -> None:
    config = DatagenConfig(distractors=2, oracleProbability=0.7, refusalProbability=0.1, seed=7, evalQuestions=0)
    chunks = _chunks(1000)
    records = _assemble(chunks, config, make_plan(chunks, config))  # noOracleLabel "refuse", the default
    oracle = [r for r in records if r["type"] == ORACLE]
    assert _binomial_ok(len(oracle), 4000, 0.7), len(oracle)
    refusals = sum(r["type"] == REFUSAL for r in records)
    assert len(records) - len(oracle) == refusals  # no distractor-only record keeps the CoT label
    assert _binomial_ok(refusals - (4000 - len(oracle)), len(oracle), 0.1)  # extra refusal records
    answer = config.model_copy(update={"no_oracle_label": "answer"})
    records = _assemble(chunks, answer, make_plan(chunks, answer))
    assert len(records) == 4000 and not any(r["type"] == REFUSAL for r in records)
    assert _binomial_ok(sum(r["type"] == ORACLE for r in records), 4000, 0.7)


def test_one_label_per_question_whatever_the_policy() -> None:
    """Issue 13, item 7: before, one question could get a distractor-only record with the CoT
    label and another with the refusal label."""
    chunks = _chunks(300)
    for policy, label in (("refuse", REFUSAL_ANSWER), ("answer", None)):
        config = DatagenConfig(distractors=2, oracleProbability=0.6, refusalProbability=0.3, seed=2,
                               evalQuestions=0, noOracleLabel=policy)
        by_question: dict[str, set[str]] = {}
        for record in _assemble(chunks, config, make_plan(chunks, config)):
            if record["type"] != ORACLE:
                by_question.setdefault(record["question"], set()).add(record["cot_answer"])
        assert by_question
        for labels in by_question.values():
            assert len(labels) == 1
            assert (label in labels.pop()) if label else True
        kinds = {r["type"] for r in _assemble(chunks, config, make_plan(chunks, config))}
        assert kinds == ({ORACLE, REFUSAL} if policy == "refuse" else {ORACLE, DISTRACTOR})


def test_eval_overlap_text_is_never_in_training() -> None:
    """Issue 13, item 8: neighbours of an eval chunk share its overlap text; they stay out of training."""
    sentences = [f"Sentence {i} tells that the mill of town {i} grinds {i * 7} sacks of rye every week." for i in range(40)]
    texts = [" ".join(sentences[i * 4 : i * 4 + 5]) for i in range(9)]  # each shares one sentence with the next
    chunks = [Chunk(chunk_id(t), t, "one.txt", "One") for t in texts]
    config = DatagenConfig(seed=1, evalQuestions=2, questionsPerChunk=4)
    plan = make_plan(chunks, config)
    assert plan.eval_ids and plan.buffer_ids
    eval_texts = [c.text for c in chunks if c.id in plan.eval_ids]
    for record in _assemble(chunks, config, plan):
        for doc in record["context"]["sentences"][0]:
            assert not any(sentence in doc and sentence in e for e in eval_texts for sentence in sentences)
    assert not plan.buffer_ids & set(plan.pool_ids)


def test_same_seed_same_records_other_seed_other_records() -> None:
    chunks = _chunks(50)
    config = DatagenConfig(seed=3, evalQuestions=8, questionsPerChunk=4)
    first = _assemble(chunks, config, make_plan(chunks, config))
    again = _assemble(list(reversed(chunks)), config, make_plan(list(reversed(chunks)), config))
    assert sorted(first, key=lambda r: r["id"]) == sorted(again, key=lambda r: r["id"])
    other = DatagenConfig(seed=4, evalQuestions=8, questionsPerChunk=4)
    assert _assemble(chunks, other, make_plan(chunks, other)) != first


def test_eval_chunks_never_appear_in_training_records() -> None:
    chunks = _chunks(60)
    config = DatagenConfig(seed=5, evalQuestions=20, questionsPerChunk=4, validationFraction=0.2)
    plan = make_plan(chunks, config)
    assert len(plan.eval_ids) >= 5 and not plan.eval_ids & set(plan.pool_ids)
    assert not plan.eval_ids & plan.validation_ids
    eval_texts = {c.text for c in chunks if c.id in plan.eval_ids}
    for record in _assemble(chunks, config, plan):
        assert record["oracle_chunk_id"] not in plan.eval_ids
        assert not eval_texts & set(record["context"]["sentences"][0])


def test_hold_out_never_takes_more_than_half_the_corpus() -> None:
    chunks = _chunks(6)
    plan = make_plan(chunks, DatagenConfig(evalQuestions=100))
    assert len(plan.eval_ids) == 3 and len(plan.pool_ids) == 3
