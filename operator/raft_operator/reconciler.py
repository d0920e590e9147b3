"""The reconciler: from a RaftRun and its observed children to a plan and the new status.

It is level-based and pure: given the same RaftRun, children and clock it returns the same
plan, whatever happened before (a restart, a retry, a duplicate event). It never talks to the
API; :mod:`raft_operator.apply` carries the plan out. The teacher probe is the one outside
fact it asks for, and only when the teacher Deployment is available and not yet confirmed.

Stages run in order: teacher → datagen → finetune → eval. A stage is finished when
``status.stages.<stage>.completionTime`` is set, so the current stage is derived from status.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

from . import addon_versions, api, child_kinds, kueue
from . import progress as reports
from .builders import configmaps, datagen, evaluation, finetune, network_policy, storage, teacher, workload_rbac
from .builders.network_policy import NetworkPolicyOptions
from .builders.common import Manifest
from .run import Run
from .child_status import (MODEL_CHECK_FAILED, Outcome, PodProblem, deployment_available, deployment_problems,
                           pod_problems)
from .conditions import get_condition, is_true, one_line, set_condition
from .observed import Observed

STAGES = [api.TEACHER, api.DATAGEN, api.FINETUNE, api.EVAL]
ProbeResult = tuple[bool, str]  # (ok, detail)
Probe = Callable[[], ProbeResult]
# Conditions whose changes are already told by the phase Event.
QUIET_CONDITIONS = frozenset({api.READY, api.STALLED, api.SUCCEEDED_CONDITION, api.RECONCILING})
INPUTS_READY = "InputsReady"  # preflight: every claim, Secret, class and queue the run names exists


@dataclass(frozen=True)
class Ref:
    """Identifies a child for a patch or a delete."""

    kind: str
    name: str


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


def _fraction(label: str, done: Any, total: Any, fallback: str) -> str:
    """'chunks 30/120 (25%)' from a program's counters, or ``fallback`` until it reports them."""
    if isinstance(done, int) and isinstance(total, int):
        return f"{label} {done}/{total} ({100 * done // max(total, 1)}%)"
    return fallback


def _ts(now: dt.datetime) -> str:
    return now.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(ts: str | None) -> dt.datetime | None:
    return dt.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc) if ts else None


def _ref(manifest: Manifest) -> Ref:
    return Ref(manifest["kind"], manifest["metadata"]["name"])


def _not_before(problem: PodProblem, at: dt.datetime | None) -> PodProblem:
    """``problem``, lasting since ``at`` at the earliest (Kueue's admission of a pod that waited for quota)."""
    try:
        since = _parse(problem.since)
    except ValueError:
        since = None
    return replace(problem, since=_ts(at)) if at is not None and (since is None or since < at) else problem


