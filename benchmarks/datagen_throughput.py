"""Teacher throughput with default settings: datagen and eval against SIMULATED vLLM servers.

For N = 1, 2 and 4 server replicas of ``--slots`` sequence slots each, the datagen program runs
with the RaftRun's default settings (2 workers, ``concurrency`` unset so the requests in flight
adapt per replica) on real text: the Python documentation that Debian's ``python3-doc``
package installs (HTML, converted to text once), at least 300 K characters and enough chunks
that the first wave of question requests can fill every slot. In the same run, a baseline
with the previous defaults (2 workers × 32 requests in flight, fixed) generates from the same
text, stopped after ``--baseline-seconds``. Then the eval program answers and judges held-out
questions with its defaults, both against one set of servers, as when the teacher is both a
baseline under test and the judge (its servers' steps suit eval's requests: answers in the RAFT
format, about 85 tokens, each followed by a one-token verdict).

Each simulated replica is a separate process with continuous batching: a decode step takes
``step_base + step_per_seq × batch`` with ``step_per_seq = step_base / slots`` (a full batch
doubles the step), so capacity is ``slots / (2 step_base)`` completion tokens/s. Step times
are short and chosen per slot count so that the request rate at capacity suits 2 shared
CPU cores. Measured on the servers (``/sim/stats``): completion tokens/s against capacity,
and slot occupancy (time-averaged running sequences / slots), each over

* the whole generation (first request to last response), and
* the sustained part: until the client sent its last request (what follows is the drain of
  the last wave, the same for any client, and a shrinking share of longer runs).

The drain (*tail*) lasts about one request's time at full batch: by Little's law, the slots
of all replicas over the request rate at capacity (datagen 80-token requests at 60/s: 64 × N /
60 s for 64-slot replicas; eval's 85-token answers at half the 45/s: 256 × 4 × 2 / 45 = 45 s
for four 256-slot replicas). The corpus (``--chunks-per-slot``) and the eval questions
(``--eval-questions-per-slot``) grow with the slots so that the tail stays a small share of
the run, up to what fits in 5 minutes on 2 shared cores; the table gives the tail's seconds.

    python benchmarks/datagen_throughput.py --slots 64 --replicas 1 2
    python benchmarks/datagen_throughput.py --slots 64 --replicas 4 --chunks-per-slot 2 --eval-questions-per-slot 8
    python benchmarks/datagen_throughput.py --slots 256 --replicas 1 --chunks-per-slot 3 --eval-questions-per-slot 8
    python benchmarks/datagen_throughput.py --slots 256 --replicas 2 --chunks-per-slot 1.6 --eval-questions 600 2000
    python benchmarks/datagen_throughput.py --slots 256 --replicas 4 --chunks-per-slot 2 --eval-questions 0 0
    python benchmarks/datagen_throughput.py --slots 256 --replicas 4 --eval-only --dataset DIR \
        --eval-questions-per-slot 4.5 --eval-questions 600 4608

(each under 5 minutes on 2 shared cores; the last needs a ``train.jsonl`` of at least 4,608
records in DIR, e.g. kept by a datagen run with ``--dataset DIR``).

Prints a table and writes ``benchmarks/results/datagen_throughput_<slots>[_r<replicas>].{json,md}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from raft_api.layout import SPLIT_FILES, RunLayout
from raft_api.runconfig import run_config_from_dict
from raft_jobs.datagen.loaders import load_file
from raft_jobs.datagen.pipeline import DatagenOptions, run_datagen

TEACHER = "bench-teacher"
STUDENT = "bench-student"
DOCS = Path("/usr/share/doc/python3-doc/html")  # Debian's python3-doc package
DOC_SECTIONS = ("tutorial", "howto", "faq", "reference", "library")
MIN_CHARS = 300_000
REQUESTS_PER_SECOND = 60.0  # all replicas together at capacity: what 2 shared cores keep up with
EVAL_REQUESTS_PER_SECOND = 45.0  # eval's client does more per request (scores, partial answers file)
DATAGEN_TOKENS_PER_REQUEST = 80  # mean completion length of the simulated teacher's questions and answers
EVAL_TOKENS_PER_REQUEST = 42  # mean of an answer in the RAFT format (about 85 tokens) and a one-token verdict
CHUNKS_PER_SLOT = 1.2  # default corpus size: chunks per slot of all replicas (5 requests each)
BASELINE = {"workers": 2, "concurrency": 32}
RESULTS = Path(__file__).parent / "results"
TRAIN_FILE = SPLIT_FILES["train"]  # datagen's training split, the eval measurement's questions


def corpus_texts(root: Path, chars: int) -> tuple[Path, int]:
    """Write the Python docs' text under ``root``, file by file in a stable order, up to ``chars``."""
    if not DOCS.is_dir():
        raise SystemExit(f"{DOCS} not found: install Debian's python3-doc package (apt-get install python3-doc)")
    root.mkdir(parents=True, exist_ok=True)
    total = 0
    for section in DOC_SECTIONS:
        for path in sorted((DOCS / section).rglob("*.html")):
            document = load_file(path)
            if document is None or len(document.text) < 2000:
                continue
            name = f"{section}-{path.relative_to(DOCS / section).as_posix().replace('/', '-')}.txt"
            (root / name).write_text(document.text, encoding="utf-8")
            total += len(document.text)
            if total >= chars:
                return root, total
    raise SystemExit(f"the Python docs hold only {total} characters of text; {chars} wanted")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(slots: int, step_base_ms: float) -> tuple[subprocess.Popen[bytes], str]:
    """One simulated replica (serving teacher and student) as a separate process."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "raft_sim.vllm_server", "--host", "127.0.0.1", "--port", str(port),
         "--model", TEACHER, "--model", STUDENT, "--slots", str(slots), "--step-base-ms", str(step_base_ms),
         "--step-per-seq-ms", str(step_base_ms / slots)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/health", timeout=1).read()
            return proc, f"{base}/v1"
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the simulated server did not start")
            time.sleep(0.2)


def server_stats(url: str) -> dict[str, Any]:
    """The simulated server's ``/sim/stats``."""
    with urllib.request.urlopen(url.removesuffix("/v1") + "/sim/stats", timeout=10) as response:
        return json.loads(response.read())


