"""Recognising an answer that declines: the run's refusal sentence and its close variants.

Used by eval (refusal counts and precision, on the final answer only) and by datagen (a
teacher answer saying its document lacks the answer is rejected).
"""

from __future__ import annotations

import re
import string

from .conversation import REFUSAL_ANSWER

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)
_SOURCES = r"(documents?|context|texts?|passages?|sources?|provided information)"
_REFUSAL_PATTERNS = [
    re.compile(pattern)
    for pattern in (
        r"\b(cannot|can ?not|can't|cant|unable to|not able to)\s+(be\s+)?"
        r"(answer|answered|determine|determined|find|found|tell|say)\b",
        _SOURCES + r"\s+(provided\s+|given\s+)?(do|does|did)\s*(not|n't)\s+"
        r"(contain|include|mention|provide|say|specify|state|cover|address)\b",
        r"\b(not enough|insufficient)\s+(relevant\s+)?(information|context|evidence|details)\b",
        r"\bno\s+(relevant\s+)?(information|context|mention)\s+(about|on|of|regarding|in)\b",
        r"\bnot\s+(mentioned|provided|specified|stated|covered|addressed)\s+in\s+(the|any)\s+" + _SOURCES,
        r"\bi\s+(do not|don't|dont)\s+know\b",
    )
]


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, drop punctuation and articles, collapse whitespace."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


_REFUSAL_NORMALIZED = normalize_answer(REFUSAL_ANSWER)


def is_refusal(answer: str) -> bool:
    """Whether a final answer declines to answer.

    True for :data:`REFUSAL_ANSWER` itself (up to normalisation) and for close variants
    ("I can't answer that from the documents", "The documents do not contain ...",
    "Not enough information"). Pass only the short final answer: a chain of thought that
    discusses a missing detail before answering is not a refusal.
    """
    text = " ".join((answer or "").lower().replace("’", "'").split())
    if not text:
        return False
    if normalize_answer(text) == _REFUSAL_NORMALIZED:
        return True
    return any(pattern.search(text) for pattern in _REFUSAL_PATTERNS)
