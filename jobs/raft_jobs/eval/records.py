"""The record of one answer: what was asked, what came back, and how it scored."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

NO_RAG = "none"
RAG = "rag"


@dataclass(frozen=True, order=True)
class Mode:
    """How a question is asked: without retrieval (``none``) or with the top ``k`` chunks."""

    name: str  # "none" | "rag"
    top_k: int | None = None

    @property
    def label(self) -> str:
        """``none`` or ``rag@k``, used in tables and file contents."""
        return NO_RAG if self.name == NO_RAG else f"{RAG}@{self.top_k}"

    def sort_key(self) -> tuple[int, int]:
        """No-RAG first, then RAG by increasing k."""
        return (0, 0) if self.name == NO_RAG else (1, self.top_k or 0)


@dataclass
class AnswerRecord:
    """One model's answer to one question in one mode, with its per-answer scores."""

    question_id: str
    question: str
    reference: str
    model: str
    role: str
    mode: str
    top_k: int | None
    retrieved: list[str] = field(default_factory=list)  # chunk ids, best first
    oracle_retrieved: bool | None = None  # None when the question has no oracle chunk
    cluster: str = ""  # the question's source chunk (its id when unknown): the bootstrap's unit
    raw: str = ""
    answer: str = ""
    follows_format: bool = False  # the reply ended in a non-empty <ANSWER>: line
    refusal: bool = False
    exact_match: float = 0.0
    f1: float = 0.0
    rouge1: float = 0.0
    rouge2: float = 0.0
    rougeL: float = 0.0
    verdict: str = ""  # YES | NO | UNPARSEABLE | ERROR (the judge request failed)
    judge_reply: str = ""
    rubric: dict[str, int | None] = field(default_factory=dict)
    latency_s: float = 0.0
    error: str = ""  # why no answer was produced (the request failed after its retries)

    @property
    def mode_obj(self) -> Mode:
        """The :class:`Mode` this answer was produced in."""
        return Mode(self.mode, self.top_k)

    def to_json(self) -> dict[str, Any]:
        """The answers.jsonl form (camelCase keys, like the rest of the run's files)."""
        body = asdict(self)
        return {
            "questionId": body.pop("question_id"),
            "question": body.pop("question"),
            "reference": body.pop("reference"),
            "model": body.pop("model"),
            "role": body.pop("role"),
            "mode": body.pop("mode"),
            "topK": body.pop("top_k"),
            "retrieved": body.pop("retrieved"),
            "oracleRetrieved": body.pop("oracle_retrieved"),
            "cluster": body.pop("cluster"),
            "raw": body.pop("raw"),
            "answer": body.pop("answer"),
            "followsFormat": body.pop("follows_format"),
            "refusal": body.pop("refusal"),
            "exactMatch": body.pop("exact_match"),
            "f1": body.pop("f1"),
            "rouge1": body.pop("rouge1"),
            "rouge2": body.pop("rouge2"),
            "rougeL": body.pop("rougeL"),
            "verdict": body.pop("verdict"),
            "judgeReply": body.pop("judge_reply"),
            "rubric": body.pop("rubric"),
            "latencySeconds": round(body.pop("latency_s"), 3),
            "error": body.pop("error"),
        }
