"""LLM-as-judge: the prompts sent to the judge and robust parsing of what it answers.

The judge sees the question, the reference answer and the model's final answer, and says
YES (the answer is correct) or NO. With ``eval.rubric`` it also scores the answer from 1 to 5
for groundedness in the retrieved documents, relevance to the question and similarity to the
reference. A reply that cannot be read is recorded as such, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

YES = "YES"
NO = "NO"
UNPARSEABLE = "UNPARSEABLE"
ERROR = "ERROR"  # the judge request itself failed; left out of the score like UNPARSEABLE

RUBRIC_CRITERIA = ("groundedness", "relevance", "similarity")

JUDGE_SYSTEM = (
    "You are a strict grader of answers to questions. You compare a candidate answer with a "
    "reference answer and decide whether the candidate is correct."
)

RUBRIC_SYSTEM = "You are a careful grader. You score answers on a scale from 1 (worst) to 5 (best)."


def judge_prompt(question: str, reference: str, answer: str) -> list[dict[str, str]]:
    """Chat messages asking the judge for a YES/NO verdict on ``answer``."""
    user = (
        f"Question:\n{question}\n\n"
        f"Reference answer:\n{reference}\n\n"
        f"Candidate answer:\n{answer}\n\n"
        "Does the candidate answer convey the same information as the reference answer, "
        "without contradicting it? Minor wording differences and extra correct detail are "
        "fine. Reply with a single word: YES or NO."
    )
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


def rubric_prompt(
    question: str, reference: str, answer: str, documents: Sequence[str] | None
) -> list[dict[str, str]]:
    """Chat messages asking the judge for 1-5 rubric scores, one ``Criterion: N`` line each.

    Without retrieved documents (no-RAG mode) groundedness is not asked for.
    """
    criteria = [
        "Relevance: does the candidate answer address the question?",
        "Similarity: how close is the candidate answer to the reference answer in meaning?",
    ]
    docs = ""
    if documents:
        docs = "".join(f"<DOCUMENT>{doc}</DOCUMENT>\n" for doc in documents)
        docs = f"Retrieved documents:\n{docs}\n"
        criteria.insert(0, "Groundedness: is every claim in the candidate answer supported by the documents?")
    lines = "\n".join(f"- {c}" for c in criteria)
    names = ", ".join(c.split(":")[0] for c in criteria)
    user = (
        f"{docs}Question:\n{question}\n\n"
        f"Reference answer:\n{reference}\n\n"
        f"Candidate answer:\n{answer}\n\n"
        f"Score the candidate answer from 1 to 5 on each criterion:\n{lines}\n\n"
        f"Reply with one line per criterion ({names}) in the form `Criterion: N` and nothing else."
    )
    return [{"role": "system", "content": RUBRIC_SYSTEM}, {"role": "user", "content": user}]


_WORD = re.compile(r"[a-z]+")
_LABELLED = re.compile(
    r"\b(?:verdict|answer|decision|judgement|judgment|final answer|result)\s*(?:is)?\s*[:=\-]?\s*"
    r"\W*(yes|no)\b"
)


def parse_verdict(reply: str | None) -> str:
    """``YES``, ``NO`` or ``UNPARSEABLE`` from a judge reply.

    Accepts "YES", "yes.", "**YES**", "No, because ...", "Verdict: yes" and a reply whose only
    standalone yes/no word is the verdict. A reply that says both or neither is unparseable.
    """
    text = (reply or "").lower()
    # Reasoning models may think aloud before answering; only the part after that counts.
    text = re.sub(r"<think>.*?</think>", " ", text, flags=re.DOTALL)
    words = _WORD.findall(text)
    if not words:
        return UNPARSEABLE
    if words[0] in ("yes", "no"):
        return YES if words[0] == "yes" else NO
    labelled = _LABELLED.findall(text)
    if labelled:
        return YES if labelled[-1] == "yes" else NO
    found = {w for w in words if w in ("yes", "no")}
    if len(found) == 1:
        return YES if found == {"yes"} else NO
    return UNPARSEABLE


def parse_rubric(reply: str | None, criteria: Sequence[str] = RUBRIC_CRITERIA) -> dict[str, int | None]:
    """Scores 1-5 per criterion from ``Criterion: N`` lines; ``None`` where absent or out of range."""
    text = (reply or "").lower()
    scores: dict[str, int | None] = {}
    for name in criteria:
        match = re.search(rf"{name}\W*?(\d+(?:\.\d+)?)", text)
        value = None
        if match:
            number = float(match.group(1))
            if 1 <= number <= 5:
                value = round(number)
        scores[name] = value
    return scores
