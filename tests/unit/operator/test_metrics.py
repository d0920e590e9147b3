"""Every metric the operator exports is named raft_operator_*."""

from __future__ import annotations

from prometheus_client import REGISTRY

from raft_operator import metrics


def test_metric_names_carry_the_operator_prefix() -> None:
    ours = [metrics.RUNS_BY_PHASE, metrics.STAGE_DURATION, metrics.RECONCILE_ERRORS, metrics.RECONCILE_SECONDS,
            metrics.API_WRITES]
    names = {sample.name for metric in ours for family in metric.collect() for sample in family.samples}
    metrics.record_phase("uid-1", "FineTuning")
    names |= {s.name for f in metrics.RUNS_BY_PHASE.collect() for s in f.samples}
    assert names and all(n.startswith("raft_operator_") for n in names), sorted(names)
    exported = {s.name for f in REGISTRY.collect() for s in f.samples if s.name.startswith("raft_")}
    assert all(n.startswith("raft_operator_") for n in exported), sorted(exported)
    metrics.record_phase("uid-1", None)


def _runs_in(phase: str) -> float:
    return next((s.value for f in metrics.RUNS_BY_PHASE.collect() for s in f.samples
                 if s.labels.get("phase") == phase), 0.0)


def test_the_phase_gauge_moves_one_run_per_change_and_forgets_deleted_runs() -> None:
    before = {p: _runs_in(p) for p in ("GeneratingData", "FineTuning", "Succeeded")}
    metrics.record_phase("uid-a", "GeneratingData")
    metrics.record_phase("uid-b", "GeneratingData")
    metrics.record_phase("uid-a", "GeneratingData")  # a repeated event counts once
    assert _runs_in("GeneratingData") == before["GeneratingData"] + 2
    metrics.record_phase("uid-a", "FineTuning")
    assert _runs_in("GeneratingData") == before["GeneratingData"] + 1
    assert _runs_in("FineTuning") == before["FineTuning"] + 1
    metrics.record_phase("uid-a", None)
    metrics.record_phase("uid-a", None)  # a second DELETED event changes nothing
    metrics.record_phase("uid-b", "Succeeded")
    assert _runs_in("FineTuning") == before["FineTuning"]
    assert _runs_in("GeneratingData") == before["GeneratingData"]
    assert _runs_in("Succeeded") == before["Succeeded"] + 1
    metrics.record_phase("uid-b", None)
    assert _runs_in("Succeeded") == before["Succeeded"]
