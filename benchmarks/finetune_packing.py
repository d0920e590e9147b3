"""Packing vs padding for the finetune program on RAFT-shaped data.

Token utilization (real tokens / processed tokens) and training throughput for three layouts
of the same examples:

* ``packed``: best-fit-decreasing packing into ``contextLength`` sequences, examples isolated by
  restarting position ids (what ``raft_jobs.finetune`` does);
* ``padded``: the baseline, one example per sequence padded to ``contextLength`` (static shapes);
* ``unpadded``: one example per sequence, no padding at all (batch of one, variable length).

Records are synthetic but RAFT-shaped: 5 documents of ~1000 characters (700-1000), a question,
and a chain-of-thought answer of a few hundred tokens; the tokenizer is a byte-level BPE
trained on the same text (about 4 characters per token, close to real tokenizers on English).

Throughput runs the real training path: the student is built with the finetune program's
``build_model`` (FSDP2 in a world of one, activation checkpointing, bf16 mixed precision on
GPU), the loss is the program's answer-only token loss, and each step is forward, backward,
clipping and AdamW.

    python benchmarks/finetune_packing.py                  # CPU: utilization + samples/s
    python benchmarks/finetune_packing.py --device cuda    # GPU: tokens/s and MFU, Llama-3.2-1B shape

Writes benchmarks/results/finetune_packing.{json,md} (CPU) or finetune_packing_cuda.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from raft_api.runconfig import StudentConfig
from raft_jobs.finetune.data import (
    IGNORE_INDEX,
    MicroBatch,
    collate,
    drop_too_long,
    fill_ratio,
    one_per_bin,
    pack,
    tokenize_records,
    utilization,
)
from raft_jobs.finetune.distributed import init_distributed, shutdown
from raft_jobs.finetune.metrics import mfu, peak_flops
from raft_jobs.finetune.model import attention_implementation, build_model
from raft_jobs.finetune.recipe import token_loss_sum
from raft_sim import tiny_model

ROOT = Path(__file__).resolve().parents[1]

RESULTS = ROOT / "benchmarks" / "results"

# Model shapes for the throughput part: a small one a CPU trains in seconds, and Llama-3.2-1B.
SHAPES: dict[str, dict[str, Any]] = {
    "cpu-small": dict(hidden_size=128, intermediate_size=384, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, vocab_size=4096),
    "llama-3.2-1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                         num_attention_heads=32, num_key_value_heads=8, vocab_size=128256,
                         tie_word_embeddings=True, rope_theta=500000.0),
}


def make_examples(n: int, seed: int, tokenizer: Any) -> list[Any]:
    """Tokenized RAFT-shaped examples (answers of ~100-400 tokens)."""
    records = tiny_model.raft_records(n, seed=seed, documents=5, chunk_chars=(700, 1000), answer_sentences=(6, 24))
    return tokenize_records(tokenizer, records)


def padded_to(batch: MicroBatch, width: int, pad_id: int) -> MicroBatch:
    """``batch`` right-padded to ``width`` positions (the static-shape baseline)."""
    extra = width - batch.input_ids.shape[1]
    if extra <= 0:
        return batch
    positions = torch.arange(extra).expand(batch.input_ids.shape[0], extra)
    return MicroBatch(
        F.pad(batch.input_ids, (0, extra), value=pad_id),
        torch.cat([batch.position_ids, positions], dim=1),
        F.pad(batch.labels, (0, extra), value=IGNORE_INDEX),
        batch.real_tokens,
        batch.label_tokens,
        batch.squared_lengths,
    )


def layouts(lengths: list[int], context: int, seed: int) -> dict[str, list[list[int]]]:
    """The three layouts as lists of sequences (example indices), shuffled like an epoch."""
    packed = pack(lengths, context)
    random.Random(seed).shuffle(packed)
    single = one_per_bin(lengths)
    random.Random(seed).shuffle(single)
    return {"packed": packed, "padded": single, "unpadded": single}


def utilization_rows(lengths: list[int], context: int, seed: int, batch_sizes: list[int]) -> list[dict[str, Any]]:
    """Utilization of every layout (and a dynamic-padding reference at larger batch sizes)."""
    rows = []
    lay = layouts(lengths, context, seed)
    real = sum(lengths)
    for b in (1, 2):  # batch 2: rows padded to the longest (SDPA); flash-attention concatenates them
        rows.append({"layout": "packed", "batch": b, "sequences": len(lay["packed"]),
                     "utilization": utilization(lengths, lay["packed"], b),
                     "fill": fill_ratio(lengths, lay["packed"], context)})
    rows.append({"layout": "padded", "batch": 1, "sequences": len(lengths),
                 "utilization": real / (len(lengths) * context), "fill": real / (len(lengths) * context)})
    for b in batch_sizes:
        rows.append({"layout": "dynamic-padded", "batch": b, "sequences": len(lengths),
                     "utilization": utilization(lengths, lay["unpadded"], b), "fill": None})
    rows.append({"layout": "unpadded", "batch": 1, "sequences": len(lengths),
                 "utilization": utilization(lengths, lay["unpadded"], 1), "fill": None})
    return rows


def save_student(directory: Path, shape: str, context: int, dtype: torch.dtype) -> Path:
    """A randomly initialised Llama of ``shape`` saved with save_pretrained (no download)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(max_position_embeddings=max(context, 8192), **SHAPES[shape])
    torch.manual_seed(0)
    with torch.device("cpu"):
        model = LlamaForCausalLM(config).to(dtype)
    model.save_pretrained(str(directory))
    return directory


