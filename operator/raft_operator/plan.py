"""What one reconcile pass decides: the writes to make, the new status, the Events to post."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from .builders.common import Manifest


@dataclass(frozen=True)
class Ref:
    """Identifies a child for a patch or a delete."""

    kind: str
    name: str

    @classmethod
    def of(cls, manifest: Manifest) -> "Ref":
        """The reference to the child ``manifest`` describes."""
        return cls(manifest["kind"], manifest["metadata"]["name"])


@dataclass
class Event:
    """A Kubernetes Event to post on the RaftRun."""

    type: str  # Normal or Warning
    reason: str
    message: str


@dataclass
class Plan:
    """What to do: create the absent, patch the drifted, delete the finished, write status."""

    create: list[Manifest] = field(default_factory=list)
    patch: list[tuple[Ref, dict[str, Any]]] = field(default_factory=list)
    delete: list[Ref] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    finished_stages: list[tuple[str, float]] = field(default_factory=list)  # (stage, seconds) for metrics
    # When the clock alone could change this plan (a timeout or deadline that has not passed yet);
    # None when only the run's spec or children can.
    recheck_at: dt.datetime | None = None
    # The plan read something outside the spec and the children (the teacher probe, the preflight).
    external: bool = False

    def recheck(self, at: dt.datetime) -> None:
        """The clock reaches a deadline this pass checked at ``at``."""
        self.recheck_at = at if self.recheck_at is None else min(self.recheck_at, at)
