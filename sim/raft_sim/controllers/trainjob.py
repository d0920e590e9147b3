"""SIMULATED stand-in for Kubeflow Trainer's TrainJob controller (and the JobSet it runs).

Used by the local test cluster only, when ``hack/cluster/up.sh --trainer`` installed the
simulated TrainJob and ClusterTrainingRuntime CRDs (``crds/trainer/``); nothing here is Kubeflow
Trainer and nothing in production imports it. It runs beside the other simulated controllers
(same queue, failure-injection annotations and progress reports) and moves a TrainJob's status
the way Trainer v2.3 writes it:

* the referenced ClusterTrainingRuntime must exist and have ``mlPolicy.torch`` (Trainer's webhook
  rejects the TrainJob otherwise; having none, this stand-in fails it with
  ``TrainingRuntimeNotSupported``);
* one pod per node, ``<job>-node-0-<i>-<hash>``, from the runtime's ``node`` container with the
  TrainJob's ``trainer`` (image, command, args, env, resourcesPerNode) and the runtime patches'
  pod spec, plus Trainer's torch environment (``PET_NNODES``, ``PET_NPROC_PER_NODE``,
  ``PET_NODE_RANK``, ``PET_MASTER_ADDR``, ``PET_MASTER_PORT``);
* ``jobsStatus`` (``node``: ready, succeeded, failed, active, suspended) as JobSet counts its
  child Jobs; conditions as metav1.Conditions: ``Suspended`` (reasons ``Suspended`` /
  ``Resumed``), then ``Complete`` (``AllJobsCompleted``) or ``Failed`` (``FailedJobs``, or
  ``DeadlineExceeded`` after ``activeDeadlineSeconds``, counted from the start or the last resume).
"""

from __future__ import annotations

import time
from typing import Any

from kubernetes.dynamic.exceptions import NotFoundError

from .base import (Controller, Obj, SimApi, is_true, meta, pod_finished, pod_running, seconds_since, set_condition,
                   short_hash)
from .progress import finetune_progress

API_VERSION = "trainer.kubeflow.org/v1alpha1"
NODE = "node"
MASTER_PORT = 29400
COMPLETED = ("AllJobsCompleted", "jobset completed successfully")
FAILED = ("FailedJobs", "jobset failed due to one or more job failures")


def jobs_status(**counts: int) -> list[Obj]:
    """``status.jobsStatus`` for the one replicated job ``node``."""
    return [{"name": NODE, **{k: counts.get(k, 0) for k in ("ready", "succeeded", "failed", "active", "suspended")}}]