class Sampler:
    """Polls the servers' counters in a thread; :meth:`measure` turns the samples into rates."""

    def __init__(self, urls: list[str], interval: float = 0.25, model: str | None = None) -> None:
        self.urls = urls
        self.interval = interval
        self.model = model  # count only this model's requests (the sustained span ends with its last)
        self.samples: list[tuple[float, float, float, float]] = []  # t, requests, tokens, busy slot-seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> tuple[float, float, float, float]:
        counters = [server_stats(u)["counters"] for u in self.urls]
        requests = (c["models"].get(self.model, 0) if self.model else c["requests"] for c in counters)
        return (time.monotonic(), sum(requests),
                sum(c["completion_tokens"] for c in counters), sum(c["busy_slot_seconds"] for c in counters))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self._sample())
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self.samples.append(self._sample())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(self._sample())

    def measure(self, slots: int, capacity: float, *, stopped: bool = False) -> dict[str, Any]:
        """Whole and sustained tokens/s and occupancy over the samples taken.

        ``stopped``: the client was stopped while still sending; both spans end at the stop.
        """
        first, last = self.samples[0], self.samples[-1]
        start = next(i for i, s in enumerate(self.samples) if s[1] > first[1]) - 1
        end = next(i for i, s in enumerate(self.samples) if s[2] >= last[2])
        drain = next(i for i, s in enumerate(self.samples) if s[1] >= last[1])
        if stopped:
            end = drain = len(self.samples) - 2
        result: dict[str, Any] = {"requests": int(last[1] - first[1]), "tokens": int(last[2] - first[2])}
        if self.model:
            result["requestsCounted"] = self.model
        for label, stop in (("whole", end), ("sustained", max(drain, start + 1))):
            a, b = self.samples[start], self.samples[stop]
            seconds = b[0] - a[0]
            result[label] = {
                "seconds": round(seconds, 2),
                "tokensPerSecond": round((b[2] - a[2]) / seconds, 1),
                "ofCapacity": round((b[2] - a[2]) / seconds / capacity, 3),
                "occupancy": round((b[3] - a[3]) / seconds / slots, 3),
            }
        return result


def datagen_config(root: Path, corpus: Path, urls: list[str], datagen: dict[str, Any]) -> Any:
    """A run config with the RaftRun's datagen defaults plus ``datagen``."""
    return run_config_from_dict({
        "root": str(root),
        "corpus": {"volume": {"path": str(corpus)}},
        "teacher": {"endpoints": urls, "model": TEACHER},
        "datagen": {"workers": 2, "evalQuestions": 0, **datagen},  # workers: the RaftRun default
    })


