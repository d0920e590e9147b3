"""How many requests to keep in flight to one model-server replica, found while running.

A server with continuous batching (vLLM) decodes up to ``max_num_seqs`` sequences together
and queues the rest. Its throughput rises with the requests in flight until every slot is
busy; past that, extra requests only wait. Callers do not know the slot count, so
:class:`AdaptiveLimit` finds it, one instance per replica and client:

* **with the server's metrics** (vLLM's ``/metrics`` gauges ``vllm:num_requests_running`` and
  ``vllm:num_requests_waiting``): while the client uses its whole limit and the server's
  queue is (nearly) empty, the limit grows, doubling at first (*slow start*), then by a few
  percent per interval; when requests queue, it is set to this client's share of what the
  server runs plus a queue of a quarter of that, once (requests already queued drain before
  the next cut). The queue is kept on purpose: a finished sequence's slot is refilled at once
  instead of after a client round trip, and the server stays busy while the client is briefly
  too busy to send (a burst of answers to parse). Slots the server has been seen to run and now leaves
  idle (another client finished) are taken at once;
* **without metrics**, from what the client sees: completion tokens per second over each
  interval. The limit grows while throughput keeps rising with it; when a step up brings
  less than a third of the proportional gain, the limit returns to the last good value and
  holds for a while before probing again.

The limit stays between ``minimum`` and ``maximum`` (the spec's cap). Pure logic: the caller
feeds observations (:meth:`AdaptiveLimit.record`, :meth:`AdaptiveLimit.note_in_flight`) and
calls :meth:`AdaptiveLimit.update` once per interval; :mod:`raft_jobs.common.llm` does that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

RUNNING_GAUGE = "vllm:num_requests_running"
WAITING_GAUGE = "vllm:num_requests_waiting"


@dataclass(frozen=True)
class ServerLoad:
    """A replica's scheduler gauges: sequences decoding and sequences queued for a slot."""

    running: float
    waiting: float


def parse_server_load(text: str) -> ServerLoad | None:
    """vLLM's scheduler gauges from a ``/metrics`` body (summed over label sets), or None.

    None when either gauge is missing: the server is not vLLM or serves no metrics.
    """
    found: dict[str, float] = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name in (RUNNING_GAUGE, WAITING_GAUGE):
                    found[sample.name] = found.get(sample.name, 0.0) + float(sample.value)
    except ValueError:  # not the Prometheus text format
        return None
    if RUNNING_GAUGE not in found or WAITING_GAUGE not in found:
        return None
    return ServerLoad(running=found[RUNNING_GAUGE], waiting=found[WAITING_GAUGE])


@dataclass
class AdaptiveSettings:
    """Tuning of :class:`AdaptiveLimit`; the defaults need no change for vLLM-like servers."""

    initial: int = 32
    minimum: int = 4
    maximum: int = 1024  # the spec's cap per replica
    interval: float = 0.5  # seconds between updates
    growth: float = 0.05  # relative growth per interval after slow start
    queue_allowance: float = 0.25  # queued requests kept, relative to the running ones (bridge client stalls)
    min_queue_allowance: int = 4
    gain_needed: float = 1 / 3  # latency mode: share of the proportional throughput gain needed to keep growing
    hold_intervals: int = 10  # latency mode: windows at the knee before probing again


