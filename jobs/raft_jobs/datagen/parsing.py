"""Reading what the teacher wrote: question lists and chain-of-thought answers."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass

from raft_jobs.common.refusal import is_refusal

from .prompts import QUOTE_BEGIN, QUOTE_END

_FENCE = re.compile(r"^```[\w-]*\s*|\s*```$", re.MULTILINE)
_LIST_ITEM = re.compile(
    r"^\s*(?:(?:Q(?:uestion)?\s*)?\(?\d{1,3}\s*[.):\]-]|[-*•‣◦]|\(?[a-z]\)|Q(?:uestion)?\s*\d*\s*:)\s+(.+)$",
    re.IGNORECASE,
)
_ANSWER = re.compile(r"<\s*answer\s*>\s*:", re.IGNORECASE)
_QUOTE = re.compile(re.escape(QUOTE_BEGIN) + r"(.*?)" + re.escape(QUOTE_END), re.DOTALL)
_WORDS = re.compile(r"\w+")


def parse_questions(text: str, limit: int | None = None) -> list[str]:
    """Questions from a numbered list, bullets or a JSON list (or ``{"questions": [...]}``).

    Without list markers, lines ending in ``?`` count. Empty, too short (< 3 words) and
    duplicate questions (case and spacing ignored) are dropped; at most ``limit`` are kept.
    """
    items = _json_items(text)
    if items is None:
        lines = [line.strip() for line in (text or "").splitlines()]
        items = [m.group(1) for line in lines if (m := _LIST_ITEM.match(line))]
        if not items:
            items = [line for line in lines if line.endswith("?")]
    questions: list[str] = []
    seen: set[str] = set()
    for item in items:
        question = _tidy(item)
        key = " ".join(_WORDS.findall(question.lower()))
        if len(_WORDS.findall(question)) < 3 or key in seen:
            continue
        seen.add(key)
        questions.append(question)
    return questions[:limit] if limit is not None else questions


def _json_items(text: str) -> list[str] | None:
    stripped = _FENCE.sub("", (text or "").strip()).strip()
    if not stripped or stripped[0] not in "[{":
        return None
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError:
        return None
    if isinstance(data, dict):
        data = next((v for v in data.values() if isinstance(v, list)), None)
    if not isinstance(data, list):
        return None
    out = []
    for entry in data:
        if isinstance(entry, dict):
            entry = entry.get("question") or entry.get("q") or ""
        if isinstance(entry, str):
            out.append(entry)
    return out


def _tidy(item: str) -> str:
    item = item.strip().strip('"“”').strip()
    item = re.sub(r"^\*\*(.*)\*\*$", r"\1", item).strip()
    return " ".join(item.split())


# A quote that is not verbatim in the oracle (after whitespace normalisation and case folding)
# still counts as found when at least this share of its characters align, in order, with the
# oracle in runs of 3 or more (difflib): a changed letter or dropped word passes, a sentence the
# teacher made up does not.
QUOTE_MATCH_THRESHOLD = 0.9

# Why a chain-of-thought answer was rejected (manifest ``quality.rejected``, status ``datagen.rejected``).
CUT_OFF = "cutOff"  # finish_reason "length": the reply stopped at max_tokens
NO_ANSWER = "noAnswer"  # no <ANSWER>: line, or an empty one
TEACHER_REFUSED = "teacherRefused"  # the teacher says the document lacks the answer
NO_QUOTE = "noQuote"
QUOTE_NOT_IN_ORACLE = "quoteNotInOracle"
REJECTION_REASONS = (CUT_OFF, NO_ANSWER, TEACHER_REFUSED, NO_QUOTE, QUOTE_NOT_IN_ORACLE)


@dataclass
class CotCheck:
    """Validation of one chain-of-thought answer: ``rejection`` is None when it may be used."""

    rejection: str | None
    answer: str = ""
    quotes: int = 0
    quotes_not_in_context: int = 0

    @property
    def valid(self) -> bool:
        """Whether the answer may become a record or an eval reference."""
        return self.rejection is None


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def quote_found(quote: str, oracle: str, threshold: float = QUOTE_MATCH_THRESHOLD) -> bool:
    """Whether ``quote`` is in ``oracle``: verbatim after whitespace normalisation, or a near match."""
    needle, haystack = _norm(quote), _norm(oracle)
    if not needle:
        return False
    if needle in haystack:
        return True
    matcher = difflib.SequenceMatcher(None, haystack, needle, autojunk=False)
    aligned = sum(block.size for block in matcher.get_matching_blocks() if block.size >= 3)
    return aligned / len(needle) >= threshold


def check_cot(text: str, oracle: str, finish_reason: str | None = "stop") -> CotCheck:
    """Check a teacher's chain-of-thought answer before it becomes a record or an eval reference.

    Rejected, in this order, when the reply was cut off at max_tokens, has no non-empty
    ``<ANSWER>:`` line, says that the document lacks the answer, quotes nothing, or quotes
    text that is not in ``oracle`` (see :func:`quote_found`).
    """
    matches = list(_ANSWER.finditer(text or ""))
    answer = text[matches[-1].end():].strip() if matches else ""
    quotes = [q.strip() for q in _QUOTE.findall(text or "")]
    missing = sum(1 for q in quotes if not quote_found(q, oracle))
    rejection = None
    if finish_reason == "length":
        rejection = CUT_OFF
    elif not answer:
        rejection = NO_ANSWER
    elif is_refusal(answer):
        rejection = TEACHER_REFUSED
    elif not quotes:
        rejection = NO_QUOTE
    elif missing:
        rejection = QUOTE_NOT_IN_ORACLE
    return CotCheck(rejection, answer, len(quotes), missing)


def final_answer(text: str) -> str:
    """The text after the last ``<ANSWER>:`` (all of it when the tag is missing)."""
    matches = list(_ANSWER.finditer(text or ""))
    return (text[matches[-1].end():] if matches else text or "").strip()
