"""One datagen worker: its share of the chunks, requests in flight up to its limit, one shard.

The same :class:`ShardWorker` runs in-process (the ``local`` executor) or inside a Ray actor
(:mod:`.executors`). On start it skips the chunks its shard already holds, so a restarted
worker redoes at most what was in flight and not yet written.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raft_jobs.common.concurrency import in_flight_options
from raft_jobs.common.llm import EndpointDownError, FatalRequestError, LLMPool, RequestFailedError
from raft_api.runconfig import DatagenConfig, Endpoint

from .assemble import PoolTexts
from .chunking import Chunk
from .generate import ChunkProcessor, ChunkStats
from .shards import ShardWriter, read_shard

log = logging.getLogger(__name__)


@dataclass
class WorkerSpec:
    """Everything a worker needs (picklable; the distractor texts travel separately)."""

    index: int
    shard: Path
    chunks: list[Chunk]
    roles: dict[str, str]  # chunk id -> train | validation | eval
    pool_ids: list[str]
    teacher: Endpoint
    config: DatagenConfig
    down_after: float = 300.0
    batch_chunks: int = 16
    batch_seconds: float = 2.0
    endpoints: list[str] = field(default_factory=list)  # the replicas this worker uses


@dataclass
class WorkerProgress:
    """Live counters of one worker (this attempt only)."""

    chunks_done: int = 0
    chunks_failed: int = 0
    records: int = 0
    eval_items: int = 0
    stats: ChunkStats = field(default_factory=ChunkStats)
    started_at: float = field(default_factory=time.monotonic)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {
            "chunksDone": self.chunks_done,
            "chunksFailed": self.chunks_failed,
            "records": self.records,
            "evalItems": self.eval_items,
            "stats": self.stats.as_dict(),
            "elapsed": time.monotonic() - self.started_at,
        }


class ShardWorker:
    """Processes ``spec.chunks`` with a sliding window of chunks and one LLM pool."""

    def __init__(self, spec: WorkerSpec, pool_texts: PoolTexts) -> None:
        self.spec = spec
        self.pool_texts = pool_texts
        self.progress = WorkerProgress()

    async def run(self) -> dict[str, Any]:
        """Generate every chunk not yet in the shard; returns the summary of this attempt."""
        spec, cfg = self.spec, self.spec.config
        done = {line.get("chunk_id") for line in read_shard(spec.shard)}
        todo = deque(c for c in spec.chunks if c.id not in done)
        self.progress = WorkerProgress()
        log.info("worker %d: %d chunks to do, %d already in %s", spec.index, len(todo), len(done), spec.shard.name)
        teacher = Endpoint(endpoints=spec.endpoints or spec.teacher.endpoints, model=spec.teacher.model,
                           apiKeyEnv=spec.teacher.api_key_env)
        llm = LLMPool.from_endpoint(
            teacher,
            **in_flight_options(cfg.concurrency, cfg.max_in_flight_per_replica, clients=cfg.workers),
            timeout=cfg.request_timeout_seconds,
            max_retries=cfg.max_retries,
            down_after=spec.down_after,
            name=f"teacher (worker {spec.index})",
            seed=cfg.seed + spec.index,
        )
        writer = ShardWriter(spec.shard, batch_chunks=spec.batch_chunks, batch_seconds=spec.batch_seconds)
        processor = ChunkProcessor(llm, cfg, spec.pool_ids, self.pool_texts)
        failed: list[str] = []
        tries: dict[str, int] = {}
        running: dict[asyncio.Task[dict[str, Any]], Chunk] = {}
        try:
            while todo or running:
                # As many chunks open as requests may be in flight: every open chunk has a
                # request ready (its questions, then its answers), so the teacher never waits
                # between one chunk's phases, and the window follows an adaptive limit.
                while todo and len(running) < (llm.limit or 1):
                    chunk = todo.popleft()
                    task = asyncio.create_task(processor.process(chunk, spec.roles.get(chunk.id, "train")))
                    running[task] = chunk
                finished, _ = await asyncio.wait(
                    running, timeout=min(spec.batch_seconds, 0.5), return_when=asyncio.FIRST_COMPLETED
                )
                for task in finished:
                    chunk = running.pop(task)
                    try:
                        line = task.result()
                    except RequestFailedError as exc:
                        tries[chunk.id] = tries.get(chunk.id, 0) + 1
                        if tries[chunk.id] < 2:
                            log.warning("worker %d: chunk %s failed (%s); trying it again later", spec.index, chunk.id, exc)
                            todo.append(chunk)
                        else:
                            log.error("worker %d: chunk %s failed twice, skipped: %s", spec.index, chunk.id, exc)
                            failed.append(chunk.id)
                            self.progress.chunks_failed += 1
                        continue
                    writer.add(line)
                    self._count(line)
                writer.maybe_flush()
        except (EndpointDownError, FatalRequestError):
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            raise
        finally:
            writer.close()
            await llm.close()
        log.info("worker %d: done, %d chunks in %d batches, %d failed", spec.index,
                 self.progress.chunks_done, writer.batches, len(failed))
        return {"index": spec.index, "failed": failed, "llm": llm.stats.as_dict(), **self.progress.as_dict()}

    def _count(self, line: dict[str, Any]) -> None:
        self.progress.chunks_done += 1
        self.progress.records += len(line["records"])
        self.progress.eval_items += len(line["eval"])
        self.progress.stats.add(line["stats"])

    def snapshot(self) -> dict[str, Any]:
        """The live progress counters."""
        return self.progress.as_dict()
