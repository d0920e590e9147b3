"""What a stage is: the declaration each stage module makes, and what a stage may ask of the
reconcile pass it runs in.

A stage is a plugin of the reconciler, in the way a runtime plugin is one of Kubeflow Trainer's
framework: it declares what status and the spec call it, and implements the hooks the reconciler
calls at fixed points (run one pass, suspend, release, fold its progress report). The reconciler
knows the stages only through :class:`Stage` and the ordered table in :mod:`raft_operator.stages`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from raft_api.progress import NOT_IN_STATUS

from .. import api, child_kinds, kueue
from ..builders.common import Manifest
from ..child_status import Outcome
from ..observed import Observed, Summary
from ..plan import Plan, Ref
from ..run import Run

ProbeResult = tuple[bool, str]  # (ok, detail)
Probe = Callable[[], ProbeResult]
ServerDeadline = tuple[str, int, bool]  # (what, seconds, whether the RaftRun sets it)


class Pass(Protocol):
    """One reconcile pass as a stage sees it (:mod:`raft_operator.reconciler` implements it): what
    it observed, the plan and status it builds, and the idempotent steps that build them."""

    run: Run
    observed: Observed
    now: dt.datetime
    plan: Plan
    status: dict[str, Any]
    probe: Probe | None
    training_kind: str  # TrainJob or PyTorchJob, chosen once per pass
    progress_data: dict[str, dict[str, Any]]  # the programs' typed reports, by progress key

    @property
    def conditions(self) -> list[dict[str, Any]]:
        """status.conditions."""
        ...

    def condition(self, ctype: str, status: bool, reason: str, message: str, *, warn: bool = False) -> None:
        """Set a condition; a change becomes an Event."""
        ...

    def ensure(self, manifest: Manifest | None) -> None:
        """Create ``manifest`` unless that child exists."""
        ...

    def scale(self, manifest: Manifest, replicas: int) -> None:
        """Create the server with ``replicas`` or patch it there."""
        ...

    def delete(self, manifest: Manifest) -> None:
        """Delete the child once, if it exists."""
        ...

    def set_suspend(self, manifest: Manifest, suspend: bool) -> None:
        """Patch a batch child's suspend flag when it differs (never un-suspending what Kueue queues)."""
        ...

    def queued(self, kind: str, name: str) -> tuple[Outcome | None, str]:
        """For a Kueue-queued child: (a failure when Kueue will never admit it, what its Workload says)."""
        ...

    def stuck_pods(self, component: str, deployments: tuple[str, ...] = (),
                   queue: kueue.ServerQueue = kueue.ServerQueue()) -> Outcome | None:
        """The oldest problem of a component's pods: failed past the pending deadline, else reported."""
        ...

    def stage_started(self, stage: str, children: list[Manifest]) -> dt.datetime:
        """Record the stage's start and children in status; when it started."""
        ...


@dataclass(frozen=True, kw_only=True)
class Stage:
    """One stage of the pipeline: its names in status and the spec, and the hooks a pass calls.

    A stage module subclasses it to implement the hooks and declares one instance, ``STAGE``.
    """

    name: str  # status.stage while it runs, and its key under status.stages
    phase: str  # status.phase while it runs
    condition: str  # its condition type in status.conditions
    component: str  # app.kubernetes.io/component of the pods of its own child
    deadline_field: str  # its deadline, as a path under spec (failurePolicy.datagenDeadlineSeconds)
    progress_key: str | None = None  # the key its program writes in the progress ConfigMap
    status_path: str | None = None  # status.<status_path> holds its folded progress report
    # (report field, key under status_path) for a report folded in parts; empty: the whole report.
    report_parts: tuple[tuple[str, str], ...] = ()

    def deadline(self, run: Run) -> int:
        """Its deadline in seconds: the value of ``spec.<deadline_field>``; ValueError where the
        spec has no such section (the start-up timeout of an external teacher)."""
        raise NotImplementedError

    def owner(self, names: api.ChildNames) -> str:
        """The name of its own child (its batch job, the teacher's server): Kueue's Workloads
        for it name it as their owner."""
        raise NotImplementedError

    def children(self, p: Pass) -> list[Manifest]:
        """Its children, as status.stages.<name>.children lists them."""
        raise NotImplementedError

    def batch(self, p: Pass) -> Manifest | None:
        """Its batch child, suspended with the run and queued by Kueue; None for a stage without one."""
        return None

    def outcome(self, child: Summary) -> Outcome:
        """Its batch child's state, read the way that kind's controller writes it
        (:mod:`raft_operator.child_status`, through the kind's entry in :mod:`raft_operator.child_kinds`)."""
        return child_kinds.outcome(child)

    def reconcile(self, p: Pass) -> Outcome:
        """One pass of the running stage: succeeded moves the run on, failed fails it, else it waits."""
        raise NotImplementedError

    def pause(self, p: Pass) -> None:
        """The run is suspended: scale the stage's servers to zero."""

    def release(self, p: Pass) -> None:
        """Its batch child succeeded, or the run ended: let go of what the stage keeps running."""

    def server_deadlines(self, run: Run) -> list[ServerDeadline]:
        """Start-up deadlines of its servers, which Kueue's waitForPodsReady timeout must cover."""
        return []

    def addon_kinds(self, p: Pass) -> set[str]:
        """The kinds of its children that an add-on serves (:mod:`raft_operator.addon_versions`)."""
        return set()

    def fold(self, status: dict[str, Any], report: dict[str, Any], run: Run) -> None:
        """Fold its progress report into ``status``: the whole report at status.<status_path>,
        less the fields only status.progress shows."""
        if self.status_path is not None:
            status[self.status_path] = {k: v for k, v in report.items() if k not in NOT_IN_STATUS}


def scale_to_zero(p: Pass, manifests: list[Manifest]) -> None:
    """Patch each server among ``manifests`` that has replicas to zero."""
    for manifest in manifests:
        current = p.observed.get(manifest["kind"], manifest["metadata"]["name"])
        if manifest["kind"] in child_kinds.SERVERS and current is not None and current.get("replicas"):
            p.plan.patch.append((Ref.of(manifest), {"spec": {"replicas": 0}}))