def in_flight_options(fixed: int | None, max_per_replica: int, clients: int = 1) -> dict[str, Any]:
    """``LLMPool`` keyword arguments for a run config's ``concurrency``/``maxInFlightPerReplica``.

    A set ``fixed`` keeps exactly that many requests in flight; otherwise each replica's limit
    adapts, capped at this client's share of ``max_per_replica`` (``clients`` pools share it).
    """
    if fixed:
        return {"max_in_flight": fixed}
    return {"adaptive": AdaptiveSettings(maximum=max(1, -(-max_per_replica // max(1, clients))))}


class AdaptiveLimit:
    """The in-flight limit for one replica (see the module docstring)."""

    def __init__(self, settings: AdaptiveSettings | None = None) -> None:
        self.settings = settings or AdaptiveSettings()
        s = self.settings
        self.limit = 0
        self._set(s.initial)
        self.slow_start = True
        self.mode = "metrics"  # or "latency" once the server turns out to have no metrics
        self._tokens = 0
        self._peak_in_flight = 0
        self._latency = 0.0  # moving average of request seconds
        # Latency mode judges windows of a few request durations, skipping one after each change.
        self._window = _Window()
        self._settling = False
        self._last: tuple[int, float] | None = None  # (limit, tokens/s) of the previous window
        self._hold = 0
        self._queue_streak = 0  # readings in a row that showed a queue
        self._most_running = 0.0  # the most sequences the server was seen running: its slots, once full

    # ---- observations ----------------------------------------------------------------------

    def record(self, completion_tokens: int, seconds: float) -> None:
        """A request to this replica finished with ``completion_tokens`` tokens after ``seconds``."""
        self._tokens += completion_tokens
        self._latency = seconds if self._latency == 0 else 0.9 * self._latency + 0.1 * seconds

    def note_in_flight(self, in_flight: int) -> None:
        """This client now has ``in_flight`` requests at this replica."""
        if in_flight > self._peak_in_flight:
            self._peak_in_flight = in_flight

    # ---- decisions -------------------------------------------------------------------------

    def update(self, elapsed: float, load: ServerLoad | None, in_flight: int, *, lagging: bool = False) -> int:
        """Close an interval of ``elapsed`` seconds; returns the new limit.

        ``load`` is the server's gauges read just now (None in latency mode or when the read
        failed); ``in_flight`` is this client's current count at the replica; ``lagging``: the
        client's event loop woke late, so it was too busy to send and read at full speed.
        """
        saturated = self._peak_in_flight >= self.limit
        tokens, self._tokens = self._tokens, 0
        self._peak_in_flight = in_flight
        if load is not None:
            self._by_queue(load, in_flight, saturated and not lagging)
        elif self.mode == "latency":
            window = self._window
            window.add(tokens, elapsed, saturated)
            if window.seconds >= max(self.settings.interval, 2 * self._latency):
                self._window = _Window()
                before = self.limit
                if self._settling:
                    self._settling = False
                else:
                    self._by_throughput(window.tokens / window.seconds, window.saturated)
                self._settling = self.limit != before
        return self.limit

    def _by_queue(self, load: ServerLoad, in_flight: int, saturated: bool) -> None:
        s = self.settings
        self._most_running = max(self._most_running, load.running)
        allowance = max(s.min_queue_allowance, s.queue_allowance * load.running)
        if load.waiting > allowance:
            self._queue_streak += 1
            # One reading can catch requests that arrived since the last scheduler step and
            # get a slot at the next one: act on a queue seen twice in a row. Requests already
            # sent stay queued after a cut, so while this client is still above its limit the
            # last cut has not taken effect yet: no second one.
            if self._queue_streak < 2:
                return
            self.slow_start = False
            if in_flight <= self.limit:
                # Our share of what the server runs, plus our share of the allowed queue.
                share = in_flight / (load.running + load.waiting)
                self._set(math.floor(share * (load.running + allowance)))
            return
        self._queue_streak = 0
        # ``saturated`` is false for a client that lagged (busy parsing a burst of answers): the
        # server it left idle for a moment says nothing about its slots. The gauges may come
        # from one of several replicas behind a Service, so they are not compared with
        # ``in_flight``, which counts requests to all of them.
        if saturated:
            step = self.limit if self.slow_start else max(1, round(self.limit * s.growth))
            # Slots the server has shown it has and now leaves idle (another client finished):
            # take them at once; a shared overshoot is cut at the next queue.
            idle = math.floor(self._most_running - load.running)
            self._set(self.limit + max(step, idle))

    def _by_throughput(self, throughput: float, saturated: bool) -> None:
        s = self.settings
        last, self._last = self._last, (self.limit, throughput)
        if self._hold > 0:
            self._hold -= 1
            return
        if last is not None and self.limit > last[0] and last[1] > 0:
            relative_limit = self.limit / last[0] - 1
            relative_gain = throughput / last[1] - 1
            if relative_gain < s.gain_needed * relative_limit:
                # The step up did not pay: the server is full. Back to the last good limit.
                self.slow_start = False
                self._set(last[0])
                self._last = None
                self._hold = s.hold_intervals
                return
        if saturated:
            step = self.limit if self.slow_start else max(1, round(self.limit * s.growth * 2))
            self._set(self.limit + step)

    def use_latency(self) -> None:
        """The server has no usable metrics: decide from throughput from now on."""
        self.mode = "latency"

    def _set(self, limit: int) -> None:
        s = self.settings
        self.limit = max(min(s.minimum, s.maximum), min(s.maximum, int(limit)))


@dataclass
class _Window:
    """Completion tokens over some seconds, and whether the client used its whole limit."""

    tokens: int = 0
    seconds: float = 0.0
    saturated: bool = False

    def add(self, tokens: int, seconds: float, saturated: bool) -> None:
        self.tokens += tokens
        self.seconds += seconds
        self.saturated = self.saturated or saturated
