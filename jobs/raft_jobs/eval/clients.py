"""Model clients for eval: one :class:`raft_jobs.common.llm.LLMPool` per model and the judge.

Timeouts and retries come from ``eval.requestTimeoutSeconds`` and ``eval.maxRetries``; each
pool keeps ``eval.concurrency`` requests in flight, or, unset, adapts that number per replica
up to ``eval.maxInFlightPerReplica``. API keys come from the
environment variable named by each endpoint's ``apiKeyEnv``.
"""

from __future__ import annotations

from typing import Any

from raft_jobs.common.concurrency import in_flight_options
from raft_jobs.common.llm import LLMPool
from raft_api.runconfig import Endpoint, RunConfig


def make_client(name: str, endpoint: Endpoint, config: RunConfig, **overrides: Any) -> LLMPool:
    """The pool for ``endpoint`` under the eval settings of ``config``.

    ``overrides`` go to :meth:`LLMPool.from_endpoint` (tests shorten ``down_after``).
    """
    ev = config.eval
    options: dict[str, Any] = {
        **in_flight_options(ev.concurrency, ev.max_in_flight_per_replica),
        "timeout": ev.request_timeout_seconds,
        "max_retries": ev.max_retries,
        "name": name,
        "seed": 0,
    }
    options.update(overrides)
    return LLMPool.from_endpoint(endpoint, **options)
