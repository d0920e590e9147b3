"""Which API errors fail a run and which are retried, and how each is told in one line.

A write the API server refuses in a way that a retry will not change (a 422 or 400 from
validation, a 403 for a kind, a 404 for a missing CRD, a name taken by an object of someone
else) is a :class:`PermanentError`: the run fails with the server's own cause. Everything else
(5xx, 429, timeouts, a lost connection) is transient: the run backs off and tries again
(:mod:`raft_operator.backoff`).
"""

from __future__ import annotations

import json

from kubernetes.client.rest import ApiException

PERMANENT_ON_CREATE = frozenset({400, 403, 404, 422})  # 404 on a collection: the CRD or namespace is missing
PERMANENT_ON_WRITE = frozenset({400, 403, 422})  # patch/delete: a 404 there is an object already gone
MAX_MESSAGE = 512


class PermanentError(Exception):
    """A refusal that no retry changes; the run fails with ``reason`` and this one-line message."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def api_cause(exc: ApiException) -> str:
    """The API server's own cause of an error (the Status message), on one line, without headers."""
    message = ""
    try:
        body = json.loads(exc.body) if exc.body else {}
        message = body.get("message", "") if isinstance(body, dict) else ""
    except (TypeError, ValueError):
        message = str(exc.body or "")
    text = message or exc.reason or "error"
    return one_line(f"{exc.status} {text}")


def one_line(text: str) -> str:
    """``text`` folded onto one line and bounded."""
    folded = " ".join(str(text).split())
    return folded if len(folded) <= MAX_MESSAGE else folded[: MAX_MESSAGE - 1] + "…"


def describe(exc: BaseException) -> str:
    """One line for any error: the API server's cause for API errors, else type and message."""
    if isinstance(exc, ApiException):
        return api_cause(exc)
    if isinstance(exc, PermanentError):
        return exc.message
    return one_line(f"{type(exc).__name__}: {exc}")


def refused(action: str, kind: str, name: str, exc: ApiException, permanent: frozenset[int]) -> Exception:
    """The error to raise for a refused write: permanent when its status is in ``permanent``."""
    if exc.status in permanent:
        return PermanentError(f"{kind}Rejected", f"{action} {kind} {name}: {api_cause(exc)}")
    return exc
