"""PNG plots of the results (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first

JUDGE_BY_TOPK = "judge_by_topk.png"
REFUSALS_PRECISION = "refusals_precision.png"


def _models(results: Sequence[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["model"] for r in results))


def _percent(value: float | None) -> float:
    return float("nan") if value is None else 100.0 * value


def plot_judge_by_topk(results: Sequence[dict[str, Any]], path: Path) -> Path:
    """Judge score (with its 95% interval) against top-k, one line per model.

    The no-RAG score of each model is drawn as a dashed horizontal line in the same colour.
    """
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=120)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    ks = sorted({r["topK"] for r in results if r["mode"] == "rag"})
    models = _models(results)
    # Models are nudged sideways so that overlapping error bars stay apart.
    step = (min(b - a for a, b in zip(ks, ks[1:])) if len(ks) > 1 else 1) * 0.06
    for i, model in enumerate(models):
        colour = colours[i % len(colours)]
        offset = (i - (len(models) - 1) / 2) * step
        rag = sorted(
            (r for r in results if r["model"] == model and r["mode"] == "rag"), key=lambda r: r["topK"]
        )
        if rag:
            xs = [r["topK"] + offset for r in rag]
            ys = [_percent(r["judgeScore"]) for r in rag]
            low = [y - _percent(r["judgeCI"][0]) if r["judgeCI"] else 0.0 for y, r in zip(ys, rag)]
            high = [_percent(r["judgeCI"][1]) - y if r["judgeCI"] else 0.0 for y, r in zip(ys, rag)]
            ax.errorbar(xs, ys, yerr=[low, high], marker="o", capsize=4, color=colour, label=f"{model} (RAG)")
        for r in results:
            if r["model"] == model and r["mode"] == "none" and r["judgeScore"] is not None:
                ax.axhline(
                    _percent(r["judgeScore"]),
                    linestyle="--",
                    color=colour,
                    alpha=0.8,
                    label=f"{model} (no RAG)",
                )
    if ks:
        ax.set_xticks(ks)
    ax.set_xlabel("retrieved chunks (top-k)")
    ax.set_ylabel("judge score (% correct)")
    ax.set_ylim(0, 105)
    ax.set_title("LLM-judge score by top-k (bars: 95% CI, bootstrap over chunks)")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    else:  # every judge score withheld (coverage below the threshold)
        ax.text(0.5, 0.5, "no judge score: coverage below the threshold", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def plot_refusals_precision(results: Sequence[dict[str, Any]], path: Path) -> Path:
    """Two bar charts side by side: refusal rate and precision per model, one bar per mode."""
    models = _models(results)
    modes = list(dict.fromkeys((r["mode"], r["topK"]) for r in results))
    modes.sort(key=lambda m: (m[0] != "none", m[1] or 0))
    width = 0.8 / max(len(modes), 1)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), dpi=120)
    for ax, key, title in (
        (axes[0], "refusalRate", "Refusal rate (%)"),
        (axes[1], "precision", "Precision: judge score among answered (%)"),
    ):
        for j, (mode, top_k) in enumerate(modes):
            values = []
            for model in models:
                row = next(
                    (r for r in results if r["model"] == model and r["mode"] == mode and r["topK"] == top_k),
                    None,
                )
                values.append(_percent(row.get(key)) if row else float("nan"))
            xs = [i + (j - (len(modes) - 1) / 2) * width for i in range(len(models))]
            ax.bar(xs, values, width=width, label="no RAG" if mode == "none" else f"RAG k={top_k}")
        ax.set_xticks(range(len(models)))
        ax.set_xticklabels(models, rotation=15, ha="right")
        ax.set_ylim(0, 105)
        ax.set_title(title)
        ax.grid(True, axis="y", alpha=0.3)
    axes[1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def write_plots(results: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Both plots under ``out_dir``; returns their paths."""
    return [
        plot_judge_by_topk(results, out_dir / JUDGE_BY_TOPK),
        plot_refusals_precision(results, out_dir / REFUSALS_PRECISION),
    ]
