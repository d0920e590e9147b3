"""Keeping questions apart: one copy of each question in the corpus, none close to an eval question.

Questions are compared after SQuAD normalisation (:func:`question_key`: lower case, no
punctuation or articles, single spaces). Exact duplicates are removed across the whole corpus,
the first kept in a seeded order. A training question is a *near duplicate* of an eval
question when the ``difflib`` similarity ratio of their normalised texts (2 × matching
characters / total characters) is at least :data:`NEAR_DUPLICATE_THRESHOLD`: "who was mayor of
zorblat" and "who is mayor of zorblat" (0.94) are near duplicates, "who is mayor of zorblat"
and "who is mayor of quenmire" (0.72) are not. Those training questions are removed, so the
student is never trained on a rewording of a question it is evaluated on.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

from raft_jobs.common.refusal import normalize_answer

NEAR_DUPLICATE_THRESHOLD = 0.85


def question_key(question: str) -> str:
    """The normalised form questions are compared in."""
    return normalize_answer(question)


def unique_questions(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """``items`` (eval questions) without those whose normalised question came earlier."""
    seen: set[str] = set()
    kept = []
    for item in items:
        key = question_key(item["question"])
        if key not in seen:
            seen.add(key)
            kept.append(item)
    return kept


class EvalQuestions:
    """The eval questions, for finding training questions equal or close to one of them."""

    def __init__(self, questions: Sequence[str], threshold: float = NEAR_DUPLICATE_THRESHOLD) -> None:
        self.keys = sorted({question_key(q) for q in questions})
        self.threshold = threshold

    def match(self, question: str) -> str | None:
        """The eval question (normalised) that ``question`` equals or nearly equals, if any."""
        key = question_key(question)
        if not self.keys:
            return None
        close = difflib.get_close_matches(key, self.keys, n=1, cutoff=self.threshold)
        return close[0] if close else None


def filter_training(
    records: Sequence[dict[str, Any]], eval_questions: EvalQuestions
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Training records without repeated questions and without questions close to an eval one.

    A question is identified by its chunk and text (its records share both). Questions are
    visited in (chunk id, question) order; one whose normalised text an earlier question of
    another chunk had is a duplicate, one that :meth:`EvalQuestions.match` es is removed too.
    Returns the kept records, in their order, and the counts of questions removed.
    """
    owners: dict[str, tuple[str, str]] = {}
    dropped: set[tuple[str, str]] = set()
    counts = {"duplicateQuestions": 0, "nearEvalQuestions": 0}
    for owner in sorted({(r["oracle_chunk_id"], r["question"]) for r in records}):
        key = question_key(owner[1])
        if eval_questions.match(owner[1]) is not None:
            counts["nearEvalQuestions"] += 1
            dropped.add(owner)
        elif owners.setdefault(key, owner) != owner:
            counts["duplicateQuestions"] += 1
            dropped.add(owner)
    kept = [r for r in records if (r["oracle_chunk_id"], r["question"]) not in dropped]
    return kept, counts
