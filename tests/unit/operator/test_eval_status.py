"""Issue 13: the eval program's trust fields and datagen's rejections reach status, typed;
the headline and no-oracle policies reach run.yaml."""

from __future__ import annotations

import json

from harness import FakeCluster, raftrun
from raft_operator.crd import crd
from raft_operator.builders import configmaps
from raft_operator.run import Run

TEACHER, RAYJOB, PTJOB = "demo-teacher", "demo-datagen", "demo-finetune"
SERVERS = ["demo-serve-student", "demo-serve-base"]


def _evaluating(c: FakeCluster) -> None:
    c.step()
    c.deployment_available(TEACHER)
    c.step()
    c.progress("datagen", json.dumps({"chunksDone": 3, "chunksTotal": 3, "records": 9,
                                      "rejected": {"cutOff": 2, "quoteNotInOracle": 1, "bad": "x"}}))
    c.rayjob(RAYJOB, "Complete", "SUCCEEDED")
    c.step()
    c.pytorchjob(PTJOB, "Succeeded")
    c.step()
    c.deployment_available(TEACHER)
    for s in SERVERS:
        c.deployment_available(s)
    c.step()


def test_withheld_judge_score_and_comparisons_reach_status() -> None:
    c = FakeCluster(raftrun())
    _evaluating(c)
    assert c.run["status"]["datagen"]["rejected"] == {"cutOff": 2, "quoteNotInOracle": 1}
    withheld = "only 1 of 71 judge verdicts (1.4%) could be read as YES or NO, below the 90% coverage threshold"
    c.progress("eval", json.dumps({
        "results": [{"model": "student", "mode": "rag", "topK": 3, "judgeCoverage": 0.0141, "formatFollowed": 0.8}],
        "summary": {"model": "student", "mode": "rag", "topK": 3, "judgeCoverage": 0.0141, "judgeWithheld": withheld,
                    "judgeIsTeacher": True, "formatFollowed": 0.8, "improvement": {},
                    "comparisons": [{"baseline": "base", "metric": "f1", "difference": 0.12, "ciLow": 0.05,
                                     "ciHigh": 0.2, "pValue": 0.004}, "junk"]},
    }))
    c.step()
    results = c.run["status"]["results"]
    assert results["models"][0]["judgeCoverage"] == 0.0141 and results["models"][0]["formatFollowed"] == 0.8
    summary = results["summary"]
    assert "judgeScore" not in summary and summary["judgeWithheld"] == withheld
    assert summary["judgeIsTeacher"] is True and summary["mode"] == "rag" and summary["topK"] == 3
    assert summary["comparisons"] == [{"baseline": "base", "metric": "f1", "difference": 0.12, "ciLow": 0.05,
                                       "ciHigh": 0.2, "pValue": 0.004}]
    assert c.run["status"]["score"].startswith("no judge score: only 1 of 71")
    status_schema = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    summary_schema = status_schema["properties"]["results"]["properties"]["summary"]["properties"]
    assert set(summary) <= set(summary_schema)
    comparison_schema = summary_schema["comparisons"]["items"]["properties"]
    assert set(summary["comparisons"][0]) <= set(comparison_schema)
    model_schema = status_schema["properties"]["results"]["properties"]["models"]["items"]["properties"]
    assert set(results["models"][0]) <= set(model_schema)


def test_run_config_carries_the_headline_and_no_oracle_policies() -> None:
    body = configmaps.run_config(Run.from_body(raftrun()))
    assert body["eval"]["primaryMode"] == "rag" and body["eval"]["primaryTopK"] is None
    assert body["datagen"]["noOracleLabel"] == "refuse"
    spec = raftrun()["spec"]
    spec["eval"] = {"topK": [3, 5], "primaryTopK": 5}
    spec["datagen"] = {"noOracleLabel": "answer"}
    body = configmaps.run_config(Run.from_body(raftrun(spec=spec)))
    assert body["eval"]["primaryTopK"] == 5 and body["datagen"]["noOracleLabel"] == "answer"
