"""A pool of async OpenAI-compatible clients over the replicas of one served model.

Used by datagen (the teacher) and eval (the judge and the models under test). One
:class:`LLMPool` wraps one ``AsyncOpenAI`` client per base URL (``…/v1``) and adds what the
OpenAI SDK leaves to the caller when talking to self-hosted vLLM replicas:

* **spreading**: every attempt goes to the least-loaded replica that is not cooling down
  after a failure (ties broken round-robin);
* **bounded concurrency**: at most ``max_in_flight`` requests in flight over the whole pool,
  or, with ``adaptive`` settings, a limit per replica that follows the server's queue
  (:mod:`raft_jobs.common.concurrency`: vLLM's ``/metrics`` gauges where the server has them,
  else the throughput the client sees), capped by ``adaptive.maximum``;
* **retries** with exponential backoff and jitter on timeouts, connection errors, 429
  (``Retry-After`` honoured) and 5xx; a total per-request timeout; a retry may land on
  another replica;
* **a circuit** per replica: a replica that fails every request for longer than
  ``down_after`` seconds makes every call raise :class:`EndpointDownError`, naming it, so a
  run fails with a message people can act on instead of retrying forever;
* **counters**: requests, retries, failures by kind, prompt/completion tokens (from ``usage``).

Typical use::

    async with LLMPool.from_endpoint(config.teacher, max_in_flight=32) as pool:
        await pool.wait_ready(timeout=300)
        result = await pool.chat_completion(messages, max_tokens=512, temperature=0.7, seed=1)
        result.text, result.completion_tokens

``pool.chat(messages, max_tokens=..., temperature=...)`` returns just the text (the eval
runner's ``ChatClient`` protocol: ``name``, ``endpoints``, ``chat``, ``check``, ``close``).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import heapq
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion

from .replicas import replica_urls
from .concurrency import AdaptiveLimit, AdaptiveSettings, ServerLoad, parse_server_load
from raft_api.runconfig import Endpoint

try:  # the HTTP library of the installed OpenAI SDK (httpx2 from SDK 3, httpx before)
    import httpx2 as _httpx
except ImportError:  # pragma: no cover - older SDKs
    import httpx as _httpx  # type: ignore[no-redef]

log = logging.getLogger(__name__)

Message = dict[str, str]


class LLMError(RuntimeError):
    """Base class of the errors raised by :class:`LLMPool`."""


class RequestFailedError(LLMError):
    """One request failed for good: retries exhausted, or a 4xx other than 429.

    Not fatal by itself; callers usually count it and move on. ``status`` is the last HTTP
    status (None for timeouts and connection errors).
    """

    def __init__(self, message: str, *, endpoint: str, status: int | None, attempts: int) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.status = status
        self.attempts = attempts

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across processes (Ray)
        return (_rebuild, (type(self), (str(self),), self.__dict__))


class FatalRequestError(LLMError):
    """A request the server will never accept (401/403/404: bad key, unknown model or path)."""


class EndpointDownError(LLMError):
    """A replica failed every request for longer than the pool's ``down_after`` limit."""

    def __init__(self, endpoint: str, down_for: float, failures: int, last_error: str) -> None:
        super().__init__(
            f"model endpoint {endpoint} has been down for {down_for:.1f}s "
            f"({failures} consecutive failures; last: {last_error}). Check that the server "
            "behind it is running and serving the configured model."
        )
        self.endpoint = endpoint
        self.down_for = down_for
        self.failures = failures
        self.last_error = last_error

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across processes (Ray)
        return (_rebuild, (type(self), (self.endpoint, self.down_for, self.failures, self.last_error), {}))


def _rebuild(cls: type[Exception], args: tuple[Any, ...], state: dict[str, Any]) -> Exception:
    if cls is RequestFailedError:
        exc = Exception.__new__(cls)
        Exception.__init__(exc, *args)
    else:
        exc = cls(*args)
    exc.__dict__.update(state)
    return exc


