"""Datagen throughput against SIMULATED vLLM servers of known capacity.

For 1 and 2 Ray workers × 1 and 2 server replicas, the datagen program generates a synthetic
corpus's RAFT dataset; the achieved completion tokens/s is compared with the servers'
capacity (``slots / (step_base + step_per_seq * slots)`` per replica). Beside it, in the same
run, a baseline sends the same requests (questions, then one chain-of-thought answer per
question, per chunk) from a 32-thread pool with the synchronous OpenAI client, the way
common RAFT scripts do, spreading chunks over the replicas round-robin.

    python benchmarks/datagen_throughput.py [--quick]

Prints a table and writes ``benchmarks/results/datagen_throughput.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from raft_jobs.common.runconfig import run_config_from_dict
from raft_jobs.datagen.parsing import parse_questions
from raft_jobs.datagen.pipeline import DatagenOptions, run_datagen
from raft_jobs.datagen.prompts import cot_messages, question_messages

MODEL = "bench-teacher"
SLOTS = 64
STEP_BASE_MS = 4.0
STEP_PER_SEQ_MS = 0.0625
QUESTIONS = 4
BASELINE_THREADS = 32
RESULTS = Path(__file__).parent / "results"

_WORDS = ("ancient northern crimson silent rapid coastal hidden golden frozen humid royal wooden "
          "river library bridge harbour orchard glacier tower market canal forest monastery railway "
          "supplies protects connects feeds shelters records attracts divides drains guards "
          "grain merchants pilgrims salmon scholars sheep timber travellers copper wool").split()


def write_corpus(root: Path, chunks: int, seed: int = 0) -> Path:
    """About ``chunks`` chunk-sized paragraphs of unique sentences in text files under ``root``."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    per_file = 10
    for f in range(0, chunks, per_file):
        paragraphs = []
        for topic in range(f, min(chunks, f + per_file)):
            sentences = [
                f"The {' '.join(rng.choice(_WORDS) for _ in range(4))} of place{topic} "
                f"{' '.join(rng.choice(_WORDS) for _ in range(3))} since {1500 + rng.randrange(500)} (record {topic}-{s})."
                for s in range(7)
            ]
            paragraphs.append(" ".join(sentences))
        (root / f"doc{f:04d}.txt").write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    return root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    """One simulated replica as a separate process (its own CPU, like a real server)."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "raft_sim.vllm_server", "--host", "127.0.0.1", "--port", str(port),
         "--model", MODEL, "--slots", str(SLOTS), "--step-base-ms", str(STEP_BASE_MS),
         "--step-per-seq-ms", str(STEP_PER_SEQ_MS)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{base}/health", timeout=1).read()
            return proc, f"{base}/v1"
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the simulated server did not start")
            time.sleep(0.1)


def server_stats(url: str) -> dict[str, Any]:
    """The simulated server's ``/sim/stats``."""
    with urllib.request.urlopen(url.removesuffix("/v1") + "/sim/stats", timeout=5) as response:
        return json.loads(response.read())


def completion_tokens(urls: list[str]) -> int:
    return sum(server_stats(u)["counters"]["completion_tokens"] for u in urls)


def run_raft_datagen(root: Path, corpus: Path, urls: list[str], workers: int) -> dict[str, Any]:
    """The datagen program on Ray; throughput over the workers' time."""
    concurrency = -(-int(1.5 * SLOTS * len(urls)) // workers)  # keep every slot busy, with a queue
    config = run_config_from_dict({
        "root": str(root),
        "corpus": {"volume": {"path": str(corpus)}},
        "teacher": {"endpoints": urls, "model": MODEL},
        "datagen": {"chunkSize": 1000, "chunkOverlap": 0, "minChunkChars": 200, "questionsPerChunk": QUESTIONS,
                    "workers": workers, "concurrency": concurrency, "evalQuestions": 20, "seed": 1},
    })
    before = completion_tokens(urls)
    manifest = run_datagen(config, DatagenOptions(executor="ray", progress_interval=5.0))
    tokens = completion_tokens(urls) - before
    seconds = manifest["timings"]["workerSeconds"]
    return {"tokens": tokens, "seconds": seconds, "requests": manifest["requests"]["requests"],
            "chunks": manifest["counts"]["chunks"], "concurrency": concurrency,
            "records": manifest["counts"]["records"], "totalSeconds": manifest["timings"]["totalSeconds"]}


def run_baseline(corpus_chunks: list[str], urls: list[str]) -> dict[str, Any]:
    """32 threads, synchronous client, per chunk: questions then each answer in turn."""
    from openai import OpenAI

    clients = [OpenAI(base_url=u, api_key="EMPTY", max_retries=3, timeout=120) for u in urls]
    requests = 0

    def one_chunk(item: tuple[int, str]) -> int:
        index, text = item
        client = clients[index % len(clients)]
        reply = client.chat.completions.create(model=MODEL, messages=question_messages(text, QUESTIONS),
                                               max_tokens=1024, temperature=0.7)
        sent = 1
        for question in parse_questions(reply.choices[0].message.content or "", limit=QUESTIONS):
            client.chat.completions.create(model=MODEL, messages=cot_messages(question, text),
                                           max_tokens=1024, temperature=0.7)
            sent += 1
        return sent

    before = completion_tokens(urls)
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=BASELINE_THREADS) as pool:
        requests = sum(pool.map(one_chunk, enumerate(corpus_chunks)))
    seconds = time.monotonic() - start
    for client in clients:
        client.close()
    return {"tokens": completion_tokens(urls) - before, "seconds": seconds, "requests": requests,
            "chunks": len(corpus_chunks), "concurrency": BASELINE_THREADS}


