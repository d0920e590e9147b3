"""The stages whose work is one batch child (a RayJob, a TrainJob or PyTorchJob, a Job): the one
sequence every such stage runs, and the hooks where they differ."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Mapping

from ..builders.common import Manifest
from ..child_status import Outcome
from .base import Pass, Stage


@dataclass(frozen=True)
class Fraction:
    """How a batch stage shows its progress: 'chunks 30/120 (25%)' from two counters of its report."""

    label: str
    done: str  # the report's field counting what is done
    total: str  # the report's field counting all there is to do
    fallback: str  # shown until the program reports both

    def text(self, report: Mapping[str, Any]) -> str:
        """status.progress for ``report``."""
        done, total = report.get(self.done), report.get(self.total)
        if isinstance(done, int) and isinstance(total, int):
            return f"{self.label} {done}/{total} ({100 * done // max(total, 1)}%)"
        return self.fallback


@dataclass(frozen=True, kw_only=True)
class BatchStage(Stage):
    """A stage that runs one batch child to its end.

    Each pass: whatever the child needs first (:meth:`prepare`), then ensure the child, un-suspend
    it, show its progress, and read its outcome: pending until it exists, Kueue's word while Kueue
    holds it, its controller's otherwise, then what its pods say while it runs. Once the child
    succeeded, the stage lets go of what it kept running (:meth:`~Stage.release`).
    """

    progress: Fraction
    # Whether Kueue's "queued" replaces the child's own state while Kueue holds it.
    shows_queue: bool = True

    def batch(self, p: Pass) -> Manifest:
        """Its batch child."""
        raise NotImplementedError

    def servers(self, p: Pass) -> list[Manifest]:
        """The servers the stage runs for its batch child (eval's student servers); none by default."""
        return []

    def children(self, p: Pass) -> list[Manifest]:
        return self.servers(p) + [self.batch(p)]

    def prepare(self, p: Pass, started: dt.datetime, servers: list[Manifest], child: Manifest) -> Outcome | None:
        """Bring up what the batch ``child`` needs (its ``servers``, the teacher); an Outcome to
        return instead while that is not there (or failed), None to go on to the child."""
        return None

    def pending_message(self, kind: str) -> str:
        """The condition's message once the child is created, before it is observed."""
        return f"{kind} created"

    def succeeded(self, p: Pass, child: Manifest) -> tuple[str, str]:
        """The condition's (reason, message) once the child succeeded."""
        raise NotImplementedError

    def running_message(self, kind: str, outcome: Outcome) -> str:
        """The condition's message while the child runs."""
        raise NotImplementedError

    def reconcile(self, p: Pass) -> Outcome:
        """The batch sequence, the same for every batch stage (see the class)."""
        servers, child = self.servers(p), self.batch(p)
        started = p.stage_started(self.name, servers + [child])
        waiting = self.prepare(p, started, servers, child)
        if waiting is not None:
            return waiting
        kind, name = child["kind"], child["metadata"]["name"]
        p.ensure(child)
        p.set_suspend(child, False)
        p.status["progress"] = self.progress.text(p.progress_data.get(self.progress_key or "") or {})
        current = p.observed.get(kind, name)
        if current is None:
            p.condition(self.condition, False, "Pending", self.pending_message(kind))
            return Outcome()
        outcome = self.outcome(current)
        unmanaged, queued = p.queued(kind, name)
        if unmanaged:
            return unmanaged
        if queued and self.shows_queue:
            outcome = Outcome(message=queued)
        if outcome.succeeded:
            p.condition(self.condition, True, *self.succeeded(p, child))
            self.release(p)
        elif not outcome.failed:
            p.condition(self.condition, False, "Running", self.running_message(kind, outcome))
        return self.watch_pods(p, outcome, child)

    def watch_pods(self, p: Pass, outcome: Outcome, child: Manifest) -> Outcome:
        """A running child's outcome, failed or annotated by what its pods report. A child failed
        here is suspended, so its controller deletes its pods and nothing waits for GPUs."""
        if outcome.succeeded or outcome.failed:
            return outcome
        stuck = p.stuck_pods(self.component)
        if stuck is None:
            return outcome
        if stuck.failed:
            p.set_suspend(child, True)
            return stuck
        p.condition(self.condition, False, stuck.reason, stuck.message, warn=True)
        return Outcome(reason=stuck.reason, message=stuck.message)