@dataclass
class RetryPolicy:
    """How hard the pool tries. Delays in seconds."""

    max_retries: int = 5  # retries after the first attempt, per request
    timeout: float = 120.0  # total time for one attempt
    backoff_base: float = 0.5  # first retry waits about this long, then doubles
    backoff_max: float = 20.0
    max_retry_after: float = 60.0  # cap on a server's Retry-After
    down_after: float = 300.0  # a replica failing this long (no success) fails every call
    min_failures_for_down: int = 3
    # While every replica is failing, keep retrying past max_retries until the circuit opens:
    # a whole teacher being restarted must not turn into thousands of failed requests.
    wait_while_all_down: bool = True

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Delay before retry number ``attempt`` (1-based): exponential, capped, jittered."""
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return ceiling * rng.uniform(0.5, 1.0)


@dataclass
class ChatResult:
    """One successful completion."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    endpoint: str
    attempts: int
    finish_reason: str | None = None


@dataclass
class PoolStats:
    """Counters over the pool's lifetime (all requests, all replicas)."""

    requests: int = 0  # calls made by the caller
    succeeded: int = 0
    failed: int = 0  # RequestFailedError / FatalRequestError raised
    attempts: int = 0  # HTTP requests sent
    retries: int = 0  # attempts - first attempts
    timeouts: int = 0
    connection_errors: int = 0
    rate_limited: int = 0  # 429
    server_errors: int = 0  # 5xx
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def as_dict(self) -> dict[str, int]:
        """A JSON-ready copy."""
        return dict(self.__dict__)


@dataclass
class EndpointState:
    """Health and load of one replica."""

    url: str
    client: Any
    in_flight: int = 0
    served: int = 0
    consecutive_failures: int = 0
    failing_since: float | None = None  # first failure since the last success
    cooldown_until: float = 0.0
    last_error: str = ""
    stats: dict[str, int] = field(default_factory=lambda: {"ok": 0, "failed": 0})
    adaptive: AdaptiveLimit | None = None  # this replica's in-flight limit, when adaptive
    metrics_misses: int = 0  # /metrics answers without vLLM's gauges, in a row

    @property
    def limit(self) -> int | None:
        """This replica's current in-flight limit (None: only the pool-wide bound applies)."""
        return self.adaptive.limit if self.adaptive is not None else None


