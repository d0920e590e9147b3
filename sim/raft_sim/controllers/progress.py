"""SIMULATED progress reports: plausible numbers where the workload programs would send real ones.

The simulated controllers send these through the progress channel's one typed definition
(:mod:`raft_api.progress`) while a stage runs; with real workloads the programs
report for themselves.
"""

from __future__ import annotations

import math

from raft_api.progress import DatagenReport, EvalReport, FinetuneReport

from .base import Obj


def datagen_progress(fraction: float, run: Obj) -> DatagenReport:
    """A plausible ``datagen`` progress object at ``fraction`` of the way (SIMULATED)."""
    per_chunk = int((run.get("datagen") or {}).get("questionsPerChunk") or 4)
    total = 48
    done = round(total * fraction)
    return {
        "chunksDone": done,
        "chunksTotal": total,
        "records": done * per_chunk,
        "malformed": done // 12,
        "retries": done // 16,
        "tokensPerSecond": round(1850.0 + 150.0 * math.sin(fraction * 6), 1),
    }


def finetune_progress(fraction: float, run: Obj) -> FinetuneReport:
    """A plausible ``finetune`` progress object: a decaying loss curve (SIMULATED)."""
    epochs = int((run.get("student") or {}).get("epochs") or 1)
    total = 120 * epochs
    step = round(total * fraction)
    loss = 0.35 + 2.1 * math.exp(-3.0 * fraction)
    return {
        "step": step,
        "totalSteps": total,
        "epoch": round(epochs * fraction, 3),
        "loss": round(loss, 4),
        "validationLoss": round(loss + 0.08, 4),
        "tokensPerSecond": 5120.0,
        "mfu": 0.41,
    }


def eval_progress(fraction: float, run: Obj) -> EvalReport:
    """Plausible ``eval`` results for the run's models, student above baseline (SIMULATED).

    Results appear model by model as ``fraction`` grows; the summary comes with the last one.
    """
    cfg = run.get("eval") or {}
    models = [(m.get("name") or "model", m.get("role") or "baseline") for m in cfg.get("models") or []]
    models = models or [("student", "student"), ("base", "baseline")]
    modes = ([("none", 0)] if cfg.get("withoutRag", True) else []) + [
        ("rag", int(k)) for k in cfg.get("topK") or [3, 5, 7]]
    rows = []
    for name, role in models:
        lift = 0.18 if role == "student" else 0.0
        for mode, k in modes:
            base = (0.42 if mode == "rag" else 0.25) + lift + 0.01 * k
            total = 100
            rows.append({
                "model": name, "mode": mode, "topK": k, "judgeScore": round(min(base, 0.99), 3),
                "rouge1": round(base * 0.9, 3), "rouge2": round(base * 0.55, 3), "rougeL": round(base * 0.8, 3),
                "bleu": round(base * 0.4, 3), "exactMatch": round(base * 0.3, 3), "f1": round(base * 0.85, 3),
                "refusals": 3 if role == "student" else 9, "total": total,
                "precision": round(min(base + 0.05, 0.99), 3),
            })
    shown = rows[: max(1, math.floor(len(rows) * fraction))] if fraction < 1.0 else rows
    payload: EvalReport = {"results": shown}
    if fraction >= 1.0:
        # The headline is the declared primary mode (RAG at the first top k unless set), never the best one.
        mode = cfg.get("primaryMode") or "rag"
        k = int(cfg.get("primaryTopK") or (cfg.get("topK") or [3])[0]) if mode == "rag" else 0
        in_mode = [r for r in rows if r["mode"] == mode and r["topK"] == k]
        students = [r for r in in_mode if any(r["model"] == n and role == "student" for n, role in models)]
        head = (students or in_mode or rows)[0]
        payload["summary"] = {"model": head["model"], "mode": head["mode"], "topK": head["topK"],
                              "judgeScore": head["judgeScore"], "judgeCoverage": 1.0,
                              "improvement": {r["model"]: round(head["judgeScore"] / r["judgeScore"] - 1, 3)
                                              for r in in_mode if r is not head and r["judgeScore"]}}
    return payload
