"""A SIMULATED vLLM server: OpenAI-compatible HTTP API, no model, deterministic text.

For tests, benchmarks and the local cluster only; never a production code path. It mimics
what matters about vLLM to the programs that call it:

* endpoints ``/v1/chat/completions``, ``/v1/completions``, ``/v1/models``, ``/health``
  (plus ``/sim/stats`` with its counters); ``usage`` token counts in every response; an
  unknown ``model`` is rejected with 404 like vLLM;
* ``/metrics`` in the Prometheus text format with vLLM's scheduler gauges
  ``vllm:num_requests_running`` and ``vllm:num_requests_waiting`` and the counter
  ``vllm:generation_tokens_total``, labelled ``model_name`` and ``engine`` like vLLM's V1
  engine (help texts say SIMULATED); ``--no-metrics`` serves none, like a server without them;
* **continuous batching**: at most ``slots`` sequences (vLLM's ``max_num_seqs``) decode
  together, the rest queue; each decode step emits one token per running sequence and lasts
  ``step_base + step_per_seq * batch`` seconds, so throughput saturates at
  :attr:`SimSettings.capacity_tokens_per_second` = ``slots / (step_base + step_per_seq*slots)``;
* **fault injection** at configurable rates: HTTP 500, 429 with ``Retry-After``, requests that
  hang, malformed text; and an **imperfect model** at configurable rates: answers without the
  ``<ANSWER>:`` line, refusals, chains of thought quoting text in no document or cut off
  (``finish_reason: length``), judge verdicts in prose;
* vLLM's **structured outputs** (``structured_outputs: {choice: [...]}``, or the older
  ``guided_choice``): honoured by default, or ignored, or rejected with HTTP 422, to play
  servers that do not support them. Whether a request is faulted depends only on the seed, the request
  body and how often that same body was seen before, so runs are reproducible whatever the
  arrival order;
* **useful deterministic content** chosen by pluggable *responders* (first non-None wins):
  numbered questions built from a document's sentences for question-generation requests,
  chain-of-thought answers quoting a real sentence between ``##begin_quote##`` and
  ``##end_quote##`` and ending in ``<ANSWER>: …``, YES/NO for judge requests (token overlap
  of the candidate with the reference), rubric scores, a short ``<ANSWER>:`` otherwise.
  ``max_tokens`` truncates like a real server (``finish_reason: length``).

In-process::

    async with SimulatedVLLMServer(SimSettings(models=["teacher"])) as server:
        server.url  # "http://127.0.0.1:<port>/v1"

    with SimulatedVLLMServer(settings).running_in_thread() as server:  # for sync code
        ...

CLI: ``python -m raft_sim.vllm_server --port 8000 --model NAME [--model NAME2] --slots 16``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import signal
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

# ---- settings and counters ------------------------------------------------------------------


@dataclass
class SimSettings:
    """Behaviour of one simulated server (one vLLM replica)."""

    models: list[str] = field(default_factory=lambda: ["sim-model"])
    slots: int = 16  # max_num_seqs: sequences decoded together
    step_base: float = 0.004  # seconds per decode step, fixed part
    step_per_seq: float = 0.0005  # seconds per decode step per running sequence
    seed: int = 0
    error_rate: float = 0.0  # HTTP 500
    rate_limit_rate: float = 0.0  # HTTP 429 with Retry-After
    retry_after: float = 0.2  # seconds, sent in Retry-After with 429
    hang_rate: float = 0.0  # never answer (until hang_seconds)
    hang_seconds: float = 3600.0
    malformed_rate: float = 0.0  # answer with text that follows no requested format
    api_key: str | None = None  # as vLLM's --api-key / VLLM_API_KEY: /v1 routes need "Bearer <key>"
    metrics: bool = True  # serve /metrics (vLLM's Prometheus gauges)
    # An imperfect model (each rate applies to the replies of its kind, chosen like faults):
    unformatted_rate: float = 0.0  # an answer without its <ANSWER>: line
    refusal_rate: float = 0.0  # an answer (or chain of thought) saying the documents lack it
    bad_quote_rate: float = 0.0  # a chain of thought quoting text that is in no document
    cut_off_rate: float = 0.0  # an answer cut off half way (finish_reason "length")
    prose_verdict_rate: float = 0.0  # a judge verdict in prose, with neither YES nor NO
    # vLLM's structured outputs (extra_body {"structured_outputs": {"choice": [...]}}):
    # "honour" like vLLM >= 0.10.2, "ignore" like servers that drop unknown fields, "reject" (HTTP 422).
    structured_outputs: str = "honour"

    @property
    def capacity_tokens_per_second(self) -> float:
        """Completion tokens per second with every slot busy: the server's ceiling."""
        return self.slots / (self.step_base + self.step_per_seq * self.slots)


