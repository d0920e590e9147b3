"""The teacher readiness check: a one-token completion, the way a client would use the server.

The teacher is a workload of the run, so its answer is untrusted: the probe reads at most
:data:`MAX_RESPONSE_BYTES` and gives up after ``probe_timeout`` seconds in all, however
slowly the server drips its headers or body (a timer shuts the socket down at the deadline).
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import urllib.parse
from typing import Mapping

from . import api
from .run import Run
from .settings import Settings

MAX_RESPONSE_BYTES = 64 * 1024  # a one-token completion is well under 1 KiB


class ProbeError(Exception):
    """The probe got no usable answer in time."""


def bounded_post(url: str, body: bytes, *, headers: Mapping[str, str], timeout: float,
                 max_bytes: int = MAX_RESPONSE_BYTES) -> tuple[int, bytes]:
    """POST ``body`` to ``url``; ``(status, body)`` within ``timeout`` seconds and ``max_bytes`` bytes in all."""
    parts = urllib.parse.urlsplit(url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    deadline = time.monotonic() + timeout
    conn = connection_class(parts.hostname or "", parts.port, timeout=timeout)
    expired = threading.Event()

    def cut() -> None:
        expired.set()
        if conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    timer = threading.Timer(timeout, cut)
    timer.daemon = True
    timer.start()
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request("POST", path or "/", body=body, headers=dict(headers))
        response = conn.getresponse()
        data = b""
        while len(data) <= max_bytes:
            piece = response.read1(min(65536, max_bytes + 1 - len(data)))
            if not piece:
                break
            data += piece
        if len(data) > max_bytes:
            raise ProbeError(f"response larger than {max_bytes} bytes")
        if expired.is_set() or time.monotonic() > deadline:
            raise ProbeError(f"no complete answer within {timeout:g}s")
        return response.status, data
    except (OSError, http.client.HTTPException) as exc:
        if expired.is_set():
            raise ProbeError(f"no complete answer within {timeout:g}s") from exc
        raise ProbeError(str(exc) or type(exc).__name__) from exc
    finally:
        timer.cancel()
        conn.close()


def teacher_completion(run: Run, settings: Settings, api_key: str | None = None) -> tuple[bool, str]:
    """POST /v1/completions with max_tokens=1 to the teacher Service; (ok, detail)."""
    base = settings.endpoint_url_template.format(service=run.names.teacher, namespace=run.namespace,
                                                 port=api.SERVER_PORT).rstrip("/")
    model = run.vllm_teacher.model
    body = json.dumps({"model": model, "prompt": "Hello", "max_tokens": 1, "temperature": 0}).encode()
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    try:
        status, data = bounded_post(f"{base}/v1/completions", body, headers=headers, timeout=settings.probe_timeout)
    except ProbeError as exc:
        return False, f"{base}: {exc}"
    if status >= 400:
        return False, f"HTTP {status} from {base}: {data[:200].decode(errors='replace')}"
    try:
        payload = json.loads(data or b"{}")
    except ValueError as exc:
        return False, f"{base}: {exc}"
    if not isinstance(payload, dict) or not payload.get("choices"):
        return False, f"{base}: the completion had no choices"
    return True, "ok"
