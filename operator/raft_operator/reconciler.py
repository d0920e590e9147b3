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
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from . import api
from .builders import configmaps, datagen, evaluation, finetune, storage, teacher, workload_rbac
from .builders.common import Manifest, Run
from .child_status import Outcome, deployment_available, job_outcome, pod_problem, pytorchjob_outcome, rayjob_outcome
from .conditions import get_condition, is_true, set_condition
from .observed import Observed

STAGES = [api.TEACHER, api.DATAGEN, api.FINETUNE, api.EVAL]
ProbeResult = tuple[bool, str]  # (ok, detail)
Probe = Callable[[], ProbeResult]
# Conditions whose changes are already told by the phase Event.
QUIET_CONDITIONS = frozenset({api.READY, api.STALLED, api.SUCCEEDED_CONDITION})


@dataclass(frozen=True)
class Ref:
    """Identifies a child for a patch or a delete."""

    api_version: str
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
    return Ref(manifest["apiVersion"], manifest["kind"], manifest["metadata"]["name"])


class _Reconcile:
    """One reconcile pass; holds the run, what was observed, and the plan being built."""

    def __init__(self, body: dict[str, Any], observed: Observed, now: dt.datetime, probe: Probe | None) -> None:
        self.run = Run.from_body(body)
        self.observed = observed
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
        """Create ``manifest`` unless a child of that kind and name exists."""
        if manifest and not self.observed.has(manifest["kind"], manifest["metadata"]["name"]):
            self.plan.create.append(manifest)

    def scale(self, manifest: Manifest, replicas: int) -> None:
        """Create the Deployment with ``replicas`` or patch it there."""
        name = manifest["metadata"]["name"]
        current = self.observed.get("Deployment", name)
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
        """Patch the batch child's suspend flag when it differs (Kueue owns un-suspending queued jobs)."""
        current = self.observed.get(manifest["kind"], manifest["metadata"]["name"])
        if current is None or bool(current.get("suspend")) == suspend:
            return
        if not suspend and self.run.queue_name:
            return
        body = {"spec": {"runPolicy": {"suspend": suspend}}} if manifest["kind"] == "PyTorchJob" else {"spec": {"suspend": suspend}}
        self.plan.patch.append((_ref(manifest), body))

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
        out: dict[str, dict[str, Any]] = {}
        for key, text in ((cm or {}).get("data") or {}).items():
            try:
                value = json.loads(text)
            except (TypeError, ValueError):
                continue
            if isinstance(value, dict):
                out[key] = value
        return out

    # ---- the pass ------------------------------------------------------------------------

    def reconcile(self) -> Plan:
        self.status.setdefault("startTime", _ts(self.now))
        self.ensure_base_children()
        self.fold_progress()
        phase = self.status.get("phase")
        if phase in api.TERMINAL_PHASES:
            self.release_servers()
        elif self.run.spec.get("suspend"):
            self.suspend()
        else:
            self.advance()
        self.finish_status()
        return self.plan

    def ensure_base_children(self) -> None:
        for manifest in workload_rbac.build(self.run) + configmaps.build(self.run):
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
        for _ in range(len(STAGES) + 1):  # move through stages that finish in this same pass
            if stage == api.DONE:
                self.succeed()
                return
            self.status["stage"] = stage
            self.status["phase"] = api.STAGE_PHASE[stage]
            outcome = getattr(self, f"stage_{stage}")()
            if outcome.failed:
                self.fail(stage, outcome.reason, outcome.message)
                return
            if not outcome.succeeded:
                return
            self.finish_stage(stage)
            stage = self.current_stage()

    # ---- stages ---------------------------------------------------------------------------

    def teacher_needed_in_eval(self) -> bool:
        ev = self.run.spec["eval"]
        return self.run.teacher_in_cluster and (not ev.get("judge") or ev["baselines"].get("teacher", True))

    def serve_teacher(self, stage: str, started: dt.datetime) -> Outcome:
        """Keep the teacher up for ``stage``; succeeded once it answers a one-token completion."""
        if not self.run.teacher_in_cluster:
            self.condition(api.TEACHER_READY, True, "ExternalEndpoint", "using the external OpenAI-compatible endpoint")
            return Outcome(succeeded=True)
        deploy, service = teacher.build(self.run)
        self.scale(deploy, deploy["spec"]["replicas"])
        self.ensure(service)
        if is_true(self.conditions, api.TEACHER_READY):
            return Outcome(succeeded=True)
        current = self.observed.get("Deployment", deploy["metadata"]["name"])
        ready = (current["status"].get("readyReplicas") or 0) if current else 0
        self.status["progress"] = f"teacher {ready}/{deploy['spec']['replicas']} ready"
        if deployment_available(current):
            ok, detail = self.probe() if self.probe else (False, "no probe configured")
            if ok:
                self.condition(api.TEACHER_READY, True, "Serving", f"{self.run.spec['teacher']['vllm']['model']} answers completions")
                return Outcome(succeeded=True)
            reason, message = "ProbeFailed", f"the teacher is available but a one-token completion failed: {detail}"
        else:
            problem = pod_problem(self.observed.pods_of("teacher"))
            reason, message = problem or ("Loading", f"waiting for {deploy['metadata']['name']} to become available")
        timeout = self.run.spec["teacher"]["vllm"]["startupTimeoutSeconds"]
        waited = (self.now - started).total_seconds()
        if waited > timeout:
            return Outcome(failed=True, reason=f"TeacherNotReady{reason if reason != 'Loading' else ''}",
                           message=f"teacher not ready after {int(waited)}s (startupTimeoutSeconds {timeout}): {reason}: {message}")
        self.condition(api.TEACHER_READY, False, reason, message, warn=reason != "Loading")
        return Outcome()

    def scale_teacher_down(self) -> None:
        if not self.run.teacher_in_cluster:
            return
        deploy, _ = teacher.build(self.run, replicas=0)
        current = self.observed.get("Deployment", deploy["metadata"]["name"])
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
        outcome = rayjob_outcome(current)
        if outcome.succeeded:
            self.condition(api.DATA_GENERATED, True, "RayJobSucceeded", f"RayJob {rayjob['metadata']['name']} succeeded")
        elif not outcome.failed:
            self.condition(api.DATA_GENERATED, False, "Running", f"RayJob {outcome.message}")
        return outcome

    def stage_finetune(self) -> Outcome:
        (job,) = finetune.build(self.run)
        self.stage_started(api.FINETUNE, [job])
        self.scale_teacher_down()
        self.ensure(job)
        self.set_suspend(job, False)
        progress = self.progress_data.get("finetune", {})
        self.status["progress"] = _fraction("step", progress.get("step"), progress.get("totalSteps"),
                                            "starting training")
        current = self.observed.get("PyTorchJob", job["metadata"]["name"])
        if current is None:
            self.condition(api.MODEL_TRAINED, False, "Pending", "PyTorchJob created")
            return Outcome()
        outcome = pytorchjob_outcome(current)
        if outcome.succeeded:
            self.condition(api.MODEL_TRAINED, True, "PyTorchJobSucceeded", f"checkpoint saved to {self.run.root}/model")
        elif not outcome.failed:
            self.condition(api.MODEL_TRAINED, False, "Running", outcome.message or "training")
        return outcome

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
            problem = pod_problem(self.observed.pods_of("student-server"))
            waited = (self.now - started).total_seconds()
            limit = self.run.spec["failurePolicy"]["evalDeadlineSeconds"]
            if waited > limit:
                reason, message = problem or ("ServersNotReady", "student servers did not become available")
                return Outcome(failed=True, reason=f"StudentServer{reason}", message=f"after {int(waited)}s: {message}")
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
        outcome = job_outcome(current)
        if outcome.succeeded:
            self.condition(api.EVALUATED, True, "EvalJobSucceeded", f"report at {self.run.root}/eval/report.html")
            self.release_servers()
        elif not outcome.failed:
            self.condition(api.EVALUATED, False, "Running", "eval Job running")
        return outcome

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
        self.status["message"] = f"{stage} failed: {reason}: {message}"
        self.status.setdefault("completionTime", _ts(self.now))
        self.condition(api.STAGE_CONDITION[stage], False, reason, message, warn=True)
        self.condition(api.SUCCEEDED_CONDITION, False, reason, f"{stage} failed: {message}")
        self.condition(api.STALLED, True, reason, f"{stage} failed: {message}")
        self.release_servers()

    def suspend(self) -> None:
        """Suspend the running stage's batch child, scale servers to zero; resuming is advance() on the next pass."""
        # Only the current stage's child: finished ones stay as they ended (resume never un-suspends them).
        stage = self.current_stage()
        batch = {api.DATAGEN: datagen.build, api.FINETUNE: finetune.build, api.EVAL: lambda run: [evaluation.job(run)]}
        for manifest in batch[stage](self.run) if stage in batch else []:
            self.set_suspend(manifest, True)
        for manifest in teacher.build(self.run, replicas=0) + evaluation.server_manifests(self.run, replicas=0):
            current = self.observed.get(manifest["kind"], manifest["metadata"]["name"])
            if manifest["kind"] == "Deployment" and current is not None and current.get("replicas"):
                self.plan.patch.append((_ref(manifest), {"spec": {"replicas": 0}}))
        if self.run.teacher_in_cluster and is_true(self.conditions, api.TEACHER_READY):
            self.condition(api.TEACHER_READY, False, "ScaledDown", "the run is suspended")
        self.status["phase"] = api.SUSPENDED
        self.status["stage"] = self.current_stage()
        self.status["message"] = "suspended: set spec.suspend to false to resume"

    # ---- status --------------------------------------------------------------------------

    def fold_progress(self) -> None:
        """Copy the programs' reports into status (see docs/architecture.md, progress channel)."""
        fields = {
            "datagen": ("datagen", ["chunksDone", "chunksTotal", "records", "malformed", "retries", "tokensPerSecond"]),
            "finetune": ("training", ["step", "totalSteps", "epoch", "loss", "validationLoss", "tokensPerSecond", "mfu"]),
        }
        for key, (target, names) in fields.items():
            data = self.progress_data.get(key)
            if isinstance(data, dict) and data:
                self.status[target] = {n: data[n] for n in names if isinstance(data.get(n), (int, float))}
                if key == "datagen" and isinstance(data.get("rejected"), dict):
                    self.status[target]["rejected"] = _typed_map(data["rejected"], int)
        ev = self.progress_data.get("eval") or {}
        rows = [r for r in ev.get("results") or [] if isinstance(r, dict)] if isinstance(ev.get("results"), list) else []
        summary = ev.get("summary") if isinstance(ev.get("summary"), dict) else {}
        if rows:
            gains = summary.get("improvement") if isinstance(summary.get("improvement"), dict) else {}
            comparisons = summary.get("comparisons") if isinstance(summary.get("comparisons"), list) else []
            self.status["results"] = {
                "models": [_typed(r, RESULT_TYPES) for r in rows[:256]],
                "summary": {**_typed(summary, SUMMARY_TYPES),
                            **({"judgeIsTeacher": summary["judgeIsTeacher"]}
                               if isinstance(summary.get("judgeIsTeacher"), bool) else {}),
                            "improvement": _typed_map(gains, (int, float)),
                            "comparisons": [_typed(c, COMPARISON_TYPES) for c in comparisons[:32] if isinstance(c, dict)]},
                "reportPath": f"{self.run.root}/eval/report.html",
            }
        if isinstance(summary.get("judgeWithheld"), str):
            self.status["score"] = f"no judge score: {summary['judgeWithheld']}"[:256]
        elif isinstance(summary.get("judgeScore"), (int, float)):
            score = f"judge {summary['judgeScore']:.2f}"
            gains = summary.get("improvement") if isinstance(summary.get("improvement"), dict) else {}
            if isinstance(gains.get("base"), (int, float)):
                score += f" ({gains['base']:+.0%} vs base)"
            self.status["score"] = score

    def finish_status(self) -> None:
        phase = self.status.get("phase") or api.PENDING
        self.status["phase"] = phase
        self.status["observedGeneration"] = self.run.generation
        failed = phase == api.FAILED
        if phase != api.FAILED:
            self.condition(api.STALLED, False, "NotStalled", "the run is not failed")
        if phase not in api.TERMINAL_PHASES:
            self.condition(api.SUCCEEDED_CONDITION, False, "InProgress", f"phase {phase}")
        if phase not in (api.FAILED, api.SUSPENDED, api.SUCCEEDED):
            self.status.pop("message", None)
        ready_reason = {api.FAILED: "Failed", api.SUCCEEDED: "Succeeded", api.SUSPENDED: "Suspended"}.get(phase, "Progressing")
        ready_message = (self.status.get("message") if failed else
                         f"reconciled: phase {phase}, stage {self.status.get('stage', api.TEACHER)}")
        self.condition(api.READY, not failed, ready_reason, ready_message or "")
        if self.old_phase != phase:
            kind = "Warning" if failed else "Normal"
            self.plan.events.append(Event(kind, phase, f"phase {self.old_phase or 'None'} → {phase}"
                                          + (f": {self.status.get('message')}" if failed else "")))
        self.plan.status = self.status


