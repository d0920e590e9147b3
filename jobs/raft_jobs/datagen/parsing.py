"""Reading what the teacher wrote: question lists and chain-of-thought answers."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

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


@dataclass
class CotCheck:
    """Validation of one chain-of-thought answer."""

    valid: bool
    answer: str = ""
    quotes: int = 0
    quotes_not_in_context: int = 0
    problems: list[str] = field(default_factory=list)


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def check_cot(text: str, context: str) -> CotCheck:
    """Valid when a non-empty ``<ANSWER>:`` is present; counts quotes not found in ``context``."""
    matches = list(_ANSWER.finditer(text or ""))
    answer = text[matches[-1].end():].strip() if matches else ""
    quotes = [q.strip() for q in _QUOTE.findall(text or "")]
    haystack = _norm(context)
    missing = sum(1 for q in quotes if q and _norm(q) not in haystack)
    problems = []
    if not matches:
        problems.append("no <ANSWER>: tag")
    elif not answer:
        problems.append("empty answer")
    if missing:
        problems.append(f"{missing} quote(s) not in the context")
    return CotCheck(bool(answer), answer, len(quotes), missing, problems)


def final_answer(text: str) -> str:
    """The text after the last ``<ANSWER>:`` (all of it when the tag is missing)."""
    matches = list(_ANSWER.finditer(text or ""))
    return (text[matches[-1].end():] if matches else text or "").strip()
