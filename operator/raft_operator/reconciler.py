"""The reconciler: from a RaftRun and its observed children to a plan and the new status.

It is level-based and pure: given the same RaftRun, children and clock it returns the same
plan, whatever happened before (a restart, a retry, a duplicate event). It never talks to the
API; :mod:`raft_operator.apply` carries the plan out. The teacher probe is the one outside
fact it asks for, and only when the teacher Deployment is available and not yet confirmed.

Stages run in the order of the stage table (:mod:`raft_operator.stages`): teacher → datagen →
finetune → eval. A stage is finished when ``status.stages.<stage>.completionTime`` is set, so the
current stage is derived from status. A pass runs the current stage's hooks, and moves on through
the stages that finish in that same pass.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import replace
from typing import Any, Mapping

from . import addon_versions, api, child_kinds, kueue
from . import progress as reports
from .builders import configmaps, finetune, network_policy, storage, workload_rbac
from .builders.common import Manifest
from .builders.network_policy import NetworkPolicyOptions
from .child_status import MODEL_CHECK_FAILED, Outcome, PodProblem, deployment_problems, pod_problems
from .conditions import get_condition, one_line, set_condition
from .observed import Observed
from .plan import Event, Plan, Ref
from .run import Run
from .stages import FINETUNE, STAGES, TEACHER, Stage
from .stages.base import Probe, ProbeResult
from .stages.teacher import multi_node

# Plan, Ref and Event live in plan.py and Probe in stages/base.py; callers still import them from here.
__all__ = ["Event", "Plan", "Probe", "ProbeResult", "Ref", "fail_run", "needs_preflight", "reconcile"]

# Conditions whose changes are already told by the phase Event.
QUIET_CONDITIONS = frozenset({api.READY, api.STALLED, api.SUCCEEDED_CONDITION, api.RECONCILING})
INPUTS_READY = "InputsReady"  # preflight: every claim, Secret, class and queue the run names exists


def _ts(now: dt.datetime) -> str:
    return now.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(ts: str | None) -> dt.datetime | None:
    return dt.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc) if ts else None


def _not_before(problem: PodProblem, at: dt.datetime | None) -> PodProblem:
    """``problem``, lasting since ``at`` at the earliest (Kueue's admission of a pod that waited for quota)."""
    try:
        since = _parse(problem.since)
    except ValueError:
        since = None
    return replace(problem, since=_ts(at)) if at is not None and (since is None or since < at) else problem


class _Reconcile:
    """One reconcile pass; holds the run, what was observed, and the plan being built. It is the
    :class:`~raft_operator.stages.base.Pass` the stages' hooks run in."""

    def __init__(self, body: dict[str, Any], observed: Observed, now: dt.datetime, probe: Probe | None,
                 missing: list[str] | None = None, network: NetworkPolicyOptions = NetworkPolicyOptions(),
                 served: frozenset[str] | None = None, addons: Mapping[str, str] | None = None,
                 kueue_pods_ready_seconds: int = kueue.WAIT_FOR_PODS_READY_SECONDS) -> None:
        self.run = Run.from_body(body)
        self.missing = missing
        self.network = network
        self.observed = observed
        self.served = served
        self.addons = addons
        self.kueue_pods_ready_seconds = kueue_pods_ready_seconds
        existing = next((k for k in finetune.KINDS if observed.has(k, self.run.names.finetune)), None)
        self.training_kind, self.training_problem = finetune.choose_kind(
            self.run.spec.student.training_api, served, existing)
        self.now = now
        self.probe = probe
        self.plan = Plan()
        self.status: dict[str, Any] = copy.deepcopy(body.get("status") or {})
        self.status.setdefault("conditions", [])
        self.status.setdefault("stages", {})
        self.old_phase = self.status.get("phase")
        self.progress_data = self._progress_data()

    # ---- helpers -------------------------------------------------------------------------

    @property
    def conditions(self) -> list[dict[str, Any]]:
        return self.status["conditions"]

    def condition(self, ctype: str, status: bool, reason: str, message: str, *, warn: bool = False) -> None:
        """Set a condition; a change of its status or reason becomes an Event (Warning when ``warn``)."""
        before = get_condition(self.conditions, ctype)
        changed = set_condition(self.conditions, ctype, status, reason, message,
                                generation=self.run.generation, now=_ts(self.now))
        if ctype in QUIET_CONDITIONS or not (changed or (before or {}).get("reason") != reason):
            return
        self.plan.events.append(Event("Warning" if warn else "Normal", reason, f"{ctype}={status}: {message}"[:1024]))

    def ensure(self, manifest: Manifest | None) -> None:
        """Create ``manifest`` unless a child of that kind and name exists (never once the run ended)."""
        if self.status.get("phase") in api.TERMINAL_PHASES:
            return
        if manifest and not self.observed.has(manifest["kind"], manifest["metadata"]["name"]):
            self.plan.create.append(manifest)

    def scale(self, manifest: Manifest, replicas: int) -> None:
        """Create the Deployment (or LeaderWorkerSet) with ``replicas`` or patch it there."""
        name = manifest["metadata"]["name"]
        current = self.observed.get(manifest["kind"], name)
        if current is None or current["deleting"]:
            if replicas > 0:
                manifest["spec"]["replicas"] = replicas
                self.plan.create.append(manifest)
        elif current.get("replicas") != replicas:
            self.plan.patch.append((Ref.of(manifest), {"spec": {"replicas": replicas}}))

    def delete(self, manifest: Manifest) -> None:
        ref = Ref.of(manifest)
        # A pass may release the servers twice (eval succeeded, then the run): one DELETE each.
        if self.observed.get(manifest["kind"], manifest["metadata"]["name"]) and ref not in self.plan.delete:
            self.plan.delete.append(ref)

    def set_suspend(self, manifest: Manifest, suspend: bool) -> None:
        """Patch the batch child's suspend flag when it differs. Kueue owns un-suspending the
        children it queues, whether the run named a queue or Kueue's default LocalQueue took them."""
        kind, name = manifest["kind"], manifest["metadata"]["name"]
        current = self.observed.get(kind, name)
        if current is None or bool(current.get("suspend")) == suspend:
            return
        if not suspend and kueue.manages(current, self.observed.workloads_of(kind, name)):
            return
        self.plan.patch.append((Ref.of(manifest), child_kinds.of(kind).suspend_patch(suspend)))

    def queued(self, kind: str, name: str) -> tuple[Outcome | None, str]:
        """For a Kueue-queued child: (a failure when Kueue will never admit it, what its Workload says)."""
        current = self.observed.get(kind, name)
        workloads = self.observed.workloads_of(kind, name)
        if current is None or not current.get("suspend") or not kueue.manages(current, workloads):
            return None, ""
        problem = kueue.unmanaged(current, workloads, self.now)
        deadline = kueue.unmanaged_deadline(current, workloads)
        if deadline is not None and not problem:
            self.plan.recheck(deadline)
        failure = Outcome(failed=True, reason="KueueNotManaging", message=problem) if problem else None
        return failure, kueue.waiting(workloads)

    def queued_by_kueue(self) -> bool:
        """Whether Kueue queues the run's children: the run names a queue, or Kueue labelled or
        gated a child itself (a LocalQueue named default in the namespace)."""
        return (bool(self.run.queue_name) or any(kueue.manages(s, []) for s in self.observed.objects.values())
                or any(kueue.gated(p) for p in self.observed.pods))

    def check_kueue_deadlines(self) -> None:
        """Say so when Kueue's waitForPodsReady timeout would evict a server before its start-up deadline."""
        if not self.queued_by_kueue():
            return
        deadlines = [deadline for stage in STAGES for deadline in stage.server_deadlines(self.run)]
        problem = kueue.slower_than_pods_ready(deadlines, self.kueue_pods_ready_seconds)
        if problem:
            self.condition(api.KUEUE_DEADLINES, False, kueue.SLOWER_THAN_PODS_READY, problem, warn=True)
        elif get_condition(self.conditions, api.KUEUE_DEADLINES):
            self.condition(api.KUEUE_DEADLINES, True, "WithinWaitForPodsReady",
                           "every server's start-up timeout fits Kueue's waitForPodsReady timeout "
                           f"({self.kueue_pods_ready_seconds or 'off'})")

    def check_addons(self) -> None:
        """Say so when an add-on the run uses is older than the operator needs (it would drop fields)."""
        if self.addons is None:
            return
        used = {kind for stage in STAGES for kind in stage.addon_kinds(self)}
        if self.queued_by_kueue():
            used.add(child_kinds.WORKLOAD.kind)
        problems = [self.addons[kind] for kind in sorted(used) if kind in self.addons]
        if problems:
            self.condition(api.ADDONS_COMPATIBLE, False, addon_versions.TOO_OLD, "; ".join(problems), warn=True)
        elif get_condition(self.conditions, api.ADDONS_COMPATIBLE):
            self.condition(api.ADDONS_COMPATIBLE, True, "AddonsUpToDate",
                           "every add-on the run uses serves the fields the operator sets")

    def stage_status(self, stage: str) -> dict[str, Any]:
        """status.stages.<stage>, created empty."""
        return self.status["stages"].setdefault(stage, {})

    def stage_started(self, stage: str, children: list[Manifest]) -> dt.datetime:
        """Record the stage's start (once) and its children in status; when it started."""
        s = self.stage_status(stage)
        s.setdefault("startTime", _ts(self.now))
        names = [f"{m['kind']}/{m['metadata']['name']}" for m in children]
        s["children"] = sorted(set(s.get("children", [])) | set(names))
        return _parse(s["startTime"]) or self.now

    def finish_stage(self, stage: str) -> None:
        s = self.stage_status(stage)
        if "completionTime" not in s:
            s["completionTime"] = _ts(self.now)
            started = _parse(s.get("startTime")) or self.now
            self.plan.finished_stages.append((stage, (self.now - started).total_seconds()))

    def _progress_data(self) -> dict[str, dict[str, Any]]:
        cm = self.observed.get("ConfigMap", self.run.names.progress)
        return reports.read_reports((cm or {}).get("data"))

    # ---- the pass ------------------------------------------------------------------------

    def reconcile(self) -> Plan:
        self.status.setdefault("startTime", _ts(self.now))
        if self.missing is not None and self.status.get("phase") not in api.TERMINAL_PHASES:
            self.plan.external = True  # the preflight read claims, Secrets, classes and queues
            if self.missing:
                self.wait_for_inputs()
                self.finish_status()
                return self.plan
            self.condition(INPUTS_READY, True, "Found", "every claim, Secret, class and queue the run names exists")
        self.ensure_base_children()
        self.fold_progress()
        phase = self.status.get("phase")
        if phase in api.TERMINAL_PHASES:
            self.release_servers()
        elif self.run.spec.suspend:
            self.suspend()
        else:
            self.advance()
        self.finish_status()
        return self.plan

    def ensure_base_children(self) -> None:
        for manifest in (workload_rbac.build(self.run) + configmaps.build(self.run)
                         + network_policy.build(self.run, self.network)):
            self.ensure(manifest)
        pvc = storage.build(self.run)
        self.ensure(pvc)
        current = self.observed.get("PersistentVolumeClaim", self.run.names.pvc) if pvc else None
        if current is not None:
            want = storage.owner_references(self.run)
            have = [o for o in current["ownerReferences"] if o.get("uid") == self.run.uid]
            if bool(want) != bool(have):  # the retention policy changed
                others = [o for o in current["ownerReferences"] if o.get("uid") != self.run.uid]
                self.plan.patch.append((Ref.of(pvc), {"metadata": {"ownerReferences": others + want}}))

    def current_stage(self) -> Stage | None:
        """The first stage not finished; None once every one is (status.stage "done")."""
        for stage in STAGES:
            if "completionTime" not in self.status["stages"].get(stage.name, {}):
                return stage
        return None

    def advance(self) -> None:
        stage = self.current_stage()
        if self.training_problem and stage is not None:  # before the teacher takes GPUs
            self.fail(FINETUNE, "TrainingApiNotServed", self.training_problem)
            return
        lws_missing = self.served is not None and "LeaderWorkerSet" not in self.served
        if multi_node(self.run) and lws_missing and stage is not None:
            self.fail(TEACHER, "LeaderWorkerSetNotServed", "teacher.vllm.pipelineParallelSize is above 1 but the cluster "
                      "serves no LeaderWorkerSet (leaderworkerset.x-k8s.io/v1): install LeaderWorkerSet")
            return
        if self.run.queue_name and self.served is not None and "Workload" not in self.served and stage is not None:
            too_old = (self.addons or {}).get(child_kinds.WORKLOAD.kind)  # a Kueue without Workload v1beta2
            self.fail(stage, addon_versions.TOO_OLD if too_old else "KueueNotInstalled", too_old or kueue.NOT_INSTALLED)
            return
        self.check_addons()
        self.check_kueue_deadlines()
        for _ in range(len(STAGES) + 1):  # move through stages that finish in this same pass
            if stage is None:
                self.succeed()
                return
            self.status["stage"] = stage.name
            self.status["phase"] = stage.phase
            outcome = stage.reconcile(self)
            if outcome.failed:
                self.fail(stage, outcome.reason, outcome.message)
                return
            if not outcome.succeeded:
                return
            self.finish_stage(stage.name)
            stage = self.current_stage()

    def wait_for_inputs(self) -> None:
        """Preflight found something missing: stay Pending, create nothing, say what is missing."""
        self.status["phase"] = api.PENDING
        self.status["progress"] = "waiting for inputs"
        self.condition(INPUTS_READY, False, "Missing", "; ".join(self.missing or []), warn=True)

    def stuck_pods(self, component: str, deployments: tuple[str, ...] = (),
                   queue: kueue.ServerQueue = kueue.ServerQueue()) -> Outcome | None:
        """The oldest problem of a component's pods (unschedulable, not starting) or of its
        ``deployments``, if any: failed once it has lasted longer than
        failurePolicy.pendingDeadlineSeconds, else only reported. Pods waiting for Kueue's
        admission are not stuck, and a problem lasts from the admission at the earliest."""
        problems = pod_problems([p for p in self.observed.pods_of(component) if not kueue.gated(p)])
        for name in deployments:
            # A rollout whose pods wait for quota passes the Deployment's progress deadline: not stuck either.
            problems += [p for p in deployment_problems(self.observed.get("Deployment", name))
                         if not (queue.waiting and p.reason == "ProgressDeadlineExceeded")]
        problems = [_not_before(p, queue.admitted) for p in problems]
        if not problems:
            return None
        check = next((p for p in problems if p.reason == MODEL_CHECK_FAILED), None)
        if check is not None:  # deterministic: retrying or waiting cannot help
            return Outcome(failed=True, reason=MODEL_CHECK_FAILED, message=check.message)
        limit = self.run.spec.failure_policy.pending_deadline_seconds

        def age(since: str) -> float:
            try:
                return (self.now - (_parse(since) or self.now)).total_seconds()
            except ValueError:
                return 0.0
        oldest = max(problems, key=lambda p: age(p.since))
        waited = age(oldest.since)
        if waited > limit:
            return Outcome(failed=True, reason=f"Pod{oldest.reason}",
                           message=f"{oldest.message} (for {int(waited)}s; failurePolicy.pendingDeadlineSeconds is {limit})")
        self.plan.recheck(self.now + dt.timedelta(seconds=limit - waited))
        return Outcome(reason=oldest.reason, message=oldest.message)

    # ---- endings and pauses ----------------------------------------------------------------

    def release_servers(self) -> None:
        """Nothing runs after eval or a failure: every stage lets go of what it keeps running
        (the student servers are deleted, the teacher scaled to zero)."""
        for stage in STAGES:
            stage.release(self)

    def succeed(self) -> None:
        self.status["phase"] = api.SUCCEEDED
        self.status["stage"] = api.DONE
        self.status["progress"] = "done"
        self.status.setdefault("completionTime", _ts(self.now))
        self.status["message"] = "the pipeline finished"
        self.release_servers()
        self.condition(api.SUCCEEDED_CONDITION, True, "PipelineSucceeded", "every stage finished")

    def fail(self, stage: Stage, reason: str, message: str) -> None:
        name = stage.name
        self.status["phase"] = api.FAILED
        self.status["stage"] = name
        self.status["message"] = one_line(f"{name} failed: {reason}: {message}")  # the condition keeps it whole
        self.status.setdefault("completionTime", _ts(self.now))
        self.condition(stage.condition, False, reason, message, warn=True)
        self.condition(api.SUCCEEDED_CONDITION, False, reason, f"{name} failed: {message}")
        self.condition(api.STALLED, True, reason, f"{name} failed: {message}")
        self.release_servers()

    def suspend(self) -> None:
        """Suspend the running stage's batch child, scale servers to zero; resuming is advance() on the next pass."""
        # Only the current stage's child: finished ones stay as they ended (resume never un-suspends them).
        stage = self.current_stage()
        batch = stage.batch(self) if stage is not None else None
        if batch is not None:
            self.set_suspend(batch, True)
        for each in STAGES:  # every stage's servers go to zero replicas
            each.pause(self)
        self.status["phase"] = api.SUSPENDED
        self.status["stage"] = stage.name if stage is not None else api.DONE
        self.status["message"] = "suspended: set spec.suspend to false to resume"

    # ---- status --------------------------------------------------------------------------

    def fold_progress(self) -> None:
        """Copy the programs' typed reports into status (see docs/architecture.md, progress channel)."""
        reports.fold(self.status, self.progress_data, self.run)

    def finish_status(self) -> None:
        phase = self.status.get("phase") or api.PENDING
        self.status["phase"] = phase
        self.status["observedGeneration"] = self.run.generation
        failed = phase == api.FAILED
        if phase != api.FAILED:
            self.condition(api.STALLED, False, "NotStalled", "the run is not failed")
        if phase not in api.TERMINAL_PHASES:
            self.condition(api.SUCCEEDED_CONDITION, False, "InProgress", f"phase {phase}")
        waiting = bool(self.missing) and phase == api.PENDING
        if waiting:
            self.status["message"] = f"waiting for inputs: {'; '.join(self.missing or [])}"
        elif phase not in (api.FAILED, api.SUSPENDED, api.SUCCEEDED):
            self.status.pop("message", None)
        ready_reason = {api.FAILED: "Failed", api.SUCCEEDED: "Succeeded", api.SUSPENDED: "Suspended"}.get(phase, "Progressing")
        ready_message = (self.status.get("message") if failed or waiting else
                         f"reconciled: phase {phase}, stage {self.status.get('stage', STAGES[0].name)}")
        self.condition(api.READY, not failed and not waiting, "InputsMissing" if waiting else ready_reason,
                       ready_message or "")
        # kstatus (Flux, kubectl wait --for=status) reads Reconciling and Stalled, not Ready. An ended
        # or suspended run still reconciles while this pass releases its servers; once a pass has
        # nothing left to do, Reconciling=False says the run is at rest and its timer stops
        # (settled.at_rest).
        releasing = phase in (api.FAILED, api.SUSPENDED, api.SUCCEEDED) and bool(
            self.plan.create or self.plan.patch or self.plan.delete)
        working = phase not in (api.FAILED, api.SUSPENDED, api.SUCCEEDED)
        if releasing:
            self.condition(api.RECONCILING, True, "Releasing", f"phase {phase}: releasing the run's servers")
        else:
            self.condition(api.RECONCILING, working, phase if working else ready_reason,
                           f"stage {self.status.get('stage', STAGES[0].name)}: {self.status.get('progress', '')}".rstrip(": ")
                           if working else (self.status.get("message") or f"phase {phase}"))
        if self.old_phase != phase:
            kind = "Warning" if failed else "Normal"
            self.plan.events.append(Event(kind, phase, f"phase {self.old_phase or 'None'} → {phase}"
                                          + (f": {self.status.get('message')}" if failed else "")))
        self.plan.status = self.status


def reconcile(body: dict[str, Any], observed: Observed, now: dt.datetime, probe: Probe | None = None,
              missing: list[str] | None = None, network: NetworkPolicyOptions = NetworkPolicyOptions(),
              served: frozenset[str] | None = None, addons: Mapping[str, str] | None = None,
              kueue_pods_ready_seconds: int = kueue.WAIT_FOR_PODS_READY_SECONDS) -> Plan:
    """Plan the next actions for the RaftRun ``body`` given its observed children.

    ``served``: the optional kinds the cluster serves (TrainJob, PyTorchJob, Workload,
    LeaderWorkerSet), None when unknown. ``addons``: why the add-on serving a kind is too old, by
    kind (:mod:`raft_operator.addon_versions`), None when unknown. ``kueue_pods_ready_seconds``:
    Kueue's waitForPodsReady timeout (0: off), the operator setting.

    ``missing`` is the preflight's answer before the teacher starts (None once it has, or when
    not checked): a non-empty list keeps the run Pending, creating nothing, with the list as
    the InputsReady condition's message.
    """
    return _Reconcile(body, observed, now, probe, missing, network, served, addons,
                      kueue_pods_ready_seconds).reconcile()


def fail_run(body: dict[str, Any], observed: Observed, now: dt.datetime, reason: str, message: str) -> Plan:
    """The plan of a run that the API server refused in a way no retry changes: Failed with the
    server's cause in one line, servers released, nothing created."""
    rec = _Reconcile(body, observed, now, None)
    rec.fail(rec.current_stage() or STAGES[-1], reason, message)
    rec.finish_status()
    return rec.plan


def needs_preflight(body: dict[str, Any]) -> bool:
    """Whether the run has yet to start its first stage, the teacher (the preflight runs until then)."""
    status = body.get("status") or {}
    first = STAGES[0].name
    return status.get("phase") not in api.TERMINAL_PHASES and "startTime" not in (status.get("stages") or {}).get(first, {})
