"""The runner with in-memory clients: failure handling, system-role fallback, resume."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from raft_jobs.common.llm import FatalRequestError, RequestFailedError
from raft_api.runconfig import run_config_from_dict
from raft_jobs.eval import runner


class Recorder:
    def __init__(self, *_args: Any) -> None:
        self.payloads: list[dict[str, Any]] = []

    def report(self, payload: dict[str, Any], *, force: bool = False) -> bool:
        self.payloads.append(payload)
        return False


class FakeClient:
    """Answers ``<ANSWER>: <reference>`` for questions it knows; the judge compares text."""

    calls: list[tuple[str, str]] = []

    def __init__(self, name: str, endpoint: Any, _config: Any, behaviour: dict[str, Any]) -> None:
        self.name = name
        self.endpoints = list(endpoint.endpoints)
        self.behaviour = behaviour

    async def wait_ready(self, timeout: float) -> None:
        pass

    async def close(self) -> None:
        pass

    async def chat(self, messages: list[dict[str, str]], *, max_tokens: int, temperature: float, **_: Any) -> str:
        user = messages[-1]["content"]
        FakeClient.calls.append((self.name, user))
        if self.name == "judge":
            if "Q3" in user and self.behaviour.get("judge_fails_q3"):
                raise RequestFailedError("judge gave up", endpoint=self.endpoints[0], status=500, attempts=3)
            candidate = user.split("Candidate answer:\n")[1].split("\n")[0]
            reference = user.split("Reference answer:\n")[1].split("\n")[0]
            return "YES" if candidate == reference else "NO"
        if self.behaviour.get("no_system") and messages[0]["role"] == "system":
            raise RequestFailedError(
                "HTTP 400: System role not supported", endpoint="x", status=400, attempts=1
            )
        question = user.rsplit("\n", 1)[-1]
        if question == self.behaviour.get("fail_question"):
            raise RequestFailedError(
                "HTTP 400: prompt too long", endpoint=self.endpoints[0], status=400, attempts=1
            )
        if question == self.behaviour.get("fatal_question"):
            raise FatalRequestError(f"{self.name}: {self.endpoints[0]} rejected the request: HTTP 404")
        return f"thinking...\n<ANSWER>: A{question[1:]}"


def _config(root: Path) -> Any:
    (root / "dataset").mkdir(parents=True, exist_ok=True)
    (root / "dataset" / "eval.jsonl").write_text(
        "".join(json.dumps({"question": f"Q{i}", "answer": f"A{i}"}) + "\n" for i in range(6))
    )
    return run_config_from_dict(
        {
            "root": str(root),
            "eval": {
                "withoutRag": True,
                "topK": [],
                "primaryMode": "none",
                "judge": {"endpoints": ["http://judge/v1"], "model": "judge"},
                "models": [
                    {"name": "student", "role": "student", "endpoints": ["http://s/v1"], "model": "s"},
                    {"name": "base", "role": "baseline", "endpoints": ["http://b/v1"], "model": "b"},
                ],
            },
        }
    )


def _factory(**behaviour: Any):
    return lambda name, endpoint, config: FakeClient(name, endpoint, config, behaviour)


async def test_failed_requests_are_recorded_not_fatal(tmp_path: Path) -> None:
    config = _config(tmp_path)
    outcome = await runner.evaluate(config, _factory(fail_question="Q2", judge_fails_q3=True), Recorder())
    rows = {r["model"]: r for r in outcome.results["results"]}
    student = rows["student"]
    assert student["errors"] == 1 and student["judgeErrors"] == 1
    # Q2 unanswered counts as wrong, and so does Q3's missing verdict: 4 of 6 are right. With one
    # verdict of six missing the judge coverage (5/6) is below the threshold: no judge score.
    assert student["judgeYes"] == 4 and student["judgeCoverage"] == pytest.approx(5 / 6)
    assert student["judgeScore"] is None and "5 of 6" in student["judgeWithheld"]
    failed = next(r for r in outcome.records if r.model == "student" and r.question == "Q2")
    assert failed.error and failed.verdict == "NO" and failed.answer == ""
    report = (tmp_path / "eval" / "report.md").read_text()
    assert "failed requests" in report and "| student | student | no RAG |" in report


async def test_scorers_load_off_the_event_loop_before_the_first_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # rouge-score imports NLTK and SciPy (seconds of CPU); loaded on the first scored answer, it
    # froze the event loop with every request in flight, and the servers idled meanwhile.
    monkeypatch.setattr(runner.metrics, "_rouge_scorer", None)
    load = runner.metrics.load_scorers
    loaded_in: list[threading.Thread] = []

    def spy() -> None:
        loaded_in.append(threading.current_thread())
        load()

    monkeypatch.setattr(runner.metrics, "load_scorers", spy)
    ready_at_first_request: list[bool] = []

    class Observing(FakeClient):
        async def chat(self, messages: list[dict[str, str]], **kwargs: Any) -> str:
            ready_at_first_request.append(runner.metrics._rouge_scorer is not None)
            return await super().chat(messages, **kwargs)

    await runner.evaluate(_config(tmp_path), lambda n, e, c: Observing(n, e, c, {}), Recorder())
    assert ready_at_first_request and all(ready_at_first_request)
    assert loaded_in and loaded_in[0] is not threading.main_thread()


async def test_system_role_fallback(tmp_path: Path) -> None:
    FakeClient.calls = []
    outcome = await runner.evaluate(_config(tmp_path), _factory(no_system=True), Recorder())
    assert outcome.results["results"][0]["judgeScore"] == 1.0
    assert any(user.startswith("You are a helpful assistant") for _, user in FakeClient.calls)


async def test_fatal_error_stops_and_resume_skips_done_answers(tmp_path: Path) -> None:
    config = _config(tmp_path)
    config.eval.concurrency = 1
    with pytest.raises(runner.EvalError, match="http://s/v1"):
        await runner.evaluate(config, _factory(fatal_question="Q4"), Recorder())
    partial = tmp_path / "eval" / runner.PARTIAL
    saved = len(partial.read_text().splitlines())
    assert saved >= 1
    FakeClient.calls = []
    outcome = await runner.evaluate(config, _factory(), Recorder())
    answered = [c for c in FakeClient.calls if c[0] != "judge"]
    assert len(answered) == 12 - saved
    assert len(outcome.records) == 12
    assert not partial.exists()


async def test_missing_inputs_fail_clearly(tmp_path: Path) -> None:
    config = _config(tmp_path)
    config.eval.top_k = [3]
    with pytest.raises(runner.EvalError, match="chunks.jsonl"):
        await runner.evaluate(config, _factory(), Recorder())
    config.eval.eval_file = "missing.json"
    with pytest.raises(runner.EvalError, match="missing.json"):
        await runner.evaluate(config, _factory(), Recorder())
