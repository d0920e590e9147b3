"""The eval program: answer every question with every model in every mode, judge, report.

Flow: load the questions (and, for RAG, datagen's chunks into the retriever) → check every
endpoint answers → for each (model, mode, question) generate an answer with bounded
concurrency per model, extract the final answer, score it and ask the judge → aggregate →
write ``results.json``, ``answers.jsonl``, ``report.md``, ``report.html`` and the plots under
``<root>/eval`` → report the compact results on the progress channel.

Answers are appended to ``answers.partial.jsonl`` as they complete, so a restarted Job
(``backoffLimit``) resumes instead of asking again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from raft_api.layout import (ANSWERS_FILE, CHUNKS_FILE, EVAL_QUESTIONS_FILE, REPORT_HTML_FILE, REPORT_MD_FILE,
                             RESULTS_FILE)
from raft_jobs.common.llm import EndpointDownError, FatalRequestError, LLMError, RequestFailedError
from raft_jobs.common.model_fingerprint import FINGERPRINT_FILE
from raft_jobs.common.progress import ProgressReporter
from raft_api.progress import EvalReport
from raft_jobs.common.run_root import ForeignRunDirectory, claim_root
from raft_api.runconfig import Endpoint, EvalModel, RunConfig

from . import aggregate, metrics, plots, report
from .data import Chunk, EvalItem, load_chunks, load_eval_items
from .judge import ERROR, NO, RUBRIC_CRITERIA, YES, judge_prompt, parse_rubric, parse_verdict, rubric_prompt
from .prompts import answer_messages
from .records import NO_RAG, RAG, AnswerRecord, Mode

log = logging.getLogger(__name__)

PARTIAL = "answers.partial.jsonl"
EMBEDDING_CACHE = "embeddings"  # under <root>/eval: chunk vectors kept for a restarted Job
BOOTSTRAP_SEED = 1234
STRUCTURED_VERDICT = {"structured_outputs": {"choice": [YES, NO]}}  # vLLM >= 0.10.2


class ChatClient(Protocol):
    """What the runner needs from a model client (:class:`raft_jobs.common.llm.LLMPool`)."""

    name: str

    @property
    def endpoints(self) -> Sequence[str]:
        """The replicas' base URLs, for messages."""

    async def chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float,
        extra_body: dict[str, Any] | None = None,
    ) -> str:
        """The assistant message for ``messages``; raises when the endpoint stays down.

        ``extra_body`` goes into the request as is (e.g. vLLM's ``structured_outputs``).
        """

    async def wait_ready(self, timeout: float) -> None:
        """Raise unless every replica answers within ``timeout`` seconds."""

    async def close(self) -> None:
        """Release connections."""


ClientFactory = Callable[[str, Endpoint, RunConfig], ChatClient]


class EvalError(RuntimeError):
    """A failure that ends the eval Job with a message for people (non-zero exit)."""


@dataclass
class EvalOutcome:
    """What :func:`evaluate` produced."""

    results: dict[str, Any]
    records: list[AnswerRecord]
    files: list[Path]


def modes_for(config: RunConfig) -> list[Mode]:
    """No-RAG (when ``eval.withoutRag``) then RAG at each distinct ``eval.topK``, ascending."""
    modes = [Mode(NO_RAG)] if config.eval.without_rag else []
    modes += [Mode(RAG, int(k)) for k in sorted(set(config.eval.top_k or []))]
    if not modes:
        raise EvalError("nothing to evaluate: eval.withoutRag is false and eval.topK is empty")
    return modes


def primary_mode(config: RunConfig) -> Mode:
    """The headline mode: ``eval.primaryMode`` (``rag`` or ``none``) at ``eval.primaryTopK``.

    The default is RAG at the first ``eval.topK``. It must be one of the evaluated modes.
    """
    ev = config.eval
    if ev.primary_mode == NO_RAG:
        mode = Mode(NO_RAG)
    else:
        if ev.primary_top_k is None and not ev.top_k:
            raise EvalError("eval.primaryMode is rag but eval.topK is empty")
        mode = Mode(RAG, int(ev.primary_top_k if ev.primary_top_k is not None else ev.top_k[0]))
    if mode not in modes_for(config):
        raise EvalError(
            f"eval.primaryMode {mode.label} is not evaluated (topK {list(ev.top_k)}, withoutRag {ev.without_rag})"
        )
    return mode


