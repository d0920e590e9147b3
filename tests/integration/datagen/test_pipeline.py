"""The datagen program end to end against simulated teachers (in-process workers)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from datagen_fixtures import sim_servers
from raft_api.runconfig import RunConfig, run_config_to_dict
from raft_jobs.datagen.pipeline import DatagenError, DatagenOptions, run_datagen
from raft_jobs.datagen.shards import read_shards

LOCAL = DatagenOptions(executor="local", down_after=30.0, progress_interval=0.2)
RECORD_FIELDS = {"id", "type", "question", "context", "oracle_context", "cot_answer", "instruction"}


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _outputs(config: RunConfig) -> dict[str, bytes]:
    d = config.dataset_dir
    return {name: (d / name).read_bytes() for name in ("train.jsonl", "validation.jsonl", "eval.jsonl", "chunks.jsonl")}


def test_end_to_end_outputs_format_and_no_leakage(teacher, config_factory) -> None:
    from datasets import DatasetDict, load_from_disk

    config = config_factory([teacher.url])
    manifest = run_datagen(config, LOCAL)
    d = config.dataset_dir
    train, validation, evals, chunks = (_jsonl(d / f) for f in ("train.jsonl", "validation.jsonl", "eval.jsonl", "chunks.jsonl"))
    assert train and validation and len(evals) == config.datagen.eval_questions
    for record in train + validation:
        assert RECORD_FIELDS <= set(record)
        assert record["instruction"].startswith("<DOCUMENT>") and record["instruction"].endswith(record["question"])
        assert "<ANSWER>:" in record["cot_answer"]
    assert {"id", "text", "source"} <= set(chunks[0])
    # Eval questions come from held-out chunks that training never shows, as oracle or distractor.
    eval_chunks = {e["oracle_chunk_id"] for e in evals}
    eval_texts = {c["text"] for c in chunks if c["id"] in eval_chunks}
    for record in train + validation:
        assert record["oracle_chunk_id"] not in eval_chunks
        assert not eval_texts & set(record["context"]["sentences"][0])
    assert all(e["question"] and e["answer"] and "<ANSWER>" not in e["answer"] for e in evals)
    # The HF copy holds the same splits.
    hf = load_from_disk(str(d / "hf"))
    assert isinstance(hf, DatasetDict) and len(hf["train"]) == len(train) and len(hf["validation"]) == len(validation)
    counts = manifest["counts"]
    assert counts["chunksDone"] + counts["chunksBuffer"] == counts["chunks"] == len(chunks)
    assert counts["train"] == len(train) and counts["records"] == len(train) + len(validation)
    assert manifest["quality"]["quotesNotInContext"] == 0 and manifest["quality"]["malformed"] == 0
    assert manifest["tokens"]["completion"] == teacher.counters.completion_tokens
    assert 0 < manifest["ratios"]["oracle"] <= 1 and manifest["tokensPerSecond"] > 0
    assert json.loads((d / "manifest.json").read_text())["inputHash"] == manifest["inputHash"]
    # A finished run resumes to the same output without asking the teacher again.
    before, requests = _outputs(config), teacher.counters.requests
    again = run_datagen(config, LOCAL)
    assert _outputs(config) == before and teacher.counters.requests == requests
    assert again["counts"]["chunksFromCheckpoint"] == len(chunks) - counts["chunksBuffer"]


@pytest.mark.slow
def test_same_seed_same_dataset_whatever_the_worker_count(teacher, config_factory) -> None:
    one = config_factory([teacher.url], name="one", workers=1, concurrency=3)
    three = config_factory([teacher.url], name="three", workers=3, concurrency=16)
    run_datagen(one, LOCAL)
    run_datagen(three, LOCAL)
    assert _outputs(one) == _outputs(three)
    other = config_factory([teacher.url], name="other", seed=99)
    run_datagen(other, LOCAL)
    assert _outputs(other)["train.jsonl"] != _outputs(one)["train.jsonl"]


@pytest.mark.slow
def test_faults_complete_the_run_and_counters_match(config_factory) -> None:
    faults = {"error_rate": 0.05, "rate_limit_rate": 0.02, "hang_rate": 0.02, "malformed_rate": 0.02,
              "retry_after": 0.1, "hang_seconds": 30.0, "seed": 11}
    with sim_servers(2, **faults) as servers:
        config = config_factory([s.url for s in servers], workers=2, requestTimeoutSeconds=1.0)
        manifest = run_datagen(config, LOCAL)
        injected = sum((s.counters.faults for s in servers), start=__import__("collections").Counter())
    assert injected["error"] + injected["rate_limit"] + injected["hang"] + injected["malformed"] > 0
    assert manifest["requests"]["retries"] == injected["error"] + injected["rate_limit"] + injected["hang"]
    assert manifest["quality"]["malformed"] == injected["malformed"]
    assert manifest["quality"]["reasked"] == injected["malformed"]  # each malformed output asked once more
    counts = manifest["counts"]
    assert counts["chunksDone"] + counts["chunksBuffer"] == counts["chunks"] and not manifest["failedChunks"]
    assert manifest["counts"]["train"] > 0
    # Both replicas served work.
    assert all(s.counters.completed > 0 for s in servers)


def test_a_teacher_that_goes_down_fails_the_run_naming_it(config_factory) -> None:
    with sim_servers(1) as (server,):
        config = config_factory([server.url], concurrency=2)

        def break_it() -> None:
            while server.counters.completed < 5:
                time.sleep(0.01)
            server.settings.error_rate = 1.0

        threading.Thread(target=break_it, daemon=True).start()
        options = DatagenOptions(executor="local", down_after=1.0)
        with pytest.raises(DatagenError, match=rf"{server.url}.*down"):
            run_datagen(config, options)
    # Chunks finished before the failure are kept for the next attempt.
    assert list(read_shards(config.dataset_dir / "shards"))


def test_unknown_model_and_unreachable_teacher_are_clear_errors(teacher, config_factory) -> None:
    config = config_factory([teacher.url])
    config.teacher.model = "not-served"
    with pytest.raises(DatagenError, match="not 'not-served'"):
        run_datagen(config, DatagenOptions(executor="local", ready_timeout=0.1))
    config = config_factory(["http://127.0.0.1:9/v1"], name="unreachable")
    with pytest.raises(DatagenError, match=r"127\.0\.0\.1:9/v1: not answering"):
        run_datagen(config, DatagenOptions(executor="local", ready_timeout=0.1))


@pytest.mark.slow
def test_sigkilled_program_resumes_without_duplicates(tmp_path, config_factory) -> None:
    batch = 2
    with sim_servers(1, slots=4, step_base=0.004, step_per_seq=0.0) as (server,):
        config = config_factory([server.url], concurrency=4)
        (tmp_path / "run.yaml").write_text(yaml.safe_dump(run_config_to_dict(config)))
        shards = config.dataset_dir / "shards"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-m", "raft_jobs.datagen", "--config", str(tmp_path / "run.yaml"),
                   "--executor", "local", "--batch-chunks", str(batch), "--batch-seconds", "60"]
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while len(list(read_shards(shards))) < 2 * batch:
                assert proc.poll() is None, "datagen ended before it could be killed"
                assert time.monotonic() < deadline
                time.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        done_at_kill = {line["chunk_id"] for line in read_shards(shards)}
        server.settings.step_base = 0.0005  # the rest may go fast
        manifest = run_datagen(config, LOCAL)
        question_requests = server.counters.kinds["question_responder"]
    chunks = manifest["counts"]["chunks"] - manifest["counts"]["chunksBuffer"]  # the chunks generated
    assert 0 < len(done_at_kill) < chunks
    lines = list(read_shards(shards))
    assert len(lines) == len({line["chunk_id"] for line in lines}) == chunks
    records = _jsonl(config.dataset_dir / "train.jsonl") + _jsonl(config.dataset_dir / "validation.jsonl")
    assert len(records) == len({r["id"] for r in records})
    # Redone: at most the unflushed batch plus the chunks in flight (concurrency) of the one shard.
    redone = question_requests - chunks
    assert 0 <= redone <= batch + config.datagen.concurrency
    # The resumed dataset is the one an uninterrupted run makes.
    with sim_servers(1) as (fast,):
        fresh = config_factory([fast.url], name="fresh", concurrency=4)
        run_datagen(fresh, LOCAL)
    assert _outputs(fresh) == _outputs(config)


def test_hf_export_leaves_out_an_empty_split(tmp_path):
    """A corpus small enough to give no validation records still writes hf/ (found by the real run)."""
    from datasets import load_from_disk

    from raft_jobs.datagen.output import write_hf

    record = {"id": "r1", "type": "oracle", "question": "q?", "context": {"sentences": [["a", "b"]], "title": [["t", "t"]]},
              "oracle_context": "a", "cot_answer": "##begin_quote##a##end_quote##\n<ANSWER>: a", "instruction": "i"}
    write_hf(tmp_path / "hf", {"train": [record], "validation": []})
    loaded = load_from_disk(str(tmp_path / "hf"))
    assert list(loaded) == ["train"] and loaded["train"][0]["id"] == "r1"
