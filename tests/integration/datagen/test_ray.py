"""datagen on a real (local) Ray: two worker actors, and one of them killed mid-run."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from datagen_fixtures import sim_servers
from raft_jobs.datagen.executors import ACTOR_PREFIX
from raft_jobs.datagen.pipeline import DatagenOptions, run_datagen
from raft_jobs.datagen.shards import read_shard, shard_path

pytestmark = pytest.mark.slow

RAY = DatagenOptions(executor="ray", down_after=30.0, progress_interval=0.5, batch_chunks=2, batch_seconds=60)
LOCAL = DatagenOptions(executor="local", down_after=30.0)
FILES = ("train.jsonl", "validation.jsonl", "eval.jsonl")


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def _files(config) -> dict[str, bytes]:
    return {name: (config.dataset_dir / name).read_bytes() for name in FILES}


def test_two_ray_workers_and_a_killed_one_give_the_local_dataset(ray_session, config_factory) -> None:
    import ray

    with sim_servers(1) as (fast,):
        reference = config_factory([fast.url], name="local", workers=1)
        run_datagen(reference, LOCAL)
        plain = config_factory([fast.url], name="ray", workers=2)
        manifest = run_datagen(plain, RAY)
    assert manifest["workers"] == 2 and _files(plain) == _files(reference)
    assert len(list(read_shard(shard_path(plain.dataset_dir / "shards", 1)))) > 0  # both workers wrote

    with sim_servers(1, slots=4, step_base=0.004, step_per_seq=0.0) as (server,):
        killed = config_factory([server.url], name="killed", workers=2, concurrency=2)
        shard0 = shard_path(killed.dataset_dir / "shards", 0)
        outcome: dict[str, int] = {}

        def kill_worker_0() -> None:
            deadline = time.monotonic() + 120
            while len(list(read_shard(shard0))) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            actor = ray.get_actor(f"{ACTOR_PREFIX}0")
            pid = ray.get(actor.pid.remote())
            outcome["lines_at_kill"] = len(list(read_shard(shard0)))
            os.kill(pid, signal.SIGKILL)
            outcome["killed"] = pid
            server.settings.step_base = 0.0005  # the rest may go fast

        killer = threading.Thread(target=kill_worker_0, daemon=True)
        killer.start()
        manifest = run_datagen(killed, RAY)
        killer.join(timeout=5)
        question_requests = server.counters.kinds["question_responder"]
    assert outcome.get("killed"), "the worker was not killed"
    chunks = manifest["counts"]["chunks"] - manifest["counts"]["chunksBuffer"]  # the chunks generated
    assert 2 <= outcome["lines_at_kill"] < len(list(read_shard(shard0)))
    lines = [json.loads(l) for p in sorted((killed.dataset_dir / "shards").glob("shard-*.jsonl")) for l in p.read_text().splitlines()]
    assert len(lines) == len({line["chunk_id"] for line in lines}) == chunks
    redone = question_requests - chunks
    assert 0 <= redone <= RAY.batch_chunks + killed.datagen.concurrency
    assert _files(killed) == _files(reference)


def test_a_teacher_down_in_a_ray_worker_fails_the_run_naming_it(ray_session, config_factory) -> None:
    from raft_jobs.datagen.pipeline import DatagenError

    with sim_servers(1) as (server,):
        config = config_factory([server.url], workers=2, concurrency=2)

        def break_it() -> None:
            while server.counters.completed < 5:
                time.sleep(0.01)
            server.settings.error_rate = 1.0

        threading.Thread(target=break_it, daemon=True).start()
        options = DatagenOptions(executor="ray", down_after=1.0, progress_interval=0.5)
        with pytest.raises(DatagenError, match=rf"{server.url} has been down"):
            run_datagen(config, options)