class PrioritySlots:
    """A semaphore whose waiters are served lowest ``priority`` first (FIFO among equals)."""

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = 0

    async def acquire(self, priority: int = 0) -> None:
        """Wait for a free slot."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._waiters, (priority, self._seq, future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():  # granted just as we were cancelled
                self.release()
            raise

    def release(self) -> None:
        """Hand the slot to the first live waiter, or free it."""
        self._free += 1
        self._wake()

    def resize(self, delta: int) -> None:
        """Add ``delta`` slots (negative: remove; slots in use are taken back as they are released)."""
        self._free += delta
        self._wake()

    @property
    def waiting(self) -> int:
        """Callers waiting for a slot."""
        return sum(1 for _, _, future in self._waiters if not future.done())

    def _wake(self) -> None:
        while self._free > 0 and self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                self._free -= 1
                future.set_result(None)


class LLMPool:
    """Async client for one model served by one or more OpenAI-compatible replicas."""

    def __init__(
        self,
        endpoints: Sequence[str],
        model: str,
        *,
        api_key: str = "EMPTY",
        policy: RetryPolicy | None = None,
        max_in_flight: int | None = None,
        adaptive: AdaptiveSettings | None = None,
        name: str = "",
        seed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        client_factory: Callable[[str], Any] | None = None,
    ) -> None:
        urls = [str(u).rstrip("/") for u in endpoints if str(u).strip()]
        if not urls:
            raise ValueError(f"{name or model}: no endpoints configured")
        if not model:
            raise ValueError(f"{name or urls[0]}: no model name configured")
        self.name = name or model
        self.model = model
        self.policy = policy or RetryPolicy()
        self.stats = PoolStats()
        self._clock = clock
        self._rng = random.Random(seed)
        self._rr = 0
        if adaptive is not None and max_in_flight:
            raise ValueError(f"{self.name}: max_in_flight (fixed) and adaptive exclude each other")
        self.adaptive = adaptive
        connections = max(100, 2 * (max_in_flight or 0), 2 * (adaptive.maximum if adaptive else 0))
        factory = client_factory or (lambda url: _openai_client(url, api_key, self.policy.timeout, connections))
        self._states = [
            EndpointState(url=u, client=factory(u), adaptive=AdaptiveLimit(adaptive) if adaptive else None)
            for u in urls
        ]
        if adaptive is not None:
            self._limit = sum(s.limit or 0 for s in self._states)
        else:
            self._limit = max_in_flight or 0
        self._semaphore = PrioritySlots(self._limit) if self._limit else None
        self._api_key = api_key
        self._metrics_http: Any = None
        self._monitor: asyncio.Task[None] | None = None
        self._down: EndpointDownError | None = None

    @classmethod
    def from_endpoint(
        cls,
        endpoint: Endpoint,
        *,
        max_in_flight: int | None = None,
        adaptive: AdaptiveSettings | None = None,
        timeout: float = 120.0,
        max_retries: int = 5,
        down_after: float | None = None,
        name: str = "",
        seed: int | None = None,
    ) -> LLMPool:
        """A pool for a run config :class:`Endpoint` (endpoints, model, API key from its env var).

        ``max_in_flight`` fixes the requests in flight over all replicas; ``adaptive`` instead
        lets each replica's limit follow its server (see the module docstring).
        """
        policy = RetryPolicy(max_retries=max_retries, timeout=timeout)
        if down_after is not None:
            policy.down_after = down_after
        urls = replica_urls(endpoint.endpoints) if endpoint.resolve_replicas else endpoint.endpoints
        return cls(
            urls,
            endpoint.model,
            api_key=endpoint.api_key(),
            policy=policy,
            max_in_flight=max_in_flight,
            adaptive=adaptive,
            name=name,
            seed=seed,
        )

    @property
    def limit(self) -> int | None:
        """Requests allowed in flight now over all replicas (None: unbounded)."""
        return self._limit or None

    @property
    def endpoints(self) -> list[str]:
        """The replicas' base URLs."""
        return [s.url for s in self._states]

    def endpoint_states(self) -> list[EndpointState]:
        """Per-replica health and load (read-only use)."""
        return list(self._states)

    async def __aenter__(self) -> LLMPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop adapting and close every replica's HTTP connections."""
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
            self._monitor = None
        if self._metrics_http is not None:
            await self._metrics_http.aclose()
            self._metrics_http = None
        for state in self._states:
            closer = getattr(state.client, "close", None)
            if closer is not None:
                await closer()

    # ---- requests -------------------------------------------------------------------------

    async def chat(
        self, messages: list[Message], *, max_tokens: int, temperature: float, extra_body: dict[str, Any] | None = None
    ) -> str:
        """The assistant message text for ``messages`` (see :meth:`chat_completion`)."""
        result = await self.chat_completion(
            messages, max_tokens=max_tokens, temperature=temperature, extra_body=extra_body
        )
        return result.text

    async def chat_completion(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        seed: int | None = None,
        extra_body: dict[str, Any] | None = None,
        priority: int = 0,
    ) -> ChatResult:
        """One chat completion (``/v1/chat/completions``) with retries over the replicas.

        When ``max_in_flight`` requests are already in flight, waiting requests go out lowest
        ``priority`` first: a caller with multi-step work gives its early steps a lower value
        so that later steps are always ready to keep the servers busy.

        Raises :class:`RequestFailedError` when retries run out (or on a 400/422),
        :class:`FatalRequestError` on 401/403/404, :class:`EndpointDownError` once a replica
        has been down past ``policy.down_after``.
        """
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if seed is not None:
            kwargs["seed"] = seed
        body = {**kwargs, **(extra_body or {})}

        async def call(client: Any) -> ChatResult:
            # The SDK's generic ``post`` sends the same request as ``chat.completions.create``
            # and parses the same ``ChatCompletion``, minus the per-call parameter
            # transformation, which costs about a millisecond of CPU per request: at a few
            # hundred requests per second per worker that is a large share of a core.
            response = await client.post("/chat/completions", body=body, cast_to=ChatCompletion)
            choice = response.choices[0]
            return _result(response, choice.message.content or "", choice.finish_reason)

        return await self._request(call, priority)

    async def completion(self, prompt: str, *, max_tokens: int, temperature: float = 0.0) -> ChatResult:
        """One legacy text completion (``/v1/completions``), e.g. a one-token readiness probe."""

        async def call(client: Any) -> ChatResult:
            response = await client.completions.create(
                model=self.model, prompt=prompt, max_tokens=max_tokens, temperature=temperature
            )
            choice = response.choices[0]
            return _result(response, choice.text or "", choice.finish_reason)

        return await self._request(call)

    async def check(self) -> None:
        """Raise :class:`LLMError` unless every replica answers ``/v1/models`` listing the model."""
        problems = []
        for state in self._states:
            try:
                async with asyncio.timeout(min(self.policy.timeout, 30.0)):
                    listing = await state.client.models.list()
                served = [m.id for m in listing.data]
            except Exception as exc:  # noqa: BLE001 - reported below, per replica
                problems.append(f"{state.url}: not answering ({_describe(exc)})")
                continue
            if self.model not in served:
                problems.append(f"{state.url}: serves {served}, not {self.model!r}")
        if problems:
            raise LLMError(f"{self.name}: " + "; ".join(problems))

    async def wait_ready(self, timeout: float, interval: float = 2.0) -> None:
        """Poll :meth:`check` until it passes; re-raise its last error after ``timeout`` seconds."""
        deadline = self._clock() + timeout
        while True:
            try:
                await self.check()
                return
            except LLMError as exc:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    raise
                log.info("waiting for %s: %s", self.name, exc)
            await asyncio.sleep(max(0.0, min(interval, remaining)))

    # ---- internals ------------------------------------------------------------------------

    async def _request(self, call: Callable[[Any], Any], priority: int = 0) -> ChatResult:
        self.stats.requests += 1
        if self.adaptive is not None and self._monitor is None:
            self._monitor = asyncio.get_running_loop().create_task(self._adapt())
        policy = self.policy
        attempt = 0
        while True:
            self._check_circuit()
            attempt += 1
            status: int | None = None
            retry_after: float | None = None
            if self._semaphore is not None:
                await self._semaphore.acquire(priority)
            # Pick only once a slot is free, so the choice sees the current load and health.
            state = self._pick()
            state.in_flight += 1
            if state.adaptive is not None:
                state.adaptive.note_in_flight(state.in_flight)
            self.stats.attempts += 1
            sent_at = self._clock()
            if attempt > 1:
                self.stats.retries += 1
            try:
                async with asyncio.timeout(policy.timeout):
                    result: ChatResult = await call(state.client)
            except (TimeoutError, openai.APITimeoutError) as exc:
                self.stats.timeouts += 1
                error = f"timed out after {policy.timeout:g}s" if isinstance(exc, TimeoutError) else _describe(exc)
                self._failed(state, error)
            except openai.APIConnectionError as exc:
                self.stats.connection_errors += 1
                error = _describe(exc)
                self._failed(state, error)
            except openai.APIStatusError as exc:
                status = exc.status_code
                error = _describe(exc)
                if status == 429:
                    self.stats.rate_limited += 1
                    retry_after = _retry_after(exc.response, policy.max_retry_after)
                    # Alive but busy: steer other requests away without counting it as down.
                    state.cooldown_until = self._clock() + (retry_after or policy.backoff_base)
                elif status >= 500:
                    self.stats.server_errors += 1
                    self._failed(state, error)
                else:
                    self.stats.failed += 1
                    state.stats["failed"] += 1
                    kind = FatalRequestError if status in (401, 403, 404) else RequestFailedError
                    message = f"{self.name}: {state.url} rejected the request: {error}"
                    if kind is FatalRequestError:
                        raise FatalRequestError(message) from exc
                    raise RequestFailedError(message, endpoint=state.url, status=status, attempts=attempt) from exc
            else:
                result.attempts = attempt
                result.endpoint = state.url
                self._succeeded(state, result, self._clock() - sent_at)
                return result
            finally:
                state.in_flight -= 1
                if self._semaphore is not None:
                    self._semaphore.release()

            if attempt > policy.max_retries and not (policy.wait_while_all_down and self._all_failing()):
                self.stats.failed += 1
                raise RequestFailedError(
                    f"{self.name}: gave up after {attempt} attempts; last from {state.url}: {error}",
                    endpoint=state.url,
                    status=status,
                    attempts=attempt,
                )
            delay = policy.backoff(min(attempt, 30), self._rng)
            if retry_after is not None:
                delay = max(delay, retry_after)
            log.debug("%s: retry %d in %.2fs after %s from %s", self.name, attempt, delay, error, state.url)
            await asyncio.sleep(delay)

    def _pick(self) -> EndpointState:
        """The least-loaded replica not cooling down; round-robin among equals."""
        now = self._clock()
        n = len(self._states)
        start = self._rr
        self._rr = (self._rr + 1) % n
        ordered = [self._states[(start + i) % n] for i in range(n)]
        ready = [s for s in ordered if s.cooldown_until <= now]
        if ready:
            return min(ready, key=lambda s: s.in_flight / (s.limit or 1))
        return min(ordered, key=lambda s: s.cooldown_until)

    def _failed(self, state: EndpointState, error: str) -> None:
        now = self._clock()
        state.consecutive_failures += 1
        state.stats["failed"] += 1
        state.last_error = error
        if state.failing_since is None:
            state.failing_since = now
        delay = self.policy.backoff(min(state.consecutive_failures, 30), self._rng)
        state.cooldown_until = max(state.cooldown_until, now + delay)

    def _succeeded(self, state: EndpointState, result: ChatResult, seconds: float) -> None:
        state.consecutive_failures = 0
        state.failing_since = None
        state.cooldown_until = 0.0
        state.served += 1
        state.stats["ok"] += 1
        self.stats.succeeded += 1
        self.stats.prompt_tokens += result.prompt_tokens
        self.stats.completion_tokens += result.completion_tokens
        if state.adaptive is not None:
            state.adaptive.record(result.completion_tokens, seconds)

    # ---- adaptive concurrency -------------------------------------------------------------

    async def _adapt(self) -> None:
        """Every interval: read each replica's load, update its limit, resize the slots."""
        assert self.adaptive is not None
        last = self._clock()
        while True:
            await asyncio.sleep(self.adaptive.interval)
            now = self._clock()
            # An event loop that wakes late was too busy to keep its requests going.
            lagging = now - last > 1.5 * self.adaptive.interval
            loads = await asyncio.gather(*(self._server_load(s) for s in self._states))
            for state, load in zip(self._states, loads):
                assert state.adaptive is not None
                state.adaptive.update(now - last, load, state.in_flight, lagging=lagging)
            last = self._clock()
            limit = sum(s.limit or 0 for s in self._states)
            if limit != self._limit:
                log.debug("%s: %d requests in flight allowed (%s)", self.name, limit,
                          ", ".join(f"{s.url}: {s.limit}" for s in self._states))
                assert self._semaphore is not None
                self._semaphore.resize(limit - self._limit)
                self._limit = limit

    async def _server_load(self, state: EndpointState) -> ServerLoad | None:
        """vLLM's scheduler gauges of one replica; None when unknown (its limit then follows throughput)."""
        assert state.adaptive is not None
        if state.adaptive.mode != "metrics":
            return None
        try:
            text = await self._read_metrics(metrics_url(state.url))
        except Exception as exc:  # noqa: BLE001 - a busy or restarting server: skip this interval
            log.debug("%s: no metrics from %s: %s", self.name, state.url, _describe(exc))
            return None
        load = parse_server_load(text) if text is not None else None
        if load is None:
            state.metrics_misses += 1
            if state.metrics_misses >= 2:
                log.info("%s: %s serves no vLLM metrics; adapting to throughput instead", self.name, state.url)
                state.adaptive.use_latency()
        else:
            state.metrics_misses = 0
        return load

    async def _read_metrics(self, url: str) -> str | None:
        """The body of ``url`` (None on 4xx: the server has no such page)."""
        if self._metrics_http is None:
            self._metrics_http = _httpx.AsyncClient(
                timeout=5.0, headers={"Authorization": f"Bearer {self._api_key}"}
            )
        response = await self._metrics_http.get(url)
        if 400 <= response.status_code < 500:
            return None
        response.raise_for_status()
        return response.text

    def _all_failing(self) -> bool:
        return all(s.failing_since is not None for s in self._states)

    def _check_circuit(self) -> None:
        if self._down is not None:
            raise self._down
        now = self._clock()
        for state in self._states:
            if (
                state.failing_since is not None
                and state.consecutive_failures >= self.policy.min_failures_for_down
                and now - state.failing_since > self.policy.down_after
            ):
                self._down = EndpointDownError(
                    state.url, now - state.failing_since, state.consecutive_failures, state.last_error
                )
                log.error("%s", self._down)
                raise self._down


