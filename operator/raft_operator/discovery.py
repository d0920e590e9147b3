"""Which optional APIs the cluster serves: Kubeflow Trainer's TrainJob, the training operator's
PyTorchJob, Kueue's Workload. Read from API discovery (allowed to every authenticated user) and
kept for a few minutes, so a Trainer installed later is picked up without a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from kubernetes import client
from kubernetes.client.rest import ApiException

from . import child_kinds

log = logging.getLogger(__name__)

# kind → (group, version, plural) of the kinds an add-on serves (child_kinds: optional).
OPTIONAL_APIS: dict[str, tuple[str, str, str]] = {
    k.kind: (k.group, k.version, k.plural) for k in child_kinds.KINDS.values() if k.optional}
REFRESH_SECONDS = 300.0

Lister = Callable[[str, str], set[str]]  # (group, version) → plurals served


def _plurals(group: str, version: str) -> set[str]:
    try:
        listing = client.CustomObjectsApi().get_api_resources(group, version)
    except ApiException as exc:
        if exc.status == 404:
            return set()
        raise
    return {r.name for r in listing.resources or []}


def served_kinds(lister: Lister = _plurals) -> frozenset[str]:
    """The kinds of :data:`OPTIONAL_APIS` the cluster serves now."""
    out = set()
    for kind, (group, version, plural) in OPTIONAL_APIS.items():
        if plural in lister(group, version):
            out.add(kind)
    return frozenset(out)


class ServedApis:
    """:func:`served_kinds`, cached; None until the first successful discovery."""

    def __init__(self, lister: Lister = _plurals, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self._lister = lister
        self._refresh = refresh_seconds
        self._value: frozenset[str] | None = None
        self._at = 0.0
        self._lock = threading.Lock()

    def get(self) -> frozenset[str] | None:
        """The served kinds, rediscovered when older than the refresh interval."""
        with self._lock:
            if self._value is None or time.monotonic() - self._at > self._refresh:
                try:
                    value = served_kinds(self._lister)
                except Exception as exc:  # noqa: BLE001 - keep the last answer through API hiccups
                    log.warning("API discovery failed: %s", exc)
                    return self._value
                if value != self._value:
                    log.info("optional APIs served: %s", ", ".join(sorted(value)) or "none")
                self._value, self._at = value, time.monotonic()
            return self._value
