"""Adaptive concurrency: the per-replica controller alone, then the pool against simulated servers."""

from __future__ import annotations

import asyncio
import time

import pytest

from raft_jobs.common.concurrency import AdaptiveLimit, AdaptiveSettings, ServerLoad, parse_server_load
from raft_jobs.common.llm import LLMPool, PrioritySlots, metrics_url
from raft_sim.vllm_server import SimSettings, SimulatedVLLMServer

VLLM_METRICS = """# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 60.0
vllm:num_requests_running{engine="1",model_name="m"} 4.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="m"} 3.0
vllm:num_requests_waiting{engine="1",model_name="m"} 0.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.5
"""


def test_vllm_gauges_are_read_and_summed_over_engines() -> None:
    assert parse_server_load(VLLM_METRICS) == ServerLoad(running=64.0, waiting=3.0)
    assert parse_server_load("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1.0\n") is None
    assert parse_server_load("<html>not found</html>") is None
    assert metrics_url("http://teacher.ns.svc:8000/v1") == "http://teacher.ns.svc:8000/metrics"
    assert metrics_url("http://host:8000/v1/") == "http://host:8000/metrics"


def _serve(limit: AdaptiveLimit, slots: int, others: int = 0) -> ServerLoad:
    """What a server with ``slots`` slots reports while this client fills its limit (plus ``others``)."""
    total = limit.limit + others
    limit.note_in_flight(limit.limit)
    return ServerLoad(running=min(slots, total), waiting=max(0, total - slots))


@pytest.mark.parametrize("slots", [64, 256, 1000])
def test_limit_grows_to_the_slot_count_and_keeps_a_small_queue(slots: int) -> None:
    limit = AdaptiveLimit(AdaptiveSettings(initial=32, maximum=4096))
    history = []
    for _ in range(60):
        limit.update(0.5, _serve(limit, slots), limit.limit)
        history.append(limit.limit)
    settled = history[-20:]
    assert min(settled) >= slots and max(settled) <= slots * 1.4 + 4
    # Slow start: the first doublings reach the slot count within a few intervals.
    assert next(i for i, v in enumerate(history) if v >= slots) <= 6


def test_limit_backs_off_by_its_share_of_the_queue_and_respects_bounds() -> None:
    limit = AdaptiveLimit(AdaptiveSettings(initial=100, minimum=4, maximum=128))
    limit.slow_start = False
    # Another client holds as many requests as we do: we keep half of what the server runs and queues.
    limit.update(0.5, ServerLoad(running=100, waiting=100), in_flight=100)
    assert limit.limit == 100  # one reading may be requests about to be scheduled: hold
    limit.update(0.5, ServerLoad(running=100, waiting=100), in_flight=100)
    assert limit.limit == 62  # half of what runs plus half of the 25 queued requests kept
    # The requests already sent still queue while they drain: no second cut until they have.
    cut = limit.limit
    limit.update(0.5, ServerLoad(running=100, waiting=80), in_flight=90)
    assert limit.limit == cut
    for _ in range(50):
        limit.note_in_flight(limit.limit)
        limit.update(0.5, ServerLoad(running=limit.limit, waiting=0), in_flight=limit.limit)
    assert limit.limit == 128  # the spec's cap
    for _ in range(50):
        limit.update(0.5, ServerLoad(running=4, waiting=500), in_flight=limit.limit)
    assert limit.limit == 4


def test_slots_another_client_leaves_idle_are_taken_at_once() -> None:
    limit = AdaptiveLimit(AdaptiveSettings(initial=40))
    limit.slow_start = False
    limit.note_in_flight(40)
    limit.update(0.5, ServerLoad(running=100, waiting=3), in_flight=40)  # shared with another client
    limit.note_in_flight(limit.limit)
    limit.update(0.5, ServerLoad(running=42, waiting=0), in_flight=limit.limit)  # the other one is done
    assert limit.limit >= 100


def test_a_client_that_falls_behind_does_not_grow() -> None:
    limit = AdaptiveLimit(AdaptiveSettings(initial=64))
    limit.note_in_flight(64)
    # The server finished everything while this client was busy with the answers.
    limit.update(2.0, ServerLoad(running=0, waiting=0), in_flight=64, lagging=True)
    assert limit.limit == 64


def test_gauges_of_one_replica_behind_a_service_still_let_the_limit_grow() -> None:
    # One URL for four replicas: each reports a quarter of what this client sends.
    limit = AdaptiveLimit(AdaptiveSettings(initial=32, maximum=4096))
    for _ in range(30):
        limit.note_in_flight(limit.limit)
        total = limit.limit / 4
        limit.update(0.5, ServerLoad(running=min(64, total), waiting=max(0, total - 64)), limit.limit)
    assert 4 * 64 <= limit.limit <= 4 * 64 * 1.3


