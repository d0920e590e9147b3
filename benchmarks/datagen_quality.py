"""Datagen with a flawed teacher: how many flawed answers reach the dataset.

The issue that asked for the datagen checks measured a teacher that, in 10% of its answers
each, quotes text absent from the document, is cut off by max_tokens, and says the document
does not contain the answer: the dataset kept all three kinds (136, 126 and 137 of 1,400
records, plus 13 of 100 eval references). This runs the datagen program (local executor)
against the SIMULATED vLLM server with those flaw rates and counts, in what it wrote, the
records and eval references that still carry each flaw, next to the rejections the manifest
reports.

    python benchmarks/datagen_quality.py [--chunks N]

Prints a table and writes ``benchmarks/results/datagen_quality.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from datagen_throughput import write_corpus
from raft_api.layout import CHUNKS_FILE, EVAL_QUESTIONS_FILE, SPLIT_FILES

from raft_jobs.common.refusal import is_refusal
from raft_api.runconfig import run_config_from_dict
from raft_jobs.datagen.parsing import QUOTE_BEGIN, QUOTE_END, final_answer, quote_found
from raft_jobs.datagen.pipeline import DatagenOptions, run_datagen
from raft_sim.vllm_server import SimSettings, SimulatedVLLMServer, sentences

RESULTS = Path(__file__).parent / "results"
MODEL = "flawed-teacher"
FLAWS = {"bad_quote_rate": 0.1, "cut_off_rate": 0.1, "refusal_rate": 0.1}


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def flaws_of(cot: str, oracle: str) -> set[str]:
    """The flaws a chain-of-thought label carries (the simulated answer is one whole oracle sentence)."""
    found = set()
    quotes = [q.split(QUOTE_END)[0] for q in cot.split(QUOTE_BEGIN)[1:]]
    if not quotes or not all(quote_found(q, oracle) for q in quotes):
        found.add("quote not in the document")
    answer = final_answer(cot)
    if is_refusal(answer):
        found.add("says the document lacks the answer")
    elif answer not in sentences(oracle):
        found.add("cut off")
    return found


def main() -> None:
    """Generate, count, print the table, write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=400, help="corpus size in chunks (default %(default)s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = write_corpus(Path(tmp) / "corpus", args.chunks)
        settings = SimSettings(models=[MODEL], slots=64, step_base=0.001, step_per_seq=0.00002, seed=13, **FLAWS)
        with SimulatedVLLMServer(settings).running_in_thread() as server:
            config = run_config_from_dict({
                "root": str(Path(tmp) / "out"),
                "corpus": {"volume": {"path": str(corpus)}},
                "teacher": {"endpoints": [server.url], "model": MODEL},
                "datagen": {"chunkSize": 1000, "chunkOverlap": 100, "questionsPerChunk": 4, "workers": 1,
                            "concurrency": 32, "evalQuestions": 100, "seed": 1},
            })
            started = time.monotonic()
            manifest = run_datagen(config, DatagenOptions(executor="local", progress_interval=5.0))
            seconds = time.monotonic() - started
            injected = dict(server.counters.faults)
        d = config.dataset_dir
        records = [r for split in SPLIT_FILES.values() for r in _jsonl(d / split)]
        chunks = {c["id"]: c["text"] for c in _jsonl(d / CHUNKS_FILE)}
        references = _jsonl(d / EVAL_QUESTIONS_FILE)
    kinds = ("quote not in the document", "cut off", "says the document lacks the answer")
    in_records = dict.fromkeys(kinds, 0)
    for record in records:
        if record["type"] != "refusal":
            for flaw in flaws_of(record["cot_answer"], record["oracle_context"]):
                in_records[flaw] += 1
    flawed_references = 0
    for item in references:
        oracle = chunks[item["oracle_chunk_id"]]
        if is_refusal(item["answer"]) or item["answer"] not in sentences(oracle):
            flawed_references += 1
    rejected = manifest["quality"]["rejected"]
    result = {
        "command": "python benchmarks/datagen_quality.py" + (f" --chunks {args.chunks}" if args.chunks != 400 else ""),
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "flawRates": FLAWS,
        "injected": {"quote not in the document": injected.get("bad_quote", 0), "cut off": injected.get("cut_off", 0),
                     "says the document lacks the answer": injected.get("refusal", 0)},
        "rejected": rejected,
        "records": len(records),
        "recordsWithFlaw": in_records,
        "evalReferences": len(references),
        "evalReferencesWithFlaw": flawed_references,
        "seconds": round(seconds, 1),
    }
    lines = [
        "# Datagen with a flawed teacher (SIMULATED vLLM server)",
        "",
        f"`{result['command']}`; flaw rates {FLAWS}; {result['records']} records, "
        f"{result['evalReferences']} eval references, {result['seconds']} s.",
        "",
        "| flaw | teacher answers with it | rejected | records with it | issue's measurement before the checks |",
        "|---|---|---|---|---|",
    ]
    reason = {"quote not in the document": "quoteNotInOracle", "cut off": "cutOff",
              "says the document lacks the answer": "teacherRefused"}
    before = {"quote not in the document": "136 of 1,400", "cut off": "126 of 1,400",
              "says the document lacks the answer": "137 of 1,400"}
    for kind in kinds:
        lines.append(f"| {kind} | {result['injected'][kind]} | {rejected[reason[kind]]} | "
                     f"{in_records[kind]} of {len(records)} | {before[kind]} |")
    lines += ["", f"Eval references with a flaw: {flawed_references} of {len(references)} (before the checks: 13 of 100)."]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "datagen_quality.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "datagen_quality.md").write_text(text)


if __name__ == "__main__":
    sys.exit(main())
