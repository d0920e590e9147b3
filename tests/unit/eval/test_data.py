"""Loading eval files: datagen's JSONL, a JSON list as RAFT recipes ship, wrapped lists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from raft_jobs.eval.data import load_chunks, load_eval_items


def test_jsonl_from_datagen(tmp_path: Path) -> None:
    path = tmp_path / "eval.jsonl"
    rows = [
        {"question": "What is A?", "answer": "a", "oracle_chunk_id": "c1"},
        {"question": "What is B?", "answer": "b", "oracle_chunk_id": "c2"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    items = load_eval_items(path)
    assert [(i.question, i.answer, i.oracle_chunk_id) for i in items] == [
        ("What is A?", "a", "c1"),
        ("What is B?", "b", "c2"),
    ]
    assert len({i.id for i in items}) == 2


def test_json_list(tmp_path: Path) -> None:
    path = tmp_path / "eval.json"
    path.write_text(
        json.dumps([{"question": "Q1", "answer": "A1"}, {"question": "Q2", "gold_answer": "A2"}], indent=2)
    )
    items = load_eval_items(path)
    assert [(i.question, i.answer, i.oracle_chunk_id) for i in items] == [
        ("Q1", "A1", None),
        ("Q2", "A2", None),
    ]


def test_json_wrapped_and_cot_answers(tmp_path: Path) -> None:
    path = tmp_path / "eval.json"
    path.write_text(
        json.dumps({"data": [{"id": "x", "question": "Q", "cot_answer": "because... <ANSWER>: 42"}]})
    )
    [item] = load_eval_items(path)
    assert (item.id, item.answer) == ("x", "42")


def test_jsonl_with_json_suffix(tmp_path: Path) -> None:
    path = tmp_path / "eval.json"
    path.write_text('{"question": "Q1", "answer": "A1"}\n{"question": "Q2", "answer": "A2"}\n')
    assert [i.answer for i in load_eval_items(path)] == ["A1", "A2"]


@pytest.mark.parametrize(
    "content", ['[{"question": "Q"}]', "[1, 2]", "[]", '{"question": "Q", "answer": "A"}\nnot json']
)
def test_bad_files_fail_clearly(tmp_path: Path, content: str) -> None:
    path = tmp_path / "eval.jsonl"
    path.write_text(content)
    with pytest.raises(ValueError, match=str(path.name)):
        load_eval_items(path)


def test_chunks(tmp_path: Path) -> None:
    path = tmp_path / "chunks.jsonl"
    path.write_text(json.dumps({"id": "c1", "text": "hello", "source": "a.md"}) + "\n")
    [chunk] = load_chunks(path)
    assert (chunk.id, chunk.text, chunk.source) == ("c1", "hello", "a.md")
