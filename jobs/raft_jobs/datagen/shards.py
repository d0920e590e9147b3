"""Checkpoint shards: one JSONL line per finished chunk, appended, flushed and fsynced per batch.

A line holds everything a chunk produced (records or eval items, and its counters), so a
chunk is either wholly in a shard or not at all. A line cut short by a kill is ignored when
read and cut off before the next append.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def shard_path(shards_dir: Path, index: int) -> Path:
    """The shard file of worker ``index``."""
    return shards_dir / f"shard-{index:04d}.jsonl"


def read_shard(path: Path) -> Iterator[dict[str, Any]]:
    """The complete lines of a shard file (a torn last line is skipped)."""
    if not path.exists():
        return
    with open(path, "rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                log.warning("%s: ignoring an incomplete last line (%d bytes)", path, len(raw))
                break
            try:
                yield json.loads(raw)
            except json.JSONDecodeError:
                log.warning("%s: ignoring an unreadable line", path)


def read_shards(shards_dir: Path) -> Iterator[dict[str, Any]]:
    """Every line of every shard under ``shards_dir``, in file-name order."""
    if shards_dir.is_dir():
        for path in sorted(shards_dir.glob("shard-*.jsonl")):
            yield from read_shard(path)


def repair(path: Path) -> None:
    """Cut a torn last line off ``path`` so that appends start on a fresh line."""
    if not path.exists():
        return
    with open(path, "rb+") as fh:
        data = fh.read()
        end = data.rfind(b"\n") + 1
        if end != len(data):
            fh.truncate(end)
            fh.flush()
            os.fsync(fh.fileno())


class ShardWriter:
    """Buffers finished chunks and appends them as one fsynced batch."""

    def __init__(self, path: Path, *, batch_chunks: int = 16, batch_seconds: float = 2.0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        repair(path)
        self.path = path
        self.batch_chunks = max(1, batch_chunks)
        self.batch_seconds = batch_seconds
        self._fh = open(path, "ab")  # noqa: SIM115 - closed in close()
        self._buffer: list[bytes] = []
        self._first_at = 0.0
        self.batches = 0

    def add(self, line: dict[str, Any]) -> None:
        """Buffer one chunk's line; writes the batch when it is full or old enough."""
        if not self._buffer:
            self._first_at = time.monotonic()
        self._buffer.append(json.dumps(line, ensure_ascii=False).encode() + b"\n")
        self.maybe_flush()

    def maybe_flush(self) -> None:
        """Write the batch if it holds ``batch_chunks`` chunks or is ``batch_seconds`` old."""
        if self._buffer and (
            len(self._buffer) >= self.batch_chunks or time.monotonic() - self._first_at >= self.batch_seconds
        ):
            self.flush()

    def flush(self) -> None:
        """Append the buffered lines, flush and fsync."""
        if not self._buffer:
            return
        self._fh.write(b"".join(self._buffer))
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._buffer.clear()
        self.batches += 1

    def close(self) -> None:
        """Flush and close."""
        self.flush()
        self._fh.close()
