"""Running the workers: in this process (``local``) or as Ray actors (``ray``).

Ray: inside the RayJob the entrypoint runs on the head with ``RAY_ADDRESS`` set and
``ray.init()`` joins that cluster; elsewhere a local Ray instance is started. An already
initialised Ray (tests) is used as it is. Each worker is an async actor that Ray restarts
if its process dies (``max_restarts``), re-running ``run`` (``max_task_retries``), which
resumes from the worker's shard.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from .assemble import PoolTexts
from .worker import ShardWorker, WorkerSpec

log = logging.getLogger(__name__)

ACTOR_PREFIX = "raft-datagen-worker-"  # actor names: raft-datagen-worker-<index>

ProgressCallback = Callable[[list[dict[str, Any]]], None]


class WorkerError(RuntimeError):
    """A worker failed; the message says why (endpoint down, rejected requests, crash)."""


def run_local(
    specs: Sequence[WorkerSpec], pool_texts: PoolTexts, on_progress: ProgressCallback, *, interval: float = 1.0
) -> list[dict[str, Any]]:
    """All workers on one event loop in this process."""

    async def main() -> list[dict[str, Any]]:
        workers = [ShardWorker(spec, pool_texts) for spec in specs]
        tasks = [asyncio.create_task(w.run()) for w in workers]
        try:
            while not all(t.done() for t in tasks):
                await asyncio.wait(tasks, timeout=interval, return_when=asyncio.FIRST_EXCEPTION)
                if any(t.done() and not t.cancelled() and t.exception() for t in tasks):
                    break
                on_progress([w.snapshot() for w in workers])
            for task in tasks:
                if task.done() and not task.cancelled() and task.exception():
                    raise WorkerError(str(task.exception())) from task.exception()
            return [t.result() for t in tasks]
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    return asyncio.run(main())


def _ray_actor_class() -> Any:
    import ray

    @ray.remote(max_restarts=3, max_task_retries=3)
    class DatagenWorker:
        """Ray actor wrapping a :class:`ShardWorker` (async: ``progress`` answers while ``run`` runs)."""

        def __init__(self, spec: WorkerSpec, pool_texts: PoolTexts) -> None:
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
            self.worker = ShardWorker(spec, pool_texts)

        async def run(self) -> dict[str, Any]:
            return await self.worker.run()

        async def progress(self) -> dict[str, Any]:
            return self.worker.snapshot()

        def pid(self) -> int:
            return os.getpid()

    return DatagenWorker


def init_ray(workers: int) -> bool:
    """Connect to Ray: the cluster named by ``RAY_ADDRESS``, else a local instance.

    Returns True when this call started Ray (the caller then shuts it down).
    """
    import ray

    if ray.is_initialized():
        return False
    if os.environ.get("RAY_ADDRESS"):
        log.info("joining the Ray cluster at %s", os.environ["RAY_ADDRESS"])
        ray.init()
    else:
        log.info("starting a local Ray instance for %d workers", workers)
        ray.init(num_cpus=max(2, workers), include_dashboard=False)
    return True


def run_ray(
    specs: Sequence[WorkerSpec],
    pool_texts: PoolTexts,
    on_progress: ProgressCallback,
    *,
    interval: float = 2.0,
    worker_cpus: float | None = None,
    on_started: Callable[[list[Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """One Ray actor per spec, spread over the cluster; returns the workers' summaries."""
    import ray
    from ray.exceptions import RayActorError, RayTaskError

    started = init_ray(len(specs))
    cpus = worker_cpus if worker_cpus is not None else float(os.environ.get("RAFT_DATAGEN_WORKER_CPUS", "1"))
    actor_class = _ray_actor_class()
    actors = []
    try:
        # The driver holds these references until the end so that a restarted actor finds
        # its constructor arguments in the object store.
        texts_ref = ray.put(dict(pool_texts))
        spec_refs = [ray.put(spec) for spec in specs]
        actors = [
            actor_class.options(num_cpus=cpus, scheduling_strategy="SPREAD", name=f"{ACTOR_PREFIX}{i}").remote(
                spec_ref, texts_ref
            )
            for i, spec_ref in enumerate(spec_refs)
        ]
        if on_started is not None:
            on_started(actors)
        pending = {actor.run.remote(): i for i, actor in enumerate(actors)}
        summaries: list[dict[str, Any] | None] = [None] * len(actors)
        snapshots: list[dict[str, Any]] = [{} for _ in actors]
        last_poll = 0.0
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=interval)
            for ref in ready:
                index = pending.pop(ref)
                try:
                    summaries[index] = ray.get(ref)
                except RayTaskError as exc:
                    cause = getattr(exc, "cause", None) or exc
                    raise WorkerError(f"worker {index}: {cause}") from exc
                except RayActorError as exc:
                    raise WorkerError(f"worker {index} died and could not be restarted: {exc}") from exc
                snapshots[index] = {k: v for k, v in summaries[index].items() if k not in ("failed", "llm")}
            if time.monotonic() - last_poll >= interval:
                last_poll = time.monotonic()
                for i, actor in enumerate(actors):
                    if summaries[i] is not None:
                        continue
                    try:
                        snapshots[i] = ray.get(actor.progress.remote(), timeout=interval)
                    except Exception:  # noqa: BLE001 - a restarting actor has no progress to give
                        pass
                on_progress([s for s in snapshots if s])
        return [s for s in summaries if s is not None]
    finally:
        for actor in actors:
            try:
                ray.kill(actor)
            except Exception:  # noqa: BLE001
                pass
        if started:
            ray.shutdown()