@dataclass
class SimCounters:
    """What the server did; ``faults`` counts injected faults by kind."""

    requests: int = 0
    completed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    not_found: int = 0
    max_batch: int = 0
    max_queue: int = 0
    busy_slot_seconds: float = 0.0  # sum over decode steps of batch × step seconds
    faults: Counter = field(default_factory=Counter)  # error, rate_limit, hang, malformed
    kinds: Counter = field(default_factory=Counter)  # responder name per completed request
    models: Counter = field(default_factory=Counter)  # requests received per served model

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        data = asdict(self)
        data["faults"] = dict(self.faults)
        data["kinds"] = dict(self.kinds)
        data["models"] = dict(self.models)
        return data


# ---- requests and responders ----------------------------------------------------------------


@dataclass
class SimRequest:
    """One parsed generation request, as responders see it."""

    endpoint: str  # "chat" or "completion"
    model: str
    body: dict[str, Any]
    messages: list[dict[str, str]]  # for completions: one user message holding the prompt
    max_tokens: int | None

    @property
    def system(self) -> str:
        """All system messages joined."""
        return "\n".join(m["content"] for m in self.messages if m.get("role") == "system")

    @property
    def user(self) -> str:
        """The last user message."""
        users = [m["content"] for m in self.messages if m.get("role") == "user"]
        return users[-1] if users else ""

    @property
    def text(self) -> str:
        """Every message's content joined."""
        return "\n".join(m["content"] for m in self.messages)


Responder = Callable[[SimRequest], "str | None"]

_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"[A-Za-z0-9]+")
_DOC = re.compile(r"<DOCUMENT>(.*?)</DOCUMENT>", re.DOTALL)
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
_STOP = frozenset(
    "a an the of to in on for and or is are was were be by with as at from that this it its "
    "what which who how why when does do did say says about according document documents text".split()
)


def count_tokens(text: str) -> int:
    """The simulator's token count: words and punctuation marks."""
    return len(_TOKEN.findall(text))


def truncate_tokens(text: str, max_tokens: int) -> str:
    """``text`` cut after its first ``max_tokens`` tokens."""
    end = 0
    for i, match in enumerate(_TOKEN.finditer(text)):
        if i == max_tokens:
            return text[:end]
        end = match.end()
    return text


def sentences(text: str) -> list[str]:
    """Sentences of ``text`` (verbatim substrings) with at least four words, de-duplicated."""
    seen: dict[str, None] = {}
    for piece in _SENTENCE_SPLIT.split(text):
        piece = piece.strip()
        if len(_WORD.findall(piece)) >= 4:
            seen.setdefault(piece, None)
    return list(seen)


def _content_words(text: str) -> set[str]:
    return {w for w in (x.lower() for x in _WORD.findall(text)) if w not in _STOP}


def best_sentence(question: str, documents: list[str]) -> str | None:
    """The document sentence sharing the most content words with ``question`` (first on ties)."""
    wanted = _content_words(question)
    best, best_score = None, -1
    for doc in documents:
        for sentence in sentences(doc):
            score = len(wanted & _content_words(sentence))
            if score > best_score:
                best, best_score = sentence, score
    return best


