"""Making sure a run has its server key Secret, and reading the key for the teacher probe.

The Secret is created once per run, before any server or client pod (the timer calls
:func:`ensure_server_key` before it applies a plan) and read back by name after an operator
restart. The operator never lists or watches Secrets: it may only ``create`` them and ``get``
one by name (:mod:`raft_operator.permissions`). A Secret of that name that this RaftRun does
not control is refused, never adopted: whoever made it would know the key.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from . import permissions
from .builders import server_auth
from .errors import PermanentError
from .run import Run


class ForeignSecret(PermanentError):
    """A Secret with the run's server-key name exists and is not controlled by the run: the run fails."""

    def __init__(self, message: str) -> None:
        super().__init__("NameTaken", message)


def _controlled_by(secret: Any, run: Run) -> bool:
    owners = secret.metadata.owner_references or []
    return any(o.controller and o.uid == run.uid for o in owners)


def _read(core: client.CoreV1Api, run: Run) -> Any | None:
    permissions.require("Secret", permissions.GET)
    try:
        return core.read_namespaced_secret(server_auth.secret_name(run), run.namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def ensure_server_key(core: client.CoreV1Api, run: Run) -> str:
    """The run's server key, creating its Secret first when there is none."""
    existing = _read(core, run)
    if existing is None:
        key = server_auth.generate_key()
        permissions.require("Secret", permissions.CREATE)
        try:
            core.create_namespaced_secret(run.namespace, server_auth.secret(run, key))
            return key
        except ApiException as exc:
            if exc.status != 409:
                raise
        existing = _read(core, run)  # created meanwhile (a second operator replica)
    name = server_auth.secret_name(run)
    if existing is None or not _controlled_by(existing, run):
        raise ForeignSecret(f"Secret {name} exists and is not controlled by this RaftRun: it is never adopted "
                            f"(its author would know the servers' key); delete it or rename the RaftRun")
    key = server_auth.key_from(existing.data)
    if not key:
        raise ForeignSecret(f"Secret {name} has no {server_auth.SECRET_KEY!r} key")
    return key
