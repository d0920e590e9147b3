"""The prompt every evaluated model sees, in the shape the student was trained on.

RAFT training records (datagen's ``instruction`` field) put each document in
``<DOCUMENT>…</DOCUMENT>`` tags, one per line, followed by the question; the student answers
with a chain of thought ending in ``<ANSWER>: <final answer>``. Eval sends the same shape as
a single user message, with the retrieved chunks as the documents (and the bare question
without RAG), so the student is scored on the distribution it learnt.
"""

from __future__ import annotations

from collections.abc import Sequence


def raft_instruction(question: str, documents: Sequence[str]) -> str:
    """``<DOCUMENT>d</DOCUMENT>\\n`` for each document, then the question."""
    return "".join(f"<DOCUMENT>{doc}</DOCUMENT>\n" for doc in documents) + question


def _shared_instruction():
    """datagen's own prompt builder when it exposes one, so both sides cannot drift apart."""
    try:
        from raft_jobs.datagen.prompts import raft_instruction as shared  # type: ignore
    except ImportError:
        return raft_instruction
    return shared


def answer_messages(question: str, documents: Sequence[str] | None) -> list[dict[str, str]]:
    """The chat messages sent to a model under evaluation."""
    return [{"role": "user", "content": _shared_instruction()(question, list(documents or []))}]
