"""Runs whose last reconcile changed nothing are skipped until something changes, and runs at
rest have no timer at all.

A finished or suspended run whose last pass had nothing left to release says so in its status
(``Reconciling=False`` at its current generation); :func:`needs_timer` is the timer's filter, so
Kopf stops that run's timer when the status says so and starts it again when the spec changes
(a new generation: resuming, or any edit). A thousand finished runs then cost no API requests, no
reconcile work and no timer wake-ups, also after the operator restarts.

A run keeps its timer (Kopf runs one per RaftRun), but once a pass over it wrote nothing (no
child created, patched or deleted, no status change, no Event), the next pass with the same
inputs would do the same. Its inputs are the run's spec (its ``metadata.generation``), its
children as the indexes saw them (each child's ``resourceVersion``, the progress ConfigMap's
included, so every progress report is seen), the optional kinds the cluster serves, the add-ons
found too old, and the clock. So the timer compares that fingerprint and returns at once while it
is unchanged:

- a finished or suspended run depends on nothing else, and a thousand of them cost no API
  requests and no reconcile work until a new generation (resuming is one) or a changed child;
- a running run's pass may also depend on the clock (a start-up timeout, a pending-pod or Kueue
  deadline): the pass says when (``Plan.recheck_at``), and the run is skipped until then, and at
  most :data:`MAX_QUIET_SECONDS` in any case;
- a pass that read something outside its inputs (the teacher's readiness probe, the preflight's
  reads of claims and Secrets) never settles.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from . import api
from .conditions import get_condition
from .observed import Observed
from .plan import Plan

Fingerprint = tuple[Any, ...]
SETTLING_PHASES = api.TERMINAL_PHASES | {api.SUSPENDED}
# A running run that settled is still reconciled this often: a safety net for a clock dependency
# a pass did not declare, so that no run can wait for ever on a mistake here.
MAX_QUIET_SECONDS = 300.0


def at_rest(body: Mapping[str, Any]) -> bool:
    """Whether a run is finished or suspended and its last pass, at its current generation, had
    nothing left to do (``Reconciling=False``)."""
    status = body.get("status") or {}
    if status.get("phase") not in SETTLING_PHASES:
        return False
    if status.get("observedGeneration") != (body.get("metadata") or {}).get("generation"):
        return False
    reconciling = get_condition(status.get("conditions") or [], api.RECONCILING)
    return reconciling is not None and reconciling.get("status") == "False"


def needs_timer(body: Mapping[str, Any], **_: Any) -> bool:
    """The reconcile timer's filter: every run that is not :func:`at_rest`."""
    return not at_rest(body)


def fingerprint(generation: int | None, observed: Observed, served: frozenset[str] | None = None,
                addons: Mapping[str, str] | None = None) -> Fingerprint:
    """What a run's reconcile depends on besides the clock: spec generation, children's versions,
    served kinds, add-ons too old."""
    children = sorted((kind, name, s.get("resourceVersion")) for (kind, name), s in observed.objects.items())
    pods = sorted((p["name"], p.get("resourceVersion")) for p in observed.pods)
    return (generation, tuple(children), tuple(pods), tuple(sorted(served)) if served is not None else None,
            tuple(sorted(addons.items())) if addons is not None else None)


def wrote_nothing(plan: Plan, status_changes: dict[str, Any]) -> bool:
    """Whether a pass changed nothing: no child writes, no Events, no status patch."""
    return not (plan.create or plan.patch or plan.delete or plan.events or status_changes)


class SettledRuns:
    """Fingerprints of runs whose last pass wrote nothing, with how long they hold, by run uid."""

    def __init__(self) -> None:
        self._settled: dict[str, tuple[Fingerprint, dt.datetime | None]] = {}

    def __len__(self) -> int:
        return len(self._settled)

    def skip(self, uid: str, current: Fingerprint, now: dt.datetime) -> bool:
        """Whether the run settled with exactly these inputs and its recheck time has not come."""
        entry = self._settled.get(uid)
        if entry is None or entry[0] != current:
            return False
        return entry[1] is None or now < entry[1]

    def record(self, uid: str, current: Fingerprint, phase: str | None, plan: Plan | None, wrote: bool,
               now: dt.datetime) -> None:
        """Remember a run after a pass that wrote nothing (until when, for a running run); forget it otherwise."""
        if plan is None or wrote or plan.external:
            self._settled.pop(uid, None)
        elif phase in SETTLING_PHASES:
            self._settled[uid] = (current, None)
        else:
            quiet_until = now + dt.timedelta(seconds=MAX_QUIET_SECONDS)
            self._settled[uid] = (current, min(plan.recheck_at, quiet_until) if plan.recheck_at else quiet_until)

    def forget(self, uid: str) -> None:
        """The run is gone."""
        self._settled.pop(uid, None)