class LayoutTimer:
    """Times training steps of one layout; rounds of all layouts are interleaved by the caller
    so that load from other processes on the machine spreads evenly over the layouts."""

    def __init__(self, name: str, examples: list[Any], sequences: list[list[int]], pad_to: int | None,
                 pad_id: int) -> None:
        self.name, self.examples, self.sequences = name, examples, sequences
        self.pad_to, self.pad_id = pad_to, pad_id
        self.next = 0
        self.steps = self.samples = self.tokens = self.processed = self.squared = 0
        self.elapsed = 0.0

    def run(self, model: Any, optimizer: Any, info: Any, steps: int, *, record: bool = True) -> None:
        """Train ``steps`` steps of one sequence each; add them to the totals when ``record``."""
        for _ in range(steps):
            sequence = self.sequences[self.next % len(self.sequences)]
            self.next += 1
            batch = collate(self.examples, [sequence], self.pad_id)
            if self.pad_to:
                batch = padded_to(batch, self.pad_to, self.pad_id)
            if info.is_cuda:
                torch.cuda.synchronize()
            started = time.perf_counter()
            on_device = batch.to(info.device)
            logits = model(input_ids=on_device.input_ids, position_ids=on_device.position_ids, use_cache=False).logits
            loss = token_loss_sum(logits, on_device.labels) / max(batch.label_tokens, 1)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            float(loss.detach())  # waits for the device
            if record:
                self.elapsed += time.perf_counter() - started
                self.steps += 1
                self.samples += len(sequence)
                self.tokens += batch.real_tokens
                self.processed += batch.processed_tokens
                self.squared += batch.squared_lengths

    def result(self, shape: Any, info: Any) -> dict[str, Any]:
        """Throughput over the recorded steps."""
        return {
            "steps": self.steps,
            "seconds": self.elapsed,
            "samplesPerSecond": self.samples / self.elapsed,
            "tokensPerSecond": self.tokens / self.elapsed,
            "processedTokensPerSecond": self.processed / self.elapsed,
            "utilization": self.tokens / self.processed,
            "mfu": mfu(shape.train_flops(self.tokens, self.squared), self.elapsed, 1, peak_flops(info.device)),
        }


def _world_of_one() -> None:
    if "RANK" in os.environ:
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))


