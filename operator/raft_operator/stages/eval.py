"""The eval stage: student servers (the fine-tuned student, the base model), then the Job that
asks them, and the teacher when it judges or is a baseline, the questions and scores the answers.

The Job's program reports answers done under ``eval`` in the progress ConfigMap and its results
at the end, folded into status.results and status.score.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from raft_api.status import stage_names

from .. import api, kueue
from ..builders import evaluation
from ..builders.common import Manifest
from ..child_status import MODEL_CHECK_FAILED, Outcome, deployment_available
from ..run import Run
from . import teacher
from .base import Pass, ServerDeadline, scale_to_zero
from .batch import BatchStage, Fraction

SERVER_COMPONENT = "student-server"  # the student servers' pods


def report_path(run: Run) -> str:
    """Where the Job writes its HTML report, on the run's volume."""
    return api.RunLayout(run.root).report_html


def needs_teacher(run: Run) -> bool:
    """Whether eval talks to the in-cluster teacher: it judges, or it is a baseline."""
    ev = run.spec.eval
    return run.teacher_in_cluster and (ev.judge is None or ev.baselines.teacher)


class Eval(BatchStage):
    """Evaluating the student: the servers first, then the eval Job."""

    def deadline(self, run: Run) -> int:
        return run.spec.failure_policy.eval_deadline_seconds

    def owner(self, names: api.ChildNames) -> str:
        return names.eval

    def batch(self, p: Pass) -> Manifest:
        return evaluation.job(p.run)

    def servers(self, p: Pass) -> list[Manifest]:
        return evaluation.server_manifests(p.run)

    def prepare(self, p: Pass, started: dt.datetime, servers: list[Manifest], child: Manifest) -> Outcome | None:
        """The teacher (when needed) and the student servers; until the Job exists, it waits for
        them to be ready, failing after failurePolicy.evalDeadlineSeconds."""
        if needs_teacher(p.run):
            # Scaled down during fine-tuning, the teacher comes back to answer and judge.
            teacher_ready = teacher.serve(p, started)
            if teacher_ready.failed:
                return teacher_ready
        else:
            teacher_ready = Outcome(succeeded=True)
            teacher.scale_down(p)
        for manifest in servers:
            if manifest["kind"] == "Deployment":
                p.scale(manifest, 1)
            else:
                p.ensure(manifest)
        deployments = [m for m in servers if m["kind"] == "Deployment"]
        ready = [m for m in deployments if deployment_available(p.observed.get("Deployment", m["metadata"]["name"]))]
        if p.observed.get(child["kind"], child["metadata"]["name"]) is not None or (
                len(ready) == len(deployments) and teacher_ready.succeeded):
            return None
        p.status["progress"] = f"student servers {len(ready)}/{len(deployments)} ready"
        queue = kueue.servers(p.observed, SERVER_COMPONENT)
        stuck = p.stuck_pods(SERVER_COMPONENT, tuple(m["metadata"]["name"] for m in deployments), queue)
        if stuck is not None and stuck.reason == MODEL_CHECK_FAILED:
            return Outcome(failed=True, reason=f"Student{MODEL_CHECK_FAILED}", message=stuck.message)
        if stuck is not None and stuck.failed:
            return Outcome(failed=True, reason=f"StudentServer{stuck.reason}", message=stuck.message)
        problem = (stuck.reason, stuck.message) if stuck else None
        if queue.waiting and problem is None:  # the deadline starts when Kueue admits the servers
            p.condition(self.condition, False, "WaitingForQuota", f"student server pods {queue.waiting}")
            return Outcome()
        begin = max(started, queue.admitted or started)
        waited = (p.now - begin).total_seconds()
        limit = self.deadline(p.run)
        if waited > limit:
            reason, message = problem or ("ServersNotReady", "student servers did not become available")
            return Outcome(failed=True, reason=f"StudentServer{reason}", message=f"after {int(waited)}s: {message}")
        p.plan.recheck(begin + dt.timedelta(seconds=limit))
        reason, message = problem or ("Waiting", "waiting for the student servers")
        p.condition(self.condition, False, reason, message, warn=problem is not None)
        return Outcome()

    def pending_message(self, kind: str) -> str:
        return "eval Job created"

    def succeeded(self, p: Pass, child: Manifest) -> tuple[str, str]:
        return "EvalJobSucceeded", f"report at {report_path(p.run)}"

    def running_message(self, kind: str, outcome: Outcome) -> str:
        return "eval Job running"

    def pause(self, p: Pass) -> None:
        scale_to_zero(p, self.servers(p))

    def release(self, p: Pass) -> None:
        for manifest in self.servers(p):
            p.delete(manifest)

    def server_deadlines(self, run: Run) -> list[ServerDeadline]:
        return [("the student servers' start-up timeout", evaluation.SERVER_STARTUP_TIMEOUT_SECONDS, False)]

    def fold(self, status: dict[str, Any], report: dict[str, Any], run: Run) -> None:
        """The results of every model and mode, the summary in the primary mode, and the score line."""
        rows, summary = report.get("results") or [], report.get("summary") or {}
        if rows:
            status["results"] = {"models": rows, "summary": {"improvement": {}, **summary},
                                 "reportPath": report_path(run)}
        if "judgeWithheld" in summary:
            status["score"] = f"no judge score: {summary['judgeWithheld']}"[:256]
        elif "judgeScore" in summary:
            score = f"judge {summary['judgeScore']:.2f}"
            if "base" in summary.get("improvement", {}):
                score += f" ({summary['improvement']['base']:+.0%} vs base)"
            status["score"] = score


# While Kueue holds the Job, its condition keeps saying "eval Job running" (shows_queue=False).
STAGE = Eval(**stage_names("eval"), component="eval",
             deadline_field="failurePolicy.evalDeadlineSeconds", progress_key="eval", status_path="results",
             report_parts=(("results", "models"), ("summary", "summary")),
             progress=Fraction("answers", "answersDone", "answersTotal", "evaluating"), shows_queue=False)
