"""Download one Hugging Face model revision into the shared model cache, once across every run.

Runs as an init container of a vLLM server (``python3 -c <this file> MODEL REVISION``), in the
server's image, which has ``huggingface_hub``; the trainer, whose Kubeflow APIs take no init
container of the operator's own, calls :func:`ensure_requested` itself before it loads its base
model. The cache is a ReadWriteMany claim mounted at
``HF_HOME``; the first pod that needs a model takes a lock (``mkdir``, atomic on every shared
file system), downloads with ``snapshot_download`` and writes a marker; pods of other runs
that start meanwhile wait for the marker, and later ones find it and return at once. A lock
whose holder stopped refreshing it for :data:`STALE_SECONDS` is taken over (the download
resumes: the hub keeps what was fetched). The server container then reads the cache offline
and read-only.

This file imports only the standard library and, when it downloads, ``huggingface_hub``.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Callable

STALE_SECONDS = 600.0
HEARTBEAT_SECONDS = 30.0
POLL_SECONDS = 5.0
Downloader = Callable[[str, str], None]
# Set to "1" by the operator on a program's container whose HF_HOME is the shared model cache.
FETCH_ENV = "RAFT_MODEL_CACHE_FETCH"


def _slug(model: str, revision: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "--", f"{model}@{revision}")


def _hub_download(model: str, revision: str) -> None:
    from huggingface_hub import snapshot_download

    snapshot_download(repo_id=model, revision=revision)


def ensure(model: str, revision: str, cache: str | os.PathLike[str], download: Downloader = _hub_download, *,
           stale_seconds: float = STALE_SECONDS, poll_seconds: float = POLL_SECONDS,
           heartbeat_seconds: float = HEARTBEAT_SECONDS) -> bool:
    """Make ``model`` at ``revision`` present in ``cache``; True when this call downloaded it."""
    root = Path(cache) / "raft-model-cache"
    done, lock = root / "done" / _slug(model, revision), root / "locks" / _slug(model, revision)
    done.parent.mkdir(parents=True, exist_ok=True)
    lock.parent.mkdir(parents=True, exist_ok=True)
    while not done.exists():
        try:
            lock.mkdir()
        except FileExistsError:
            try:
                idle = time.time() - lock.stat().st_mtime
            except FileNotFoundError:
                continue  # released just now
            if idle > stale_seconds:
                print(f"taking over a stale download lock of {model}@{revision} ({int(idle)}s idle)", flush=True)
                shutil.rmtree(lock, ignore_errors=True)
                continue
            time.sleep(poll_seconds)
            continue
        stop = threading.Event()

        def heartbeat() -> None:
            while not stop.wait(heartbeat_seconds):
                try:
                    os.utime(lock)
                except FileNotFoundError:
                    return

        beat = threading.Thread(target=heartbeat, daemon=True)
        beat.start()
        try:
            if not done.exists():
                print(f"downloading {model}@{revision} into the model cache", flush=True)
                download(model, revision)
                done.write_text(f"{time.time()}\n", encoding="utf-8")
                return True
        finally:
            stop.set()
            shutil.rmtree(lock, ignore_errors=True)
    return False


def ensure_requested(model: str, revision: str = "main", download: Downloader = _hub_download) -> bool:
    """In a program: fetch ``model`` into the cache at ``$HF_HOME`` when the operator asked for it.

    Every process of a distributed program may call this; one downloads, the others wait for its
    marker. Paths (models on the run's volume) are not cached. True when this call downloaded.
    """
    if os.environ.get(FETCH_ENV) != "1" or model.startswith("/") or "/" not in model:
        return False
    return ensure(model, revision, os.environ["HF_HOME"], download)


def main(argv: list[str]) -> int:
    """Script entry: ``MODEL REVISION``; the cache is ``$HF_HOME``."""
    model, revision = argv[0], argv[1] if len(argv) > 1 else "main"
    fetched = ensure(model, revision, os.environ["HF_HOME"])
    print(f"{model}@{revision} {'downloaded' if fetched else 'already'} in the model cache", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