def test_limit_does_not_grow_while_the_client_does_not_use_it() -> None:
    limit = AdaptiveLimit(AdaptiveSettings(initial=32))
    for _ in range(10):
        limit.note_in_flight(5)
        limit.update(0.5, ServerLoad(running=5, waiting=0), in_flight=5)
    assert limit.limit == 32


def test_without_metrics_the_limit_stops_where_throughput_stops_rising() -> None:
    limit = AdaptiveLimit(AdaptiveSettings(initial=16, maximum=4096, hold_intervals=3))
    limit.use_latency()
    slots, per_slot = 100, 50.0  # tokens/s per busy slot
    for _ in range(200):
        limit.note_in_flight(limit.limit)
        limit.record(int(min(limit.limit, slots) * per_slot * 0.5), 0.2)
        limit.update(0.5, None, limit.limit)
    assert slots * 0.9 <= limit.limit <= slots * 1.5


async def test_priority_slots_resize_up_and_down() -> None:
    slots = PrioritySlots(1)
    await slots.acquire()
    waiter = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    assert slots.waiting == 1
    slots.resize(1)
    await asyncio.wait_for(waiter, 1)  # a new slot is handed out at once
    slots.resize(-1)
    slots.release()  # taken back instead of freed
    blocked = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0.01)
    assert not blocked.done()
    slots.release()
    await asyncio.wait_for(blocked, 1)


async def _drive(pool: LLMPool, requests: int, tokens: int) -> float:
    message = [{"role": "user", "content": "word " * 10}]
    start = time.monotonic()
    await asyncio.gather(*(pool.chat_completion(message, max_tokens=tokens) for _ in range(requests)))
    return time.monotonic() - start


@pytest.mark.parametrize("metrics", [True, False], ids=["vllm-metrics", "throughput-only"])
async def test_pool_finds_a_servers_slots_by_itself(metrics: bool) -> None:
    # Long decode steps keep this test's request rate low enough for one shared core.
    settings = SimSettings(models=["m"], slots=32, step_base=0.05, step_per_seq=0.0001, metrics=metrics)
    async with SimulatedVLLMServer(settings) as server:
        adaptive = AdaptiveSettings(initial=4, interval=0.25, hold_intervals=4)
        async with LLMPool([server.url], "m", adaptive=adaptive) as pool:
            await _drive(pool, 400, 15)
            state = pool.endpoint_states()[0]
            assert state.adaptive is not None
            assert state.adaptive.mode == ("metrics" if metrics else "latency")
            assert server.counters.max_batch == 32  # every slot was used
            assert 30 <= pool.limit <= 64
            if metrics:  # the queue stays small: growth stops once requests wait (an unbounded pool queues 368)
                assert server.counters.max_queue <= 64


async def test_pool_spreads_by_each_replicas_own_limit() -> None:
    small = SimSettings(models=["m"], slots=4, step_base=0.05, step_per_seq=0.0001)
    large = SimSettings(models=["m"], slots=32, step_base=0.05, step_per_seq=0.0001)
    async with SimulatedVLLMServer(small) as a, SimulatedVLLMServer(large) as b:
        async with LLMPool([a.url, b.url], "m", adaptive=AdaptiveSettings(initial=4, interval=0.25)) as pool:
            await _drive(pool, 400, 15)
            limits = [s.limit for s in pool.endpoint_states()]
        assert limits[0] is not None and limits[1] is not None
        assert limits[0] <= 4 + 8 and limits[1] >= 32  # slots plus the queue kept (at least 4)
        assert b.counters.completed > 3 * a.counters.completed


def test_fixed_and_adaptive_limits_exclude_each_other() -> None:
    with pytest.raises(ValueError, match="exclude each other"):
        LLMPool(["http://x/v1"], "m", max_in_flight=4, adaptive=AdaptiveSettings())


async def test_simulated_server_reports_vllm_queue_gauges() -> None:
    import aiohttp

    settings = SimSettings(models=["m"], slots=2, step_base=0.05, step_per_seq=0.0)
    async with SimulatedVLLMServer(settings) as server, aiohttp.ClientSession() as http:
        async with LLMPool([server.url], "m") as pool:
            requests = [asyncio.create_task(pool.chat_completion([{"role": "user", "content": f"q{i}?"}], max_tokens=20))
                        for i in range(5)]
            await asyncio.sleep(0.3)
            async with http.get(metrics_url(server.url)) as response:
                text = await response.text()
            await asyncio.gather(*requests)
        assert "(SIMULATED)" in text and 'model_name="m"' in text
        assert parse_server_load(text) == ServerLoad(running=2, waiting=3)
    async with SimulatedVLLMServer(SimSettings(models=["m"], metrics=False)) as server, aiohttp.ClientSession() as http:
        async with http.get(metrics_url(server.url)) as response:
            assert response.status == 404