def judge_is_teacher(judge: Endpoint, teacher: Endpoint) -> bool:
    """Whether the judge is the teacher, which also wrote the references and the training labels."""
    return judge.model == teacher.model and set(judge.endpoints) == set(teacher.endpoints)


def eval_source(config: RunConfig) -> Path:
    """``eval.evalFile`` (relative to the run's root unless absolute) or datagen's eval.jsonl."""
    if config.eval.eval_file:
        path = Path(config.eval.eval_file)
        return path if path.is_absolute() else Path(config.root) / path
    return config.dataset_dir / EVAL_QUESTIONS_FILE


def judge_endpoint(config: RunConfig) -> Endpoint:
    """``eval.judge``, or the teacher when no judge endpoint is named."""
    judge = config.eval.judge
    if judge.endpoints and judge.model:
        return judge
    if config.teacher.endpoints and config.teacher.model:
        return config.teacher
    raise EvalError("no judge: set eval.judge (endpoints and model) or teacher")


def _model_endpoint(model: EvalModel) -> Endpoint:
    return Endpoint(endpoints=list(model.endpoints), model=model.model, apiKeyEnv=model.api_key_env,
                    resolveReplicas=model.resolve_replicas)


def _record_key(model: EvalModel, mode: Mode, item: EvalItem, retrieved: Sequence[str]) -> str:
    return json.dumps(
        [model.name, model.model, mode.name, mode.top_k, item.id, item.question, list(retrieved)]
    )


def _load_partial(path: Path) -> dict[str, AnswerRecord]:
    done: dict[str, AnswerRecord] = {}
    if not path.exists():
        return done
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
            done[entry["key"]] = AnswerRecord(**entry["record"])
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by the previous attempt's end
    return done


