"""Read datagen's RAFT dataset and check it has what fine-tuning needs.

datagen writes the same records twice under ``<root>/dataset``: a Hugging Face ``DatasetDict``
(``hf/``, ``save_to_disk``) and ``train.jsonl`` / ``validation.jsonl``. The HF copy is preferred
when present. Each record carries ``id, type, question, context, oracle_context, cot_answer,
instruction``; fine-tuning uses ``instruction`` (documents then question) as the user turn and
``cot_answer`` as the assistant turn.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from raft_api.layout import HF_DATASET_DIR, SPLIT_FILES

from ..errors import FinetuneError

REQUIRED_FIELDS = ("instruction", "cot_answer")
SPLITS = ("train", "validation")

Record = dict[str, Any]


def load_raft_splits(dataset_dir: str | Path) -> dict[str, list[Record]]:
    """``{"train": [...], "validation": [...]}`` from ``dataset_dir``, validated.

    Raises :class:`FinetuneError` when the dataset is missing, the train split is empty, or
    records lack a required field. A missing or empty validation split is allowed (no
    validation loss is reported then).
    """
    dataset_dir = Path(dataset_dir)
    hf_dir = dataset_dir / HF_DATASET_DIR
    if hf_dir.is_dir():
        splits, source = _load_hf(hf_dir), str(hf_dir)
    elif (dataset_dir / SPLIT_FILES["train"]).is_file():
        splits = {name: _load_jsonl(dataset_dir / SPLIT_FILES[name]) for name in SPLITS}
        source = str(dataset_dir)
    else:
        raise FinetuneError(
            f"no RAFT dataset under {dataset_dir}: expected hf/ (a saved DatasetDict) or "
            "train.jsonl (+ validation.jsonl), as datagen writes them"
        )
    if not splits["train"]:
        raise FinetuneError(f"the train split of the dataset in {source} is empty")
    for name in SPLITS:
        check_records(splits[name], f"{source} [{name}]")
    return splits


def _load_hf(hf_dir: Path) -> dict[str, list[Record]]:
    from datasets import DatasetDict, load_from_disk

    loaded = load_from_disk(str(hf_dir))
    if not isinstance(loaded, DatasetDict) or "train" not in loaded:
        raise FinetuneError(f"{hf_dir} is not a DatasetDict with a 'train' split")
    out: dict[str, list[Record]] = {}
    for name in SPLITS:
        if name not in loaded or loaded[name].num_rows == 0:
            out[name] = []
            continue
        split = loaded[name]
        missing = [f for f in REQUIRED_FIELDS if f not in split.column_names]
        if missing:
            raise FinetuneError(
                f"{hf_dir} [{name}] lacks the column(s) {missing}; columns: {split.column_names}"
            )
        keep = [c for c in ("id", *REQUIRED_FIELDS) if c in split.column_names]
        out[name] = split.select_columns(keep).to_list()
    return out


def _load_jsonl(path: Path) -> list[Record]:
    if not path.is_file():
        return []
    records = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise FinetuneError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise FinetuneError(f"{path}:{lineno}: expected a JSON object per line")
            records.append(record)
    return records


def check_records(records: list[Record], source: str) -> None:
    """Fail with a count and the first offender when records lack a non-empty required field."""
    for field in REQUIRED_FIELDS:
        bad = [
            i
            for i, r in enumerate(records)
            if not isinstance(r.get(field), str) or not r[field].strip()
        ]
        if bad:
            first = records[bad[0]]
            raise FinetuneError(
                f"{source}: {len(bad)} of {len(records)} records have no {field!r} "
                f"(missing, empty or not a string); first: record #{bad[0]} "
                f"(id {first.get('id', '?')!r}). Fine-tuning needs {list(REQUIRED_FIELDS)}."
            )