def main() -> None:
    """Run every configuration, print the table, write the results."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smaller corpus (a smoke test, noisier numbers)")
    parser.add_argument("--chunks-per-replica", type=int, default=180)
    args = parser.parse_args()
    per_replica = 40 if args.quick else args.chunks_per_replica

    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    servers = [start_server() for _ in range(2)]
    urls = [url for _, url in servers]
    capacity = server_stats(urls[0])["capacityTokensPerSecond"]
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = Path(tmp)
            for replicas in (1, 2):
                corpus = write_corpus(tmp_path / f"corpus{replicas}", per_replica * replicas)
                for workers in (1, 2):
                    result = run_raft_datagen(tmp_path / f"out-{replicas}-{workers}", corpus, urls[:replicas], workers)
                    rows.append({"method": "raft_jobs.datagen (Ray, async pool)", "workers": workers,
                                 "replicas": replicas, **result})
                    print(f"datagen workers={workers} replicas={replicas}: {result}", flush=True)
                chunk_texts = [json.loads(line)["text"] for line in
                               (tmp_path / f"out-{replicas}-1" / "dataset" / "chunks.jsonl").read_text().splitlines()]
                result = run_baseline(chunk_texts, urls[:replicas])
                rows.append({"method": f"baseline ({BASELINE_THREADS} threads, sync client)", "workers": 1,
                             "replicas": replicas, **result})
                print(f"baseline replicas={replicas}: {result}", flush=True)
    finally:
        for proc, _ in servers:
            proc.terminate()
            proc.wait(timeout=10)
        ray.shutdown()

    for row in rows:
        row["tokensPerSecond"] = round(row["tokens"] / row["seconds"], 1)
        row["capacityTokensPerSecond"] = round(capacity * row["replicas"], 1)
        row["fractionOfCapacity"] = round(row["tokensPerSecond"] / row["capacityTokensPerSecond"], 3)
    single = {(r["method"], r["workers"]): r["tokensPerSecond"] for r in rows if r["replicas"] == 1}
    for row in rows:
        row["speedupOverOneReplica"] = round(row["tokensPerSecond"] / single[(row["method"], row["workers"])], 2)
        base = next(r for r in rows if r["method"].startswith("baseline") and r["replicas"] == row["replicas"])
        row["vsBaseline"] = round(row["tokensPerSecond"] / base["tokensPerSecond"], 2)

    header = ("| method | workers | replicas | in flight | completion tok/s | capacity tok/s | fraction of capacity "
              "| × same setup on 1 replica | × baseline |")
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        in_flight = r["concurrency"] * r["workers"]
        lines.append(f"| {r['method']} | {r['workers']} | {r['replicas']} | {in_flight} | {r['tokensPerSecond']:.0f} | "
                     f"{r['capacityTokensPerSecond']:.0f} | {r['fractionOfCapacity']:.3f} | {r['speedupOverOneReplica']:.2f} | "
                     f"{r['vsBaseline']:.2f} |")
    table = "\n".join(lines)
    print(table)
    environment = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}
    server = {"slots": SLOTS, "stepBaseMs": STEP_BASE_MS, "stepPerSeqMs": STEP_PER_SEQ_MS,
              "capacityTokensPerSecondPerReplica": capacity}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "datagen_throughput.json").write_text(json.dumps(
        {"rows": rows, "server": server, "questionsPerChunk": QUESTIONS, "chunksPerReplica": per_replica,
         "environment": environment, "wallSeconds": round(time.monotonic() - started, 1)}, indent=2) + "\n")
    (RESULTS / "datagen_throughput.md").write_text(
        "# Datagen throughput against the simulated vLLM server\n\n"
        f"Simulated replica: {SLOTS} slots, decode step {STEP_BASE_MS} ms + {STEP_PER_SEQ_MS} ms × batch, so a "
        f"capacity of {capacity:.0f} completion tokens/s per replica. Corpus: {per_replica} chunks per replica, "
        f"{QUESTIONS} questions per chunk (one question request and {QUESTIONS} chain-of-thought requests per chunk). "
        "datagen throughput is measured over the Ray workers' own time (Ray start-up and output writing "
        f"excluded); the baseline sends the same requests from {BASELINE_THREADS} threads with the synchronous "
        "OpenAI client, chunks spread round-robin over the replicas. Servers run as separate processes on "
        f"the same {os.cpu_count()}-CPU machine as the clients.\n\n"
        f"{table}\n\n`python benchmarks/datagen_throughput.py` ({environment['platform']}, Python {environment['python']}).\n"
    )


if __name__ == "__main__":
    main()
