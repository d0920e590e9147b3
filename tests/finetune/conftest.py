"""Fixtures for the finetune tests: a tiny student saved to disk, loaded like production."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from raft_sim import tiny_model


@pytest.fixture(scope="session")
def student_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama + trained BPE tokenizer with a chat template, saved with save_pretrained."""
    return tiny_model.build_student(tmp_path_factory.mktemp("student"))


@pytest.fixture(scope="session")
def tokenizer(student_dir: Path):
    """The student's tokenizer, loaded from its directory."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(student_dir))


@pytest.fixture
def world_of_one(monkeypatch: pytest.MonkeyPatch):
    """Environment for an in-process gloo group of one rank; the group is destroyed after."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for key, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0",
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    yield
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
