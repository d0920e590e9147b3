"""Loading the eval questions and the retriever's corpus.

The questions are datagen's held-out ``dataset/eval.jsonl`` (``question, answer,
oracle_chunk_id``) unless ``eval.evalFile`` names a user file: JSONL, a JSON list of objects,
or a JSON object holding such a list under ``data``/``questions``/``examples``. Common RAFT
recipes ship a JSON list of ``{"question", "answer"}`` objects; a few use ``gold_answer``,
``cot_answer`` or ``ground_truth`` for the answer, which are accepted too.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .metrics import extract_answer

_ANSWER_KEYS = ("answer", "gold_answer", "ground_truth", "reference", "cot_answer")
_LIST_KEYS = ("data", "questions", "examples", "items")


@dataclass(frozen=True)
class EvalItem:
    """One question with its reference answer (and, from datagen, the chunk it came from)."""

    id: str
    question: str
    answer: str
    oracle_chunk_id: str | None = None


@dataclass(frozen=True)
class Chunk:
    """One corpus chunk written by datagen."""

    id: str
    text: str
    source: str = ""


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Objects from a JSONL file or a JSON file (a list, or an object wrapping one)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if not stripped:
        return []
    if stripped[0] == "[" or (stripped[0] == "{" and path.suffix.lower() == ".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, list):
            return _objects(data, path)
        if isinstance(data, dict):
            for key in _LIST_KEYS:
                if isinstance(data.get(key), list):
                    return _objects(data[key], path)
            return [data]
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not a JSON object: {exc}") from exc
    return _objects(records, path)


def _objects(items: list[Any], path: Path) -> list[dict[str, Any]]:
    bad = [i for i, item in enumerate(items) if not isinstance(item, dict)]
    if bad:
        raise ValueError(f"{path}: entry {bad[0]} is not an object")
    return items


def load_eval_items(path: str | Path) -> list[EvalItem]:
    """The eval questions in ``path``; every record needs a question and an answer."""
    items = []
    for index, record in enumerate(read_records(path)):
        question = record.get("question")
        answer = next((record[k] for k in _ANSWER_KEYS if record.get(k) not in (None, "")), None)
        if not isinstance(question, str) or not question.strip() or answer is None:
            raise ValueError(f"{path}: record {index} needs 'question' and 'answer'")
        if isinstance(answer, list):  # several acceptable answers: the first is the reference
            answer = answer[0] if answer else ""
        answer = str(answer)
        if "<ANSWER>" in answer.upper():  # a RAFT cot_answer: keep only the final answer
            answer = extract_answer(answer)
        oracle = record.get("oracle_chunk_id")
        items.append(
            EvalItem(
                id=str(record.get("id", index)),
                question=question.strip(),
                answer=answer.strip(),
                oracle_chunk_id=str(oracle) if oracle not in (None, "") else None,
            )
        )
    if not items:
        raise ValueError(f"{path}: no eval questions")
    if len({item.id for item in items}) != len(items):  # ids must tell questions apart
        items = [dataclasses.replace(item, id=str(index)) for index, item in enumerate(items)]
    return items


def load_chunks(path: str | Path) -> list[Chunk]:
    """datagen's ``chunks.jsonl``: ``id, text, source`` per line."""
    chunks = []
    for index, record in enumerate(read_records(path)):
        text = record.get("text")
        if not isinstance(text, str):
            raise ValueError(f"{path}: chunk {index} has no text")
        chunks.append(Chunk(id=str(record.get("id", index)), text=text, source=str(record.get("source", ""))))
    return chunks
