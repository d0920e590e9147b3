"""Turning generated questions and answers into RAFT records, with all randomness from the seed.

Every random choice comes from an RNG derived from ``(seed, purpose, chunk id, …)``, so the
dataset depends only on the inputs, never on worker count or completion order.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from raft_jobs.common.conversation import NO_ORACLE_REFUSE
from raft_api.runconfig import DatagenConfig

from .chunking import Chunk
from .parsing import final_answer
from .prompts import raft_instruction, refusal_answer

ORACLE = "oracle"  # the oracle document is among the documents
DISTRACTOR = "distractor"  # only distractors; the label still answers (noOracleLabel "answer")
REFUSAL = "refusal"  # only distractors; the label refuses (noOracleLabel "refuse")

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


# Neighbouring chunks of one document share ``chunkOverlap`` characters. A chunk that shares at
# least this many consecutive characters with an eval chunk is kept out of training (not
# generated, never a distractor), so no eval passage is seen in training, even in part.
SHARED_TEXT_CHARS = 20


@dataclass
class Plan:
    """Which chunks are held out for eval, which go to validation, which may be distractors."""

    eval_ids: set[str] = field(default_factory=set)
    validation_ids: set[str] = field(default_factory=set)
    pool_ids: list[str] = field(default_factory=list)  # sorted; never an eval or buffer chunk
    buffer_ids: set[str] = field(default_factory=set)  # share text with an eval chunk: unused

    def role(self, chunk_id: str) -> str:
        """``eval``, ``buffer``, ``validation`` or ``train``."""
        if chunk_id in self.eval_ids:
            return "eval"
        if chunk_id in self.buffer_ids:
            return "buffer"
        return "validation" if chunk_id in self.validation_ids else "train"


def shares_text(a: str, b: str, min_chars: int = SHARED_TEXT_CHARS) -> bool:
    """Whether ``a`` and ``b`` have ``min_chars`` or more consecutive characters in common."""
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return matcher.find_longest_match(0, len(a), 0, len(b)).size >= min_chars


def _neighbours_sharing_text(chunks: Sequence[Chunk], eval_ids: set[str]) -> set[str]:
    """Chunks next to an eval chunk in the same document that share text with it (the overlap)."""
    buffer = set()
    for i, chunk in enumerate(chunks):
        if chunk.id not in eval_ids:
            continue
        for j in (i - 1, i + 1):
            if 0 <= j < len(chunks) and chunks[j].source == chunk.source and chunks[j].id not in eval_ids:
                if shares_text(chunk.text, chunks[j].text):
                    buffer.add(chunks[j].id)
    return buffer


def make_plan(chunks: Sequence[Chunk], config: DatagenConfig) -> Plan:
    """Hold out enough chunks for ``evalQuestions`` (at most half the corpus), split the rest.

    ``chunks`` come in document order. Eval chunks are chosen by a seeded hash of their id; no
    eval chunk is ever used in training, not even as a distractor, and neither is a chunk that
    shares text with one (its overlap with a neighbour).
    """
    ids = [c.id for c in chunks]
    n_eval = 0
    if config.eval_questions > 0 and len(ids) > 1:
        per_chunk = max(1, config.questions_per_chunk)
        # Some slack: questions get de-duplicated or fail validation.
        n_eval = math.ceil(1.25 * config.eval_questions / per_chunk) + 1
        n_eval = min(n_eval, len(ids) // 2)
    ranked = sorted(ids, key=lambda cid: derive_seed(config.seed, "eval", cid))
    eval_ids = set(ranked[:n_eval])
    buffer_ids = _neighbours_sharing_text(chunks, eval_ids)
    rest = [cid for cid in ids if cid not in eval_ids and cid not in buffer_ids]
    validation_ids = {cid for cid in rest if _unit(config.seed, "validation", cid) < config.validation_fraction}
    if len(validation_ids) == len(rest) and rest:  # never leave training empty
        validation_ids.discard(min(validation_ids))
    return Plan(eval_ids, validation_ids, sorted(rest), buffer_ids)


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
    ``distractors`` distractors with the CoT label, otherwise ``distractors + 1`` distractors
    labelled by ``noOracleLabel`` (common.conversation): the refusal under ``refuse``, the CoT
    answer under ``answer``. Under ``refuse``, a question whose record has the oracle gets, with
    probability ``refusalProbability``, an extra distractor-only record with the refusal label.
    So a question never has two contradictory labels: every record of it without the oracle
    carries the same label.
    """
    oracle_doc = (chunk.text, chunk.title or chunk.source)
    d = max(0, config.distractors)
    refuse = config.no_oracle_label == NO_ORACLE_REFUSE
    records = []
    for index, question, cot in qa:
        rng = derive_rng(config.seed, "record", chunk.id, index)
        include_oracle = rng.random() < config.oracle_probability
        add_refusal = rng.random() < config.refusal_probability and refuse and include_oracle
        picked = _distractors(rng, pool_ids, chunk.id, 2 * (d + 1))
        main_ids, refusal_ids = picked[: d + 1], picked[d + 1 :]
        if include_oracle:
            docs = [oracle_doc] + [pool_texts[c] for c in main_ids[:d]]
        else:
            docs = [pool_texts[c] for c in main_ids]
        rng.shuffle(docs)
        if include_oracle:
            records.append(_record(ORACLE, chunk, index, question, docs, cot))
        elif refuse:
            records.append(_record(REFUSAL, chunk, index, question, docs, refusal_answer()))
        else:
            records.append(_record(DISTRACTOR, chunk, index, question, docs, cot))
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
