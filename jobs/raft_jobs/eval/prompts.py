"""The prompt every evaluated model sees: the RAFT conversation the student was trained on.

The student, the base student and the teacher all get the same conversation
(:mod:`raft_jobs.common.conversation`): the system turn of the run's ``datagen.noOracleLabel``
policy, which asks for quoted reasoning and a last ``<ANSWER>: …`` line, then the retrieved
chunks as ``<DOCUMENT>`` tags (none without RAG) and the question. Every model is scored on the
answer after that tag, and the share that followed the format is reported per model.

Some chat templates reject a system turn; for those finetune folds the system prompt into the
user turn, and :func:`answer_messages` does the same with ``fold_system=True``.
"""

from __future__ import annotations

from collections.abc import Sequence

from raft_jobs.common.conversation import DEFAULT_NO_ORACLE_LABEL, raft_instruction, system_prompt

SYSTEM_PROMPT = system_prompt(DEFAULT_NO_ORACLE_LABEL)

__all__ = ["SYSTEM_PROMPT", "answer_messages", "raft_instruction"]


def answer_messages(
    question: str,
    documents: Sequence[str] | None,
    *,
    fold_system: bool = False,
    no_oracle_label: str = DEFAULT_NO_ORACLE_LABEL,
) -> list[dict[str, str]]:
    """The chat messages sent to every model under evaluation."""
    system = system_prompt(no_oracle_label)
    instruction = raft_instruction(question, list(documents or []))
    if fold_system:
        return [{"role": "user", "content": f"{system}\n\n{instruction}"}]
    return [{"role": "system", "content": system}, {"role": "user", "content": instruction}]
