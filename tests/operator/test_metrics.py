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
