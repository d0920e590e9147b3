"""The trainer → model-server seam on a GPU: the finetune program on CUDA, its export served.

One GPU, the real code paths at small size:

1. a student of SmolLM2-135M's shape (its config and tokenizer; weights drawn at random, since
   none can be downloaded where this runs) is saved as a Hugging Face checkpoint;
2. the finetune program runs exactly as the trainer pod runs it (``torchrun -m raft_jobs.finetune
   --config run.yaml``, NCCL, FSDP2, bf16, activation checkpointing) on a synthetic RAFT dataset,
   and once more in fp32 as the baseline of the same run;
3. the export is checked like the student server's ``check-model`` init container does
   (``raft_jobs.common.model_fingerprint``, with this machine's transformers);
4. ``transformers serve`` (the stand-in for vLLM here) serves the export on CUDA, and the
   programs' own client (``raft_jobs.common.llm.LLMPool``) sends RAFT prompts one at a time and
   then 64 at once.

    python benchmarks/cuda_pipeline.py --model-dir DIR_WITH_SMOLLM2_CONFIG_AND_TOKENIZER

Prints a table and writes ``benchmarks/results/cuda_pipeline.{json,md}`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from raft_api.layout import SPLIT_FILES, RunLayout

ROOT = Path(__file__).resolve().parents[1]
STEP_LINE = re.compile(r"step (\d+)/(\d+) epoch [0-9.]+ loss ([0-9.]+) .*?tokens/s (\d+)(?:.*? mfu ([0-9.]+))?")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json")


def _records(n: int, seed: int) -> list[dict[str, Any]]:
    from raft_sim.tiny_model import raft_records

    return raft_records(n, seed=seed, documents=5, chunk_chars=(700, 1000), answer_sentences=(2, 6))


def build_student(model_dir: Path, out: Path, seed: int) -> None:
    """A random-weight student with ``model_dir``'s config and tokenizer, saved in bf16."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(seed)
    config = AutoConfig.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(out)
    for name in TOKENIZER_FILES:
        if (model_dir / name).exists():
            shutil.copy(model_dir / name, out / name)


