"""Answer-level and aggregate metrics: exact match, token F1, ROUGE, BLEU, refusals, precision.

Every score is a fraction in [0, 1] (BLEU included: sacrebleu's 0-100 divided by 100) so that
tables and plots can treat them alike; the reports render them as percentages.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Sequence

from raft_jobs.common.refusal import is_refusal, normalize_answer  # noqa: F401 - eval scores with both


_TAG = re.compile(r"<\s*answer\s*>\s*:?", re.IGNORECASE)
_CLOSING_TAG = re.compile(r"<\s*/\s*answer\s*>", re.IGNORECASE)


def follows_format(text: str) -> bool:
    """Whether a reply ends in the requested ``<ANSWER>: <final answer>`` with a non-empty answer."""
    matches = list(_TAG.finditer(text or ""))
    return bool(matches) and bool(_CLOSING_TAG.sub("", text[matches[-1].end() :]).strip())


def extract_answer(text: str) -> str:
    """The final answer: the text after the last ``<ANSWER>:`` tag, else the last non-empty line.

    The tag is matched case-insensitively and with optional spaces before the colon, since
    small students drift on the exact spelling. A reply without the tag is scored on its last
    line (where models that ignore the format usually conclude), never on the whole chain of
    thought, so no model gains or loses from a long reasoning text.
    """
    text = text or ""
    matches = list(_TAG.finditer(text))
    if matches:
        tail = text[matches[-1].end() :]
    else:
        lines = [line for line in text.splitlines() if line.strip()]
        tail = lines[-1] if lines else ""
    # A closing tag some models add after the answer is not part of it.
    return _CLOSING_TAG.sub("", tail).strip()


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


def load_scorers() -> None:
    """Import and build the ROUGE scorer now (idempotent).

    ``rouge-score`` pulls in NLTK and SciPy: seconds of CPU. Done lazily on the first scored
    answer, that import would block the event loop while hundreds of requests are in flight,
    leaving the servers idle; :func:`raft_jobs.eval.runner.evaluate` calls this (in a thread)
    before the first request instead.
    """
    global _rouge_scorer
    if _rouge_scorer is None:
        from rouge_score import rouge_scorer

        _rouge_scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)


def rouge_scores(prediction: str, reference: str) -> dict[str, float]:
    """ROUGE-1/2/L F-measures (``rouge-score``, Porter stemming) of one pair."""
    load_scorers()
    assert _rouge_scorer is not None
    scores = _rouge_scorer.score(reference, prediction)
    return {name: score.fmeasure for name, score in scores.items()}


def corpus_bleu(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU (sacrebleu defaults) scaled to [0, 1]; 0.0 for an empty corpus."""
    if not predictions:
        return 0.0
    import sacrebleu

    return sacrebleu.corpus_bleu(list(predictions), [list(references)]).score / 100.0


def precision_score(correct_answered: int, answered: int) -> float | None:
    """Accuracy among the questions the model did not refuse: correct non-refusals / non-refusals.

    Numerator and denominator count the same answers (a refusal the judge accepted is in
    neither), so the value lies in [0, 1]. ``None`` when every answer was a refusal.
    """
    if answered <= 0:
        return None
    return correct_answered / answered


def relative_improvement(student: float | None, baseline: float | None) -> float | None:
    """``(student - baseline) / baseline``; ``None`` when either is missing or the baseline is 0."""
    if student is None or baseline is None or baseline == 0:
        return None
    return (student - baseline) / baseline
