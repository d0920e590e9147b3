"""The whole eval program against SIMULATED vLLM servers, with the real MiniLM embedder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from raft_jobs.eval import runner
from raft_jobs.eval.__main__ import main

pytestmark = pytest.mark.slow

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class RecordingReporter:
    """Stands in for ProgressReporter: keeps every payload."""

    payloads: list[dict[str, Any]] = []

    def __init__(self, stage: str, config: Any) -> None:
        assert stage == "eval"

    def report(self, payload: dict[str, Any], *, force: bool = False) -> bool:
        RecordingReporter.payloads.append({"force": force, **payload})
        return False


@pytest.fixture(scope="module")
def completed_run(
    dataset: Path, servers, helpers, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """Run ``python -m raft_jobs.eval`` in-process once; the tests below read its outputs."""
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_HUB_OFFLINE", "1")
    mp.setenv("STUDENT_API_KEY", "sk-test")
    mp.setattr(runner, "ProgressReporter", RecordingReporter)
    config = helpers.write_config(
        tmp_path_factory.mktemp("cfg") / "run.yaml", helpers.run_config(dataset, servers)
    )
    try:
        status = main(["--config", str(config)])
    finally:
        mp.undo()
    return {"status": status, "eval_dir": dataset / "eval", "servers": servers}


def test_exit_status_and_files(completed_run: dict[str, Any]) -> None:
    assert completed_run["status"] == 0
    eval_dir = completed_run["eval_dir"]
    names = {p.name for p in eval_dir.iterdir()}
    assert {
        "results.json",
        "answers.jsonl",
        "report.md",
        "report.html",
        "judge_by_topk.png",
        "refusals_precision.png",
    } <= names
    assert "answers.partial.jsonl" not in names
    assert list((eval_dir / "embeddings").glob("chunks-*.npy"))  # kept for a restarted Job


def test_results_scores(completed_run: dict[str, Any]) -> None:
    results = json.loads((completed_run["eval_dir"] / "results.json").read_text())
    rows = {(r["model"], r["mode"], r["topK"]): r for r in results["results"]}
    assert set(rows) == {
        (m, mode, k)
        for m in ("student", "base", "teacher")
        for mode, k in (("none", None), ("rag", 1), ("rag", 3))
    }
    for row in rows.values():
        assert row["total"] == 12
        assert row["judgeYes"] + row["judgeNo"] + row["judgeUnparseable"] + row["judgeErrors"] == 12
        assert row["errors"] == 0
        for key in ("exactMatch", "f1", "rouge1", "rouge2", "rougeL", "bleu"):
            assert 0.0 <= row[key] <= 1.0
    # With the source chunk retrieved the student quotes the mayor's sentence: the judge agrees.
    student_rag = rows[("student", "rag", 1)]
    assert student_rag["retrievalRecall"] >= 0.9
    assert student_rag["judgeScore"] >= 0.9
    assert student_rag["judgeCI"][0] <= student_rag["judgeScore"] <= student_rag["judgeCI"][1]
    assert student_rag["rubric"]["groundedness"] is not None
    assert rows[("student", "none", None)]["judgeScore"] <= 0.2  # no documents, no mayor names
    base = rows[("base", "rag", 3)]
    assert base["refusals"] >= 1 and base["judgeScore"] < student_rag["judgeScore"]
    answered = [a for a in _answers(completed_run) if a["model"] == "base" and a["topK"] == 3 and not a["refusal"]]
    assert base["precision"] == pytest.approx(sum(a["verdict"] == "YES" for a in answered) / len(answered))
    assert results["meta"]["requests"]["judge"]["succeeded"] == 3 * 3 * 12 * 2  # verdict + rubric
    summary = results["summary"]
    assert (summary["model"], summary["mode"], summary["topK"]) == ("student", "rag", 1)  # the first topK
    assert {c["baseline"] for c in summary["comparisons"]} == {"base", "teacher"}
    assert summary["improvement"]["base"] > 0
    assert set(summary["improvement"]) == {"base", "teacher"}


def _answers(run: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run["eval_dir"] / "answers.jsonl").read_text().splitlines()]


def test_answers_jsonl(completed_run: dict[str, Any]) -> None:
    lines = (completed_run["eval_dir"] / "answers.jsonl").read_text().splitlines()
    answers = [json.loads(line) for line in lines]
    assert len(answers) == 3 * 3 * 12
    first = next(a for a in answers if a["model"] == "student" and a["topK"] == 1)
    assert "<ANSWER>" in first["raw"] and "<ANSWER>" not in first["answer"]
    assert first["verdict"] in ("YES", "NO")
    assert len(first["retrieved"]) == 1
    assert {a["verdict"] for a in answers} <= {"YES", "NO", "UNPARSEABLE"}


def test_progress_channel_payload(completed_run: dict[str, Any]) -> None:
    final = RecordingReporter.payloads[-1]
    assert final["force"] is True
    assert set(final["results"][1]) == {
        "model",
        "mode",
        "topK",
        "judgeScore",
        "judgeCoverage",
        "formatFollowed",
        "rouge1",
        "rouge2",
        "rougeL",
        "bleu",
        "exactMatch",
        "f1",
        "refusals",
        "total",
        "precision",
    }
    assert final["summary"]["model"] == "student"
    assert set(final["summary"]["improvement"]) == {"base", "teacher"}
    assert any(p.get("phase") == "answering" for p in RecordingReporter.payloads)


def test_plots_are_valid_pngs(completed_run: dict[str, Any]) -> None:
    import matplotlib.image
    from PIL import Image

    for name in ("judge_by_topk.png", "refusals_precision.png"):
        path = completed_run["eval_dir"] / name
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            assert image.size[0] > 600 and image.size[1] > 300
        assert matplotlib.image.imread(path).ndim == 3


def test_reports_are_readable(completed_run: dict[str, Any]) -> None:
    html = (completed_run["eval_dir"] / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert "data:image/png;base64," in html and "<img" in html
    assert "src='http" not in html and 'src="http' not in html  # self-contained
    assert "Questions where the models disagree" in html and "<details>" in html
    assert "student" in html and "RAG k=3" in html
    md = (completed_run["eval_dir"] / "report.md").read_text()
    assert md.startswith("# RAFT evaluation: towns")
    assert "| student | student | RAG k=1 |" in md
    assert "![judge_by_topk.png](judge_by_topk.png)" in md
    assert "Paired differences in the primary mode" in md and "Paired differences in the primary mode" in html
    assert "RAG k=1, the primary mode" in md  # the headline names its declared mode


def test_down_endpoint_fails_naming_it(dataset: Path, servers, helpers, tmp_path: Path) -> None:
    """A model server that never answers: the Job exits non-zero and says which one."""
    body = helpers.run_config(dataset, servers, readyTimeoutSeconds=1)
    dead = f"http://127.0.0.1:{helpers.free_port()}/v1"
    body["eval"]["models"][1]["endpoints"] = [dead]
    body["root"] = str(tmp_path / "root")
    config = helpers.write_config(tmp_path / "run.yaml", body)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    # Same questions, separate output directory.
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "dataset").symlink_to(dataset / "dataset", target_is_directory=True)
    proc = subprocess.run(
        [sys.executable, "-m", "raft_jobs.eval", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "eval failed" in last and dead in last and "base" in last


async def test_endpoint_down_mid_run_fails_naming_it(dataset: Path, servers, helpers, tmp_path: Path) -> None:
    """Models listed but every generation fails (HTTP 500): the circuit opens, the run stops."""
    from functools import partial

    from raft_api.runconfig import run_config_from_dict
    from raft_jobs.eval.clients import make_client
    from raft_sim.vllm_server import SimSettings, SimulatedVLLMServer

    body = helpers.run_config(dataset, servers, withoutRag=True, topK=[], primaryMode="none", rubric=False)
    body["root"] = str(tmp_path / "root")
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "dataset").symlink_to(dataset / "dataset", target_is_directory=True)
    async with SimulatedVLLMServer(SimSettings(models=["base-student"], error_rate=1.0)) as broken:
        body["eval"]["models"][1]["endpoints"] = [broken.url]
        config = run_config_from_dict(body)
        factory = partial(make_client, down_after=0.5)
        with pytest.raises(runner.EvalError) as caught:
            await runner.evaluate(config, factory, RecordingReporter("eval", None))
    message = str(caught.value)
    assert broken.url in message and "base" in message and "down" in message
