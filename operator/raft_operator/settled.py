"""Finished and suspended runs whose last reconcile changed nothing are skipped until something changes.

A Succeeded, Failed or Suspended run keeps its timer (Kopf runs one per RaftRun), but once a pass over it
wrote nothing (no child created, patched or deleted, no status change, no Event), the next
pass with the same inputs would do the same. Its inputs are the run's spec (its
``metadata.generation``) and its children as the indexes saw them (each child's
``resourceVersion``), so the timer compares that fingerprint and returns at once while it
is unchanged: a thousand finished or suspended runs cost no API requests and no reconcile
work. A new generation (resuming is one) or any change to a child (a deleted ConfigMap, a
patched Deployment) makes the next tick reconcile again. Runs that are still going are never
skipped: their reconcile also depends on the clock (start-up timeouts, stuck children); a
suspended run's does not (it only holds its children suspended and its servers at zero).
"""

from __future__ import annotations

from typing import Any

from . import api
from .observed import Observed
from .reconciler import Plan

Fingerprint = tuple[Any, ...]
SETTLING_PHASES = api.TERMINAL_PHASES | {api.SUSPENDED}


def fingerprint(generation: int | None, observed: Observed) -> Fingerprint:
    """What a finished run's reconcile depends on: its spec generation and its children's versions."""
    children = sorted((kind, name, s.get("resourceVersion")) for (kind, name), s in observed.objects.items())
    pods = sorted((p["name"], p.get("resourceVersion")) for p in observed.pods)
    return (generation, tuple(children), tuple(pods))


def wrote_nothing(plan: Plan, status_changes: dict[str, Any]) -> bool:
    """Whether a pass changed nothing: no child writes, no Events, no status patch."""
    return not (plan.create or plan.patch or plan.delete or plan.events or status_changes)


class SettledRuns:
    """Fingerprints of finished or suspended runs whose last pass wrote nothing, by run uid."""

    def __init__(self) -> None:
        self._settled: dict[str, Fingerprint] = {}

    def __len__(self) -> int:
        return len(self._settled)

    def skip(self, uid: str, current: Fingerprint) -> bool:
        """Whether the run settled with exactly these inputs (then there is nothing to do)."""
        return self._settled.get(uid) == current

    def record(self, uid: str, current: Fingerprint, phase: str | None, settled: bool) -> None:
        """Remember a finished or suspended run after a pass that wrote nothing; forget it otherwise."""
        if settled and phase in SETTLING_PHASES:
            self._settled[uid] = current
        else:
            self._settled.pop(uid, None)

    def forget(self, uid: str) -> None:
        """The run is gone."""
        self._settled.pop(uid, None)
