"""Metric functions against hand-computed examples."""

from __future__ import annotations

import pytest
from raft_jobs.common.conversation import REFUSAL_ANSWER
from raft_jobs.eval import metrics, stats


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Reasoning ##begin_quote## x ##end_quote## <ANSWER>: Paris", "Paris"),
        ("<ANSWER>: first draft\nmore thinking <ANSWER>: final", "final"),
        ("<answer> : lower case tag", "lower case tag"),
        ("<ANSWER>: tagged and closed </ANSWER>", "tagged and closed"),
        ("no tag at all ", "no tag at all"),
        ("Long reasoning over\nseveral lines.\n\nParis\n", "Paris"),  # untagged: the last line only
        ("", ""),
    ],
)
def test_extract_answer(text: str, expected: str) -> None:
    assert metrics.extract_answer(text) == expected


def test_normalize_answer_squad_rules() -> None:
    assert metrics.normalize_answer("The  Eiffel-Tower, in PARIS!") == "eiffeltower in paris"
    assert metrics.normalize_answer("an apple a day") == "apple day"


@pytest.mark.parametrize(
    ("prediction", "reference", "expected"),
    [
        ("The Eiffel Tower.", "eiffel tower", 1.0),
        ("Eiffel  tower", "The eiffel tower!", 1.0),
        ("Eiffel tower in Paris", "Eiffel tower", 0.0),
        ("", "", 1.0),
    ],
)
def test_exact_match(prediction: str, reference: str, expected: float) -> None:
    assert metrics.exact_match(prediction, reference) == expected


def test_token_f1_hand_computed() -> None:
    # prediction tokens: [cat, sat, on, mat]; reference: [cat, sat]; overlap 2
    # precision 2/4, recall 2/2 -> F1 = 2 * 0.5 * 1 / 1.5 = 2/3
    assert metrics.token_f1("The cat sat on the mat", "a cat sat") == pytest.approx(2 / 3)
    assert metrics.token_f1("dog", "cat") == 0.0
    assert metrics.token_f1("", "cat") == 0.0
    # Repeated tokens only count as often as they occur in both.
    assert metrics.token_f1("red red red", "red") == pytest.approx(2 * (1 / 3) * 1 / (1 / 3 + 1))


def test_rouge_known_pairs() -> None:
    same = metrics.rouge_scores("the cat sat on the mat", "the cat sat on the mat")
    assert same == {"rouge1": pytest.approx(1.0), "rouge2": pytest.approx(1.0), "rougeL": pytest.approx(1.0)}
    # reference "the cat sat" vs prediction "the cat ran": unigrams 2/3 both ways -> 2/3;
    # bigrams: {the cat, cat sat} vs {the cat, cat ran} -> 1/2; LCS "the cat" -> 2/3.
    scores = metrics.rouge_scores("the cat ran", "the cat sat")
    assert scores["rouge1"] == pytest.approx(2 / 3)
    assert scores["rouge2"] == pytest.approx(1 / 2)
    assert scores["rougeL"] == pytest.approx(2 / 3)
    assert metrics.rouge_scores("alpha", "omega")["rouge1"] == 0.0


def test_bleu_scale() -> None:
    text = "the quick brown fox jumps over the lazy dog"
    assert metrics.corpus_bleu([text], [text]) == pytest.approx(1.0)
    assert metrics.corpus_bleu(["completely different words here"], [text]) == pytest.approx(0.0, abs=1e-6)
    assert metrics.corpus_bleu([], []) == 0.0


@pytest.mark.parametrize(
    "answer",
    [
        REFUSAL_ANSWER,
        REFUSAL_ANSWER.upper().rstrip("."),
        "I can't answer this question based on the provided documents",
        "I cannot answer that.",
        "The documents do not contain this information.",
        "The provided context doesn't mention the launch date.",
        "There is not enough information to answer.",
        "Insufficient information.",
        "I don't know.",
        "This is not mentioned in the documents.",
        "Unable to determine from the given text.",
    ],
)
def test_refusal_variants(answer: str) -> None:
    assert metrics.is_refusal(answer)


@pytest.mark.parametrize(
    "answer",
    [
        "Paris",
        "Mammals do not have feathers.",
        "No, the bridge was not rebuilt.",
        "The cache cannot exceed 4 GiB.",
        "",
    ],
)
def test_not_refusals(answer: str) -> None:
    assert not metrics.is_refusal(answer)


def test_precision_formula() -> None:
    # 6 of the 8 answers that are not refusals were judged correct
    assert metrics.precision_score(6, 8) == pytest.approx(0.75)
    assert metrics.precision_score(0, 0) is None  # every answer refused: undefined


def test_relative_improvement() -> None:
    assert metrics.relative_improvement(0.6, 0.4) == pytest.approx(0.5)
    assert metrics.relative_improvement(0.2, 0.4) == pytest.approx(-0.5)
    assert metrics.relative_improvement(0.5, 0.0) is None
    assert metrics.relative_improvement(None, 0.3) is None


def test_bootstrap_ci_seeded_and_bracketing_the_mean() -> None:
    values = [1.0] * 60 + [0.0] * 40
    clusters = list(range(100))
    low, high = stats.cluster_bootstrap_ci(values, clusters, seed=7)
    assert low < 0.6 < high
    assert 0.45 < low and high < 0.75
    assert stats.cluster_bootstrap_ci(values, clusters, seed=7) == (low, high)
    assert stats.cluster_bootstrap_ci([1.0, 1.0, 1.0], [1, 2, 3]) == (1.0, 1.0)
    assert stats.cluster_bootstrap_ci([], []) is None


def test_bootstrap_resamples_chunks_not_questions() -> None:
    """Questions of one chunk move together: 10 chunks of 10 identical outcomes are 10 samples,
    not 100, so the interval is much wider than a per-question bootstrap would make it."""
    values = [1.0] * 60 + [0.0] * 40
    by_chunk = [i // 10 for i in range(100)]
    low, high = stats.cluster_bootstrap_ci(values, by_chunk, seed=7)
    naive_low, naive_high = stats.cluster_bootstrap_ci(values, list(range(100)), seed=7)
    assert high - low > 1.8 * (naive_high - naive_low)


def test_paired_comparison_difference_interval_and_test() -> None:
    student = [1.0] * 40 + [0.0] * 10
    baseline = [0.0] * 20 + [1.0] * 20 + [0.0] * 10
    result = stats.paired_comparison(student, baseline, [i // 2 for i in range(50)], seed=3)
    assert result["difference"] == pytest.approx(0.4)
    assert result["ci"][0] < 0.4 < result["ci"][1] and result["ci"][0] > 0
    assert result["pValue"] < 0.01 and result["clusters"] == 25 and result["n"] == 50
    same = stats.paired_comparison(baseline, baseline, list(range(50)))
    assert same["difference"] == 0 and same["pValue"] == 1.0