def _documents(request: SimRequest) -> tuple[list[str], str]:
    """The ``<DOCUMENT>`` bodies of the last user message and the text after the last one."""
    user = request.user
    docs = _DOC.findall(user)
    tail = user.rsplit("</DOCUMENT>", 1)[-1].strip() if docs else user
    return docs, tail


def judge_responder(request: SimRequest) -> str | None:
    """YES/NO for a grading request: YES when half the reference's words are in the candidate."""
    text = request.user
    if not re.search(r"\bYES or NO\b", text) and "Reference answer" not in text:
        return None
    if re.search(r"score .* from 1 to 5", text, re.IGNORECASE):
        return None
    ref, cand = _reference_and_candidate(text)
    return "YES" if overlap(ref, cand) >= 0.5 else "NO"


def rubric_responder(request: SimRequest) -> str | None:
    """``Criterion: N`` lines (1-5 from token overlap) for a rubric-grading request."""
    text = request.user
    if not re.search(r"score .* from 1 to 5", text, re.IGNORECASE):
        return None
    ref, cand = _reference_and_candidate(text)
    score = 1 + round(4 * overlap(ref, cand))
    names = [n for n in ("Groundedness", "Relevance", "Similarity") if f"{n}:" in text]
    return "\n".join(f"{name}: {score}" for name in names or ["Similarity"])


def _reference_and_candidate(text: str) -> tuple[str, str]:
    ref = re.search(r"Reference answer:\s*(.*?)(?:\n\s*\n|$)", text, re.DOTALL)
    cand = re.search(r"Candidate answer:\s*(.*?)(?:\n\s*\n|$)", text, re.DOTALL)
    return (ref.group(1) if ref else ""), (cand.group(1) if cand else "")


def overlap(reference: str, candidate: str) -> float:
    """Share of the reference's content words found in the candidate (0 when either is empty)."""
    ref = _content_words(reference)
    return len(ref & _content_words(candidate)) / len(ref) if ref else 0.0


def cot_responder(request: SimRequest) -> str | None:
    """Chain of thought quoting the best-matching document sentence, ending ``<ANSWER>: …``."""
    if "##begin_quote##" not in request.text:
        return None
    docs, question = _documents(request)
    sentence = best_sentence(question, docs or [request.user])
    if sentence is None:
        return f"The documents do not contain the answer.\n<ANSWER>: {_REFUSAL}"
    return (
        f"The question asks: {question.strip()[:200]} I look for the passage that answers it. "
        f"The relevant document says ##begin_quote##{sentence}##end_quote##. "
        "This sentence states the answer directly, so I can use it as the final answer.\n"
        f"<ANSWER>: {sentence}"
    )


_REFUSAL = "I cannot answer this question based on the provided documents."
_QUESTION_COUNT = re.compile(r"(\d+)\s+(?:[\w-]+\s+){0,4}?questions\b", re.IGNORECASE)
_TEMPLATES = (
    # Search-box questions, as datagen's prompt asks: none refers to "the document".
    "What is recorded about {}?",
    "What is true of {}?",
    "Which facts are known about {}?",
)