RESULT_TYPES: dict[str, type | tuple[type, ...]] = {
    "model": str, "mode": str, "topK": int, "refusals": int, "total": int,
    **{k: (int, float) for k in ("judgeScore", "judgeCoverage", "formatFollowed", "rouge1", "rouge2", "rougeL", "bleu",
                                 "exactMatch", "f1", "precision")},
}
SUMMARY_TYPES: dict[str, type | tuple[type, ...]] = {
    "model": str, "mode": str, "topK": int, "judgeWithheld": str,
    **{k: (int, float) for k in ("judgeScore", "judgeCoverage", "formatFollowed")},
}
COMPARISON_TYPES: dict[str, type | tuple[type, ...]] = {
    "baseline": str, "metric": str, **{k: (int, float) for k in ("difference", "ciLow", "ciHigh", "pValue")},
}


def _typed_map(values: dict[str, Any], kind: type | tuple[type, ...]) -> dict[str, Any]:
    """The entries of a name → number map whose value has the type the status schema gives them."""
    return {k: v for k, v in values.items() if isinstance(k, str) and isinstance(v, kind) and not isinstance(v, bool)}


def _typed(values: dict[str, Any], types: dict[str, type | tuple[type, ...]]) -> dict[str, Any]:
    """The fields of a program's report that have the type the status schema gives them."""
    return {k: v for k, v in values.items() if k in types and isinstance(v, types[k]) and not isinstance(v, bool)}


def reconcile(body: dict[str, Any], observed: Observed, now: dt.datetime, probe: Probe | None = None) -> Plan:
    """Plan the next actions for the RaftRun ``body`` given its observed children."""
    return _Reconcile(body, observed, now, probe).reconcile()
