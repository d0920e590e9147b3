"""The teacher prompts (chat messages) and the RAFT instruction format.

Instructions go in the system message and the material in the user message; the chat
template is the server's business, so no template tokens appear here.
"""

from __future__ import annotations

from raft_jobs.common.conversation import ANSWER_TAG, QUOTE_BEGIN, QUOTE_END, REFUSAL_ANSWER, raft_instruction

__all__ = ["ANSWER_TAG", "QUOTE_BEGIN", "QUOTE_END", "cot_messages", "question_messages", "raft_instruction",
           "refusal_answer"]

# As in the RAFT recipe: questions a user would type into a search box, that the document
# answers, and that make sense without it (never "according to the passage").
QUESTION_SYSTEM = (
    "You write the questions that people type into a search box when they look for information. "
    "Each question must be answered by facts in the given document, be specific and self-contained, "
    "and ask about a different fact. Write it as a user who has never seen the document would: "
    "never refer to the document, passage, text or context, and do not answer the questions."
)

COT_SYSTEM = (
    "You answer a question using only the documents you are given. Think step by step. When you "
    f"use text from a document, copy it exactly between {QUOTE_BEGIN} and {QUOTE_END}. Explain "
    "how the quoted text leads to the answer. Finish with a last line of the form "
    f"'{ANSWER_TAG} <final answer>', where the final answer is short and self-contained."
)

REFUSAL_REASONING = (
    "None of the documents contains the information needed to answer this question, so I "
    "should not guess."
)


def question_messages(chunk_text: str, n: int) -> list[dict[str, str]]:
    """Ask the teacher for ``n`` questions about ``chunk_text``."""
    user = (
        f"<DOCUMENT>\n{chunk_text}\n</DOCUMENT>\n\n"
        f"Write {n} different questions that people would type into a search box and that the "
        "document above answers. "
        "Reply with a numbered list, one question per line, and nothing else."
    )
    return [{"role": "system", "content": QUESTION_SYSTEM}, {"role": "user", "content": user}]


def cot_messages(question: str, oracle_text: str) -> list[dict[str, str]]:
    """Ask the teacher for a chain-of-thought answer to ``question`` from its oracle chunk."""
    return [
        {"role": "system", "content": COT_SYSTEM},
        {"role": "user", "content": raft_instruction(question, [oracle_text])},
    ]


def refusal_answer() -> str:
    """The label of a refusal record: short reasoning, then the standard refusal."""
    return f"{REFUSAL_REASONING}\n{ANSWER_TAG} {REFUSAL_ANSWER}"