def question_responder(request: SimRequest) -> str | None:
    """``N`` numbered questions, one per document sentence (cycled through a few templates)."""
    match = _QUESTION_COUNT.search(request.user) or _QUESTION_COUNT.search(request.system)
    if match is None:
        return None
    n = max(1, min(int(match.group(1)), 50))
    docs, _ = _documents(request)
    found = sentences("\n".join(docs) if docs else request.user)
    if not found:
        return "The text contains no statements to ask about."
    lines = []
    for i in range(n):
        sentence = found[i % len(found)]
        topic = " ".join(_WORD.findall(sentence)[:8]).lower()
        lines.append(f"{i + 1}. " + _TEMPLATES[(i // len(found)) % len(_TEMPLATES)].format(topic))
    return "\n".join(lines)


def answer_responder(request: SimRequest) -> str:
    """A short answer ending ``<ANSWER>: …``: the best document sentence, or the question's gist."""
    docs, question = _documents(request)
    if docs:
        sentence = best_sentence(question, docs) or docs[0].strip()[:200]
        return f"Based on the documents, ##begin_quote##{sentence}##end_quote##.\n<ANSWER>: {sentence}"
    words = [w for w in _WORD.findall(question) if w.lower() not in _STOP][:8]
    return f"From general knowledge this concerns {' '.join(words) or 'the question'}.\n<ANSWER>: {' '.join(words)}"


DEFAULT_RESPONDERS: tuple[Responder, ...] = (
    rubric_responder,
    judge_responder,
    cot_responder,
    question_responder,
)

_MALFORMED_WORDS = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor".split()


def malformed_text(key: str) -> str:
    """Word salad with no list markers, question marks, quotes or ``<ANSWER>``."""
    digest = hashlib.sha256(key.encode()).digest()
    return " ".join(_MALFORMED_WORDS[b % len(_MALFORMED_WORDS)] for b in digest[:24])


# ---- the batching engine --------------------------------------------------------------------


class BatchEngine:
    """Continuous batching over ``slots`` sequences; one token per sequence per step."""

    def __init__(self, settings: SimSettings, counters: SimCounters) -> None:
        self.settings = settings
        self.counters = counters
        self._waiting: deque[list[Any]] = deque()  # [remaining tokens, future]
        self._running: list[list[Any]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the decode loop on the running event loop."""
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Stop the decode loop and fail whatever is still queued or running."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for seq in [*self._waiting, *self._running]:
            if not seq[1].done():
                seq[1].cancel()

    @property
    def running(self) -> int:
        """Sequences in the current decode batch (vLLM's ``num_requests_running``)."""
        return sum(1 for s in self._running if not s[1].done())

    @property
    def waiting(self) -> int:
        """Sequences queued for a free slot (vLLM's ``num_requests_waiting``)."""
        return sum(1 for s in self._waiting if not s[1].done())

    async def generate(self, tokens: int) -> None:
        """Return once ``tokens`` decode steps for this sequence have run."""
        if tokens <= 0:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append([tokens, future])
        self.counters.max_queue = max(self.counters.max_queue, len(self._waiting))
        self._wakeup.set()
        await future

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        while True:
            self._running = [s for s in self._running if not s[1].done()]
            while self._waiting and len(self._running) < self.settings.slots:
                seq = self._waiting.popleft()
                if not seq[1].done():  # a cancelled request (client went away) never runs
                    self._running.append(seq)
            if not self._running:
                self._wakeup.clear()
                await self._wakeup.wait()
                deadline = None
                continue
            batch = len(self._running)
            self.counters.max_batch = max(self.counters.max_batch, batch)
            step = self.settings.step_base + self.settings.step_per_seq * batch
            now = loop.time()
            # Chain deadlines while busy so event-loop jitter does not eat capacity; after a
            # long stall start afresh instead of bursting.
            if deadline is None or deadline < now - 5 * step:
                deadline = now
            deadline += step
            await asyncio.sleep(max(0.0, deadline - now))
            self.counters.busy_slot_seconds += batch * step
            for seq in self._running:
                seq[0] -= 1
                if seq[0] <= 0 and not seq[1].done():
                    seq[1].set_result(None)
            self._running = [s for s in self._running if s[0] > 0 and not s[1].done()]


# ---- the HTTP server ------------------------------------------------------------------------


class SimulatedVLLMServer:
    """The SIMULATED vLLM server; start with ``async with`` or :meth:`running_in_thread`."""

    def __init__(
        self,
        settings: SimSettings | None = None,
        *,
        responders: list[Responder] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.settings = settings or SimSettings()
        self.responders: list[Responder] = list(DEFAULT_RESPONDERS if responders is None else responders)
        self.host = host
        self.port = port
        self.counters = SimCounters()
        self._seen: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None
        self._engine: BatchEngine | None = None
        self._started_at = time.monotonic()

    # -- lifecycle --

    @property
    def url(self) -> str:
        """The OpenAI base URL, ``http://host:port/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def capacity_tokens_per_second(self) -> float:
        """See :attr:`SimSettings.capacity_tokens_per_second`."""
        return self.settings.capacity_tokens_per_second

    def add_responder(self, responder: Responder, *, first: bool = True) -> None:
        """Add a behaviour; ``first`` makes it win over the built-in ones."""
        if first:
            self.responders.insert(0, responder)
        else:
            self.responders.append(responder)

    async def start(self) -> None:
        """Bind and serve on the running event loop (``port=0`` picks a free port)."""
        app = web.Application(client_max_size=64 * 1024**2, middlewares=[self._authenticate])
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/completions", self._completion)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/health", self._health)
        app.router.add_get("/sim/stats", self._stats)
        if self.settings.metrics:
            app.router.add_get("/metrics", self._metrics)
        self._engine = BatchEngine(self.settings, self.counters)
        self._engine.start()
        # handler_cancellation: a client that gives up aborts its sequence, as in vLLM.
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = site._server.sockets  # type: ignore[union-attr]
        self.port = sockets[0].getsockname()[1]
        self._started_at = time.monotonic()
        log.info("SIMULATED vLLM server on %s serving %s (capacity %.0f tokens/s)",
                 self.url, self.settings.models, self.capacity_tokens_per_second)

    async def stop(self) -> None:
        """Stop serving and fail pending requests."""
        if self._engine is not None:
            await self._engine.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SimulatedVLLMServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @contextlib.contextmanager
    def running_in_thread(self) -> Iterator[SimulatedVLLMServer]:
        """Serve from a background thread with its own event loop (for synchronous callers)."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="sim-vllm", daemon=True)
        thread.start()
        asyncio.run_coroutine_threadsafe(self.start(), loop).result(timeout=30)
        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout=30)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()

    # -- handlers --

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """vLLM's check: with an API key, every /v1 route needs ``Authorization: Bearer <key>``; /health does not."""
        key = self.settings.api_key
        if key and request.path.startswith("/v1") and request.headers.get("Authorization") != f"Bearer {key}":
            return web.json_response({"error": "Unauthorized"}, status=401)
        return await handler(request)

    async def _health(self, _: web.Request) -> web.Response:
        return web.Response(status=200)

    async def _stats(self, _: web.Request) -> web.Response:
        body = {
            "counters": self.counters.as_dict(),
            "capacityTokensPerSecond": self.capacity_tokens_per_second,
            "settings": {**asdict(self.settings), "api_key": "<set>" if self.settings.api_key else None},  # never the key
            "uptimeSeconds": time.monotonic() - self._started_at,
        }
        return web.json_response(body)

    async def _metrics(self, _: web.Request) -> web.Response:
        assert self._engine is not None
        labels = f'{{engine="0",model_name="{self.settings.models[0]}"}}'
        lines = []
        for name, kind, help_text, value in (
            ("vllm:num_requests_running", "gauge", "Number of requests in model execution batches.",
             self._engine.running),
            ("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.",
             self._engine.waiting),
            ("vllm:generation_tokens_total", "counter", "Number of generation tokens processed.",
             self.counters.completion_tokens),
        ):
            lines += [f"# HELP {name} {help_text} (SIMULATED)", f"# TYPE {name} {kind}", f"{name}{labels} {float(value)}"]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain", charset="utf-8",
                            headers={"X-Simulated": "true"})

    async def _models(self, _: web.Request) -> web.Response:
        created = int(time.time())
        data = [
            {"id": m, "object": "model", "created": created, "owned_by": "vllm", "root": m, "max_model_len": 32768}
            for m in self.settings.models
        ]
        return web.json_response({"object": "list", "data": data})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, "chat")

    async def _completion(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, "completion")

    async def _generate(self, http: web.Request, endpoint: str) -> web.StreamResponse:
        try:
            body = await http.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, "BadRequestError", "request body is not JSON")
        if not isinstance(body, dict):
            return _error(400, "BadRequestError", "request body must be a JSON object")
        model = body.get("model")
        if model not in self.settings.models:
            self.counters.not_found += 1
            return _error(404, "NotFoundError", f"The model `{model}` does not exist.")
        if body.get("stream"):
            return _error(400, "BadRequestError", "streaming is not supported by the simulated server")
        try:
            parsed = _parse(body, endpoint)
        except (TypeError, ValueError, KeyError) as exc:
            return _error(400, "BadRequestError", f"invalid request: {exc}")
        self.counters.requests += 1
        self.counters.models[parsed.model] += 1

        key = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        fault = self._fault(key, parsed)
        if fault == "error":
            return _error(500, "InternalServerError", "simulated internal server error")
        if fault == "rate_limit":
            response = _error(429, "TooManyRequests", "simulated rate limit")
            response.headers["Retry-After"] = f"{self.settings.retry_after:g}"
            return response
        if fault == "hang":
            await asyncio.sleep(self.settings.hang_seconds)
            return _error(504, "Timeout", "simulated hang ended")

        choices = _structured_choices(body)
        if choices is not None and self.settings.structured_outputs == "reject":
            # As transformers serve answers a field it does not know (vLLM itself honours it).
            return _error(422, "UnprocessableEntity", "simulated server: unexpected field structured_outputs")
        finish = "stop"
        if fault == "malformed":
            text, kind = malformed_text(key), "malformed"
        else:
            text, kind = self._respond(parsed)
            text, finish = self._flaw(key, kind, text)
        if choices is not None and self.settings.structured_outputs == "honour":
            text, finish = constrain_to_choice(text, choices), "stop"
        if parsed.max_tokens is not None and count_tokens(text) > parsed.max_tokens:
            text, finish = truncate_tokens(text, parsed.max_tokens), "length"
        completion_tokens = count_tokens(text)
        prompt_tokens = sum(count_tokens(m["content"]) + 4 for m in parsed.messages)
        assert self._engine is not None
        await self._engine.generate(completion_tokens)

        self.counters.completed += 1
        self.counters.kinds[kind] += 1
        self.counters.prompt_tokens += prompt_tokens
        self.counters.completion_tokens += completion_tokens
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        base = {"id": f"{endpoint}-{uuid.uuid4().hex}", "created": int(time.time()), "model": parsed.model, "usage": usage}
        if endpoint == "chat":
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish, "logprobs": None}
            return web.json_response({**base, "object": "chat.completion", "choices": [choice]})
        choice = {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}
        return web.json_response({**base, "object": "text_completion", "choices": [choice]})

    def _fault(self, key: str, request: SimRequest) -> str | None:
        """The injected fault for this body's n-th occurrence, if any (readiness probes exempt)."""
        if request.endpoint == "completion" and (request.max_tokens or 0) <= 1:
            return None
        occurrence = self._seen[key]
        self._seen[key] += 1
        digest = hashlib.sha256(f"{self.settings.seed}|{key}|{occurrence}".encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64
        s = self.settings
        for kind, rate in (
            ("error", s.error_rate),
            ("rate_limit", s.rate_limit_rate),
            ("hang", s.hang_rate),
            ("malformed", s.malformed_rate),
        ):
            if u < rate:
                self.counters.faults[kind] += 1
                return kind
            u -= rate
        return None

    def _flaw(self, key: str, kind: str, text: str) -> tuple[str, str]:
        """The imperfect model's version of ``text`` (and its finish reason), chosen like faults."""
        s = self.settings
        digest = hashlib.sha256(f"{s.seed}|flaw|{key}".encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64
        if kind == "judge_responder":
            flaws = [("prose_verdict", s.prose_verdict_rate)]
        elif kind == "cot_responder":
            flaws = [("refusal", s.refusal_rate), ("bad_quote", s.bad_quote_rate), ("cut_off", s.cut_off_rate),
                     ("unformatted", s.unformatted_rate)]
        elif kind == "answer_responder":
            flaws = [("refusal", s.refusal_rate), ("cut_off", s.cut_off_rate), ("unformatted", s.unformatted_rate)]
        else:
            flaws = []
        for flaw, rate in flaws:
            if u < rate:
                self.counters.faults[flaw] += 1
                return flawed_text(flaw, text)
            u -= rate
        return text, "stop"

    def _respond(self, request: SimRequest) -> tuple[str, str]:
        if request.endpoint == "completion" and (request.max_tokens or 0) <= 1:
            return "ok", "probe"
        for responder in self.responders:
            text = responder(request)
            if text is not None:
                return text, getattr(responder, "__name__", "custom")
        return answer_responder(request), "answer_responder"


_PROSE_VERDICT = (
    "The candidate covers part of what the reference says, although it is phrased differently and "
    "leaves out a detail; on balance it could be accepted, depending on how strict the grading is."
)


def flawed_text(flaw: str, text: str) -> tuple[str, str]:
    """``text`` as an imperfect model writes it, with its finish reason."""
    if flaw == "prose_verdict":
        return _PROSE_VERDICT, "stop"
    if flaw == "refusal":
        return f"The documents do not contain the answer to this question.\n<ANSWER>: {_REFUSAL}", "stop"
    if flaw == "bad_quote":
        invented = "the records were moved to the old archive in the spring of that year"
        return re.sub(r"##begin_quote##.*?##end_quote##", f"##begin_quote##{invented}##end_quote##",
                      text, count=1, flags=re.DOTALL), "stop"
    if flaw == "cut_off":
        return truncate_tokens(text, max(1, count_tokens(text) // 2)), "length"
    if flaw == "unformatted":
        return re.sub(r"\n?<ANSWER>:\s*", "\nSo, in short: ", text), "stop"
    return text, "stop"


def _structured_choices(body: dict[str, Any]) -> list[str] | None:
    """The choice list of vLLM structured outputs in a request body (or its older guided_choice)."""
    structured = body.get("structured_outputs")
    if isinstance(structured, dict) and isinstance(structured.get("choice"), list):
        return [str(c) for c in structured["choice"]]
    if isinstance(body.get("guided_choice"), list):
        return [str(c) for c in body["guided_choice"]]
    return None


def constrain_to_choice(text: str, choices: list[str]) -> str:
    """What constrained decoding emits: the first choice the free text names, else the first choice."""
    lowered = text.lower()
    found = [(m.start(), c) for c in choices if (m := re.search(rf"\b{re.escape(c.lower())}\b", lowered))]
    return min(found)[1] if found else choices[0]


def _parse(body: dict[str, Any], endpoint: str) -> SimRequest:
    max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
    if max_tokens is not None:
        max_tokens = int(max_tokens)
        if max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
    if endpoint == "chat":
        raw = body["messages"]
        if not isinstance(raw, list) or not raw:
            raise ValueError("messages must be a non-empty list")
        messages = []
        for m in raw:
            content = m.get("content") or ""
            if isinstance(content, list):  # content parts: keep the text ones
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            messages.append({"role": str(m.get("role", "user")), "content": str(content)})
    else:
        prompt = body["prompt"]
        if isinstance(prompt, list):
            prompt = "".join(str(p) for p in prompt)
        messages = [{"role": "user", "content": str(prompt)}]
        if max_tokens is None:
            max_tokens = 16  # the OpenAI completions default
    return SimRequest(endpoint=endpoint, model=body["model"], body=body, messages=messages, max_tokens=max_tokens)


def _error(status: int, kind: str, message: str) -> web.Response:
    return web.json_response(
        {"object": "error", "message": message, "type": kind, "param": None, "code": status}, status=status
    )


# ---- CLI ------------------------------------------------------------------------------------


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m raft_sim.vllm_server",
        description="SIMULATED vLLM OpenAI-compatible server (tests and demos only; no model).",
    )
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--model", action="append", dest="models", help="served model name (repeatable)")
    parser.add_argument("--served-model-name", action="append", dest="models", help="alias of --model, as in vLLM")
    parser.add_argument("--slots", "--max-num-seqs", type=int, default=16, dest="slots")
    parser.add_argument("--step-base-ms", type=float, default=4.0)
    parser.add_argument("--step-per-seq-ms", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--rate-limit-rate", type=float, default=0.0)
    parser.add_argument("--retry-after", type=float, default=0.2)
    parser.add_argument("--hang-rate", type=float, default=0.0)
    parser.add_argument("--hang-seconds", type=float, default=3600.0)
    parser.add_argument("--malformed-rate", type=float, default=0.0)
    parser.add_argument("--api-key", default=os.environ.get("VLLM_API_KEY") or None,
                        help="require this bearer key on /v1 routes (default: $VLLM_API_KEY, as in vLLM)")
    parser.add_argument("--no-metrics", action="store_false", dest="metrics", help="serve no /metrics")
    parser.add_argument("--unformatted-rate", type=float, default=0.0)
    parser.add_argument("--refusal-rate", type=float, default=0.0)
    parser.add_argument("--bad-quote-rate", type=float, default=0.0)
    parser.add_argument("--cut-off-rate", type=float, default=0.0)
    parser.add_argument("--prose-verdict-rate", type=float, default=0.0)
    parser.add_argument("--structured-outputs", choices=["honour", "ignore", "reject"], default="honour")
    return parser.parse_args(argv)


def settings_from_args(args: argparse.Namespace) -> SimSettings:
    """:class:`SimSettings` from parsed CLI arguments."""
    return SimSettings(
        models=args.models or ["sim-model"],
        slots=args.slots,
        step_base=args.step_base_ms / 1000,
        step_per_seq=args.step_per_seq_ms / 1000,
        seed=args.seed,
        error_rate=args.error_rate,
        rate_limit_rate=args.rate_limit_rate,
        retry_after=args.retry_after,
        hang_rate=args.hang_rate,
        hang_seconds=args.hang_seconds,
        malformed_rate=args.malformed_rate,
        api_key=args.api_key,
        metrics=args.metrics,
        unformatted_rate=args.unformatted_rate,
        refusal_rate=args.refusal_rate,
        bad_quote_rate=args.bad_quote_rate,
        cut_off_rate=args.cut_off_rate,
        prose_verdict_rate=args.prose_verdict_rate,
        structured_outputs=args.structured_outputs,
    )


async def serve(settings: SimSettings, host: str, port: int) -> None:
    """Serve until SIGINT/SIGTERM."""
    server = SimulatedVLLMServer(settings, host=host, port=port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        print(
            f"SIMULATED vLLM server listening on {host}:{server.port} models={settings.models} "
            f"slots={settings.slots} capacity={settings.capacity_tokens_per_second:.1f} tokens/s",
            flush=True,
        )
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    """CLI entry point."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = _args(argv)
    asyncio.run(serve(settings_from_args(args), args.host, args.port))


@contextlib.asynccontextmanager
async def serving(settings: SimSettings | None = None, **kwargs: Any) -> AsyncIterator[SimulatedVLLMServer]:
    """``async with serving(SimSettings(...)) as server`` (shorthand for the class)."""
    server = SimulatedVLLMServer(settings, **kwargs)
    async with server:
        yield server


if __name__ == "__main__":
    main()
