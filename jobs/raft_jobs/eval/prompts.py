"""The prompt every evaluated model sees, in the shape the student was trained on.

RAFT training records (datagen's ``instruction``) put each document in
``<DOCUMENT>…</DOCUMENT>`` tags, one per line, followed by the question; finetune wraps that
user turn after :data:`SYSTEM_PROMPT` and trains the student to answer with a chain of
thought ending in ``<ANSWER>: <final answer>``. Eval sends the same conversation, with the
retrieved chunks as the documents (the bare question without RAG), to every model, so the
student is scored on the distribution it learnt and the baselines get the same instructions.

:data:`SYSTEM_PROMPT` must stay equal to finetune's (``raft_jobs.finetune.data.chat``);
``tests/eval/test_prompts.py`` checks it. Some chat templates reject a system turn; for those
finetune folds the system prompt into the user turn, and :func:`answer_messages` does the
same with ``fold_system=True``.
"""

from __future__ import annotations

from collections.abc import Sequence

SYSTEM_PROMPT = (
    "You are a helpful assistant. Answer the question using the documents provided. Quote the "
    "relevant passages in your reasoning, then give the final answer. If the documents do not "
    "contain the answer, say so."
)


def raft_instruction(question: str, documents: Sequence[str]) -> str:
    """``<DOCUMENT>d</DOCUMENT>\\n`` for each document, then the question."""
    return "".join(f"<DOCUMENT>{doc}</DOCUMENT>\n" for doc in documents) + question


def answer_messages(
    question: str, documents: Sequence[str] | None, *, fold_system: bool = False
) -> list[dict[str, str]]:
    """The chat messages sent to a model under evaluation."""
    instruction = raft_instruction(question, list(documents or []))
    if fold_system:
        return [{"role": "user", "content": f"{SYSTEM_PROMPT}\n\n{instruction}"}]
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": instruction}]
