"""The progress channel's typed contract: what the programs send and what reaches status."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from harness import FakeCluster, raftrun
from raft_jobs.common.progress import ProgressReporter
from raft_api.progress import (
    EvalReport, EvalResult, conform, encode_report, parse_report,
)
from raft_api.runconfig import ProgressConfig
from raft_jobs.eval import aggregate
from raft_operator import progress as reports
from raft_sim.controllers.progress import datagen_progress, eval_progress, finetune_progress

from test_reconciler import servers_up, to_eval, to_finetune


def strict_json(value: Any) -> str:
    """What the API server accepts: JSON without NaN or Infinity."""
    return json.dumps(value, allow_nan=False)


def test_nan_loss_does_not_freeze_status() -> None:
    c = FakeCluster(raftrun())
    to_finetune(c)
    c.progress("finetune", '{"step": 3, "totalSteps": 10, "loss": NaN, "validationLoss": Infinity, "epoch": 0.3}')
    plan = c.step()
    strict_json(plan.status)  # the status patch would be refused with a NaN in it
    assert c.run["status"]["training"] == {"step": 3, "totalSteps": 10, "epoch": 0.3}
    assert c.run["status"]["progress"] == "step 3/10 (30%)"


@pytest.mark.parametrize(("field", "value"), [
    ("chunksDone", True), ("chunksDone", 2.5), ("chunksDone", "7"), ("chunksDone", -1), ("chunksDone", 2**80),
    ("tokensPerSecond", False), ("tokensPerSecond", 1e400), ("tokensPerSecond", {"a": 1}),
])
def test_mistyped_fields_are_dropped(field: str, value: Any) -> None:
    text = json.dumps({"chunksTotal": 10, field: value})
    assert parse_report("datagen", text) == {"chunksTotal": 10}


def test_status_cannot_be_made_to_grow() -> None:
    row = {"model": "student", "mode": "rag", "topK": 3, "judgeScore": 0.5}
    report = {
        "results": [row] * 10_000 + [{"model": "x" * 100_000}],
        "summary": {"model": "m" * 300, "judgeScore": 0.5, "improvement": {f"b{i}": 0.1 for i in range(1000)}},
        "extra": {"deep": [[[[1]]]]},
    }
    parsed = parse_report("eval", json.dumps(report))
    assert parsed is None, "a report over the size limit is not read at all"
    report["results"] = [row] * 400 + [{"model": "x" * 300}]
    parsed = parse_report("eval", json.dumps(report))
    assert parsed is not None
    assert len(parsed["results"]) == 256 and "extra" not in parsed
    assert "model" not in parsed["summary"] and len(parsed["summary"]["improvement"]) == 16


def test_deep_nesting_is_ignored_without_breaking_reconcile() -> None:
    c = FakeCluster(raftrun())
    to_eval(c)
    c.progress("eval", '{"results": ' + "[" * 50_000 + "]" * 50_000 + "}")
    c.progress("datagen", '{"chunksDone": ' + "[" * 50 + "]" * 50 + ', "chunksTotal": 4}')
    servers_up(c)
    assert c.phase == "Evaluating" and c.condition("Ready")["status"] == "True"
    assert c.run["status"]["datagen"] == {"chunksTotal": 4}


def test_emitters_send_strict_typed_json() -> None:
    text = encode_report("finetune", {"step": 1, "loss": math.nan, "validationLoss": None, "mfu": math.inf}, now=0)
    assert json.loads(text) == {"step": 1, "updatedAt": "1970-01-01T00:00:00Z"}
    with pytest.raises(ValueError):
        encode_report("training", {})


def test_reporter_never_writes_nan(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[dict[str, Any]] = []
    reporter = ProgressReporter("finetune", ProgressConfig(configMap="r-progress", namespace="ns"),
                                api_server="https://api", token="t")
    monkeypatch.setattr(reporter, "_patch", sent.append)
    assert reporter.report({"step": 2, "loss": math.nan}, force=True)
    (patch,) = sent
    assert json.loads(patch["data"]["finetune"], parse_constant=lambda c: pytest.fail(c))["step"] == 2


@pytest.mark.parametrize("fraction", [0.3, 1.0])
def test_simulated_reports_have_the_report_types(fraction: float) -> None:
    run = {"eval": {"models": [{"name": "student", "role": "student"}, {"name": "base", "role": "baseline"}]}}
    for stage, payload in [("datagen", datagen_progress(fraction, run)), ("finetune", finetune_progress(fraction, run)),
                           ("eval", eval_progress(fraction, run))]:
        assert conform(stage, payload) == payload, f"simulated {stage} report does not have its type"


def test_eval_program_report_has_its_type() -> None:
    rows = [{**{k: 0.5 for k in EvalResult.__annotations__}, "model": "student", "mode": "rag", "topK": 3,
             "refusals": 1, "total": 4, "judgeCI": [0.1, 0.9]}]
    payload: EvalReport = aggregate.progress_payload(rows, {"model": "student", "judgeScore": 0.5,
                                                            "improvement": {"base": 0.2, "teacher": None}})
    assert conform("eval", payload) == payload
