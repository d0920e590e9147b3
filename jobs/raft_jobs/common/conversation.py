"""The RAFT conversation: one home for what datagen writes, finetune trains on and eval asks.

A RAFT user turn is every document in ``<DOCUMENT>…</DOCUMENT>`` tags, one per line, then the
question (:func:`raft_instruction`). The system turn (:func:`system_prompt`) asks for quoted
reasoning and a last line ``<ANSWER>: <final answer>``; what it says about questions the
documents do not answer follows ``datagen.noOracleLabel``, the same policy that labels the
training records without their oracle document:

* ``refuse`` (the default): such records are labelled with :data:`REFUSAL_ANSWER`, and the
  prompt tells the model to end with that line. Chosen as the default because every quote in a
  label is then found in the record's own documents, which is what datagen checks, and a
  student that declines when retrieval missed is what eval's refusal and precision columns
  reward; the cost is that the student learns less of the corpus by heart.
* ``answer`` (the RAFT paper's choice): such records keep the chain-of-thought answer, so the
  student memorises the domain; its quotes are not in that record's documents, and the prompt
  tells the model to answer from what it knows. No refusal records are written.

Eval sends this same conversation to the student and to every baseline, so all of them are
asked for the ``<ANSWER>:`` line and scored on it.
"""

from __future__ import annotations

from collections.abc import Sequence

ANSWER_TAG = "<ANSWER>:"
REFUSAL_ANSWER = "I cannot answer this question based on the provided documents."
QUOTE_BEGIN = "##begin_quote##"
QUOTE_END = "##end_quote##"

NO_ORACLE_REFUSE = "refuse"
NO_ORACLE_ANSWER = "answer"
NO_ORACLE_POLICIES = (NO_ORACLE_REFUSE, NO_ORACLE_ANSWER)
DEFAULT_NO_ORACLE_LABEL = NO_ORACLE_REFUSE

_BASE = (
    "You are a helpful assistant. Answer the question using the documents provided. Think step "
    f"by step: copy the passages you use between {QUOTE_BEGIN} and {QUOTE_END}, and explain how "
    f"they lead to the answer. End with a last line of the form '{ANSWER_TAG} <final answer>', "
    "where the final answer is short and self-contained."
)
_WHEN_MISSING = {
    NO_ORACLE_REFUSE: (
        " If none of the documents contains the answer, say so and end with the line "
        f"'{ANSWER_TAG} {REFUSAL_ANSWER}'."
    ),
    NO_ORACLE_ANSWER: (
        " If none of the documents contains the answer, answer from what you know, still ending "
        f"with the '{ANSWER_TAG}' line."
    ),
}


def system_prompt(no_oracle_label: str = DEFAULT_NO_ORACLE_LABEL) -> str:
    """The system turn for the ``datagen.noOracleLabel`` policy (``refuse`` or ``answer``)."""
    if no_oracle_label not in _WHEN_MISSING:
        raise ValueError(f"noOracleLabel must be one of {NO_ORACLE_POLICIES}, got {no_oracle_label!r}")
    return _BASE + _WHEN_MISSING[no_oracle_label]


def raft_instruction(question: str, documents: Sequence[str]) -> str:
    """``<DOCUMENT>d</DOCUMENT>\\n`` for each document, then the question (the RAFT user turn)."""
    return "".join(f"<DOCUMENT>{doc}</DOCUMENT>\n" for doc in documents) + question
