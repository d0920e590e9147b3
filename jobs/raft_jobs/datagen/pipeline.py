"""The datagen flow, driven from one process (the RayJob entrypoint on the head node).

load corpus → clean and chunk → plan (eval hold-out, validation split, distractor pool) →
skip chunks already in the shards (resume) → workers generate and checkpoint → read every
shard → write train/validation JSONL, the HF ``DatasetDict``, eval.jsonl, manifest.json.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raft_api.layout import CHUNKS_FILE, EVAL_QUESTIONS_FILE, HF_DATASET_DIR, MANIFEST_FILE, SPLIT_FILES
from raft_jobs.common.llm import LLMError, LLMPool
from raft_jobs.common.progress import ProgressReporter
from raft_api.progress import DatagenReport
from raft_jobs.common.run_root import ForeignRunDirectory, claim_root
from raft_api.runconfig import RunConfig, section_to_dict

from . import dedup, executors, prompts
from .assemble import DISTRACTOR, ORACLE, REFUSAL, SHARED_TEXT_CHARS, Plan, derive_seed, make_plan
from .chunking import Chunk, split_documents
from .generate import ChunkStats
from .loaders import CorpusError, load_corpus
from .output import write_hf, write_json, write_jsonl
from .parsing import QUOTE_MATCH_THRESHOLD
from .shards import read_shards, shard_path
from .worker import WorkerSpec

log = logging.getLogger(__name__)

# Settings that do not change what is generated (so resuming with other values is fine). Every
# other setting is in the input hash, evalQuestions and validationFraction included: they
# decide which chunks are held out and how the records are split.
_NOT_IN_HASH = {"workers", "concurrency", "maxInFlightPerReplica", "requestTimeoutSeconds", "maxRetries"}


class DatagenError(RuntimeError):
    """Ends the program with a message for people and a non-zero exit."""


@dataclass
class DatagenOptions:
    """How to run (not what to generate: that is the run config)."""

    executor: str = "ray"  # ray | local
    down_after: float = field(default_factory=lambda: float(os.environ.get("RAFT_DATAGEN_ENDPOINT_DOWN_SECONDS", "300")))
    ready_timeout: float | None = None  # wait for the teacher this long (default: down_after)
    batch_chunks: int = 16
    batch_seconds: float = 2.0
    progress_interval: float = 2.0


def input_hash(chunks: list[Chunk], config: RunConfig) -> str:
    """Hash of everything that determines the generated data.

    The chunks, every generation setting but those in ``_NOT_IN_HASH``, the teacher model, and
    the prompts and checks themselves (a new version of the program asks differently).
    """
    settings = {k: v for k, v in section_to_dict(config.datagen).items() if k not in _NOT_IN_HASH}
    program = {
        "prompts": [prompts.QUESTION_SYSTEM, prompts.COT_SYSTEM, prompts.question_messages("", 0),
                    prompts.refusal_answer()],
        "quoteMatch": QUOTE_MATCH_THRESHOLD,
        "nearDuplicate": dedup.NEAR_DUPLICATE_THRESHOLD,
        "sharedText": SHARED_TEXT_CHARS,
    }
    digest = hashlib.sha256()
    digest.update(
        json.dumps({"settings": settings, "model": config.teacher.model, "program": program}, sort_keys=True).encode()
    )
    for chunk in chunks:
        digest.update(chunk.id.encode())
    return digest.hexdigest()


def _prepare_shards(shards_dir: Path, digest: str) -> None:
    """Keep the shards when they were made from the same inputs, else move them aside."""
    plan_file = shards_dir / "plan.json"
    if plan_file.exists():
        previous = json.loads(plan_file.read_text()).get("inputHash")
        if previous != digest:
            aside = shards_dir.with_name(f"shards-{(previous or 'unknown')[:12]}")
            log.warning("inputs changed since the shards were written; moving them to %s", aside)
            if aside.exists():
                import shutil

                shutil.rmtree(aside)
            shards_dir.rename(aside)
    shards_dir.mkdir(parents=True, exist_ok=True)
    plan_file = shards_dir / "plan.json"
    if not plan_file.exists():
        write_json(plan_file, {"inputHash": digest})


class _Progress:
    """Folds worker snapshots into the progress bar and the progress ConfigMap."""

    def __init__(self, config: RunConfig, total: int, resumed: dict[str, Any]) -> None:
        from tqdm import tqdm

        self.reporter = ProgressReporter("datagen", config.progress)
        self.total = total
        self.resumed = resumed
        self.started = time.monotonic()
        self.bar = tqdm(total=total, initial=resumed["chunks"], unit="chunk", desc="datagen",
                        file=sys.stderr, mininterval=1.0 if sys.stderr.isatty() else 15.0, dynamic_ncols=True)
        self.payload: DatagenReport = {}

    def update(self, snapshots: list[dict[str, Any]], *, force: bool = False) -> None:
        done = self.resumed["chunks"] + sum(s.get("chunksDone", 0) for s in snapshots)
        stats = ChunkStats()
        for s in snapshots:
            stats.add(s.get("stats", {}))
        elapsed = max([1e-6, *(s.get("elapsed", 0.0) for s in snapshots)])
        self.payload = {
            "chunksDone": done,
            "chunksTotal": self.total,
            "records": self.resumed["records"] + sum(s.get("records", 0) for s in snapshots),
            "malformed": self.resumed["malformed"] + stats.malformed,
            "retries": self.resumed["retries"] + stats.retries,
            "tokensPerSecond": round(stats.completion_tokens / elapsed, 1),
            "rejected": {k: self.resumed["rejected"].get(k, 0) + v for k, v in stats.rejected().items()},
        }
        self.bar.n = min(done, self.total)
        self.bar.set_postfix(records=self.payload["records"], tps=self.payload["tokensPerSecond"], refresh=False)
        self.bar.refresh()
        self.reporter.report(self.payload, force=force)

    def close(self) -> None:
        self.bar.close()


def run_datagen(config: RunConfig, options: DatagenOptions | None = None) -> dict[str, Any]:
    """Generate the RAFT dataset described by ``config``; returns the manifest."""
    options = options or DatagenOptions()
    cfg = config.datagen
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    if not config.teacher.endpoints or not config.teacher.model:
        raise DatagenError("teacher.endpoints and teacher.model must be set in the run config")
    try:
        claim_root(config)
    except ForeignRunDirectory as exc:
        raise DatagenError(str(exc)) from exc

    try:
        documents = load_corpus(config.corpus)
    except CorpusError as exc:
        raise DatagenError(str(exc)) from exc
    timings["loadSeconds"] = time.monotonic() - t0
    t = time.monotonic()
    chunks, chunk_stats = split_documents(documents, size=cfg.chunk_size, overlap=cfg.chunk_overlap, min_chars=cfg.min_chunk_chars)
    if not chunks:
        raise DatagenError(f"no chunk of at least minChunkChars={cfg.min_chunk_chars} characters in {len(documents)} documents")
    timings["chunkSeconds"] = time.monotonic() - t
    log.info("%d documents → %d chunks (%s)", len(documents), len(chunks), chunk_stats)

    out = config.dataset_dir
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / CHUNKS_FILE, (c.as_dict() for c in chunks))
    plan = make_plan(chunks, cfg)
    digest = input_hash(chunks, config)
    shards_dir = out / "shards"
    _prepare_shards(shards_dir, digest)

    done_lines = {line["chunk_id"]: line for line in read_shards(shards_dir)}
    todo = [c for c in chunks if c.id not in done_lines and c.id not in plan.buffer_ids]
    resumed = _summarise_lines(done_lines.values())
    log.info("%d chunks to generate, %d already done (resume)", len(todo), len(done_lines))

    t = time.monotonic()
    summaries: list[dict[str, Any]] = []
    if todo:
        _wait_for_teacher(config, options)
        summaries = _generate(config, options, plan, chunks, todo, shards_dir, resumed)
    timings["generateSeconds"] = time.monotonic() - t

    t = time.monotonic()
    manifest = _write_outputs(config, plan, chunks, len(documents), chunk_stats, digest, shards_dir, summaries, len(done_lines))
    timings["writeSeconds"] = time.monotonic() - t
    timings["totalSeconds"] = time.monotonic() - t0
    # Throughput over the workers' own time (Ray start-up and output writing excluded).
    worker_seconds = max([0.0, *(s.get("elapsed", 0.0) for s in summaries)])
    timings["workerSeconds"] = worker_seconds
    manifest["timings"] = {k: round(v, 3) for k, v in timings.items()}
    tokens = manifest["tokens"]["completionThisRun"]
    manifest["tokensPerSecond"] = round(tokens / worker_seconds, 1) if worker_seconds > 0 else 0.0
    write_json(out / MANIFEST_FILE, manifest)
    final: DatagenReport = {
        "chunksDone": manifest["counts"]["chunksDone"],
        "chunksTotal": len(chunks),
        "records": manifest["counts"]["records"],
        "malformed": manifest["quality"]["malformed"],
        "retries": manifest["requests"]["retries"],
        "tokensPerSecond": manifest["tokensPerSecond"],
        "rejected": manifest["quality"]["rejected"],
    }
    ProgressReporter("datagen", config.progress).report(final, force=True)
    return manifest


def _wait_for_teacher(config: RunConfig, options: DatagenOptions) -> None:
    async def wait() -> None:
        async with LLMPool.from_endpoint(config.teacher, name="teacher") as llm:
            await llm.wait_ready(options.ready_timeout if options.ready_timeout is not None else options.down_after)

    try:
        asyncio.run(wait())
    except LLMError as exc:
        raise DatagenError(f"the teacher is not ready: {exc}") from exc


def _generate(
    config: RunConfig,
    options: DatagenOptions,
    plan: Plan,
    chunks: list[Chunk],
    todo: list[Chunk],
    shards_dir: Path,
    resumed: dict[str, Any],
) -> list[dict[str, Any]]:
    cfg = config.datagen
    workers = max(1, min(cfg.workers, len(todo)))
    by_id = {c.id: c for c in chunks}
    pool_texts = {cid: (by_id[cid].text, by_id[cid].title or by_id[cid].source) for cid in plan.pool_ids}
    roles = {c.id: plan.role(c.id) for c in todo}
    specs = [
        WorkerSpec(
            index=i,
            shard=shard_path(shards_dir, i),
            chunks=todo[i::workers],
            roles={c.id: roles[c.id] for c in todo[i::workers]},
            pool_ids=plan.pool_ids,
            teacher=config.teacher,
            config=cfg,
            down_after=options.down_after,
            batch_chunks=options.batch_chunks,
            batch_seconds=options.batch_seconds,
        )
        for i in range(workers)
    ]
    progress = _Progress(config, len(chunks), resumed)
    run = executors.run_ray if options.executor == "ray" else executors.run_local
    try:
        summaries = run(specs, pool_texts, progress.update, interval=options.progress_interval)
    except executors.WorkerError as exc:
        raise DatagenError(f"datagen failed: {exc}") from exc
    finally:
        progress.close()
    return summaries


def _summarise_lines(lines: Any) -> dict[str, Any]:
    stats = ChunkStats()
    chunks = records = 0
    for line in lines:
        chunks += 1
        records += len(line.get("records", []))
        stats.add(line.get("stats", {}))
    return {"chunks": chunks, "records": records, "malformed": stats.malformed, "retries": stats.retries,
            "rejected": stats.rejected()}


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 6) if denominator else None


def _write_outputs(
    config: RunConfig,
    plan: Plan,
    chunks: list[Chunk],
    n_documents: int,
    chunk_stats: dict[str, int],
    digest: str,
    shards_dir: Path,
    summaries: list[dict[str, Any]],
    resumed_chunks: int,
) -> dict[str, Any]:
    cfg = config.datagen
    out = config.dataset_dir
    known = {c.id for c in chunks}
    lines: dict[str, dict[str, Any]] = {}
    for line in read_shards(shards_dir):
        if line["chunk_id"] in known:
            lines.setdefault(line["chunk_id"], line)  # a chunk is never used twice
    stats = ChunkStats()
    splits: dict[str, list[dict[str, Any]]] = {"train": [], "validation": []}
    eval_pool: list[dict[str, Any]] = []
    for cid, line in lines.items():
        stats.add(line.get("stats", {}))
        role = plan.role(cid)
        if role == "buffer":
            continue
        if role == "eval":
            eval_pool.extend(line.get("eval", []))
        else:
            splits["validation" if role == "validation" else "train"].extend(line.get("records", []))
    for name, rows in splits.items():
        rows.sort(key=lambda r: r["id"])
        random.Random(derive_seed(cfg.seed, "order", name)).shuffle(rows)
    if not splits["train"]:
        raise DatagenError(
            f"no training records were generated from {len(lines)} chunks ({stats.malformed} malformed outputs); "
            "check the teacher's answers in the worker logs"
        )
    eval_pool.sort(key=lambda item: derive_seed(cfg.seed, "eval-pick", item["id"]))
    eval_rows = dedup.unique_questions(eval_pool)[: max(0, cfg.eval_questions)]
    # Questions are de-duplicated over the whole corpus, and none close to an eval question is trained on.
    held_out = dedup.EvalQuestions([row["question"] for row in eval_rows])
    kept, question_counts = dedup.filter_training(splits["train"] + splits["validation"], held_out)
    kept_ids = {r["id"] for r in kept}
    for name in splits:
        splits[name] = [r for r in splits[name] if r["id"] in kept_ids]

    for name, rows in splits.items():
        write_jsonl(out / SPLIT_FILES[name], rows)
    write_jsonl(out / EVAL_QUESTIONS_FILE, eval_rows)
    write_hf(out / HF_DATASET_DIR, splits)

    everything = splits["train"] + splits["validation"]
    kinds = {kind: sum(1 for r in everything if r["type"] == kind) for kind in (ORACLE, DISTRACTOR, REFUSAL)}
    failed = sorted({cid for s in summaries for cid in s.get("failed", [])} - set(lines))
    this_run = ChunkStats()
    llm_retries_failed = 0
    for s in summaries:
        this_run.add(s.get("stats", {}))
        llm_retries_failed += s.get("llm", {}).get("failed", 0)
    if failed:
        log.warning("%d chunks failed twice and were skipped; run again to retry them: %s", len(failed), failed[:10])
    return {
        "run": config.run,
        "inputHash": digest,
        "teacher": {"model": config.teacher.model, "endpoints": config.teacher.endpoints},
        "datagen": section_to_dict(cfg),
        "counts": {
            "documents": n_documents,
            "chunks": len(chunks),
            "chunkPieces": chunk_stats["pieces"],
            "chunksTooSmall": chunk_stats["tooSmall"],
            "chunksDuplicate": chunk_stats["duplicates"],
            "chunksEval": len(plan.eval_ids),
            "chunksBuffer": len(plan.buffer_ids),
            "chunksValidation": len(plan.validation_ids),
            "chunksDone": len(lines),
            "chunksFromCheckpoint": resumed_chunks,
            "chunksFailed": len(failed),
            "chunksWithoutQuestions": stats.no_questions,
            "questions": stats.questions,
            "answered": stats.answered,
            "records": len(everything),
            "train": len(splits["train"]),
            "validation": len(splits["validation"]),
            "eval": len(eval_rows),
            "evalRequested": cfg.eval_questions,
            "byType": kinds,
        },
        "ratios": {
            "noOracleLabel": cfg.no_oracle_label,
            "oracle": _ratio(kinds[ORACLE], len(everything)),
            "oracleTarget": cfg.oracle_probability,
            "refusal": _ratio(kinds[REFUSAL], len(everything)),
            "refusalTarget": cfg.refusal_probability,
        },
        "quality": {
            "malformed": stats.malformed,
            "reasked": stats.reasked,
            "skippedQuestions": stats.skipped_questions,
            "quotes": stats.quotes,
            "quotesNotInContext": stats.quotes_not_in_context,
            "rejected": stats.rejected(),
            **question_counts,
        },
        "requests": {"requests": stats.requests, "retries": stats.retries, "failedRequests": llm_retries_failed},
        "tokens": {
            "prompt": stats.prompt_tokens,
            "completion": stats.completion_tokens,
            "total": stats.prompt_tokens + stats.completion_tokens,
            "completionThisRun": this_run.completion_tokens,
        },
        "failedChunks": failed,
        "workers": len(summaries),
    }