class TrainJobController(Controller):
    """Moves TrainJobs through Trainer's conditions (see the module docstring); only where TrainJob is served."""

    api_version = API_VERSION
    kind = "TrainJob"
    optional = True

    def __init__(self, api: SimApi, resource: Any) -> None:
        super().__init__(api, resource)
        self.runtimes = api.resource(API_VERSION, "ClusterTrainingRuntime")
        self.running_since: dict[str, float] = {}  # uid → when every pod ran (monotonic)

    def _patch(self, job: Obj, conditions: list[Obj], jobs: list[Obj] | None = None) -> None:
        status: Obj = {"conditions": conditions}
        if jobs is not None:
            status["jobsStatus"] = jobs
        self.patch_status(job, status)

    def _runtime(self, job: Obj) -> Obj | None:
        ref = (job.get("spec") or {}).get("runtimeRef") or {}
        if ref.get("kind", "ClusterTrainingRuntime") != "ClusterTrainingRuntime":
            return None
        try:
            return self.runtimes.get(name=ref.get("name")).to_dict()
        except NotFoundError:
            return None

    def reconcile(self, namespace: str, name: str) -> float | None:
        """Move one TrainJob through Trainer's conditions (SIMULATED)."""
        job = self.get(namespace, name)
        if job is None:
            return None
        spec, status = job.get("spec") or {}, job.get("status") or {}
        conditions: list[Obj] = [dict(c) for c in status.get("conditions") or []]
        generation = meta(job).get("generation")
        uid = meta(job)["uid"]
        if is_true(conditions, "Complete") or is_true(conditions, "Failed"):
            self.running_since.pop(uid, None)
            return None
        runtime = self._runtime(job)
        if runtime is None or "torch" not in ((runtime.get("spec") or {}).get("mlPolicy") or {}):
            set_condition(conditions, "Failed", "True", "TrainingRuntimeNotSupported",
                          f"ClusterTrainingRuntime {spec['runtimeRef'].get('name')!r} is not found or not a torch runtime",
                          generation)
            self._patch(job, conditions)
            return None

        pods = self.api.pods_of(job)
        if spec.get("suspend"):
            self.running_since.pop(uid, None)
            if pods:
                self.api.delete_pods(pods)
            if not is_true(conditions, "Suspended"):
                set_condition(conditions, "Suspended", "True", "Suspended", "TrainJob is suspended", generation)
                self._patch(job, conditions, jobs_status(suspended=1))
            return None
        if is_true(conditions, "Suspended"):
            set_condition(conditions, "Suspended", "False", "Resumed", "TrainJob is resumed", generation)
            self._patch(job, conditions, jobs_status())
            return 0.0

        resumed = next((c for c in conditions if c["type"] == "Suspended"), {}).get("lastTransitionTime")
        deadline = spec.get("activeDeadlineSeconds")
        if deadline and seconds_since(resumed or meta(job).get("creationTimestamp")) > deadline:
            self.api.finish_pods(pods, failed=True, message="DeadlineExceeded")
            set_condition(conditions, "Failed", "True", "DeadlineExceeded",
                          "TrainJob exceeded its activeDeadlineSeconds", generation)
            self._patch(job, conditions, jobs_status(failed=1))
            return None

        nodes = int((spec.get("trainer") or {}).get("numNodes")
                    or ((runtime.get("spec") or {}).get("mlPolicy") or {}).get("numNodes") or 1)
        if self.settings.create_pods:
            error = self._create_pods(job, runtime, nodes, {meta(p)["name"] for p in pods})
            if error:
                set_condition(conditions, "Failed", "True", FAILED[0], error, generation)
                self._patch(job, conditions, jobs_status(failed=1))
                return None
            pods = self.api.pods_of(job)
        all_running = not self.settings.create_pods or (
            len(pods) >= nodes and all(pod_running(p) for p in pods))
        if not all_running:
            if not status.get("jobsStatus"):
                self._patch(job, conditions, jobs_status(active=1))
            return self.settings.progress_interval
        if uid not in self.running_since:
            self.running_since[uid] = time.monotonic()
            self._patch(job, conditions, jobs_status(active=1, ready=1))

        inj = self.api.injection(job, "finetune")
        elapsed = time.monotonic() - self.running_since[uid]
        fraction = inj.fraction(elapsed)
        run = self.api.run_config(job)
        if fraction < 1.0:
            self.api.report(job, "finetune", finetune_progress(fraction, run))
            return inj.next_check(elapsed, self.settings.progress_interval)
        if not inj.fail:
            self.api.report(job, "finetune", finetune_progress(1.0, run))
        self.api.finish_pods([p for p in pods if not pod_finished(p)], failed=inj.fail, message=inj.message)
        reason, message = FAILED if inj.fail else COMPLETED
        set_condition(conditions, "Failed" if inj.fail else "Complete", "True", reason,
                      f"{message}: {inj.message}" if inj.fail else message, generation)
        self._patch(job, conditions, jobs_status(**{"failed" if inj.fail else "succeeded": 1}))
        self.running_since.pop(uid, None)
        return None

    def _create_pods(self, job: Obj, runtime: Obj, nodes: int, existing: set[str]) -> str | None:
        """One pod per node, as JobSet's indexed Job would make them; an error message if refused."""
        name, uid = meta(job)["name"], meta(job)["uid"]
        template = pod_template(job, runtime, nodes)
        for index in range(nodes):
            pod_name = f"{name}-{NODE}-0-{index}-{short_hash(f'{uid}/{index}')}"
            if pod_name in existing:
                continue
            pod = node_pod(template, name, index)
            labels = {
                "jobset.sigs.k8s.io/jobset-name": name,
                "jobset.sigs.k8s.io/replicatedjob-name": NODE,
                "batch.kubernetes.io/job-completion-index": str(index),
                "trainer.kubeflow.org/trainjob-ancestor-step": "trainer",
            }
            error = self.api.create_pod(job, pod_name, pod, labels, "OnFailure")
            if error:
                return error
        return None


