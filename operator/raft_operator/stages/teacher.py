"""The teacher stage: serve the teacher model (in-cluster vLLM) until it answers a completion.

An external teacher needs nothing: the stage succeeds at once. The later stages that talk to the
teacher (datagen, and eval when the teacher judges or is a baseline) keep it up with
:func:`serve`; the others scale it to zero with :func:`scale_down`.
"""

from __future__ import annotations

import datetime as dt

from raft_api.status import stage_names

from .. import api, child_kinds, kueue
from ..builders import teacher
from ..builders.common import Manifest
from ..child_status import Outcome, deployment_available
from ..conditions import is_true
from ..plan import Ref
from ..run import Run
from .base import Pass, ServerDeadline, Stage, scale_to_zero


class Teacher(Stage):
    """Serving the teacher; its own child is the teacher's server (a Deployment, or a
    LeaderWorkerSet across nodes)."""

    def deadline(self, run: Run) -> int:
        return run.vllm_teacher.startup_timeout_seconds

    def owner(self, names: api.ChildNames) -> str:
        return names.teacher

    def children(self, p: Pass) -> list[Manifest]:
        return teacher.build(p.run)

    def reconcile(self, p: Pass) -> Outcome:
        return serve(p, p.stage_started(self.name, self.children(p)))

    def pause(self, p: Pass) -> None:
        scale_to_zero(p, teacher.build(p.run, replicas=0))
        if p.run.teacher_in_cluster and is_true(p.conditions, self.condition):
            p.condition(self.condition, False, "ScaledDown", "the run is suspended")

    def release(self, p: Pass) -> None:
        scale_down(p)

    def server_deadlines(self, run: Run) -> list[ServerDeadline]:
        return [(f"spec.{self.deadline_field}", self.deadline(run), True)] if run.teacher_in_cluster else []

    def addon_kinds(self, p: Pass) -> set[str]:
        return {child_kinds.LEADER_WORKER_SET.kind} if multi_node(p.run) else set()


STAGE = Teacher(**stage_names("teacher"), component="teacher",
                deadline_field="teacher.vllm.startupTimeoutSeconds")


def multi_node(run: Run) -> bool:
    """Whether the teacher spans nodes (pipeline parallelism): a LeaderWorkerSet serves it."""
    return run.teacher_in_cluster and run.vllm_teacher.pipeline_parallel_size > 1


def serve(p: Pass, started: dt.datetime) -> Outcome:
    """Keep the teacher up for the running stage (started at ``started``); succeeded once it
    answers a one-token completion."""
    ready_condition = STAGE.condition
    if not p.run.teacher_in_cluster:
        p.condition(ready_condition, True, "ExternalEndpoint", "using the external OpenAI-compatible endpoint")
        return Outcome(succeeded=True)
    deploy, service = teacher.build(p.run)
    p.scale(deploy, deploy["spec"]["replicas"])
    p.ensure(service)
    p.ensure(teacher.replicas_service(p.run))
    if is_true(p.conditions, ready_condition):
        return Outcome(succeeded=True)
    current = p.observed.get(deploy["kind"], deploy["metadata"]["name"])
    ready = (current["status"].get("readyReplicas") or 0) if current else 0
    p.status["progress"] = f"teacher {ready}/{deploy['spec']['replicas']} ready"
    queue = kueue.servers(p.observed, STAGE.component, [(deploy["kind"], deploy["metadata"]["name"])])
    if deployment_available(current):
        p.plan.external = True  # the probe's answer is not in the children
        ok, detail = p.probe() if p.probe else (False, "no probe configured")
        if ok:
            p.condition(ready_condition, True, "Serving", f"{p.run.vllm_teacher.model} answers completions")
            return Outcome(succeeded=True)
        reason, message = "ProbeFailed", f"the teacher is available but a one-token completion failed: {detail}"
    else:
        stuck = p.stuck_pods(STAGE.component, (deploy["metadata"]["name"],), queue)
        if stuck is not None and stuck.failed:
            return Outcome(failed=True, reason=f"Teacher{stuck.reason}", message=stuck.message)
        problem = (stuck.reason, stuck.message) if stuck else None
        reason, message = problem or (("WaitingForQuota", f"teacher pods {queue.waiting}") if queue.waiting else
                                      ("Loading", f"waiting for {deploy['metadata']['name']} to become available"))
    calm = reason in ("Loading", "WaitingForQuota")
    if queue.waiting:  # the start-up timeout starts when Kueue admits the teacher
        p.condition(ready_condition, False, reason, message, warn=not calm)
        return Outcome()
    begin = max(started, queue.admitted or started)
    timeout = STAGE.deadline(p.run)
    waited = (p.now - begin).total_seconds()
    if waited > timeout:
        return Outcome(failed=True, reason=f"TeacherNotReady{reason if reason != 'Loading' else ''}",
                       message=f"teacher not ready after {int(waited)}s (startupTimeoutSeconds {timeout}): {reason}: {message}")
    p.plan.recheck(begin + dt.timedelta(seconds=timeout))
    p.condition(ready_condition, False, reason, message, warn=not calm)
    return Outcome()


def scale_down(p: Pass) -> None:
    """Scale the in-cluster teacher to zero (once per pass): no running stage needs it."""
    if not p.run.teacher_in_cluster:
        return
    deploy, _ = teacher.build(p.run, replicas=0)
    current = p.observed.get(deploy["kind"], deploy["metadata"]["name"])
    patch = (Ref.of(deploy), {"spec": {"replicas": 0}})
    if current is not None and current.get("replicas") and patch not in p.plan.patch:
        p.plan.patch.append(patch)
    if current is not None and is_true(p.conditions, STAGE.condition):
        # Only a serving teacher becomes ScaledDown: a failure's reason stays on the condition.
        p.condition(STAGE.condition, False, "ScaledDown", "teacher scaled to zero: no running stage needs it")
