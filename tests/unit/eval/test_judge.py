"""Parsing the judge's replies: verdicts and rubric scores."""

from __future__ import annotations

import pytest
from raft_jobs.eval.judge import (
    NO,
    UNPARSEABLE,
    YES,
    judge_prompt,
    parse_rubric,
    parse_verdict,
    rubric_prompt,
)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("YES", YES),
        ("yes.", YES),
        ("Yes", YES),
        ("**YES**", YES),
        ("  `yes`\n", YES),
        ("NO", NO),
        ("no.", NO),
        ("**No**, the answer names the wrong year.", NO),
        ("Verdict: YES", YES),
        ("The candidate matches the reference. Final answer: no", NO),
        ("<think>is it yes or no? the dates differ</think>NO", NO),
        ("The candidate is correct, so YES.", YES),
        ("", UNPARSEABLE),
        (None, UNPARSEABLE),
        ("asdf qwerty", UNPARSEABLE),
        ("Maybe yes, maybe no.", UNPARSEABLE),
        ("I am not sure.", UNPARSEABLE),
        ("yesterday nothing happened", UNPARSEABLE),
    ],
)
def test_parse_verdict(reply: str | None, expected: str) -> None:
    assert parse_verdict(reply) == expected


def test_parse_rubric() -> None:
    reply = "Groundedness: 4\nRelevance: 5\nSimilarity: 2"
    assert parse_rubric(reply) == {"groundedness": 4, "relevance": 5, "similarity": 2}
    assert parse_rubric("**Relevance**: 3/5\nSimilarity - 9", ["relevance", "similarity"]) == {
        "relevance": 3,
        "similarity": None,
    }
    assert parse_rubric("garbage") == {"groundedness": None, "relevance": None, "similarity": None}


def test_prompts_carry_the_inputs() -> None:
    messages = judge_prompt("Q?", "REF", "CAND")
    assert messages[-1]["role"] == "user"
    assert all(part in messages[-1]["content"] for part in ("Q?", "REF", "CAND", "YES or NO"))
    with_docs = rubric_prompt("Q?", "REF", "CAND", ["doc one"])[-1]["content"]
    assert "<DOCUMENT>doc one</DOCUMENT>" in with_docs and "Groundedness" in with_docs
    assert "Groundedness" not in rubric_prompt("Q?", "REF", "CAND", None)[-1]["content"]