def write_run(root: Path, student: Path, precision: str, records: int, context: int) -> Path:
    """A run directory with the dataset where datagen writes it, and run.yaml."""
    rows = _records(records + 32, seed=7)
    dataset = Path(RunLayout(str(root)).dataset)
    dataset.mkdir(parents=True, exist_ok=True)
    for name, part in (("train", rows[:records]), ("validation", rows[records:])):
        (dataset / SPLIT_FILES[name]).write_text("".join(json.dumps(r) + "\n" for r in part), encoding="utf-8")
    config = {
        "apiVersion": "raftoperator.io/v1alpha1", "kind": "RunConfig", "root": str(root),
        "student": {"baseModel": str(student), "learningRate": 3e-4, "epochs": 1, "contextLength": context,
                    "perDeviceBatchSize": 4, "gradientAccumulationSteps": 1, "warmupRatio": 0.05,
                    "checkpointEverySteps": 1000, "precision": precision, "seed": 3},
        "progress": {"intervalSeconds": 0},
    }
    path = root / "run.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def finetune(config: Path, log_path: Path) -> dict[str, Any]:
    """Run the program as the trainer pod does; its step lines, wall time and exit status."""
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1")
    start = time.monotonic()
    with log_path.open("w") as log:
        rc = subprocess.call([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1",
                              "-m", "raft_jobs.finetune", "--config", str(config)],
                             stdout=log, stderr=subprocess.STDOUT, env=env, timeout=900)
    wall = time.monotonic() - start
    steps = [(int(m[1]), int(m[2]), float(m[3]), float(m[4]), float(m[5]) if m[5] else None)
             for m in STEP_LINE.finditer(log_path.read_text(errors="replace"))]
    steady = [s for s in steps if s[0] > 2] or steps
    return {
        "rc": rc, "wallSeconds": round(wall, 1), "steps": len(steps),
        "firstLoss": steps[0][2] if steps else None, "lastLoss": steps[-1][2] if steps else None,
        "tokensPerSecond": statistics.median(s[3] for s in steady) if steady else None,
        "mfu": statistics.median(s[4] for s in steady if s[4] is not None) if any(s[4] for s in steady) else None,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _serve_load(url: str, model: str, prompts: list[list[dict[str, str]]], in_flight: int,
                      max_tokens: int) -> dict[str, Any]:
    from raft_jobs.common.llm import LLMPool

    async with LLMPool([url], model, max_in_flight=in_flight) as pool:
        start = time.monotonic()
        results = await asyncio.gather(*(pool.chat_completion(p, max_tokens=max_tokens) for p in prompts))
        wall = time.monotonic() - start
    tokens = sum(r.completion_tokens for r in results)
    return {"inFlight": in_flight, "requests": len(results), "completionTokens": tokens,
            "seconds": round(wall, 2), "tokensPerSecond": round(tokens / wall, 1)}


def serve(model_dir: Path, log_path: Path, max_tokens: int, concurrent: int = 64, device: str = "cuda") -> dict[str, Any]:
    """``transformers serve`` on ``device``: readiness time, then sequential and concurrent load."""
    import urllib.request

    from raft_jobs.common.conversation import system_prompt

    port = _free_port()
    argv = [shutil.which("transformers") or "transformers", "serve", str(model_dir), "--host", "127.0.0.1",
            "--port", str(port), "--device", device, "--dtype", "bfloat16" if device == "cuda" else "float32",
            "--continuous-batching"]
    start = time.monotonic()
    with log_path.open("w") as log:
        server = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            while time.monotonic() - start < 180:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                    break
                except OSError:
                    if server.poll() is not None:
                        raise RuntimeError(f"transformers serve exited with {server.returncode}")
                    time.sleep(1)
            ready = time.monotonic() - start
            prompts = [[{"role": "system", "content": system_prompt()}, {"role": "user", "content": r["instruction"]}]
                       for r in _records(8 + concurrent, seed=99)]
            url = f"http://127.0.0.1:{port}/v1"
            one = asyncio.run(_serve_load(url, str(model_dir), prompts[:8], 1, max_tokens))
            many = asyncio.run(_serve_load(url, str(model_dir), prompts[8:], concurrent, max_tokens))
        finally:
            server.terminate()
            server.wait(30)
    return {"readySeconds": round(ready, 1), "sequential": one, "concurrent": many,
            "batchingSpeedup": round(many["tokensPerSecond"] / one["tokensPerSecond"], 2)}


def check_model(model_dir: Path) -> list[str]:
    """What the student server's check-model init container would say."""
    from raft_jobs.common.model_fingerprint import check

    return check(model_dir)


def _device() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"


def main(argv: list[str] | None = None) -> int:
    """Run the three parts, print the table, write the results."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, required=True, help="config.json and tokenizer files of the student")
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--context-length", type=int, default=4096)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    import torch
    import transformers

    work = Path(tempfile.mkdtemp(prefix="raft-cuda-"))
    student = work / "student"
    build_student(args.model_dir, student, seed=0)
    runs: dict[str, Any] = {}
    for precision in ("bf16", "fp32"):
        config = write_run(work / precision, student, precision, args.records, args.context_length)
        runs[precision] = finetune(config, args.out / f"cuda_finetune_{precision}.log")
        print(f"finetune {precision}: {runs[precision]}", flush=True)
    export = Path(RunLayout(str(work / "bf16")).model)
    problems = check_model(export) if export.exists() else ["no export"]
    served = serve(export, args.out / "cuda_serve.log", args.max_tokens) if not problems else None

    bf16, fp32 = runs["bf16"], runs["fp32"]
    ratio = (bf16["tokensPerSecond"] / fp32["tokensPerSecond"]) if bf16["tokensPerSecond"] and fp32["tokensPerSecond"] else None
    lines = [
        "# The trainer → model-server seam on one GPU",
        "",
        f"- date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; device: {_device()}; torch {torch.__version__}, "
        f"transformers {transformers.__version__}",
        f"- command: `python benchmarks/cuda_pipeline.py --model-dir DIR --records {args.records} "
        f"--context-length {args.context_length}`",
        "- student: SmolLM2-135M-Instruct's config and tokenizer, random weights (none can be downloaded there); "
        "a synthetic RAFT dataset (5 documents of 700-1000 characters, chain-of-thought answers)",
        "",
        "## Fine-tuning: the finetune program under torchrun (1 process, NCCL, FSDP2)",
        "",
        "| precision | exit | steps | wall (s) | first loss | last loss | tokens/s (median) | MFU | vs fp32 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in runs.items():
        vs = f"{ratio:.2f}x" if name == "bf16" and ratio else "1.00x"
        mfu = "n/a" if r["mfu"] is None else f"{r['mfu']:.3f}"
        lines.append(f"| {name} | {r['rc']} | {r['steps']} | {r['wallSeconds']} | {r['firstLoss']} | {r['lastLoss']} "
                     f"| {r['tokensPerSecond']} | {mfu} | {vs} |")
    lines += ["", "## The export, checked and served", "",
              f"- check-model (this machine's transformers {transformers.__version__}): "
              + ("passed" if not problems else "FAILED: " + "; ".join(problems))]
    if served:
        lines += [f"- `transformers serve` on CUDA (bf16, continuous batching) ready in {served['readySeconds']} s", "",
                  "| requests in flight | requests | completion tokens | seconds | tokens/s | vs 1 in flight |",
                  "|---|---|---|---|---|---|"]
        for key in ("sequential", "concurrent"):
            s = served[key]
            vs = served["batchingSpeedup"] if key == "concurrent" else 1.0
            lines.append(f"| {s['inFlight']} | {s['requests']} | {s['completionTokens']} | {s['seconds']} "
                         f"| {s['tokensPerSecond']} | {vs:.2f}x |")
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cuda_pipeline.md").write_text(text, encoding="utf-8")
    (args.out / "cuda_pipeline.json").write_text(json.dumps(
        {"finetune": runs, "checkModel": problems, "serve": served, "args": {k: str(v) for k, v in vars(args).items()}},
        indent=2), encoding="utf-8")
    return 0 if not problems and all(r["rc"] == 0 for r in runs.values()) and served else 1


if __name__ == "__main__":
    sys.exit(main())