def throughput_rows(args: argparse.Namespace, examples: list[Any], lengths: list[int], pad_id: int) -> list[dict[str, Any]]:
    """Samples/s (and tokens/s, MFU) of each layout on the real training path."""
    _world_of_one()
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    info = init_distributed()
    if args.device == "cuda" and not info.is_cuda:
        raise SystemExit("--device cuda: no CUDA device visible")
    shape_name = args.shape or ("llama-3.2-1b" if info.is_cuda else "cpu-small")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = save_student(Path(tmp) / "student", shape_name, args.context_length,
                            torch.bfloat16 if info.is_cuda else torch.float32)
        student = StudentConfig(baseModel=str(base), precision="bf16" if info.is_cuda else "fp32",
                                activationCheckpointing=True)
        model, shape = build_model(str(base), student, info)
        lay = layouts(lengths, args.context_length, args.seed)
        timers = [LayoutTimer(name, examples, lay[name], args.context_length if name == "padded" else None, pad_id)
                  for name in ("packed", "padded", "unpadded")]
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
        per_round = {"packed": 1, "padded": args.baseline_step_factor, "unpadded": args.baseline_step_factor}
        for timer in timers:
            timer.run(model, optimizer, info, args.warmup, record=False)
        for round_ in range(args.steps):
            for timer in timers:
                timer.run(model, optimizer, info, per_round[timer.name])
            print(f"  round {round_ + 1}/{args.steps}: "
                  + ", ".join(f"{t.name} {t.samples / t.elapsed:.2f} samples/s" for t in timers), flush=True)
        device = torch.cuda.get_device_name(info.device) if info.is_cuda else platform.processor() or "cpu"
        for timer in timers:
            rows.append({"layout": timer.name, "model": shape_name, "attention": attention_implementation(info),
                         "device": device, **timer.result(shape, info)})
        del model
    shutdown()
    return rows


