"""The teacher prompts (chat messages) and the RAFT instruction format.

Instructions go in the system message and the material in the user message; the chat
template is the server's business, so no template tokens appear here.
"""

from __future__ import annotations

from collections.abc import Sequence

from raft_jobs.common.runconfig import REFUSAL_ANSWER

QUOTE_BEGIN = "##begin_quote##"
QUOTE_END = "##end_quote##"
ANSWER_TAG = "<ANSWER>:"

QUESTION_SYSTEM = (
    "You write questions for a reading-comprehension dataset. Every question must be answerable "
    "from the given document alone, be specific and self-contained, and ask about a different "
    "fact. Do not number sub-parts, do not answer the questions."
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


def raft_instruction(question: str, documents: Sequence[str]) -> str:
    """``<DOCUMENT>d</DOCUMENT>\\n`` for each document, then the question (the RAFT user turn)."""
    return "".join(f"<DOCUMENT>{doc}</DOCUMENT>\n" for doc in documents) + question


def question_messages(chunk_text: str, n: int) -> list[dict[str, str]]:
    """Ask the teacher for ``n`` questions about ``chunk_text``."""
    user = (
        f"<DOCUMENT>\n{chunk_text}\n</DOCUMENT>\n\n"
        f"Write {n} different questions that can be answered using only the document above. "
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
