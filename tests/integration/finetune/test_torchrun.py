"""The real program under torchrun, 2 processes on Gloo: train, checkpoint, kill, resume, export."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from raft_sim import tiny_model
import yaml

pytestmark = pytest.mark.slow

STEP_LINE = re.compile(r"\] INFO raft_jobs\.finetune\.recipe: step (\d+)/(\d+) .*? loss ([0-9.]+)")
PROGRESS_LINE = re.compile(r"progress finetune: (\{.*\})")
TRAIN, LONG, VALIDATION = 160, 3, 16


def _setup_run(base: Path, student: Path) -> Path:
    """A run directory with a RAFT dataset (some records too long for the context) and run.yaml."""
    records = tiny_model.raft_records(TRAIN + VALIDATION, seed=11, chunk_chars=100)
    too_long = tiny_model.raft_records(LONG, seed=12, chunk_chars=1500)
    tiny_model.write_dataset(base / "root", records[:TRAIN] + too_long, records[TRAIN:])
    config = {
        "apiVersion": "raftoperator.io/v1alpha1",
        "kind": "RunConfig",
        "root": str(base / "root"),
        "student": {
            "baseModel": str(student), "learningRate": 3e-3, "epochs": 2, "contextLength": 1024,
            "perDeviceBatchSize": 1, "gradientAccumulationSteps": 2, "warmupRatio": 0.1,
            "checkpointEverySteps": 5, "validationEverySteps": 10, "precision": "fp32", "seed": 3,
        },
        "progress": {"intervalSeconds": 0},
    }
    path = base / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _command(config: Path) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
            "-m", "raft_jobs.finetune", "--config", str(config)]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env.update(PYTHONUNBUFFERED="1", CUDA_VISIBLE_DEVICES="", TOKENIZERS_PARALLELISM="false")
    return env


def _losses(log: str) -> dict[int, float]:
    return {int(m.group(1)): float(m.group(3)) for m in STEP_LINE.finditer(log)}


def _descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            found += [child, *_descendants(child)]
    return found


def _kill_like_a_pod(proc: subprocess.Popen) -> None:
    """SIGKILL torchrun and its workers at once (torchrun starts each worker in its own session)."""
    for pid in [proc.pid, *_descendants(proc.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def _complete_checkpoints(root: Path) -> list[int]:
    directory = root / "checkpoints"
    if not directory.is_dir():
        return []
    return sorted(int(p.name.split("-")[1]) for p in directory.glob("step-*") if (p / "meta.json").is_file())


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, student_dir):
    """One uninterrupted run: (run dir, log)."""
    base = tmp_path_factory.mktemp("full")
    config = _setup_run(base, student_dir)
    done = subprocess.run(_command(config), env=_env(), capture_output=True, text=True, timeout=300)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    return base, log


def test_training_lowers_the_loss_and_reports_progress(full_run) -> None:
    base, log = full_run
    losses = _losses(log)
    total = int(STEP_LINE.search(log).group(2))
    assert sorted(losses) == list(range(1, total + 1))
    first, last = [losses[s] for s in (1, 2, 3)], [losses[s] for s in range(total - 2, total + 1)]
    assert sum(last) / 3 < sum(first) / 3 - 1.0, losses
    assert f"{LONG} of {TRAIN + LONG} train examples are longer than student.contextLength=1024 tokens" in log
    assert "dropped them" in log
    reports = [json.loads(m.group(1)) for m in PROGRESS_LINE.finditer(log)]
    final = reports[-1]
    assert final["step"] == final["totalSteps"] == total
    assert {"epoch", "loss", "validationLoss", "tokensPerSecond"} <= set(final) and "mfu" not in final
    assert final["epoch"] == 2.0 and final["validationLoss"] < reports[0]["loss"]
    assert _complete_checkpoints(base / "root")[-1] == total
    assert not list((base / "root" / "checkpoints").glob(".tmp-*"))


def test_final_model_loads_with_from_pretrained_and_generates(full_run) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = full_run[0] / "root" / "model"
    for name in ("config.json", "generation_config.json", "tokenizer_config.json"):
        assert (model_dir / name).is_file()
    assert list(model_dir.glob("*.safetensors"))
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir)).eval()
    record = tiny_model.raft_records(1, seed=99, chunk_chars=100)[0]
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": record["instruction"]}], add_generation_prompt=True,
        return_tensors="pt", return_dict=True,
    )
    with torch.no_grad():
        out = model.generate(**prompt, max_new_tokens=12, do_sample=False)
    assert out.shape[1] > prompt["input_ids"].shape[1]
    assert tokenizer.decode(out[0, prompt["input_ids"].shape[1]:]).strip()


def test_killed_job_resumes_from_its_last_complete_checkpoint(tmp_path, student_dir, full_run) -> None:
    config = _setup_run(tmp_path, student_dir)
    root = tmp_path / "root"
    first_log = tmp_path / "first.log"
    with open(first_log, "w") as out:
        proc = subprocess.Popen(_command(config), env=_env(), stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 240
            while not _complete_checkpoints(root):
                assert proc.poll() is None, first_log.read_text()[-4000:]
                assert time.monotonic() < deadline, "no checkpoint written"
                time.sleep(0.05)
        finally:
            _kill_like_a_pod(proc)
    time.sleep(1)  # nothing is left running to write more checkpoints
    assert not (root / "model").exists()
    saved = _complete_checkpoints(root)[-1]
    total = int(STEP_LINE.search(first_log.read_text()).group(2))
    assert 0 < saved < total

    done = subprocess.run(_command(config), env=_env(), capture_output=True, text=True, timeout=300)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert f"resuming from checkpoint step-{saved:08d} at step {saved}" in log
    resumed = _losses(log)
    assert min(resumed) == saved + 1 and max(resumed) == total
    # Same state, same data position: the resumed steps match the uninterrupted run's.
    reference = _losses(full_run[1])
    for step, loss in resumed.items():
        assert loss == pytest.approx(reference[step], abs=2e-3), (step, loss, reference[step])
    assert (root / "model" / "config.json").is_file()
