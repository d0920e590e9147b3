"""RAFT record assembly without a server: format, P and refusal ratios, determinism, hold-out."""

import math
import re

from raft_jobs.common.runconfig import REFUSAL_ANSWER, DatagenConfig
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
        if plan.role(chunk.id) == "eval":
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
    records = _assemble(chunks, config, make_plan(chunks, config))
    answered = [r for r in records if r["type"] != REFUSAL]
    assert len(answered) == 4000
    oracle = sum(r["type"] == ORACLE for r in answered)
    refusals = sum(r["type"] == REFUSAL for r in records)
    assert _binomial_ok(oracle, len(answered), 0.7), oracle
    assert _binomial_ok(refusals, len(answered), 0.1), refusals
    assert sum(r["type"] == DISTRACTOR for r in answered) == len(answered) - oracle


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