def run_datagen_measured(config: Any, urls: list[str], slots: int, capacity: float) -> dict[str, Any]:
    """The datagen program (local executor) with the servers sampled around it."""
    with Sampler(urls) as sampler:
        manifest = run_datagen(config, DatagenOptions(executor="local", progress_interval=5.0))
    return {"chunks": manifest["counts"]["chunks"], **sampler.measure(slots * len(urls), capacity * len(urls))}


def run_datagen_for(config: Any, urls: list[str], slots: int, capacity: float, seconds: float) -> dict[str, Any]:
    """The datagen program in a child process, stopped after ``seconds`` (a slow baseline's steady rate)."""
    import multiprocessing

    process = multiprocessing.get_context("spawn").Process(target=_datagen_quietly, args=(config,), daemon=True)
    with Sampler(urls) as sampler:
        process.start()
        process.join(seconds)
        process.terminate()
        process.join()
    return sampler.measure(slots * len(urls), capacity * len(urls), stopped=True)


def _datagen_quietly(config: Any) -> None:
    logging.basicConfig(level=logging.WARNING)
    run_datagen(config, DatagenOptions(executor="local", progress_interval=60.0))


def _dataset(root: Path) -> Path:
    """Where datagen writes the dataset of a run rooted at ``root``."""
    return Path(RunLayout(str(root)).dataset)


def run_eval_measured(root: Path, dataset: Path, urls: list[str], questions: int, slots: int,
                      capacity: float) -> dict[str, Any]:
    """The eval program's answer and judge phases (no retrieval) on ``questions`` held-out questions."""
    from raft_jobs.eval.clients import make_client
    from raft_jobs.eval.runner import evaluate

    items = []
    with (dataset / TRAIN_FILE).open(encoding="utf-8") as fh:
        for line in fh:
            record = json.loads(line)
            items.append({"question": record["question"], "answer": record["cot_answer"].split("<ANSWER>:")[-1].strip()})
            if len(items) >= questions:
                break
    eval_file = root / "questions.jsonl"
    root.mkdir(parents=True, exist_ok=True)
    eval_file.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    config = run_config_from_dict({
        "root": str(root),
        "teacher": {"endpoints": urls, "model": TEACHER},
        "eval": {"judge": {"endpoints": urls, "model": TEACHER}, "topK": [], "withoutRag": True, "primaryMode": "none",
                 "evalFile": str(eval_file),
                 "models": [{"name": "student", "role": "student", "endpoints": urls, "model": STUDENT}]},
    })
    # The sustained span ends with the last answer request; the judge requests that follow drain.
    with Sampler(urls, model=STUDENT) as sampler:
        asyncio.run(evaluate(config, make_client))
    return {"questions": len(items), **sampler.measure(slots * len(urls), capacity * len(urls))}