class _Run:
    """State of one evaluation (output paths, progress counters), so helpers stay small."""

    def __init__(self, config: RunConfig, reporter: ProgressReporter) -> None:
        self.config = config
        self.reporter = reporter
        self.out_dir = config.eval_dir
        self.done = 0
        self.total = 0
        self.partial_path = self.out_dir / PARTIAL
        self._partial_lock = asyncio.Lock()
        self.fold_system: set[str] = set()  # models whose chat template has no system role
        self.structured_judge = True  # until the judge server rejects structured outputs

    async def answer(
        self,
        client: ChatClient,
        judge: ChatClient,
        model: EvalModel,
        mode: Mode,
        item: EvalItem,
        docs: Sequence[Chunk],
        key: str,
    ) -> AnswerRecord:
        """Generate, score and judge one answer; append it to the partial file."""
        texts = [c.text for c in docs] if mode.name == RAG else None
        record = AnswerRecord(
            question_id=item.id,
            question=item.question,
            reference=item.answer,
            model=model.name,
            role=model.role,
            mode=mode.name,
            top_k=mode.top_k,
            retrieved=[c.id for c in docs],
            oracle_retrieved=(item.oracle_chunk_id in {c.id for c in docs})
            if item.oracle_chunk_id is not None and mode.name == RAG
            else None,
            cluster=item.oracle_chunk_id or "",
        )
        started = time.monotonic()
        try:
            record.raw = await self._generate(client, model, item.question, texts)
        except RequestFailedError as exc:  # this request only; the endpoint itself is alive
            log.warning("%s: no answer to question %s (%s): %s", model.name, item.id, mode.label, exc)
            record.error = str(exc)
            record.verdict = NO  # a question left unanswered counts as wrong
        record.latency_s = time.monotonic() - started
        record.answer = metrics.extract_answer(record.raw)
        record.follows_format = metrics.follows_format(record.raw)
        record.refusal = metrics.is_refusal(record.answer)
        record.exact_match = metrics.exact_match(record.answer, item.answer)
        record.f1 = metrics.token_f1(record.answer, item.answer)
        for name, value in metrics.rouge_scores(record.answer, item.answer).items():
            setattr(record, name, value)
        if not record.error:
            await self._judge(judge, record, texts)
        async with self._partial_lock:
            with self.partial_path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"key": key, "record": record.__dict__}) + "\n")
        self.done += 1
        interim: EvalReport = {"phase": "answering", "answersDone": self.done, "answersTotal": self.total}
        self.reporter.report(interim)
        return record

    async def _generate(
        self, client: ChatClient, model: EvalModel, question: str, texts: list[str] | None
    ) -> str:
        ev = self.config.eval
        policy = self.config.datagen.no_oracle_label
        fold = model.name in self.fold_system
        try:
            return await _call(
                client,
                answer_messages(question, texts, fold_system=fold, no_oracle_label=policy),
                max_tokens=ev.max_tokens,
                temperature=0.0,
            )
        except RequestFailedError as exc:
            # Chat templates without a system role (vLLM answers 400): fold it in, as finetune did.
            if fold or exc.status != 400 or "system" not in str(exc).lower():
                raise
            if model.name not in self.fold_system:
                log.warning(
                    "%s: chat template rejects a system turn; folding it into the user turn", model.name
                )
                self.fold_system.add(model.name)
        return await _call(
            client,
            answer_messages(question, texts, fold_system=True, no_oracle_label=policy),
            max_tokens=ev.max_tokens,
            temperature=0.0,
        )

    async def _judge(self, judge: ChatClient, record: AnswerRecord, texts: list[str] | None) -> None:
        ev = self.config.eval
        try:
            record.judge_reply = await self._verdict(
                judge, judge_prompt(record.question, record.reference, record.answer)
            )
            record.verdict = parse_verdict(record.judge_reply)
            if ev.rubric:
                reply = await _call(
                    judge,
                    rubric_prompt(record.question, record.reference, record.answer, texts),
                    max_tokens=ev.max_tokens,
                    temperature=0.0,
                )
                record.rubric = parse_rubric(
                    reply, RUBRIC_CRITERIA if texts is not None else RUBRIC_CRITERIA[1:]
                )
        except RequestFailedError as exc:
            log.warning("judge: no verdict on %s's answer to %s: %s", record.model, record.question_id, exc)
            record.verdict = record.verdict or ERROR
            record.judge_reply = f"judge request failed: {exc}"

    async def _verdict(self, judge: ChatClient, messages: list[dict[str, str]]) -> str:
        """The judge's reply, constrained to YES or NO where the server supports it.

        vLLM honours ``structured_outputs: {choice: [...]}``; servers that ignore the field
        answer freely (the reply is parsed leniently), and one that rejects it (HTTP 400 or 422)
        is asked without it from then on.
        """
        max_tokens = self.config.eval.max_tokens
        if self.structured_judge:
            try:
                return await _call(
                    judge, messages, max_tokens=max_tokens, temperature=0.0, extra_body=STRUCTURED_VERDICT
                )
            except RequestFailedError as exc:
                if exc.status not in (400, 422):  # 422: servers that validate the body (transformers serve)
                    raise
                if self.structured_judge:
                    log.warning("judge: the server rejects structured outputs (%s); asking without them", exc)
                    self.structured_judge = False
        return await _call(judge, messages, max_tokens=max_tokens, temperature=0.0)


async def _call(client: ChatClient, messages: list[dict[str, str]], **kwargs: Any) -> str:
    """``client.chat`` with failures that must end the run turned into :class:`EvalError`."""
    try:
        return await client.chat(messages, **kwargs)
    except (EndpointDownError, FatalRequestError) as exc:
        raise EvalError(f"{client.name} ({', '.join(client.endpoints)}): {exc}") from exc


