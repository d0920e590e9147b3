"""Writing the dataset files under ``<root>/dataset`` (each written whole, then renamed)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write ``rows`` as JSONL atomically; returns the number of rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    count = 0
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return count


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_hf(path: Path, splits: dict[str, list[dict[str, Any]]]) -> None:
    """The splits as a Hugging Face ``DatasetDict`` saved with ``save_to_disk`` at ``path``.

    A split with no rows (a small corpus's validation split) is left out: ``datasets`` cannot
    write an empty split of this nested schema.
    """
    import datasets
    from datasets import Dataset, DatasetDict

    datasets.disable_progress_bars()
    train = Dataset.from_list(splits["train"])
    built = {"train": train}
    for name, rows in splits.items():
        if name != "train" and rows:
            built[name] = Dataset.from_list(rows, features=train.features)
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    DatasetDict(built).save_to_disk(str(tmp))
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)