def main() -> None:
    """Run every configuration, print the table, write the results."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slots", type=int, default=64, help="sequence slots per replica (vLLM max_num_seqs)")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--chunks-per-slot", type=float, default=CHUNKS_PER_SLOT,
                        help="corpus size: chunks per slot of all replicas (at least 300 K characters)")
    parser.add_argument("--requests-per-second", type=float, default=REQUESTS_PER_SECOND,
                        help="datagen requests/s of all replicas at capacity (lower it when the client cannot keep up)")
    parser.add_argument("--baseline-seconds", type=float, default=15.0, help="how long the baseline runs")
    parser.add_argument("--eval-questions-per-slot", type=float, default=5.0)
    parser.add_argument("--eval-questions", type=int, nargs=2, default=[600, 2600], metavar=("MIN", "MAX"),
                        help="bounds on the held-out questions eval answers and judges")
    parser.add_argument("--dataset", type=Path, metavar="DIR",
                        help="keep the datagen's train.jsonl here (or, with --eval-only, take eval's questions from it)")
    parser.add_argument("--eval-only", action="store_true",
                        help="only eval, on questions from --dataset (results: datagen_throughput_<slots>_r<N>_eval)")
    parser.add_argument("--render", type=Path, metavar="JSON", help="rewrite the Markdown of an earlier result")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.render:
        done = json.loads(args.render.read_text())
        _write(done["rows"], done["slots"], done["corpusChars"], done["wallSeconds"], done["replicas"],
               done["command"].split()[2:])
        return

    slots = args.slots
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    if args.eval_only and not (args.dataset and (args.dataset / TRAIN_FILE).is_file()):
        raise SystemExit("--eval-only needs --dataset DIR holding a train.jsonl from an earlier datagen")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        chars_needed = max(MIN_CHARS, int(args.chunks_per_slot * slots * max(args.replicas) * 1000))
        corpus_chars = 0
        for replicas in args.replicas:
            if args.eval_only:
                out = tmp_path / "eval-only"
                _dataset(out).mkdir(parents=True, exist_ok=True)
                shutil.copy(args.dataset / TRAIN_FILE, _dataset(out) / TRAIN_FILE)
            else:
                if not corpus_chars:
                    corpus_root, corpus_chars = corpus_texts(tmp_path / "corpus-all", chars_needed)
                    files = sorted(corpus_root.iterdir())
                out = _datagen_rows(rows, args, files, tmp_path, slots, replicas)
                _write(rows, slots, corpus_chars, time.monotonic() - started, args.replicas, sys.argv[1:])
            if max(args.eval_questions) == 0:
                continue
            with serving(replicas, slots, EVAL_TOKENS_PER_REQUEST, EVAL_REQUESTS_PER_SECOND) as (urls, server):
                low, high = args.eval_questions
                questions = min(high, max(low, int(args.eval_questions_per_slot * slots * replicas)))
                result = run_eval_measured(tmp_path / f"eval-{replicas}", _dataset(out), urls, questions, slots,
                                           server["capacity"])
                _row(rows, "eval (answer + judge)", "defaults (adaptive)", replicas, server, **result)
            _write(rows, slots, corpus_chars, time.monotonic() - started, args.replicas, sys.argv[1:])  # per replica count


def _datagen_rows(rows: list[dict[str, Any]], args: argparse.Namespace, files: list[Path], tmp_path: Path,
                  slots: int, replicas: int) -> Path:
    """The adaptive datagen and the baseline on ``replicas`` servers; returns the adaptive run's root."""
    # Steps scale with the replica count so that the request rate at capacity stays the same.
    with serving(replicas, slots, DATAGEN_TOKENS_PER_REQUEST, args.requests_per_second) as (urls, server):
        corpus = _subset(files, tmp_path / f"corpus-{replicas}",
                         max(MIN_CHARS, int(args.chunks_per_slot * slots * replicas * 1000)))
        out = tmp_path / f"adaptive-{replicas}"
        result = run_datagen_measured(datagen_config(out, corpus[0], urls, {}), urls, slots, server["capacity"])
        _row(rows, "datagen", "defaults (adaptive)", replicas, server, corpusChars=corpus[1], **result)
        result = run_datagen_for(datagen_config(tmp_path / f"base-{replicas}", corpus[0], urls, BASELINE),
                                 urls, slots, server["capacity"], args.baseline_seconds)
        _row(rows, "datagen", "baseline: 2 workers × 32 fixed", replicas, server, corpusChars=corpus[1], **result)
    if args.dataset:
        args.dataset.mkdir(parents=True, exist_ok=True)
        shutil.copy(_dataset(out) / TRAIN_FILE, args.dataset / TRAIN_FILE)
    return out


@contextlib.contextmanager
def serving(replicas: int, slots: int, tokens_per_request: float,
            requests_per_second: float) -> Iterator[tuple[list[str], dict[str, Any]]]:
    """``replicas`` simulated servers that complete ``requests_per_second`` together at capacity."""
    step_base_ms = 1000 * slots * replicas / (2 * requests_per_second * tokens_per_request)
    servers = []
    try:
        for _ in range(replicas):
            servers.append(start_server(slots, step_base_ms))
        urls = [url for _, url in servers]
        capacity = server_stats(urls[0])["capacityTokensPerSecond"]
        yield urls, {"capacity": capacity, "stepBaseMs": round(step_base_ms, 3)}
    finally:
        for proc, _ in servers:
            proc.terminate()
            proc.wait(timeout=10)


def _row(rows: list[dict[str, Any]], program: str, settings: str, replicas: int, server: dict[str, Any],
         **result: Any) -> None:
    rows.append({"program": program, "settings": settings, "replicas": replicas,
                 "capacityTokensPerSecond": round(server["capacity"] * replicas, 1),
                 "stepBaseMs": server["stepBaseMs"], **result})
    print("\n" + _line(rows[-1]), flush=True)


def _subset(files: list[Path], root: Path, chars: int) -> tuple[Path, int]:
    """Links to the first files of the corpus holding at least ``chars`` characters."""
    root.mkdir(parents=True, exist_ok=True)
    total = 0
    for path in files:
        (root / path.name).symlink_to(path)
        total += len(path.read_text(encoding="utf-8"))
        if total >= chars:
            break
    return root, total