async def evaluate(
    config: RunConfig, factory: ClientFactory, reporter: ProgressReporter | None = None
) -> EvalOutcome:
    """Run the whole evaluation described by ``config`` and write its files."""
    started = time.monotonic()
    try:
        claim_root(config)
    except ForeignRunDirectory as exc:
        raise EvalError(str(exc)) from exc
    reporter = reporter or ProgressReporter("eval", config.progress)
    ev = config.eval
    if not ev.models:
        raise EvalError("eval.models is empty: nothing to evaluate")
    names = [m.name for m in ev.models]
    if len(set(names)) != len(names):
        raise EvalError(f"eval.models names must be unique, got {names}")
    for m in ev.models:
        if not m.endpoints or not m.model:
            raise EvalError(f"eval model {m.name!r} needs endpoints and a served model name")
    modes = modes_for(config)
    primary_mode(config)  # a headline that names no evaluated mode fails before any request
    source = eval_source(config)
    if not source.exists():
        raise EvalError(f"eval questions not found at {source} (datagen's eval.jsonl or eval.evalFile)")
    items = load_eval_items(source)
    chunks_path = config.dataset_dir / CHUNKS_FILE
    max_k = max((m.top_k or 0 for m in modes), default=0)
    if max_k and not chunks_path.exists():
        raise EvalError(f"RAG needs datagen's chunks at {chunks_path}")
    log.info("eval: %d questions from %s; modes %s", len(items), source, [m.label for m in modes])

    judge_ep = judge_endpoint(config)
    clients = {m.name: factory(m.name, _model_endpoint(m), config) for m in ev.models}
    judge = factory("judge", judge_ep, config)
    run = _Run(config, reporter)
    run.out_dir.mkdir(parents=True, exist_ok=True)
    try:
        # Endpoints first: a server that is down should fail the Job before minutes of embedding.
        # The scorers load meanwhile, off the event loop that will carry the requests.
        scorers = asyncio.create_task(asyncio.to_thread(metrics.load_scorers))
        try:
            await _wait_ready([*clients.values(), judge], ev.ready_timeout_seconds)
        finally:
            await scorers
        contexts: dict[str, list[Chunk]] = {}
        index_kind = ""
        chunks: list[Chunk] = []
        if max_k:
            chunks = load_chunks(chunks_path)
            contexts, index_kind = await asyncio.to_thread(
                _retrieve, ev.embedding_model, chunks, items, max_k, run.out_dir / EMBEDDING_CACHE
            )
        done = _load_partial(run.partial_path)
        if done:
            log.info("eval: resuming with %d answers from a previous attempt", len(done))
        jobs = []
        records: list[AnswerRecord | None] = []
        for model in ev.models:
            for mode in modes:
                for item in items:
                    docs = contexts.get(item.id, [])[: mode.top_k or 0]
                    key = _record_key(model, mode, item, [c.id for c in docs])
                    if key in done:
                        records.append(done[key])
                        continue
                    records.append(None)
                    jobs.append((len(records) - 1, model, mode, item, docs, key))
        run.total = len(records)
        run.done = len(records) - len(jobs)
        await _answer_all(run, clients, judge, jobs, records)
    finally:
        for client in [*clients.values(), judge]:
            await client.close()

    final = [r for r in records if r is not None]
    results = _results_document(config, final, source, len(items), chunks, index_kind, judge_ep, started)
    results["meta"]["requests"] = {
        c.name: c.stats.as_dict() for c in [*clients.values(), judge] if hasattr(c, "stats")
    }
    results["meta"]["trainingLoss"] = _training_loss(config)
    files = write_outputs(run.out_dir, results, final)
    run.partial_path.unlink(missing_ok=True)
    reporter.report(aggregate.progress_payload(results["results"], results["summary"]), force=True)
    log.info("eval: %s", report.summary_sentence(results))
    return EvalOutcome(results=results, records=final, files=files)


def _retrieve(
    model_name: str, chunks: list[Chunk], items: list[EvalItem], k: int, cache_dir: Path
) -> tuple[dict[str, list[Chunk]], str]:
    from .retrieval import Retriever, load_embedding_model

    started = time.monotonic()
    retriever = Retriever(
        chunks, load_embedding_model(model_name), cache_dir=cache_dir, model_name=model_name
    )
    hits = retriever.search([item.question for item in items], k)
    log.info(
        "eval: %s %d chunks with %s in %.1f s",
        "loaded cached vectors of" if retriever.from_cache else "embedded",
        len(chunks),
        model_name,
        time.monotonic() - started,
    )
    return {item.id: [chunk for chunk, _ in row] for item, row in zip(items, hits)}, retriever.index_kind


async def _wait_ready(clients: Sequence[ChatClient], timeout: float) -> None:
    """Every endpoint must list its model within ``timeout``; the error names those that do not."""
    results = await asyncio.gather(*(c.wait_ready(timeout) for c in clients), return_exceptions=True)
    failures = [(c, r) for c, r in zip(clients, results) if isinstance(r, BaseException)]
    for _, error in failures:
        if not isinstance(error, (LLMError, OSError)):
            raise error
    if failures:
        lines = "; ".join(f"{c.name} ({', '.join(c.endpoints)}): {r}" for c, r in failures)
        raise EvalError(f"endpoint not ready after {timeout:g}s: {lines}")