class _Reconcile:
    """One reconcile pass; holds the run, what was observed, and the plan being built."""

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
            self.plan.patch.append((_ref(manifest), {"spec": {"replicas": replicas}}))

    def delete(self, manifest: Manifest) -> None:
        ref = _ref(manifest)
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
        self.plan.patch.append((_ref(manifest), child_kinds.of(kind).suspend_patch(suspend)))

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
        deadlines = [("the student servers' start-up timeout", evaluation.SERVER_STARTUP_TIMEOUT_SECONDS, False)]
        if self.run.teacher_in_cluster:
            deadlines.insert(0, ("spec.teacher.vllm.startupTimeoutSeconds",
                                 self.run.vllm_teacher.startup_timeout_seconds, True))
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
        used = {child_kinds.RAYJOB.kind, self.training_kind}
        if self.run.teacher_in_cluster and self.run.vllm_teacher.pipeline_parallel_size > 1:
            used.add(child_kinds.LEADER_WORKER_SET.kind)
        if self.queued_by_kueue():
            used.add(child_kinds.WORKLOAD.kind)
        problems = [self.addons[kind] for kind in sorted(used) if kind in self.addons]
        if problems:
            self.condition(api.ADDONS_COMPATIBLE, False, addon_versions.TOO_OLD, "; ".join(problems), warn=True)
        elif get_condition(self.conditions, api.ADDONS_COMPATIBLE):
            self.condition(api.ADDONS_COMPATIBLE, True, "AddonsUpToDate",
                           "every add-on the run uses serves the fields the operator sets")

    def stage_status(self, stage: str) -> dict[str, Any]:
        return self.status["stages"].setdefault(stage, {})

    def stage_started(self, stage: str, children: list[Manifest]) -> dt.datetime:
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
                self.plan.patch.append((_ref(pvc), {"metadata": {"ownerReferences": others + want}}))

    def current_stage(self) -> str:
        for stage in STAGES:
            if "completionTime" not in self.status["stages"].get(stage, {}):
                return stage
        return api.DONE

    def advance(self) -> None:
        stage = self.current_stage()
        if self.training_problem and stage != api.DONE:  # before the teacher takes GPUs
            self.fail(api.FINETUNE, "TrainingApiNotServed", self.training_problem)
            return
        multi_node = self.run.teacher_in_cluster and self.run.vllm_teacher.pipeline_parallel_size > 1
        if multi_node and self.served is not None and "LeaderWorkerSet" not in self.served and stage != api.DONE:
            self.fail(api.TEACHER, "LeaderWorkerSetNotServed", "teacher.vllm.pipelineParallelSize is above 1 but the cluster "
                      "serves no LeaderWorkerSet (leaderworkerset.x-k8s.io/v1): install LeaderWorkerSet")
            return
        if self.run.queue_name and self.served is not None and "Workload" not in self.served and stage != api.DONE:
            too_old = (self.addons or {}).get(child_kinds.WORKLOAD.kind)  # a Kueue without Workload v1beta2
            self.fail(stage, addon_versions.TOO_OLD if too_old else "KueueNotInstalled", too_old or kueue.NOT_INSTALLED)
            return
        self.check_addons()
        self.check_kueue_deadlines()
        run_stage: dict[str, Callable[[], Outcome]] = {
            api.TEACHER: self.stage_teacher, api.DATAGEN: self.stage_datagen,
            api.FINETUNE: self.stage_finetune, api.EVAL: self.stage_eval}
        for _ in range(len(STAGES) + 1):  # move through stages that finish in this same pass
            if stage == api.DONE:
                self.succeed()
                return
            self.status["stage"] = stage
            self.status["phase"] = api.STAGE_PHASE[stage]
            outcome = run_stage[stage]()
            if outcome.failed:
                self.fail(stage, outcome.reason, outcome.message)
                return
            if not outcome.succeeded:
                return
            self.finish_stage(stage)
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

    def batch_stage(self, ctype: str, component: str, outcome: Outcome, manifest: Manifest) -> Outcome:
        """A running batch child's outcome, failed or annotated by what its pods report. A child
        failed here is suspended, so its controller deletes its pods and nothing waits for GPUs."""
        if outcome.succeeded or outcome.failed:
            return outcome
        stuck = self.stuck_pods(component)
        if stuck is None:
            return outcome
        if stuck.failed:
            self.set_suspend(manifest, True)
            return stuck
        self.condition(ctype, False, stuck.reason, stuck.message, warn=True)
        return Outcome(reason=stuck.reason, message=stuck.message)

    # ---- stages ---------------------------------------------------------------------------

    def teacher_needed_in_eval(self) -> bool:
        ev = self.run.spec.eval
        return self.run.teacher_in_cluster and (ev.judge is None or ev.baselines.teacher)

    def serve_teacher(self, stage: str, started: dt.datetime) -> Outcome:
        """Keep the teacher up for ``stage``; succeeded once it answers a one-token completion."""
        if not self.run.teacher_in_cluster:
            self.condition(api.TEACHER_READY, True, "ExternalEndpoint", "using the external OpenAI-compatible endpoint")
            return Outcome(succeeded=True)
        deploy, service = teacher.build(self.run)
        self.scale(deploy, deploy["spec"]["replicas"])
        self.ensure(service)
        self.ensure(teacher.replicas_service(self.run))
        if is_true(self.conditions, api.TEACHER_READY):
            return Outcome(succeeded=True)
        current = self.observed.get(deploy["kind"], deploy["metadata"]["name"])
        ready = (current["status"].get("readyReplicas") or 0) if current else 0
        self.status["progress"] = f"teacher {ready}/{deploy['spec']['replicas']} ready"
        queue = kueue.servers(self.observed, "teacher", [(deploy["kind"], deploy["metadata"]["name"])])
        if deployment_available(current):
            self.plan.external = True  # the probe's answer is not in the children
            ok, detail = self.probe() if self.probe else (False, "no probe configured")
            if ok:
                self.condition(api.TEACHER_READY, True, "Serving", f"{self.run.vllm_teacher.model} answers completions")
                return Outcome(succeeded=True)
            reason, message = "ProbeFailed", f"the teacher is available but a one-token completion failed: {detail}"
        else:
            stuck = self.stuck_pods("teacher", (deploy["metadata"]["name"],), queue)
            if stuck is not None and stuck.failed:
                return Outcome(failed=True, reason=f"Teacher{stuck.reason}", message=stuck.message)
            problem = (stuck.reason, stuck.message) if stuck else None
            reason, message = problem or (("WaitingForQuota", f"teacher pods {queue.waiting}") if queue.waiting else
                                          ("Loading", f"waiting for {deploy['metadata']['name']} to become available"))
        calm = reason in ("Loading", "WaitingForQuota")
        if queue.waiting:  # the start-up timeout starts when Kueue admits the teacher
            self.condition(api.TEACHER_READY, False, reason, message, warn=not calm)
            return Outcome()
        begin = max(started, queue.admitted or started)
        timeout = self.run.vllm_teacher.startup_timeout_seconds
        waited = (self.now - begin).total_seconds()
        if waited > timeout:
            return Outcome(failed=True, reason=f"TeacherNotReady{reason if reason != 'Loading' else ''}",
                           message=f"teacher not ready after {int(waited)}s (startupTimeoutSeconds {timeout}): {reason}: {message}")
        self.plan.recheck(begin + dt.timedelta(seconds=timeout))
        self.condition(api.TEACHER_READY, False, reason, message, warn=not calm)
        return Outcome()

    def scale_teacher_down(self) -> None:
        if not self.run.teacher_in_cluster:
            return
        deploy, _ = teacher.build(self.run, replicas=0)
        current = self.observed.get(deploy["kind"], deploy["metadata"]["name"])
        scale_down = (_ref(deploy), {"spec": {"replicas": 0}})
        if current is not None and current.get("replicas") and scale_down not in self.plan.patch:
            self.plan.patch.append(scale_down)
        if current is not None and is_true(self.conditions, api.TEACHER_READY):
            # Only a serving teacher becomes ScaledDown: a failure's reason stays on the condition.
            self.condition(api.TEACHER_READY, False, "ScaledDown", "teacher scaled to zero: no running stage needs it")

    def stage_teacher(self) -> Outcome:
        children = teacher.build(self.run)
        started = self.stage_started(api.TEACHER, children)
        return self.serve_teacher(api.TEACHER, started)

    def stage_datagen(self) -> Outcome:
        (rayjob,) = datagen.build(self.run)
        started = self.stage_started(api.DATAGEN, [rayjob])
        if not self.serve_teacher(api.DATAGEN, started).succeeded:
            self.status["progress"] = "waiting for the teacher"
            return Outcome()
        self.ensure(rayjob)
        self.set_suspend(rayjob, False)
        current = self.observed.get("RayJob", rayjob["metadata"]["name"])
        progress = self.progress_data.get("datagen", {})
        self.status["progress"] = _fraction("chunks", progress.get("chunksDone"), progress.get("chunksTotal"),
                                            "starting Ray")
        if current is None:
            self.condition(api.DATA_GENERATED, False, "Pending", "RayJob created")
            return Outcome()
        outcome = child_kinds.outcome(current)
        unmanaged, queued = self.queued("RayJob", rayjob["metadata"]["name"])
        if unmanaged:
            return unmanaged
        if queued:
            outcome = Outcome(message=queued)
        if outcome.succeeded:
            self.condition(api.DATA_GENERATED, True, "RayJobSucceeded", f"RayJob {rayjob['metadata']['name']} succeeded")
        elif not outcome.failed:
            self.condition(api.DATA_GENERATED, False, "Running", f"RayJob {outcome.message}")
        return self.batch_stage(api.DATA_GENERATED, "datagen", outcome, rayjob)

    def stage_finetune(self) -> Outcome:
        kind = self.training_kind
        (job,) = finetune.build(self.run, kind=kind)
        self.stage_started(api.FINETUNE, [job])
        self.scale_teacher_down()
        self.ensure(job)
        self.set_suspend(job, False)
        progress = self.progress_data.get("finetune", {})
        self.status["progress"] = _fraction("step", progress.get("step"), progress.get("totalSteps"),
                                            "starting training")
        current = self.observed.get(kind, job["metadata"]["name"])
        if current is None:
            self.condition(api.MODEL_TRAINED, False, "Pending", f"{kind} created")
            return Outcome()
        outcome = child_kinds.outcome(current)
        unmanaged, queued = self.queued(kind, job["metadata"]["name"])
        if unmanaged:
            return unmanaged
        if queued:
            outcome = Outcome(message=queued)
        if outcome.succeeded:
            self.condition(api.MODEL_TRAINED, True, f"{kind}Succeeded", f"checkpoint saved to {self.run.root}/model")
        elif not outcome.failed:
            self.condition(api.MODEL_TRAINED, False, "Running", outcome.message or "training")
        return self.batch_stage(api.MODEL_TRAINED, "finetune", outcome, job)

    def stage_eval(self) -> Outcome:
        servers = evaluation.server_manifests(self.run)
        job = evaluation.job(self.run)
        started = self.stage_started(api.EVAL, servers + [job])
        if self.teacher_needed_in_eval():
            # Scaled down during fine-tuning, the teacher comes back to answer and judge.
            teacher_ready = self.serve_teacher(api.EVAL, started)
            if teacher_ready.failed:
                return teacher_ready
        else:
            teacher_ready = Outcome(succeeded=True)
            self.scale_teacher_down()
        for manifest in servers:
            if manifest["kind"] == "Deployment":
                self.scale(manifest, 1)
            else:
                self.ensure(manifest)
        deployments = [m for m in servers if m["kind"] == "Deployment"]
        ready = [m for m in deployments if deployment_available(self.observed.get("Deployment", m["metadata"]["name"]))]
        current = self.observed.get("Job", job["metadata"]["name"])
        if current is None and (len(ready) < len(deployments) or not teacher_ready.succeeded):
            self.status["progress"] = f"student servers {len(ready)}/{len(deployments)} ready"
            queue = kueue.servers(self.observed, "student-server")
            stuck = self.stuck_pods("student-server", tuple(m["metadata"]["name"] for m in deployments), queue)
            if stuck is not None and stuck.reason == MODEL_CHECK_FAILED:
                return Outcome(failed=True, reason=f"Student{MODEL_CHECK_FAILED}", message=stuck.message)
            if stuck is not None and stuck.failed:
                return Outcome(failed=True, reason=f"StudentServer{stuck.reason}", message=stuck.message)
            problem = (stuck.reason, stuck.message) if stuck else None
            if queue.waiting and problem is None:  # the deadline starts when Kueue admits the servers
                self.condition(api.EVALUATED, False, "WaitingForQuota", f"student server pods {queue.waiting}")
                return Outcome()
            begin = max(started, queue.admitted or started)
            waited = (self.now - begin).total_seconds()
            limit = self.run.spec.failure_policy.eval_deadline_seconds
            if waited > limit:
                reason, message = problem or ("ServersNotReady", "student servers did not become available")
                return Outcome(failed=True, reason=f"StudentServer{reason}", message=f"after {int(waited)}s: {message}")
            self.plan.recheck(begin + dt.timedelta(seconds=limit))
            reason, message = problem or ("Waiting", "waiting for the student servers")
            self.condition(api.EVALUATED, False, reason, message, warn=problem is not None)
            return Outcome()
        self.ensure(job)
        self.set_suspend(job, False)
        interim = self.progress_data.get("eval") or {}
        self.status["progress"] = _fraction("answers", interim.get("answersDone"), interim.get("answersTotal"),
                                            "evaluating")
        if current is None:
            self.condition(api.EVALUATED, False, "Pending", "eval Job created")
            return Outcome()
        outcome = child_kinds.outcome(current)
        unmanaged, _ = self.queued("Job", job["metadata"]["name"])
        if unmanaged:
            return unmanaged
        if outcome.succeeded:
            self.condition(api.EVALUATED, True, "EvalJobSucceeded", f"report at {self.run.root}/eval/report.html")
            self.release_servers()
        elif not outcome.failed:
            self.condition(api.EVALUATED, False, "Running", "eval Job running")
        return self.batch_stage(api.EVALUATED, "eval", outcome, job)

    # ---- endings and pauses ----------------------------------------------------------------

    def release_servers(self) -> None:
        """Nothing runs after eval or a failure: delete the student servers, scale the teacher to zero."""
        for manifest in evaluation.server_manifests(self.run):
            self.delete(manifest)
        self.scale_teacher_down()

    def succeed(self) -> None:
        self.status["phase"] = api.SUCCEEDED
        self.status["stage"] = api.DONE
        self.status["progress"] = "done"
        self.status.setdefault("completionTime", _ts(self.now))
        self.status["message"] = "the pipeline finished"
        self.release_servers()
        self.condition(api.SUCCEEDED_CONDITION, True, "PipelineSucceeded", "every stage finished")

    def fail(self, stage: str, reason: str, message: str) -> None:
        self.status["phase"] = api.FAILED
        self.status["stage"] = stage
        self.status["message"] = one_line(f"{stage} failed: {reason}: {message}")  # the condition keeps it whole
        self.status.setdefault("completionTime", _ts(self.now))
        self.condition(api.STAGE_CONDITION[stage], False, reason, message, warn=True)
        self.condition(api.SUCCEEDED_CONDITION, False, reason, f"{stage} failed: {message}")
        self.condition(api.STALLED, True, reason, f"{stage} failed: {message}")
        self.release_servers()

    def suspend(self) -> None:
        """Suspend the running stage's batch child, scale servers to zero; resuming is advance() on the next pass."""
        # Only the current stage's child: finished ones stay as they ended (resume never un-suspends them).
        stage = self.current_stage()
        batch = {api.DATAGEN: datagen.build, api.FINETUNE: lambda run: finetune.build(run, kind=self.training_kind),
                 api.EVAL: lambda run: [evaluation.job(run)]}
        for manifest in batch[stage](self.run) if stage in batch else []:
            self.set_suspend(manifest, True)
        for manifest in teacher.build(self.run, replicas=0) + evaluation.server_manifests(self.run, replicas=0):
            current = self.observed.get(manifest["kind"], manifest["metadata"]["name"])
            if manifest["kind"] in child_kinds.SERVERS and current is not None and current.get("replicas"):
                self.plan.patch.append((_ref(manifest), {"spec": {"replicas": 0}}))
        if self.run.teacher_in_cluster and is_true(self.conditions, api.TEACHER_READY):
            self.condition(api.TEACHER_READY, False, "ScaledDown", "the run is suspended")
        self.status["phase"] = api.SUSPENDED
        self.status["stage"] = self.current_stage()
        self.status["message"] = "suspended: set spec.suspend to false to resume"

    # ---- status --------------------------------------------------------------------------

    def fold_progress(self) -> None:
        """Copy the programs' typed reports into status (see docs/architecture.md, progress channel)."""
        reports.fold(self.status, self.progress_data, f"{self.run.root}/eval/report.html")

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
                         f"reconciled: phase {phase}, stage {self.status.get('stage', api.TEACHER)}")
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
                           f"stage {self.status.get('stage', api.TEACHER)}: {self.status.get('progress', '')}".rstrip(": ")
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
    stage = rec.current_stage()
    rec.fail(stage if stage != api.DONE else api.EVAL, reason, message)
    rec.finish_status()
    return rec.plan


def needs_preflight(body: dict[str, Any]) -> bool:
    """Whether the run has yet to start its teacher (the preflight runs until then)."""
    status = body.get("status") or {}
    return status.get("phase") not in api.TERMINAL_PHASES and "startTime" not in (status.get("stages") or {}).get(api.TEACHER, {})
