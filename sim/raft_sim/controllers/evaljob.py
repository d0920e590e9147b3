"""SIMULATED end of an eval Job's run (batch/v1 Job, label ``app.kubernetes.io/component=eval``).

The real Job controller makes the pod and kwok runs it, but kwok leaves eval pods Running
(hack/cluster/kwok-stages.yaml) because what the eval program would do is simulated here: report
eval progress for the duration, then set the pods ``Succeeded``, or ``Failed`` when asked to. The
Job controller then completes or fails the Job from its pods, as with a real program. With real
workloads the program runs and this controller does nothing.
"""

from __future__ import annotations

from .base import Conditions, Controller, pod_running, seconds_since
from .progress import eval_progress


class EvalJobController(Controller):
    """Plays the eval program's part in an eval Job's pods (see the module docstring)."""

    api_version = "batch/v1"
    kind = "Job"
    label_selector = "app.kubernetes.io/component=eval"

    def reconcile(self, namespace: str, name: str) -> float | None:
        """Hold an eval Job's pods Running for the duration, reporting eval progress, then end them."""
        job = self.get(namespace, name)
        if job is None:
            return None
        conditions = Conditions((job.get("status") or {}).get("conditions"))
        if self.settings.real_workloads or conditions.true("Complete") or conditions.true("Failed"):
            return None
        pods = [p for p in self.api.pods_of(job) if pod_running(p)]
        if not pods:
            return self.settings.progress_interval
        inj = self.api.injection(job, "eval")
        elapsed = max(seconds_since((p.get("status") or {}).get("startTime")) for p in pods)
        fraction = inj.fraction(elapsed)
        if fraction >= 1.0:
            if inj.fail:
                self.api.finish_pods(pods, failed=True, message=inj.message)
            else:
                self.api.report(job, "eval", eval_progress(1.0, self.api.run_config(job)))
                self.api.finish_pods(pods, failed=False)
            return self.settings.progress_interval
        self.api.report(job, "eval", eval_progress(fraction, self.api.run_config(job)))
        return inj.next_check(elapsed, self.settings.progress_interval)