async def _answer_all(run: _Run, clients: dict[str, ChatClient], judge: ChatClient, jobs, records) -> None:
    """Run every pending answer; the first :class:`EvalError` cancels the rest and is raised."""

    async def one(slot, model, mode, item, docs, key):
        records[slot] = await run.answer(clients[model.name], judge, model, mode, item, docs, key)

    try:
        async with asyncio.TaskGroup() as group:
            for job in jobs:
                group.create_task(one(*job))
    except* EvalError as errors:
        raise errors.exceptions[0] from None


def _training_loss(config: RunConfig) -> list[list[float]]:
    """The student's training loss per step, from the export record (empty when there is none)."""
    try:
        record = json.loads((config.model_dir / FINGERPRINT_FILE).read_text())
    except (OSError, ValueError):
        return []
    return [list(p) for p in record.get("trainingLoss") or [] if isinstance(p, list) and len(p) == 2]


def _results_document(
    config: RunConfig,
    records: list[AnswerRecord],
    source: Path,
    questions: int,
    chunks: list[Chunk],
    index_kind: str,
    judge_ep: Endpoint,
    started: float,
) -> dict[str, Any]:
    order = [m.name for m in config.eval.models]
    primary = primary_mode(config)
    results = aggregate.build_results(records, order, seed=BOOTSTRAP_SEED)
    improvements = aggregate.build_improvements(results)
    comparisons = aggregate.build_comparisons(records, results, primary, seed=BOOTSTRAP_SEED)
    from_teacher = judge_is_teacher(judge_ep, config.teacher)
    recall: dict[str, float] = {}
    for row in results:
        if row["mode"] == RAG and "retrievalRecall" in row:
            recall.setdefault(str(row["topK"]), row["retrievalRecall"])
    return {
        "meta": {
            "run": config.run.get("name") or Path(config.root).name,
            "createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "durationSeconds": time.monotonic() - started,
            "questions": questions,
            "evalSource": source.name if not config.eval.eval_file else config.eval.eval_file,
            "chunks": len(chunks),
            "embeddingModel": config.eval.embedding_model if chunks else None,
            "index": index_kind or None,
            "judgeModel": judge_ep.model,
            "judgeIsTeacher": from_teacher,
            "judgeCoverageThreshold": aggregate.JUDGE_COVERAGE_THRESHOLD,
            "judgeAgreement": aggregate.judge_agreement(records),
            "primaryMode": primary.label,
            "noOracleLabel": config.datagen.no_oracle_label,
            "models": [{"name": m.name, "role": m.role, "model": m.model} for m in config.eval.models],
            "modes": [m.label for m in modes_for(config)],
            "bootstrapSeed": BOOTSTRAP_SEED,
        },
        "results": results,
        "improvements": improvements,
        "comparisons": comparisons,
        "summary": aggregate.build_summary(
            results, improvements, comparisons, primary, judge_is_teacher=from_teacher
        ),
        "retrievalRecall": recall,
    }


def write_outputs(out_dir: Path, results: dict[str, Any], records: Sequence[AnswerRecord]) -> list[Path]:
    """results.json, answers.jsonl, the plots, report.md and report.html under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    disagreements = aggregate.disagreements(records)
    results_path = out_dir / RESULTS_FILE
    _write_atomic(results_path, json.dumps(results, indent=2) + "\n")
    answers_path = out_dir / ANSWERS_FILE
    _write_atomic(answers_path, "".join(json.dumps(r.to_json()) + "\n" for r in records))
    plot_paths = plots.write_plots(results["results"], out_dir)
    md_path = out_dir / REPORT_MD_FILE
    _write_atomic(md_path, report.render_markdown(results, disagreements, [p.name for p in plot_paths]))
    html_path = out_dir / REPORT_HTML_FILE
    _write_atomic(html_path, report.render_html(results, disagreements, plot_paths))
    return [results_path, answers_path, *plot_paths, md_path, html_path]


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
