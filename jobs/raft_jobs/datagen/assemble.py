"""Turning generated questions and answers into RAFT records, with all randomness from the seed.

Every random choice comes from an RNG derived from ``(seed, purpose, chunk id, …)``, so the
dataset depends only on the inputs, never on worker count or completion order.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from raft_jobs.common.runconfig import DatagenConfig

from .chunking import Chunk
from .parsing import final_answer
from .prompts import raft_instruction, refusal_answer

ORACLE = "oracle"  # the oracle document is among the documents
DISTRACTOR = "distractor"  # only distractors; the label still answers (1-P of the time)
REFUSAL = "refusal"  # only distractors; the label refuses

PoolTexts = Mapping[str, tuple[str, str]]  # chunk id -> (text, title)


def derive_seed(seed: int, *parts: object) -> int:
    """A 63-bit integer from ``seed`` and ``parts`` (stable across processes and runs)."""
    key = "|".join(str(p) for p in (seed, *parts))
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") >> 1


def derive_rng(seed: int, *parts: object) -> random.Random:
    """An RNG seeded by :func:`derive_seed`."""
    return random.Random(derive_seed(seed, *parts))


def _unit(seed: int, *parts: object) -> float:
    return derive_seed(seed, *parts) / 2**63


@dataclass
class Plan:
    """Which chunks are held out for eval, which go to validation, which may be distractors."""

    eval_ids: set[str] = field(default_factory=set)
    validation_ids: set[str] = field(default_factory=set)
    pool_ids: list[str] = field(default_factory=list)  # sorted; never an eval chunk

    def role(self, chunk_id: str) -> str:
        """``eval``, ``validation`` or ``train``."""
        if chunk_id in self.eval_ids:
            return "eval"
        return "validation" if chunk_id in self.validation_ids else "train"


def make_plan(chunks: Sequence[Chunk], config: DatagenConfig) -> Plan:
    """Hold out enough chunks for ``evalQuestions`` (at most half the corpus), split the rest.

    Eval chunks are chosen by a seeded hash of their id; no eval chunk is ever used in
    training, not even as a distractor.
    """
    ids = [c.id for c in chunks]
    n_eval = 0
    if config.evalQuestions > 0 and len(ids) > 1:
        per_chunk = max(1, config.questionsPerChunk)
        # Some slack: questions get de-duplicated or fail validation.
        n_eval = math.ceil(1.25 * config.evalQuestions / per_chunk) + 1
        n_eval = min(n_eval, len(ids) // 2)
    ranked = sorted(ids, key=lambda cid: derive_seed(config.seed, "eval", cid))
    eval_ids = set(ranked[:n_eval])
    rest = [cid for cid in ids if cid not in eval_ids]
    validation_ids = {cid for cid in rest if _unit(config.seed, "validation", cid) < config.validationFraction}
    if len(validation_ids) == len(rest) and rest:  # never leave training empty
        validation_ids.discard(min(validation_ids))
    return Plan(eval_ids, validation_ids, sorted(rest))


def _distractors(rng: random.Random, pool_ids: Sequence[str], exclude: str, k: int) -> list[str]:
    available = len(pool_ids) - (1 if exclude in pool_ids else 0)
    k = max(0, min(k, available))
    picked: list[str] = []
    seen = {exclude}
    while len(picked) < k:
        cid = pool_ids[rng.randrange(len(pool_ids))]
        if cid not in seen:
            seen.add(cid)
            picked.append(cid)
    return picked


def record_id(chunk_id: str, index: int, question: str, kind: str) -> str:
    """Stable record id from the chunk, the question and the record kind."""
    digest = hashlib.sha256(f"{chunk_id}|{index}|{question}|{kind}".encode()).hexdigest()
    return digest[:20]


def _record(kind: str, chunk: Chunk, index: int, question: str, docs: list[tuple[str, str]], label: str) -> dict[str, Any]:
    return {
        "id": record_id(chunk.id, index, question, kind),
        "type": kind,
        "question": question,
        "context": {"sentences": [[d[0] for d in docs]], "title": [[d[1] for d in docs]]},
        "oracle_context": chunk.text,
        "oracle_chunk_id": chunk.id,
        "cot_answer": label,
        "instruction": raft_instruction(question, [d[0] for d in docs]),
    }


def assemble_records(
    chunk: Chunk,
    qa: Sequence[tuple[int, str, str]],
    pool_ids: Sequence[str],
    pool_texts: PoolTexts,
    config: DatagenConfig,
) -> list[dict[str, Any]]:
    """RAFT records for ``chunk`` from ``(question index, question, CoT answer)`` triples.

    Each question gives one record: with probability ``oracleProbability`` the oracle plus
    ``distractors`` distractors, otherwise ``distractors + 1`` distractors (CoT label kept),
    shuffled. With probability ``refusalProbability`` an extra record of ``distractors + 1``
    distractors gets the refusal label.
    """
    oracle_doc = (chunk.text, chunk.title or chunk.source)
    d = max(0, config.distractors)
    records = []
    for index, question, cot in qa:
        rng = derive_rng(config.seed, "record", chunk.id, index)
        include_oracle = rng.random() < config.oracleProbability
        add_refusal = rng.random() < config.refusalProbability
        picked = _distractors(rng, pool_ids, chunk.id, 2 * (d + 1))
        main_ids, refusal_ids = picked[: d + 1], picked[d + 1 :]
        if include_oracle:
            docs = [oracle_doc] + [pool_texts[c] for c in main_ids[:d]]
        else:
            docs = [pool_texts[c] for c in main_ids]
        rng.shuffle(docs)
        records.append(_record(ORACLE if include_oracle else DISTRACTOR, chunk, index, question, docs, cot))
        if add_refusal:
            refusal_docs = [pool_texts[c] for c in (refusal_ids or main_ids)]
            rng.shuffle(refusal_docs)
            records.append(_record(REFUSAL, chunk, index, question, refusal_docs, refusal_answer()))
    return records


def eval_items(chunk: Chunk, qa: Sequence[tuple[int, str, str]]) -> list[dict[str, Any]]:
    """Held-out questions of an eval chunk: ``id, question, answer, oracle_chunk_id``."""
    return [
        {
            "id": record_id(chunk.id, index, question, "eval"),
            "question": question,
            "answer": final_answer(cot),
            "oracle_chunk_id": chunk.id,
        }
        for index, question, cot in qa
    ]
