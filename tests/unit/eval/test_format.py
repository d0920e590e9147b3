"""Issue 13, item 1: one prompt for every model, scored on the final answer.

Every model (student, base student, teacher) is asked for reasoning and a final
``<ANSWER>:`` line; the share of replies that followed that format is reported per model;
metrics and refusal detection use only the final answer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from raft_api.runconfig import run_config_from_dict
from raft_jobs.common.conversation import REFUSAL_ANSWER, system_prompt
from raft_jobs.eval import metrics, runner


class Recorder:
    def report(self, payload: dict[str, Any], *, force: bool = False) -> bool:
        return False


class ScriptedClient:
    """Each model answers in its own style; the judge says YES when the reference is in the answer."""

    sent: dict[str, list[list[dict[str, str]]]] = {}

    def __init__(self, name: str, endpoint: Any, _config: Any) -> None:
        self.name = name
        self.endpoints = list(endpoint.endpoints)

    async def wait_ready(self, timeout: float) -> None:
        pass

    async def close(self) -> None:
        pass

    async def chat(self, messages: list[dict[str, str]], **_: Any) -> str:
        ScriptedClient.sent.setdefault(self.name, []).append(messages)
        user = messages[-1]["content"]
        if self.name == "judge":
            candidate = user.split("Candidate answer:\n")[1].split("\n\n")[0]
            reference = user.split("Reference answer:\n")[1].split("\n\n")[0]
            return "YES" if reference.lower() in candidate.lower() else "NO"
        question = user.rsplit("\n", 1)[-1]
        answer = "Paris" if question.startswith("Capital") else "Blue"
        if self.name == "student":
            return f"##begin_quote##the capital is {answer}##end_quote##\n<ANSWER>: {answer}"
        # The teacher ignores the format: a long chain of thought that first wonders whether the
        # documents contain the answer, then concludes on its last line.
        return f"At first the documents do not contain the answer, it seems.\nLooking again, it is clear.\n{answer}"


def _config(root: Path, policy: str = "refuse") -> Any:
    (root / "dataset").mkdir(parents=True, exist_ok=True)
    rows = [{"question": f"Capital {i}?", "answer": "Paris"} for i in range(4)]
    rows += [{"question": f"Colour {i}?", "answer": "Blue"} for i in range(4)]
    (root / "dataset" / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run_config_from_dict(
        {
            "root": str(root),
            "datagen": {"noOracleLabel": policy},
            "teacher": {"endpoints": ["http://t/v1"], "model": "t"},
            "eval": {
                "withoutRag": True,
                "topK": [],
                "primaryMode": "none",
                "judge": {"endpoints": ["http://judge/v1"], "model": "judge"},
                "models": [
                    {"name": "student", "role": "student", "endpoints": ["http://s/v1"], "model": "s"},
                    {"name": "teacher", "role": "baseline", "endpoints": ["http://t/v1"], "model": "t"},
                ],
            },
        }
    )


async def test_every_model_is_asked_for_the_answer_line(tmp_path: Path) -> None:
    ScriptedClient.sent = {}
    await runner.evaluate(_config(tmp_path), ScriptedClient, Recorder())
    for name in ("student", "teacher"):
        systems = {m[0]["content"] for m in ScriptedClient.sent[name]}
        assert systems == {system_prompt("refuse")}
        assert "<ANSWER>:" in systems.pop()


async def test_format_share_per_model_and_scores_on_the_final_answer(tmp_path: Path) -> None:
    outcome = await runner.evaluate(_config(tmp_path), ScriptedClient, Recorder())
    rows = {r["model"]: r for r in outcome.results["results"]}
    assert rows["student"]["formatFollowed"] == 1.0
    assert rows["teacher"]["formatFollowed"] == 0.0
    # The teacher's untagged replies are scored on their last line, not on the whole reasoning,
    # and the doubt voiced in its reasoning is not a refusal.
    assert rows["teacher"]["exactMatch"] == 1.0 and rows["teacher"]["refusals"] == 0
    teacher = [r for r in outcome.records if r.model == "teacher"]
    assert all(r.answer in ("Paris", "Blue") and not r.refusal for r in teacher)
    payload = runner.aggregate.progress_payload(outcome.results["results"], outcome.results["summary"])
    assert payload["results"][1]["formatFollowed"] == 0.0
    report = (tmp_path / "eval" / "report.md").read_text()
    assert "Format" in report


def test_refusal_is_read_from_the_final_answer_only() -> None:
    thinking = "The documents do not contain the year directly, but the second one implies it.\n<ANSWER>: 1912"
    assert not metrics.is_refusal(metrics.extract_answer(thinking))
    assert metrics.is_refusal(metrics.extract_answer(f"Nothing fits.\n<ANSWER>: {REFUSAL_ANSWER}"))
    assert metrics.follows_format("x\n<ANSWER>: y") and not metrics.follows_format("<ANSWER>:  ")


def test_the_prompt_follows_the_no_oracle_policy() -> None:
    assert REFUSAL_ANSWER in system_prompt("refuse")
    assert REFUSAL_ANSWER not in system_prompt("answer") and "from what you know" in system_prompt("answer")