def _line(row: dict[str, Any]) -> str:
    whole, sustained = row["whole"], row["sustained"]
    return (f"{row['program']} [{row['settings']}] replicas={row['replicas']}: {row['requests']} requests, "
            f"whole {whole['ofCapacity']:.3f} of capacity ({whole['seconds']} s), sustained {sustained['ofCapacity']:.3f} "
            f"(occupancy {sustained['occupancy']:.3f})")


def _write(rows: list[dict[str, Any]], slots: int, corpus_chars: int, wall: float, replicas: list[int],
           argv: list[str]) -> None:
    for row in rows:
        base = next((r for r in reversed(rows) if r["program"] == "datagen" and r["settings"].startswith("baseline")
                     and r["replicas"] == row["replicas"]), None)
        row["vsBaseline"] = round(row["sustained"]["occupancy"] / base["sustained"]["occupancy"], 2) if base else None
    header = ("| program | settings | replicas | requests | capacity tok/s | completion tok/s (whole) "
              "| of capacity (whole) | slot occupancy (whole) | slot occupancy (sustained) "
              "| tail (s) | × baseline (occupancy, sustained) |")
    lines = [header, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        w, s = r["whole"], r["sustained"]
        lines.append(f"| {r['program']} | {r['settings']} | {r['replicas']} | {r['requests']} | "
                     f"{r['capacityTokensPerSecond']:.0f} | {w['tokensPerSecond']:.0f} | {w['ofCapacity']:.3f} | "
                     f"{w['occupancy']:.3f} | {s['occupancy']:.3f} | {w['seconds'] - s['seconds']:.1f} | "
                     f"{r['vsBaseline'] or '–'} |")
    table = "\n".join(lines)
    print("\n" + table)
    environment = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                   "loadAverage1m": round(os.getloadavg()[0], 2)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "" if replicas == [1, 2, 4] else "_r" + "-".join(map(str, replicas))
    suffix += "_eval" if "--eval-only" in argv else ""
    stem = RESULTS / f"datagen_throughput_{slots}{suffix}"
    command = "python benchmarks/datagen_throughput.py " + " ".join(argv)
    rate = float(argv[argv.index("--requests-per-second") + 1]) if "--requests-per-second" in argv else REQUESTS_PER_SECOND
    per_slot = float(argv[argv.index("--chunks-per-slot") + 1]) if "--chunks-per-slot" in argv else CHUNKS_PER_SLOT
    stem.with_suffix(".json").write_text(json.dumps(
        {"rows": rows, "slots": slots, "replicas": replicas, "requestsPerSecondAtCapacity": REQUESTS_PER_SECOND, "corpusChars": corpus_chars,
         "environment": environment, "command": command, "wallSeconds": round(wall, 1)}, indent=2) + "\n")
    stem.with_suffix(".md").write_text(
        f"# Teacher throughput with default settings: {slots}-slot simulated vLLM replicas\n\n"
        f"Simulated replicas of {slots} slots each; a decode step takes b × (1 + batch/{slots}) ms with b chosen "
        f"so that all replicas together complete about {rate:.0f} datagen or "
        f"{EVAL_REQUESTS_PER_SECOND:.0f} eval requests/s at capacity (b per row in the JSON). Corpus: text of Debian's python3-doc HTML, at least 300 K characters and about "
        f"{slots} × replicas × {per_slot:g} chunks ({corpus_chars} characters converted). datagen runs with the RaftRun "
        "defaults (2 workers, adaptive in-flight limit) on the local executor; the baseline, on the same servers "
        "and text, uses the previous defaults (2 workers × 32 requests in flight, fixed) and is stopped after "
        "15 s; eval answers and judges held-out questions (no retrieval) with its defaults, on servers whose "
        "steps suit its requests (answers in the RAFT format, about 85 tokens; its *requests* column counts answer requests; each is followed by a one-token "
        "judge request). *Whole*: first request to last response; *sustained*: until the last request (eval: "
        "answer request) was sent; after it, the last wave drains (*tail*: about one request's time at full batch, "
        "the same for any client). Completion tokens are counted when a request "
        "finishes, so they are exact over the whole span only; slot occupancy (time-averaged running sequences "
        "/ slots, from the servers' decode steps) is exact over any span. Servers run as separate processes on the same "
        f"{os.cpu_count()}-CPU machine as the clients, shared with other work (1-minute load average "
        f"{environment['loadAverage1m']} when written: the client's CPU share bounds what it can send).\n\n"
        f"{table}\n\n`{command}` ({environment['platform']}, Python {environment['python']}), {wall:.0f} s.\n"
    )


if __name__ == "__main__":
    main()
