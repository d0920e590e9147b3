"""The model cache downloads each model revision once, even when runs start together."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

from raft_jobs.common import model_fetch


def _slow_download(marker_dir: str):
    def download(model: str, revision: str) -> None:
        Path(marker_dir, f"{os.getpid()}-{time.monotonic_ns()}").write_text(f"{model}@{revision}")
        time.sleep(1.0)
    return download


def _worker(cache: str, calls: str, barrier) -> None:
    barrier.wait()
    model_fetch.ensure("meta-llama/Meta-Llama-3-70B-Instruct", "main", cache, _slow_download(calls), poll_seconds=0.05)


def test_four_pods_starting_together_download_once(tmp_path: Path) -> None:
    cache, calls = tmp_path / "cache", tmp_path / "calls"
    calls.mkdir()
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_worker, args=(str(cache), str(calls), barrier)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert len(list(calls.iterdir())) == 1
    # a later run finds it at once; another revision is another download
    assert not model_fetch.ensure("meta-llama/Meta-Llama-3-70B-Instruct", "main", cache, _slow_download(str(calls)))
    assert model_fetch.ensure("meta-llama/Meta-Llama-3-70B-Instruct", "v2", cache, _slow_download(str(calls)))
    assert len(list(calls.iterdir())) == 2


def test_a_dead_holders_lock_is_taken_over(tmp_path: Path) -> None:
    lock = tmp_path / "raft-model-cache" / "locks" / model_fetch._slug("org/m", "main")
    lock.mkdir(parents=True)
    old = time.time() - 3600
    os.utime(lock, (old, old))
    seen = []
    assert model_fetch.ensure("org/m", "main", tmp_path, lambda m, r: seen.append((m, r)), stale_seconds=60)
    assert seen == [("org/m", "main")] and not lock.exists()


def test_a_failed_download_releases_the_lock(tmp_path: Path) -> None:
    def boom(model: str, revision: str) -> None:
        raise OSError("401 gated repo")

    try:
        model_fetch.ensure("org/m", "main", tmp_path, boom)
    except OSError:
        pass
    assert not (tmp_path / "raft-model-cache" / "locks" / model_fetch._slug("org/m", "main")).exists()
    assert not (tmp_path / "raft-model-cache" / "done" / model_fetch._slug("org/m", "main")).exists()


def test_a_program_fetches_only_when_the_operator_asked(tmp_path: Path, monkeypatch) -> None:
    seen: list[tuple[str, str]] = []
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv(model_fetch.FETCH_ENV, raising=False)
    assert not model_fetch.ensure_requested("org/m", download=lambda m, r: seen.append((m, r)))
    monkeypatch.setenv(model_fetch.FETCH_ENV, "1")
    assert not model_fetch.ensure_requested("/data/models/base", download=lambda m, r: seen.append((m, r)))
    assert model_fetch.ensure_requested("org/m", download=lambda m, r: seen.append((m, r)))
    assert not model_fetch.ensure_requested("org/m", download=lambda m, r: seen.append((m, r)))  # cached
    assert seen == [("org/m", "main")]
