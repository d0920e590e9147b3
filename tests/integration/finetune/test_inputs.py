"""Clear failures on bad inputs: dataset, tokenizer, context length."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from raft_sim import tiny_model
import yaml

from raft_jobs.finetune.__main__ import main
from raft_jobs.finetune.data import load_raft_splits
from raft_jobs.finetune.errors import FinetuneError


def _write_config(tmp_path: Path, student: Path, **overrides) -> Path:
    student_cfg = {"baseModel": str(student), "contextLength": 2048, "precision": "fp32",
                   "gradientAccumulationSteps": 1, "epochs": 1, **overrides}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "raftoperator.io/v1alpha1", "kind": "RunConfig",
                                    "root": str(tmp_path / "root"), "student": student_cfg}))
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "hf"])
def test_both_dataset_formats_load(tmp_path: Path, fmt: str) -> None:
    records = tiny_model.raft_records(5)
    tiny_model.write_dataset(tmp_path, records[:4], records[4:], fmt=fmt)
    splits = load_raft_splits(tmp_path / "dataset")
    assert [r["cot_answer"] for r in splits["train"]] == [r["cot_answer"] for r in records[:4]]
    assert len(splits["validation"]) == 1


def test_missing_dataset(tmp_path: Path) -> None:
    with pytest.raises(FinetuneError, match="no RAFT dataset under"):
        load_raft_splits(tmp_path / "dataset")


def test_empty_train_split(tmp_path: Path) -> None:
    tiny_model.write_dataset(tmp_path, [], [])
    with pytest.raises(FinetuneError, match="train split .* is empty"):
        load_raft_splits(tmp_path / "dataset")


@pytest.mark.parametrize("fmt", ["jsonl", "hf"])
def test_missing_field(tmp_path: Path, fmt: str) -> None:
    records = tiny_model.raft_records(6)
    for r in records[2:4]:
        del r["cot_answer"]
    if fmt == "hf":  # a column is all or nothing in Arrow
        for r in records:
            r.pop("cot_answer", None)
    tiny_model.write_dataset(tmp_path, records, records[:1], fmt=fmt)
    expected = "2 of 6 records have no 'cot_answer'.*rec-2" if fmt == "jsonl" else "lacks the column"
    with pytest.raises(FinetuneError, match=expected):
        load_raft_splits(tmp_path / "dataset")


def test_invalid_json_line(tmp_path: Path) -> None:
    tiny_model.write_dataset(tmp_path, tiny_model.raft_records(2), [])
    with open(tmp_path / "dataset" / "train.jsonl", "a") as fh:
        fh.write("{not json\n")
    with pytest.raises(FinetuneError, match=r"train.jsonl:3: not valid JSON"):
        load_raft_splits(tmp_path / "dataset")


@pytest.mark.slow
def test_context_too_small_for_every_example(tmp_path, student_dir, world_of_one, caplog) -> None:
    records = tiny_model.raft_records(8)
    tiny_model.write_dataset(tmp_path / "root", records, [])
    config = _write_config(tmp_path, student_dir, contextLength=64)
    with caplog.at_level(logging.ERROR):
        assert main(["--config", str(config)]) == 2
    assert "8 of 8 train examples are longer than student.contextLength=64 tokens" in caplog.text
    assert "none left to train on" in caplog.text


@pytest.mark.slow
def test_tokenizer_without_chat_template(tmp_path, student_dir, world_of_one, caplog) -> None:
    bare = tmp_path / "bare"
    shutil.copytree(student_dir, bare)
    (bare / "chat_template.jinja").unlink(missing_ok=True)
    config_file = bare / "tokenizer_config.json"
    tok_config = json.loads(config_file.read_text())
    tok_config.pop("chat_template", None)
    config_file.write_text(json.dumps(tok_config))
    tiny_model.write_dataset(tmp_path / "root", tiny_model.raft_records(4), [])
    with caplog.at_level(logging.ERROR):
        assert main(["--config", str(_write_config(tmp_path, bare))]) == 2
    assert "has no chat template" in caplog.text


def test_empty_base_model(tmp_path, world_of_one, caplog) -> None:
    with caplog.at_level(logging.ERROR):
        assert main(["--config", str(_write_config(tmp_path, Path(""), baseModel=""))]) == 2
    assert "student.baseModel: String should have at least 1 character" in caplog.text


def test_unknown_base_model(tmp_path, world_of_one, caplog) -> None:
    tiny_model.write_dataset(tmp_path / "root", tiny_model.raft_records(2), [])
    with caplog.at_level(logging.ERROR):
        assert main(["--config", str(_write_config(tmp_path, tmp_path / "no-such-model"))]) == 2
    assert "cannot load the tokenizer of student.baseModel" in caplog.text
