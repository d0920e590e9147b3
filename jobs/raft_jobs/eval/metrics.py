"""Answer-level and aggregate metrics: exact match, token F1, ROUGE, BLEU, refusals, precision.

Every score is a fraction in [0, 1] (BLEU included: sacrebleu's 0-100 divided by 100) so that
tables and plots can treat them alike; the reports render them as percentages.
"""

from __future__ import annotations

import collections
import re
import string
from collections.abc import Sequence

import numpy as np

from raft_jobs.common.runconfig import REFUSAL_ANSWER

ANSWER_TAG = "<ANSWER>:"

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def extract_answer(text: str) -> str:
    """The final answer: the text after the last ``<ANSWER>:`` tag, or all of it without one.

    The tag is matched case-insensitively and with optional spaces before the colon, since
    small students drift on the exact spelling.
    """
    matches = list(re.finditer(r"<\s*answer\s*>\s*:?", text or "", flags=re.IGNORECASE))
    tail = text[matches[-1].end() :] if matches else (text or "")
    # A closing tag some models add after the answer is not part of it.
    tail = re.sub(r"<\s*/\s*answer\s*>", "", tail, flags=re.IGNORECASE)
    return tail.strip()


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, drop punctuation and articles, collapse whitespace."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, reference: str) -> float:
    """1.0 when the normalised prediction equals the normalised reference."""
    return float(normalize_answer(prediction) == normalize_answer(reference))


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD token F1 between the normalised prediction and reference."""
    pred_tokens = normalize_answer(prediction).split()
    ref_tokens = normalize_answer(reference).split()
    if not pred_tokens or not ref_tokens:
        return float(pred_tokens == ref_tokens)
    common = collections.Counter(pred_tokens) & collections.Counter(ref_tokens)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(pred_tokens)
    recall = overlap / len(ref_tokens)
    return 2 * precision * recall / (precision + recall)


_rouge_scorer = None


def rouge_scores(prediction: str, reference: str) -> dict[str, float]:
    """ROUGE-1/2/L F-measures (``rouge-score``, Porter stemming) of one pair."""
    global _rouge_scorer
    if _rouge_scorer is None:
        from rouge_score import rouge_scorer

        _rouge_scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    scores = _rouge_scorer.score(reference, prediction)
    return {name: score.fmeasure for name, score in scores.items()}


def corpus_bleu(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU (sacrebleu defaults) scaled to [0, 1]; 0.0 for an empty corpus."""
    if not predictions:
        return 0.0
    import sacrebleu

    return sacrebleu.corpus_bleu(list(predictions), [list(references)]).score / 100.0


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
_REFUSAL_NORMALIZED = normalize_answer(REFUSAL_ANSWER)


def is_refusal(answer: str) -> bool:
    """Whether an extracted answer declines to answer.

    True for :data:`REFUSAL_ANSWER` itself (up to normalisation) and for close variants
    ("I can't answer that from the documents", "The documents do not contain ...",
    "Not enough information"). Only the short final answer should be passed in: a chain of
    thought that discusses a missing detail before answering is not a refusal.
    """
    text = " ".join((answer or "").lower().replace("’", "'").split())
    if not text:
        return False
    if normalize_answer(text) == _REFUSAL_NORMALIZED:
        return True
    return any(pattern.search(text) for pattern in _REFUSAL_PATTERNS)


def precision_score(judge_score: float | None, refusals: int, total: int) -> float | None:
    """Accuracy among the questions the model did answer: ``judge / (1 - refusals / total)``.

    ``None`` when there is nothing to divide by: no questions, every answer refused, or no
    judge score.
    """
    if judge_score is None or total <= 0 or refusals >= total:
        return None
    return judge_score / (1.0 - refusals / total)


def relative_improvement(student: float | None, baseline: float | None) -> float | None:
    """``(student - baseline) / baseline``; ``None`` when either is missing or the baseline is 0."""
    if student is None or baseline is None or baseline == 0:
        return None
    return (student - baseline) / baseline


def bootstrap_ci(
    values: Sequence[float], *, resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean of ``values`` (seeded, so reproducible).

    ``None`` for an empty sample.
    """
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return None
    rng = np.random.default_rng(seed)
    means = rng.choice(data, size=(resamples, data.size), replace=True).mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)
