"""The SIMULATED vLLM server: API shape, batching capacity, faults, deterministic content."""

from __future__ import annotations

import asyncio
import time

import openai
import pytest
from openai import AsyncOpenAI

from raft_sim.vllm_server import SimSettings, SimulatedVLLMServer, judge_responder, settings_from_args, _args


def _client(server: SimulatedVLLMServer) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=server.url, api_key="EMPTY", max_retries=0, timeout=10)


async def test_models_health_probe_usage_and_unknown_model() -> None:
    async with SimulatedVLLMServer(SimSettings(models=["a", "b"])) as server:
        client = _client(server)
        assert [m.id for m in (await client.models.list()).data] == ["a", "b"]
        probe = await client.completions.create(model="b", prompt="hello", max_tokens=1)
        assert probe.usage.completion_tokens == 1 and probe.choices[0].text
        chat = await client.chat.completions.create(model="a", messages=[{"role": "user", "content": "Why is the sky blue?"}])
        assert "<ANSWER>:" in chat.choices[0].message.content
        assert chat.usage.prompt_tokens > 0 and chat.usage.completion_tokens > 0
        cut = await client.chat.completions.create(model="a", messages=[{"role": "user", "content": "Why?"}], max_tokens=3)
        assert cut.choices[0].finish_reason == "length" and cut.usage.completion_tokens == 3
        with pytest.raises(openai.NotFoundError, match="does not exist"):
            await client.chat.completions.create(model="c", messages=[{"role": "user", "content": "x"}])
        await client.close()


async def test_throughput_saturates_at_the_advertised_capacity() -> None:
    # Decode steps of 20-60 ms keep the client's and the HTTP layer's own work small beside them.
    settings = SimSettings(models=["m"], slots=8, step_base=0.02, step_per_seq=0.005)
    assert settings.capacity_tokens_per_second == pytest.approx(8 / 0.06)
    async with SimulatedVLLMServer(settings) as server:
        client = _client(server)
        message = [{"role": "user", "content": "word " * 10}]

        async def one() -> int:
            r = await client.chat.completions.create(model="m", messages=message, max_tokens=20)
            return r.usage.completion_tokens

        rates = []
        for _ in range(3):  # the best of up to three: a busy shared core only ever slows a wave down
            start = time.monotonic()
            tokens = sum(await asyncio.gather(*(one() for _ in range(32))))  # 4 full waves of 8
            rates.append(tokens / (time.monotonic() - start))
            if rates[-1] > 0.8 * settings.capacity_tokens_per_second:
                break
        assert server.counters.max_batch == 8 and server.counters.max_queue >= 16
        assert max(rates) <= 1.05 * settings.capacity_tokens_per_second, "never faster than its capacity"
        assert max(rates) > 0.8 * settings.capacity_tokens_per_second, rates
        await client.close()


async def test_faults_are_seeded_and_at_the_configured_rates() -> None:
    settings = SimSettings(models=["m"], slots=64, step_base=0.0005, step_per_seq=0.0, seed=3,
                           error_rate=0.1, rate_limit_rate=0.1, malformed_rate=0.1, retry_after=1.5)
    async with SimulatedVLLMServer(settings) as server:
        client = _client(server)

        async def one(i: int) -> str:
            try:
                r = await client.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": f"Question {i}?"}], max_tokens=30
                )
                return "malformed" if "<ANSWER>" not in r.choices[0].message.content else "ok"
            except openai.RateLimitError as exc:
                assert exc.response.headers["retry-after"] == "1.5"
                return "rate_limit"
            except openai.InternalServerError:
                return "error"

        outcomes = await asyncio.gather(*(one(i) for i in range(150)))
        faults = server.counters.faults
        for kind in ("error", "rate_limit", "malformed"):
            assert outcomes.count(kind) == faults[kind]
            assert 4 <= faults[kind] <= 30
        await client.close()
    # The same seed and bodies give the same faults.
    async with SimulatedVLLMServer(settings) as again:
        client = _client(again)

        async def replay(i: int) -> None:
            try:
                await client.chat.completions.create(model="m", messages=[{"role": "user", "content": f"Question {i}?"}], max_tokens=30)
            except openai.APIStatusError:
                pass

        await asyncio.gather(*(replay(i) for i in reversed(range(150))))
        assert again.counters.faults == faults
        await client.close()


def test_judge_and_content_responders(teacher) -> None:
    import openai as sync_openai

    client = sync_openai.OpenAI(base_url=teacher.url, api_key="EMPTY", max_retries=0)

    def ask(messages):
        return client.chat.completions.create(model="sim-teacher", messages=messages).choices[0].message.content

    judge = "Question:\nq\n\nReference answer:\nThe tower guards sheep\n\nCandidate answer:\n{}\n\nReply with a single word: YES or NO."
    assert ask([{"role": "user", "content": judge.format("sheep are guarded by the tower")}]) == "YES"
    assert ask([{"role": "user", "content": judge.format("the river feeds grain")}]) == "NO"
    doc = "The harbour of Avalon shelters salmon boats. The lighthouse of Avalon dates from 1622."
    questions = ask([{"role": "user", "content": f"<DOCUMENT>\n{doc}\n</DOCUMENT>\n\nWrite 3 different questions."}])
    assert [line[:3] for line in questions.splitlines()] == ["1. ", "2. ", "3. "]
    cot = ask([
        {"role": "system", "content": "Quote with ##begin_quote## and ##end_quote##."},
        {"role": "user", "content": f"<DOCUMENT>{doc}</DOCUMENT>\nWhen does the lighthouse date from?"},
    ])
    assert "##begin_quote##The lighthouse of Avalon dates from 1622.##end_quote##" in cot
    assert cot.endswith("<ANSWER>: The lighthouse of Avalon dates from 1622.")
    client.close()


async def test_custom_responder_wins() -> None:
    async with SimulatedVLLMServer(SimSettings(models=["m"])) as server:
        server.add_responder(lambda req: "custom!" if "magic" in req.user else None)
        client = _client(server)
        r = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "magic"}])
        assert r.choices[0].message.content == "custom!"
        assert server.counters.kinds["<lambda>"] == 1
        await client.close()
    assert judge_responder  # exported for the eval tests


def test_cli_arguments() -> None:
    settings = settings_from_args(_args(["--model", "a", "--model", "b", "--slots", "4", "--step-base-ms", "10", "--hang-rate", "0.1"]))
    assert settings.models == ["a", "b"] and settings.slots == 4 and settings.step_base == 0.01 and settings.hang_rate == 0.1
