"""The run's model-server API key: only the run's own pods can call its teacher and students.

The operator generates one random key per run and keeps it in the Secret ``<run>-server-key``,
owned by the run (:mod:`raft_operator.server_keys` creates it). The vLLM servers read it from
the environment variable ``VLLM_API_KEY`` (vLLM then requires ``Authorization: Bearer <key>``
on every ``/v1`` route; ``/health`` stays open for the kubelet's probes); the programs get it
as :data:`CLIENT_ENV` and send it as their bearer token. The key never appears in a command
line, run.yaml or a log.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

from ..run import Run
from .common import Manifest, metadata

SECRET_KEY = "api-key"
SERVER_ENV = "VLLM_API_KEY"  # read by vLLM itself
CLIENT_ENV = "RAFT_SERVER_API_KEY"  # named by run.yaml's apiKeyEnv for the run's own servers


def secret_name(run: Run) -> str:
    """Name of the Secret holding the run's server key."""
    return f"{run.name}-server-key"


def generate_key() -> str:
    """A fresh random key (256 bits)."""
    return secrets.token_urlsafe(32)


def secret(run: Run, key: str) -> Manifest:
    """The Secret ``<run>-server-key``, owned by the run."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(run, secret_name(run), "server-key"),
        "type": "Opaque",
        "data": {SECRET_KEY: base64.b64encode(key.encode()).decode()},
    }


def key_from(secret_data: dict[str, str] | None) -> str | None:
    """The key from a Secret's ``data`` (base64), or None when absent."""
    encoded = (secret_data or {}).get(SECRET_KEY)
    return base64.b64decode(encoded).decode() if encoded else None


def _env(var: str, run: Run) -> dict[str, Any]:
    return {"name": var, "valueFrom": {"secretKeyRef": {"name": secret_name(run), "key": SECRET_KEY}}}


def server_env(run: Run) -> list[dict[str, Any]]:
    """Environment of a vLLM server container: its API key."""
    return [_env(SERVER_ENV, run)]


def client_env(run: Run) -> list[dict[str, Any]]:
    """Environment of a program that calls the run's servers."""
    return [_env(CLIENT_ENV, run)]
