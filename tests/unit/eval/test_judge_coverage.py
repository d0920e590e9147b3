"""Issue 13, item 3: a judge parseable by construction where the server allows it.

The SIMULATED judge answers half its verdicts in prose. A server that honours vLLM's structured
outputs (``structured_outputs: {choice: [YES, NO]}``) still returns a bare verdict every time; one
that ignores the field leaves the prose, which is counted as unparseable and, below the coverage
threshold, leaves no judge score; one that rejects the field is asked without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from raft_api.runconfig import run_config_from_dict
from raft_jobs.eval import runner
from raft_jobs.eval.clients import make_client
from raft_sim.vllm_server import SimSettings, SimulatedVLLMServer

FAST = {"step_base": 0.0005, "step_per_seq": 0.00005, "slots": 32}


class Quiet:
    def report(self, payload: dict[str, Any], *, force: bool = False) -> bool:
        return False


async def _evaluate(dataset: Path, servers, helpers, tmp_path: Path, mode: str) -> dict[str, Any]:
    body = helpers.run_config(dataset, servers, withoutRag=True, topK=[], primaryMode="none", rubric=False)
    body["root"] = str(tmp_path / "root")
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "dataset").symlink_to(dataset / "dataset", target_is_directory=True)
    body["eval"]["models"] = body["eval"]["models"][:1]
    settings = SimSettings(models=["judge"], prose_verdict_rate=0.5, structured_outputs=mode, seed=3, **FAST)
    async with SimulatedVLLMServer(settings) as judge:
        body["eval"]["judge"] = {"endpoints": [judge.url], "model": "judge"}
        outcome = await runner.evaluate(run_config_from_dict(body), make_client, Quiet())
        prose = judge.counters.faults["prose_verdict"]
    return {"results": outcome.results, "prose": prose}


@pytest.mark.parametrize("mode", ["honour", "reject"])
async def test_structured_outputs_make_every_verdict_readable(dataset, servers, helpers, tmp_path, mode) -> None:
    run = await _evaluate(dataset, servers, helpers, tmp_path, mode)
    row = run["results"]["results"][0]
    if mode == "honour":
        assert run["prose"] > 0  # the judge did drift into prose; the constraint kept the verdict
        assert row["judgeCoverage"] == 1.0 and row["judgeScore"] is not None
    else:  # asked again without structured outputs: the prose stays, counted and not dropped
        assert row["judgeUnparseable"] == run["prose"] > 0
        assert row["judgeYes"] + row["judgeNo"] + row["judgeUnparseable"] == row["total"]


async def test_a_server_ignoring_structured_outputs_gets_no_judge_score(dataset, servers, helpers, tmp_path) -> None:
    run = await _evaluate(dataset, servers, helpers, tmp_path, "ignore")
    row = run["results"]["results"][0]
    assert row["judgeUnparseable"] == run["prose"] > 0
    assert row["judgeCoverage"] < 0.9 and row["judgeScore"] is None and row["judgeWithheld"]
    summary = run["results"]["summary"]
    assert summary["judgeScore"] is None and "coverage threshold" in summary["judgeWithheld"]


async def test_the_report_says_when_the_judge_is_the_teacher(dataset, servers, helpers, tmp_path) -> None:
    body = helpers.run_config(dataset, servers, withoutRag=True, topK=[], primaryMode="none", rubric=False)
    body["root"] = str(tmp_path / "root")
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "dataset").symlink_to(dataset / "dataset", target_is_directory=True)
    outcome = await runner.evaluate(run_config_from_dict(body), make_client, Quiet())
    assert outcome.results["summary"]["judgeIsTeacher"] is True
    report = (tmp_path / "root" / "eval" / "report.md").read_text()
    assert "The judge is the teacher, which also wrote the references and the training labels" in report
    assert "not an independent grader" in report
    agreement = outcome.results["meta"]["judgeAgreement"]
    assert agreement["answers"] > 0 and 0.0 <= agreement["agreement"] <= 1.0
