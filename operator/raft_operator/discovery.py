"""Which optional APIs the cluster serves: Kubeflow Trainer's TrainJob, the training operator's
PyTorchJob, Kueue's Workload. Read from API discovery (allowed to every authenticated user) and
kept for a few minutes, so a Trainer installed later is picked up without a restart.

And which installed add-ons are older than the operator needs (:mod:`raft_operator.addon_versions`),
from their CustomResourceDefinitions. A CRD is read by a list with a name field selector: the
list verb on CRDs is the one the chart already grants (``rbac.kopfScanning``, for Kopf); without
it the check is skipped, with a warning. CRDs are large (a RayJob's is over a megabyte) and an
add-on is rarely upgraded, so they are read again only every :data:`ADDON_REFRESH_SECONDS`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Callable, Generic, TypeVar

from kubernetes import client
from kubernetes.client.rest import ApiException

from . import addon_versions, child_kinds

log = logging.getLogger(__name__)
T = TypeVar("T")

# kind → (group, version, plural) of the kinds an add-on serves (child_kinds: optional).
OPTIONAL_APIS: dict[str, tuple[str, str, str]] = {
    k.kind: (k.group, k.version, k.plural) for k in child_kinds.KINDS.values() if k.optional}
REFRESH_SECONDS = 300.0
ADDON_REFRESH_SECONDS = 1800.0

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


def read_crd(name: str) -> dict[str, Any] | None:
    """The CustomResourceDefinition ``name``, None when it is not installed (see the module doc for the list)."""
    response = client.ApiextensionsV1Api().list_custom_resource_definition(
        field_selector=f"metadata.name={name}", _preload_content=False)
    items = json.loads(response.data).get("items") or []
    return next((crd for crd in items if (crd.get("metadata") or {}).get("name") == name), None)


class _Cached(Generic[T]):
    """``compute()``'s answer, computed again when older than ``refresh_seconds``; None until one
    succeeds. A failure keeps the last answer; ``retry_failures``: the next call tries again, else
    only after the refresh interval."""

    def __init__(self, compute: Callable[[], T], refresh_seconds: float, what: str,
                 describe: Callable[[T], str], retry_failures: bool) -> None:
        self._compute, self._refresh, self._what, self._describe = compute, refresh_seconds, what, describe
        self._retry = retry_failures
        self._value: T | None = None
        self._at: float | None = None
        self._lock = threading.Lock()

    def get(self) -> T | None:
        """The answer, computed again when older than the refresh interval."""
        with self._lock:
            if self._at is None or time.monotonic() - self._at > self._refresh:
                try:
                    value = self._compute()
                except Exception as exc:  # noqa: BLE001 - keep the last answer through API hiccups
                    log.warning("%s failed: %s", self._what, exc)
                    if not self._retry:
                        self._at = time.monotonic()
                    return self._value
                if value != self._value:
                    log.info("%s: %s", self._what, self._describe(value))
                self._value, self._at = value, time.monotonic()
            return self._value


class ServedApis(_Cached[frozenset[str]]):
    """:func:`served_kinds`, cached; None until the first successful discovery, which is retried
    on every call until it succeeds (the training kind a run gets depends on it)."""

    def __init__(self, lister: Lister = _plurals, refresh_seconds: float = REFRESH_SECONDS) -> None:
        super().__init__(lambda: served_kinds(lister), refresh_seconds, "optional APIs served",
                         lambda kinds: ", ".join(sorted(kinds)) or "none", retry_failures=True)


class AddonChecks(_Cached[dict[str, str]]):
    """:func:`raft_operator.addon_versions.problems`, cached: kind → why its add-on is too old;
    None until the CRDs were read once (a 403 without the CRD list grant: not known)."""

    def __init__(self, reader: addon_versions.Reader = read_crd,
                 refresh_seconds: float = ADDON_REFRESH_SECONDS) -> None:
        super().__init__(lambda: addon_versions.problems(reader), refresh_seconds, "add-on version check",
                         lambda found: "; ".join(found.values()) or "every installed add-on is recent enough",
                         retry_failures=False)
