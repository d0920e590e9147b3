"""Issue 13, item 5: the eval program against a model server whose answers are imperfect.

The ``model_server`` fixture is any OpenAI-compatible server: set ``RAFT_EVAL_SERVER_URL``
(its ``…/v1`` base URL) and ``RAFT_EVAL_SERVER_MODEL`` to point the test at a real small model
(for example SmolLM2-135M-Instruct served by ``transformers serve``), which then plays the
student, the baseline and the judge. With ``RAFT_EVAL_REAL_MODEL=1`` the real SmolLM2-135M-Instruct
of local runs is served by ``transformers serve`` on CPU (its checkpoint prepared by ``python -m
raft_dev.localrun.model``; about 15 minutes on two busy cores). Otherwise the SIMULATED vLLM
server is started as an imperfect model:
answers without the ``<ANSWER>:`` line, refusals, answers cut off, and judge verdicts in prose
with structured outputs ignored.

Whatever the server, the report's numbers must hold together: every rate lies in [0, 1], the
counts add up, and there is no judge headline without judge coverage.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from raft_jobs.eval import aggregate, report, runner
from raft_jobs.eval.__main__ import main
from raft_sim import vllm_cli
from raft_dev.localrun import model as localrun_model
from raft_sim.vllm_server import SimSettings, SimulatedVLLMServer

pytestmark = pytest.mark.slow

RATES = (
    "judgeScore", "judgeCoverage", "formatFollowed", "refusalRate", "precision", "exactMatch", "f1",
    "rouge1", "rouge2", "rougeL", "bleu", "retrievalRecall", "judgeExactMatchAgreement",
)
REAL_QUESTIONS = 6
IMPERFECT = {
    "unformatted_rate": 0.3,
    "refusal_rate": 0.15,
    "cut_off_rate": 0.1,
    "prose_verdict_rate": 0.5,
    "structured_outputs": "ignore",
    "seed": 5,
}


@pytest.fixture(scope="module")
def model_server() -> Iterator[dict[str, Any]]:
    """``{url, model, simulated}``: a server from the environment, the real small model with
    ``RAFT_EVAL_REAL_MODEL=1``, else the imperfect simulation."""
    url, model = os.environ.get("RAFT_EVAL_SERVER_URL"), os.environ.get("RAFT_EVAL_SERVER_MODEL")
    if url and model:
        yield {"url": url, "model": model, "simulated": None}
        return
    checkpoint = localrun_model.checkpoint_dir()
    if os.environ.get("RAFT_EVAL_REAL_MODEL") == "1" and (checkpoint / "raft-model.json").exists():
        with _transformers_serve(checkpoint) as url:
            yield {"url": url, "model": str(checkpoint), "simulated": None}
        return
    fast = {"step_base": 0.0005, "step_per_seq": 0.00005, "slots": 32}
    server = SimulatedVLLMServer(SimSettings(models=["imperfect"], **fast, **IMPERFECT))
    with server.running_in_thread():
        yield {"url": server.url, "model": "imperfect", "simulated": server}


@contextlib.contextmanager
def _transformers_serve(checkpoint: Path) -> Iterator[str]:
    """SmolLM2-135M-Instruct served on CPU by ``transformers serve``, as local runs serve it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = vllm_cli.transformers_serve(str(checkpoint), str(port), "127.0.0.1")
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"{url}/models", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("transformers serve did not start")
                time.sleep(1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Recorder:
    payloads: list[dict[str, Any]] = []

    def __init__(self, stage: str, config: Any) -> None:
        pass

    def report(self, payload: dict[str, Any], *, force: bool = False) -> bool:
        Recorder.payloads.append(payload)
        return False


@pytest.fixture(scope="module")
def imperfect_run(dataset: Path, model_server, helpers, tmp_path_factory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("imperfect")
    (root / "dataset").symlink_to(dataset / "dataset", target_is_directory=True)
    one_server = {role: SimpleNamespace(url=model_server["url"]) for role in ("student", "base", "teacher")}
    # A real small model on CPU gets a few questions and one RAG mode (a couple of minutes).
    real = model_server["simulated"] is None
    questions = (dataset / "dataset" / "eval.jsonl").read_text().splitlines()[: REAL_QUESTIONS if real else None]
    (root / "questions.jsonl").write_text("\n".join(questions) + "\n")
    body = helpers.run_config(
        root, one_server, topK=[1] if real else [1, 3], evalFile="questions.jsonl", concurrency=4, maxTokens=64,
        requestTimeoutSeconds=300, readyTimeoutSeconds=60, maxRetries=2, rubric=False,
    )
    body["teacher"]["model"] = model_server["model"]
    body["eval"]["models"] = body["eval"]["models"][:2]  # the student and a baseline, both this model
    for model in body["eval"]["models"]:
        model.update(model=model_server["model"], apiKeyEnv=None)
    config = helpers.write_config(root / "run.yaml", body)
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_HUB_OFFLINE", "1")
    mp.setattr(runner, "ProgressReporter", Recorder)
    Recorder.payloads = []
    try:
        status = main(["--config", str(config)])
    finally:
        mp.undo()
    assert status == 0
    eval_dir = root / "eval"
    return {
        "results": json.loads((eval_dir / "results.json").read_text()),
        "answers": [json.loads(line) for line in (eval_dir / "answers.jsonl").read_text().splitlines()],
        "report": (eval_dir / "report.md").read_text(),
        "progress": Recorder.payloads[-1],
        "server": model_server,
    }


def test_every_rate_lies_between_0_and_1(imperfect_run) -> None:
    for row in imperfect_run["results"]["results"]:
        for key in RATES:
            value = row.get(key)
            assert value is None or 0.0 <= value <= 1.0, (row["model"], row["mode"], key, value)
        for bound in row.get("judgeCI") or []:
            assert 0.0 <= bound <= 1.0
    for c in imperfect_run["results"]["comparisons"]:
        assert -1.0 <= c["difference"] <= 1.0 and 0.0 <= c["pValue"] <= 1.0
        assert c["ci"][0] <= c["difference"] <= c["ci"][1]


def test_the_counts_add_up(imperfect_run) -> None:
    results, answers = imperfect_run["results"], imperfect_run["answers"]
    questions = results["meta"]["questions"]
    assert len(answers) == sum(row["total"] for row in results["results"])
    for row in results["results"]:
        assert row["total"] == questions
        verdicts = row["judgeYes"] + row["judgeNo"] + row["judgeUnparseable"] + row["judgeErrors"]
        assert verdicts == row["total"]
        assert 0 <= row["refusals"] <= row["total"]
        mine = [a for a in answers if a["model"] == row["model"] and a["mode"] == row["mode"] and a["topK"] == row["topK"]]
        assert sum(a["refusal"] for a in mine) == row["refusals"]
        assert sum(a["followsFormat"] for a in mine) == round(row["formatFollowed"] * row["total"])
        assert sum(a["verdict"] == "UNPARSEABLE" for a in mine) == row["judgeUnparseable"]
    agreement = results["meta"]["judgeAgreement"]
    parts = ("judgeYesEmYes", "judgeYesEmNo", "judgeNoEmYes", "judgeNoEmNo")
    assert sum(agreement[k] for k in parts) == agreement["answers"]


def test_no_headline_without_judge_coverage(imperfect_run) -> None:
    results = imperfect_run["results"]
    threshold = aggregate.JUDGE_COVERAGE_THRESHOLD
    for row in results["results"]:
        if row["judgeCoverage"] < threshold:
            assert row["judgeScore"] is None and row["judgeWithheld"]
        else:
            assert row["judgeScore"] is not None
    summary = results["summary"]
    progress = imperfect_run["progress"]["summary"]
    if summary["judgeScore"] is None:
        assert summary["judgeWithheld"] and "judgeScore" not in progress
        assert report.summary_sentence(results).startswith("No judge score")
        assert "on the LLM judge" not in imperfect_run["report"]
        assert all(c["metric"] != "judge" for c in summary["comparisons"])
    else:
        assert summary["judgeCoverage"] >= threshold


def test_the_simulated_model_was_imperfect(imperfect_run) -> None:
    server = imperfect_run["server"]["simulated"]
    if server is None:
        pytest.skip("a real model server: its imperfections are its own")
    faults = server.counters.faults
    assert all(faults[k] > 0 for k in ("unformatted", "refusal", "cut_off", "prose_verdict"))
    rows = imperfect_run["results"]["results"]
    assert any(r["formatFollowed"] < 1 for r in rows) and any(r["refusals"] for r in rows)
    assert imperfect_run["results"]["summary"]["judgeScore"] is None  # half the verdicts in prose
