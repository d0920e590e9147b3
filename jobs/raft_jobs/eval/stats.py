"""Intervals and tests that respect how the questions were drawn.

Datagen writes several questions per chunk, and questions from one chunk are not independent
(they share a passage, and often its difficulty). Every interval here is a seeded percentile
bootstrap that resamples whole chunks (clusters), and the paired test flips the sign of whole
chunks' differences, so a score is never more certain than its number of chunks allows.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

RESAMPLES = 2000
CONFIDENCE = 0.95
PERMUTATIONS = 9999


def _cluster_sums(values: Sequence[float], clusters: Sequence[Hashable]) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster sums of ``values`` and per-cluster counts, clusters in first-seen order."""
    index: dict[Hashable, int] = {}
    ids = np.array([index.setdefault(c, len(index)) for c in clusters], dtype=int)
    sums = np.bincount(ids, weights=np.asarray(values, dtype=float), minlength=len(index))
    counts = np.bincount(ids, minlength=len(index)).astype(float)
    return sums, counts


def cluster_bootstrap_ci(
    values: Sequence[float],
    clusters: Sequence[Hashable],
    *,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Percentile interval of the mean of ``values``, resampling whole clusters with replacement.

    ``None`` for an empty sample. With one value per cluster this is the ordinary bootstrap.
    """
    if len(values) == 0:
        return None
    if len(values) != len(clusters):
        raise ValueError("values and clusters must have the same length")
    sums, counts = _cluster_sums(values, clusters)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(sums), size=(resamples, len(sums)))
    means = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def paired_comparison(
    student: Sequence[float],
    baseline: Sequence[float],
    clusters: Sequence[Hashable],
    *,
    seed: int = 0,
) -> dict[str, Any]:
    """Paired difference ``mean(student - baseline)`` over the same questions.

    Returns ``difference``, its cluster-bootstrap ``ci`` and ``pValue``: a two-sided paired
    randomisation test (``scipy.stats.permutation_test``, sign flips of whole clusters'
    summed differences; exact when there are few clusters). ``n`` questions, ``clusters``.
    """
    from scipy import stats

    if not (len(student) == len(baseline) == len(clusters)):
        raise ValueError("student, baseline and clusters must have the same length")
    diffs = np.asarray(student, dtype=float) - np.asarray(baseline, dtype=float)
    out: dict[str, Any] = {"n": int(diffs.size), "clusters": len(set(clusters))}
    if diffs.size == 0:
        return {**out, "difference": None, "ci": None, "pValue": None}
    out["difference"] = float(diffs.mean())
    out["ci"] = list(cluster_bootstrap_ci(diffs, clusters, seed=seed) or [])
    s_sums, _ = _cluster_sums(student, clusters)
    b_sums, _ = _cluster_sums(baseline, clusters)
    if np.allclose(s_sums, b_sums):
        out["pValue"] = 1.0
        return out
    result = stats.permutation_test(
        (s_sums, b_sums),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=PERMUTATIONS,
        alternative="two-sided",
        rng=np.random.default_rng(seed),
    )
    out["pValue"] = float(min(1.0, result.pvalue))
    return out
