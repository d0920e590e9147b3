"""Fixtures for the datagen tests: a synthetic corpus, simulated teachers, run configs."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from corpus import write_corpus  # noqa: E402

from raft_api.runconfig import RunConfig, run_config_from_dict  # noqa: E402
from raft_sim.vllm_server import SimSettings, SimulatedVLLMServer  # noqa: E402

MODEL = "sim-teacher"
FAST = {"slots": 64, "step_base": 0.001, "step_per_seq": 0.00002}


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    """Six text files, 24 paragraphs of unique sentences."""
    return write_corpus(tmp_path / "corpus")


@contextlib.contextmanager
def sim_servers(n: int = 1, **settings: Any) -> Iterator[list[SimulatedVLLMServer]]:
    """``n`` simulated teacher replicas in background threads."""
    merged = {"models": [MODEL], **FAST, **settings}
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(SimulatedVLLMServer(SimSettings(**merged)).running_in_thread()) for _ in range(n)]


@pytest.fixture
def teacher() -> Iterator[SimulatedVLLMServer]:
    """One fast simulated teacher without faults."""
    with sim_servers(1) as servers:
        yield servers[0]


def make_config(root: Path, corpus: Path, endpoints: list[str], **datagen: Any) -> RunConfig:
    """A run config for a small, fast datagen run."""
    settings = {
        "chunkSize": 600,
        "chunkOverlap": 50,
        "minChunkChars": 200,
        "questionsPerChunk": 4,
        "distractors": 3,
        "workers": 1,
        "concurrency": 8,
        "evalQuestions": 10,
        "validationFraction": 0.1,
        "requestTimeoutSeconds": 10.0,
        **datagen,
    }
    return run_config_from_dict(
        {
            "run": {"name": "test", "namespace": "default", "uid": "u1"},
            "root": str(root),
            "corpus": {"volume": {"path": str(corpus)}},
            "teacher": {"endpoints": endpoints, "model": MODEL},
            "datagen": settings,
        }
    )


@pytest.fixture
def config_factory(tmp_path: Path, corpus_dir: Path) -> Callable[..., RunConfig]:
    """``config_factory(endpoints, name="out", **datagen)`` → a config rooted under tmp_path."""

    def build(endpoints: list[str], name: str = "out", **datagen: Any) -> RunConfig:
        return make_config(tmp_path / name, corpus_dir, endpoints, **datagen)

    return build