def metrics_url(base_url: str) -> str:
    """Where a vLLM replica serves Prometheus metrics: ``/metrics`` beside its ``/v1`` API."""
    root = base_url.rstrip("/")
    if root.endswith("/v1"):
        root = root[: -len("/v1")]
    return root + "/metrics"


def _openai_client(url: str, api_key: str, timeout: float, connections: int) -> AsyncOpenAI:
    """An SDK client without its own retries, on the aiohttp transport when available.

    The aiohttp transport needs about half the CPU per request of the default httpx one,
    whose connection pool gets slow with hundreds of requests in flight.
    """
    limits = _httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    try:
        http_client = openai.DefaultAioHttpClient(timeout=timeout, limits=limits)
    except (AttributeError, RuntimeError):  # an older SDK, or aiohttp is not installed
        http_client = openai.DefaultAsyncHttpxClient(timeout=timeout, limits=limits)
    return AsyncOpenAI(base_url=url, api_key=api_key, timeout=timeout, max_retries=0, http_client=http_client)


def _result(response: Any, text: str, finish_reason: str | None) -> ChatResult:
    usage = getattr(response, "usage", None)
    return ChatResult(
        text=text,
        prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        endpoint="",
        attempts=1,
        finish_reason=finish_reason,
    )


def _describe(exc: BaseException) -> str:
    status = getattr(exc, "status_code", None)
    text = str(exc).strip() or type(exc).__name__
    if len(text) > 200:
        text = text[:200] + "…"
    return f"HTTP {status}: {text}" if status else f"{type(exc).__name__}: {text}"


def _retry_after(response: Any, cap: float) -> float | None:
    """Seconds from ``Retry-After`` / ``retry-after-ms`` (delta or HTTP date), capped."""
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return min(cap, max(0.0, float(millis) / 1000))
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return min(cap, max(0.0, float(value)))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(cap, max(0.0, parsed.timestamp() - time.time()))