def markdown(report: dict[str, Any]) -> str:
    """The results as a Markdown page."""
    a = report["args"]
    lines = [
        "# Finetune packing benchmark",
        "",
        f"`{' '.join(['python benchmarks/finetune_packing.py', *report['argv']])}`",
        "",
        f"{a['records']} RAFT-shaped examples (5 documents of 700-1000 characters, answers of 6-24 "
        f"sentences), contextLength {a['context_length']}; example length: mean {report['lengths']['mean']:.0f}, "
        f"min {report['lengths']['min']}, max {report['lengths']['max']} tokens "
        f"({report['lengths']['dropped']} longer than the context dropped).",
        "",
        "## Token utilization (real tokens / processed tokens)",
        "",
        "| layout | batch | sequences | utilization | fill of contextLength | vs padded |",
        "|---|---|---|---|---|---|",
    ]
    base = next(r for r in report["utilization"] if r["layout"] == "padded")["utilization"]
    for r in report["utilization"]:
        fill = "" if r["fill"] is None else f"{r['fill']:.3f}"
        lines.append(f"| {r['layout']} | {r['batch']} | {r['sequences']} | {r['utilization']:.3f} | {fill} | "
                     f"{r['utilization'] / base:.2f}x |")
    lines += [
        "",
        f"Goal: packed utilization >= 0.97: **{'met' if report['goalMet'] else 'NOT met'}**.",
        "",
        "## Training throughput",
        "",
    ]
    if report["throughput"]:
        t0 = report["throughput"][0]
        lines += [
            f"Model `{t0['model']}`, attention `{t0['attention']}`, device {t0['device']}; real training "
            "steps (forward, backward, clipping, AdamW) through the finetune program's FSDP2 model in a "
            f"world of one, one sequence per step. Rounds of 1 packed step and {a['baseline_step_factor']} "
            "steps of each baseline were interleaved so that other load on the machine spreads over all "
            f"layouts ({report['cpus']} CPUs, load average {report['loadAverage'][0]:.1f} at the end).",
            "",
            "| layout | steps | samples/s | real tokens/s | processed tokens/s | utilization | MFU | samples/s vs padded |",
            "|---|---|---|---|---|---|---|---|",
        ]
        base_rate = next(r for r in report["throughput"] if r["layout"] == "padded")["samplesPerSecond"]
        for r in report["throughput"]:
            m = "n/a" if r["mfu"] is None else f"{r['mfu']:.3f}"
            lines.append(f"| {r['layout']} | {r['steps']} | {r['samplesPerSecond']:.2f} | {r['tokensPerSecond']:.0f} | "
                         f"{r['processedTokensPerSecond']:.0f} | {r['utilization']:.3f} | {m} | "
                         f"{r['samplesPerSecond'] / base_rate:.2f}x |")
    lines += [
        "",
        "Notes:",
        "",
        "* `padded` is the baseline: every example alone, padded to contextLength. `packed` is what "
        "`raft_jobs.finetune` runs. `unpadded` (one example, no padding) wastes no tokens either, but "
        "runs ~6x more, shorter forward passes: cheap on a CPU, poor GPU occupancy, and a step's token "
        "count then varies with the examples drawn.",
        "* On CPU, SDPA isolates packed examples with a block-diagonal mask: it builds the mask and "
        "computes the full square of scores (no fast causal kernel), so a packed 8192-token sequence "
        "costs more than its examples run one by one, and `unpadded` wins on a CPU. On GPU the "
        "flash-attention varlen kernel skips the masked blocks; without flash-attn installed SDPA takes "
        "the same masked path, so the train image should install flash-attn.",
        "* MFU counts 6 FLOPs per matmul parameter per real token plus causal attention "
        "(6 x layers x width x sum of squared example lengths), without recomputation, over the GPU's "
        "dense bf16 peak (or RAFT_PEAK_TFLOPS); n/a on CPU.",
    ]
    if a["device"] == "cpu":
        lines.append(
            "* Measured without a GPU. On a GPU machine, `python benchmarks/finetune_packing.py --device cuda` "
            "measures tokens/s and MFU for a Llama-3.2-1B-shaped model (bf16 mixed precision, activation "
            "checkpointing, flash-attention 2 when installed, else SDPA) and writes "
            "finetune_packing_cuda.{json,md}."
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the tables, write the results."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--context-length", type=int, default=8192)
    parser.add_argument("--steps", type=int, default=None,
                        help="timed rounds: 1 packed step + N baseline steps each (default 6 on CPU, 20 on GPU)")
    parser.add_argument("--baseline-step-factor", type=int, default=None,
                        help="N: baseline steps per round (default 6: about as many examples as a packed step)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--shape", choices=sorted(SHAPES), default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args(argv)
    args.steps = args.steps or (20 if args.device == "cuda" else 6)
    args.baseline_step_factor = args.baseline_step_factor or 6

    tokenizer = tiny_model.build_tokenizer(vocab_size=4096)
    examples, report = drop_too_long(make_examples(args.records, args.seed, tokenizer), args.context_length)
    lengths = [len(e) for e in examples]
    chars = sum(len(tokenizer.decode(e.input_ids)) for e in examples[:50])
    print(f"{len(examples)} examples, mean {sum(lengths) / len(lengths):.0f} tokens "
          f"({chars / sum(lengths[:50]):.2f} chars/token), answers mean "
          f"{sum(e.answer_tokens for e in examples) / len(examples):.0f} tokens", flush=True)

    util = utilization_rows(lengths, args.context_length, args.seed, [4, 8])
    base = next(r for r in util if r["layout"] == "padded")["utilization"]
    print(f"\n{'layout':<16}{'batch':>6}{'sequences':>10}{'utilization':>13}{'fill':>8}{'vs padded':>11}")
    for r in util:
        fill = "" if r["fill"] is None else f"{r['fill']:.3f}"
        print(f"{r['layout']:<16}{r['batch']:>6}{r['sequences']:>10}{r['utilization']:>13.3f}{fill:>8}"
              f"{r['utilization'] / base:>10.2f}x")

    throughput = [] if args.skip_throughput else throughput_rows(args, examples, lengths, tokenizer.pad_token_id)
    if throughput:
        base_rate = next(r for r in throughput if r["layout"] == "padded")["samplesPerSecond"]
        print(f"\n{'layout':<10}{'samples/s':>11}{'tokens/s':>10}{'util':>7}{'mfu':>7}{'vs padded':>11}")
        for r in throughput:
            m = "n/a" if r["mfu"] is None else f"{r['mfu']:.3f}"
            print(f"{r['layout']:<10}{r['samplesPerSecond']:>11.2f}{r['tokensPerSecond']:>10.0f}"
                  f"{r['utilization']:>7.3f}{m:>7}{r['samplesPerSecond'] / base_rate:>10.2f}x")

    packed_util = min(r["utilization"] for r in util if r["layout"] == "packed")
    result = {
        "argv": argv if argv is not None else sys.argv[1:],
        "args": vars(args),
        "lengths": {"mean": sum(lengths) / len(lengths), "min": min(lengths), "max": max(lengths),
                    "dropped": report.dropped,
                    "answerMean": sum(e.answer_tokens for e in examples) / len(examples)},
        "utilization": util,
        "throughput": throughput,
        "goalMet": packed_util >= 0.97,
        "torch": torch.__version__,
        "loadAverage": os.getloadavg(),
        "cpus": os.cpu_count(),
    }
    stem = "finetune_packing" if args.device == "cpu" else "finetune_packing_cuda"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"{stem}.md").write_text(markdown(result))
    print(f"\nwrote benchmarks/results/{stem}.json and .md")
    return 0 if result["goalMet"] else 1


if __name__ == "__main__":
    sys.exit(main())