def pod_template(job: Obj, runtime: Obj, nodes: int) -> Obj:
    """The ``node`` pod template: the runtime's, the TrainJob's trainer, then its runtime patches."""
    spec = job.get("spec") or {}
    trainer = spec.get("trainer") or {}
    jobs = (((runtime.get("spec") or {}).get("template") or {}).get("spec") or {}).get("replicatedJobs") or []
    base = next((j for j in jobs if j.get("name") == NODE), {})
    pod: Obj = ((((base.get("template") or {}).get("spec") or {}).get("template")) or {"spec": {}})
    pod = {"metadata": dict(pod.get("metadata") or {}), "spec": dict(pod.get("spec") or {})}
    containers = [dict(c) for c in pod["spec"].get("containers") or [{"name": NODE}]]
    node = next(c for c in containers if c["name"] == NODE)
    for key in ("image", "command", "args"):
        if trainer.get(key):
            node[key] = trainer[key]
    if trainer.get("resourcesPerNode"):
        node["resources"] = trainer["resourcesPerNode"]
    node["env"] = list(trainer.get("env") or []) + [
        {"name": "PET_NNODES", "value": str(nodes)},
        {"name": "PET_NPROC_PER_NODE", "value": str(trainer.get("numProcPerNode") or "auto")},
        {"name": "PET_MASTER_ADDR", "value": f"{meta(job)['name']}-{NODE}-0-0.{meta(job)['name']}"},
        {"name": "PET_MASTER_PORT", "value": str(MASTER_PORT)},
    ]
    node["ports"] = [{"containerPort": MASTER_PORT}]
    for patch in spec.get("runtimePatches") or []:
        rjobs = ((((patch.get("trainingRuntimeSpec") or {}).get("template") or {}).get("spec") or {})
                 .get("replicatedJobs") or [])
        for rjob in rjobs:
            if rjob.get("name") != NODE:
                continue
            patch_pod = ((rjob.get("template") or {}).get("spec") or {}).get("template") or {}
            pod["metadata"].setdefault("labels", {}).update((patch_pod.get("metadata") or {}).get("labels") or {})
            patch_spec = dict(patch_pod.get("spec") or {})
            for override in patch_spec.pop("containers", []):
                target = next((c for c in containers if c["name"] == override.get("name")), None)
                if target is not None:
                    target.update({k: v for k, v in override.items() if k != "name"})
            pod["spec"].update(patch_spec)
    pod["spec"]["containers"] = containers
    return pod


def node_pod(template: Obj, job_name: str, index: int) -> Obj:
    """The template for node ``index``: its rank in ``PET_NODE_RANK``."""
    pod = {"metadata": template["metadata"], "spec": dict(template["spec"])}
    pod["spec"]["containers"] = [
        {**c, "env": c.get("env", []) + [{"name": "PET_NODE_RANK", "value": str(index)}]} if c["name"] == NODE else c
        for c in template["spec"]["containers"]]
    pod["spec"]["hostname"] = f"{job_name}-{NODE}-0-{index}"
    pod["spec"]["subdomain"] = job_name
    return pod
