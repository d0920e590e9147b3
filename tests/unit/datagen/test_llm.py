"""raft_jobs.common.llm against the simulated server: retries, spreading, circuit, errors."""

from __future__ import annotations

import email.utils
import time

import pytest

from raft_jobs.common.llm import (
    EndpointDownError,
    FatalRequestError,
    LLMError,
    LLMPool,
    RequestFailedError,
    RetryPolicy,
    _retry_after,
)
from raft_sim.vllm_server import SimSettings, SimulatedVLLMServer

FAST = {"models": ["m"], "slots": 64, "step_base": 0.0005, "step_per_seq": 0.0}
MSG = [{"role": "user", "content": "What is up?"}]


def _policy(**kw) -> RetryPolicy:
    return RetryPolicy(**{"backoff_base": 0.01, "backoff_max": 0.05, "timeout": 5.0, **kw})


async def test_retries_500_429_and_hangs_until_success() -> None:
    settings = SimSettings(**FAST, seed=2, error_rate=0.1, rate_limit_rate=0.1, hang_rate=0.05,
                           retry_after=0.05, hang_seconds=30)
    async with SimulatedVLLMServer(settings) as server:
        async with LLMPool([server.url], "m", policy=_policy(timeout=3.0, max_retries=8), max_in_flight=16) as llm:
            import asyncio

            results = await asyncio.gather(
                *(llm.chat_completion([{"role": "user", "content": f"q{i}?"}], max_tokens=20) for i in range(120))
            )
        faults = server.counters.faults
        assert all("<ANSWER>" in r.text for r in results)
        assert llm.stats.server_errors == faults["error"] and llm.stats.rate_limited == faults["rate_limit"]
        assert llm.stats.timeouts == faults["hang"] and llm.stats.retries == sum(faults.values())
        assert sum(r.attempts - 1 for r in results) == llm.stats.retries
        assert llm.stats.completion_tokens == server.counters.completion_tokens
        assert llm.stats.prompt_tokens == server.counters.prompt_tokens


async def test_retry_after_is_honoured() -> None:
    async with SimulatedVLLMServer(SimSettings(**FAST, rate_limit_rate=1.0, retry_after=0.3)) as server:
        async with LLMPool([server.url], "m", policy=_policy(max_retries=1, wait_while_all_down=False)) as llm:
            start = time.monotonic()
            with pytest.raises(RequestFailedError, match="gave up after 2 attempts"):
                await llm.chat(MSG, max_tokens=5, temperature=0)
            assert time.monotonic() - start >= 0.3
            assert llm.stats.rate_limited == 2


async def test_requests_spread_over_replicas_and_avoid_a_broken_one() -> None:
    async with SimulatedVLLMServer(SimSettings(**FAST)) as a, SimulatedVLLMServer(SimSettings(**FAST)) as b:
        policy = _policy(backoff_base=0.2, backoff_max=1.0)
        async with LLMPool([a.url, b.url], "m", policy=policy, max_in_flight=8) as llm:
            import asyncio

            await asyncio.gather(*(llm.chat(MSG, max_tokens=30, temperature=0) for _ in range(80)))
            assert 25 <= a.counters.completed <= 55 and a.counters.completed + b.counters.completed == 80
            b.settings.error_rate = 1.0
            await asyncio.gather(*(llm.chat(MSG, max_tokens=30, temperature=0) for _ in range(40)))
            # Every request succeeded on a; b was tried, failed and was then mostly avoided.
            assert a.counters.completed >= 40 + 25 and b.counters.faults["error"] <= 12


async def test_endpoint_down_past_the_limit_fails_naming_it() -> None:
    async with SimulatedVLLMServer(SimSettings(**FAST, error_rate=1.0)) as server:
        async with LLMPool([server.url], "m", policy=_policy(max_retries=2, down_after=0.3)) as llm:
            with pytest.raises(EndpointDownError, match=rf"{server.url} has been down for") as info:
                await llm.chat(MSG, max_tokens=5, temperature=0)
            assert info.value.endpoint == server.url and "HTTP 500" in info.value.last_error
            with pytest.raises(EndpointDownError):  # the circuit stays open
                await llm.chat(MSG, max_tokens=5, temperature=0)
    async with LLMPool(["http://127.0.0.1:9/v1"], "m", policy=_policy(down_after=0.2)) as llm:
        with pytest.raises(EndpointDownError, match="127.0.0.1:9"):
            await llm.chat(MSG, max_tokens=5, temperature=0)


async def test_rejections_are_not_retried() -> None:
    async with SimulatedVLLMServer(SimSettings(**FAST)) as server:
        async with LLMPool([server.url], "other", policy=_policy()) as llm:
            with pytest.raises(FatalRequestError, match="does not exist"):
                await llm.chat(MSG, max_tokens=5, temperature=0)
            with pytest.raises(LLMError, match="serves \\['m'\\], not 'other'"):
                await llm.check()
        async with LLMPool([server.url], "m", policy=_policy()) as llm:
            with pytest.raises(RequestFailedError) as info:
                await llm.chat(MSG, max_tokens=0, temperature=0)  # 400 from the server
            assert info.value.status == 400 and llm.stats.attempts == 1
            await llm.check()
            probe = await llm.completion("hi", max_tokens=1)
            assert probe.completion_tokens == 1 and probe.endpoint == server.url


def test_retry_after_header_forms() -> None:
    class Response:
        def __init__(self, headers):
            self.headers = headers

    assert _retry_after(Response({"retry-after": "2"}), 60) == 2
    assert _retry_after(Response({"retry-after-ms": "150"}), 60) == 0.15
    assert _retry_after(Response({"retry-after": "999"}), 60) == 60
    future = email.utils.formatdate(time.time() + 5, usegmt=True)
    assert 3 <= _retry_after(Response({"retry-after": future}), 60) <= 5
    assert _retry_after(Response({"retry-after": "soon"}), 60) is None
    assert _retry_after(Response({}), 60) is None


def test_pool_needs_endpoints_and_a_model() -> None:
    with pytest.raises(ValueError, match="no endpoints"):
        LLMPool([], "m")
    with pytest.raises(ValueError, match="no model"):
        LLMPool(["http://x/v1"], "")


async def test_priority_slots_serve_low_priority_values_first() -> None:
    import asyncio

    from raft_jobs.common.llm import PrioritySlots

    slots = PrioritySlots(1)
    await slots.acquire()
    order: list[str] = []

    async def wait(name: str, priority: int) -> None:
        await slots.acquire(priority)
        order.append(name)
        slots.release()

    tasks = [asyncio.create_task(wait(n, p)) for n, p in (("late-1", 1), ("first", 0), ("late-2", 1), ("cancelled", 0))]
    await asyncio.sleep(0)
    tasks[3].cancel()
    slots.release()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert order == ["first", "late-1", "late-2"]
    await slots.acquire()  # the slot came back


def test_errors_survive_pickling() -> None:
    import pickle

    down = pickle.loads(pickle.dumps(EndpointDownError("http://t/v1", 12.0, 4, "HTTP 500: x")))
    assert down.endpoint == "http://t/v1" and "has been down for 12.0s" in str(down)
    failed = pickle.loads(pickle.dumps(RequestFailedError("gave up", endpoint="http://t/v1", status=503, attempts=6)))
    assert str(failed) == "gave up" and failed.status == 503 and failed.attempts == 6
