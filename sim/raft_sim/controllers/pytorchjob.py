"""SIMULATED stand-in for the Kubeflow training operator's PyTorchJob controller (kubeflow.org/v1).

Condition ``Created`` (creates ``<job>-master-0`` and ``<job>-worker-<i>``) → ``Running`` once
every pod runs → ``Succeeded`` or ``Failed``. Honours ``runPolicy.suspend`` (``Suspended``),
``backoffLimit`` with a restarting ``restartPolicy`` (``Restarting``), ``activeDeadlineSeconds``,
``cleanPodPolicy`` and ``ttlSecondsAfterFinished``.

With real workloads each replica gets its Service and torchrun's environment
(:mod:`raft_sim.workload_pods`); the job succeeds with its Master pod and fails with any failed pod.
"""

from __future__ import annotations

from kubernetes.dynamic.exceptions import NotFoundError

from .. import workload_pods
from .base import Conditions, Controller, Obj, meta, owner_ref, pod_finished, pod_running, seconds_since, stamp
from .progress import finetune_progress

Replica = tuple[str, str, Obj, str]  # (replica type, pod name, pod template, restart policy)


def replica_plan(spec: Obj, name: str) -> list[Replica]:
    """(replica type, pod name, template, restart policy) of every pod a PyTorchJob asks for."""
    plan = []
    for rtype in ("Master", "Worker"):
        rspec = (spec.get("pytorchReplicaSpecs") or {}).get(rtype)
        if not rspec:
            continue
        restart = rspec.get("restartPolicy") or "OnFailure"
        count = 1 if rspec.get("replicas") is None else int(rspec["replicas"])
        for i in range(count):
            plan.append((rtype, f"{name}-{rtype.lower()}-{i}", rspec.get("template") or {}, restart))
    return plan


def replica_statuses(plan: list[Replica], name: str, *, active: bool, done: str | None = None) -> Obj:
    """``status.replicaStatuses`` for a replica plan.

    Written with a merge patch, so counts not named here (``failed`` across restarts) survive.
    """
    statuses: Obj = {}
    for rtype, _, _, _ in plan:
        entry = statuses.setdefault(rtype, {"selector": (
            f"training.kubeflow.org/job-name={name},training.kubeflow.org/operator-name=pytorchjob-controller,"
            f"training.kubeflow.org/replica-type={rtype.lower()}")})
        entry.setdefault("active", 0)  # merge-patched: an explicit 0 clears a stale count
        key = "active" if active else done
        if key:
            entry[key] = entry.get(key, 0) + 1
    return statuses


class PyTorchJobController(Controller):
    """Moves PyTorchJobs through the training operator's conditions (see the module docstring)."""

    api_version = "kubeflow.org/v1"
    kind = "PyTorchJob"

    def reconcile(self, namespace: str, name: str) -> float | None:
        """Move one PyTorchJob through the training operator's conditions (SIMULATED)."""
        job = self.get(namespace, name)
        if job is None:
            return None
        spec, status = job.get("spec") or {}, job.get("status") or {}
        run_policy = spec.get("runPolicy") or {}
        conds = Conditions(status.get("conditions"))
        tick = self.settings.progress_interval
        ident = f"PyTorchJob {namespace}/{name}"

        if conds.true("Succeeded") or conds.true("Failed"):
            return self._cleanup(job)
        if not conds.has("Created"):
            conds.set("Created", "True", "PyTorchJobCreated", f"{ident} is created.")
            self.patch_status(job, {
                "conditions": conds.items, "replicaStatuses": {}, "startTime": stamp(),
                "lastReconcileTime": stamp(),
            })
            return 0.0

        if run_policy.get("suspend"):
            if conds.true("Suspended"):
                return None
            self.api.delete_pods(self.api.pods_of(job))
            conds.set("Running", "False", "PyTorchJobSuspended", f"{ident} is suspended.")
            conds.set("Suspended", "True", "PyTorchJobSuspended", f"{ident} is suspended.")
            self.patch_status(job, {"conditions": conds.items, "startTime": None, "replicaStatuses": {}})
            return None
        if conds.true("Suspended"):
            conds.set("Suspended", "False", "PyTorchJobResumed", f"{ident} is resumed.")
            self.patch_status(job, {"conditions": conds.items, "startTime": stamp()})
            return 0.0

        deadline = run_policy.get("activeDeadlineSeconds")
        if deadline and seconds_since(status.get("startTime")) > deadline:
            return self._finish(job, conds, failed=True, reason="DeadlineExceeded", message=(
                f"PyTorchJob {name} has failed because it was active longer than specified deadline"),
                retry=False)

        replicas = replica_plan(spec, name)
        if conds.true("Restarting"):
            pods = self.api.pods_of(job)
            if pods:
                self.api.delete_pods(pods)
                return 0.5
            conds.set("Restarting", "False", "PyTorchJobRestarting", f"{ident} is restarting.")
            conds.set("Running", "False", "PyTorchJobRestarting", f"{ident} is restarting.")

        if self.settings.create_pods and (error := self._ensure_pods(job, replicas)):
            conds.set("Created", "True", "PyTorchJobCreated", error)
            self.patch_status(job, {"conditions": conds.items})
            return 2.0
        pods = self.api.pods_of(job)
        all_running = not self.settings.create_pods or (
            len(pods) >= len(replicas) and all(pod_running(p) for p in pods))
        if not conds.true("Running"):
            if not all_running:
                if conds.changed:
                    self.patch_status(job, {"conditions": conds.items})
                return tick
            conds.set("Running", "True", "PyTorchJobRunning", f"{ident} is running.")
            self.patch_status(job, {
                "conditions": conds.items, "replicaStatuses": replica_statuses(replicas, name, active=True),
                "lastReconcileTime": stamp(),
            })
            return 0.0

        if self.settings.real_workloads:
            return self._watch_real(job, conds, pods, replicas)
        inj = self.api.injection(job, "finetune")
        elapsed = seconds_since(conds.get("Running").get("lastTransitionTime"))
        fraction = inj.fraction(elapsed)
        if fraction >= 1.0:
            if not inj.fail:
                self.api.report(job, "finetune", finetune_progress(1.0, self.api.run_config(job)))
            return self._finish(job, conds, failed=inj.fail, reason="PyTorchJobFailed", message=(
                f"{ident} is failed because 1 Master replica(s) failed. {inj.message}"))
        self.api.report(job, "finetune", finetune_progress(fraction, self.api.run_config(job)))
        return inj.next_check(elapsed, tick)

    def _ensure_pods(self, job: Obj, replicas: list[Replica]) -> str | None:
        """Create the replicas' pods that are missing; an error message if one was refused."""
        name, namespace = meta(job)["name"], meta(job)["namespace"]
        existing = {meta(p)["name"] for p in self.api.pods_of(job)}
        for rtype, pod_name, template, restart in replicas:
            if pod_name in existing:
                continue
            labels = {
                "training.kubeflow.org/job-name": name,
                "training.kubeflow.org/operator-name": "pytorchjob-controller",
                "training.kubeflow.org/replica-type": rtype.lower(),
                "training.kubeflow.org/replica-index": pod_name.rsplit("-", 1)[1],
            }
            if rtype == "Master":
                labels["training.kubeflow.org/job-role"] = "master"
            if self.settings.real_workloads:
                rank = [r[1] for r in replicas].index(pod_name)
                index = int(pod_name.rsplit("-", 1)[1])
                self.api.create_if_absent(self.api.services, workload_pods.pytorch_replica_service(
                    name, namespace, rtype, index, owner_ref(job)))
                template = workload_pods.pytorch_template(
                    template, job=name, rank=rank, nodes=len(replicas),
                    nproc_per_node=str((job.get("spec") or {}).get("nprocPerNode") or "1"))
            error = self.api.create_pod(job, pod_name, template, labels, "Never" if restart == "ExitCode" else restart)
            if error:
                return error
        return None

    def _watch_real(self, job: Obj, conds: Conditions, pods: list[Obj], replicas: list[Replica]) -> float | None:
        """Real workloads: the job succeeds with its Master pod and fails with any failed pod."""
        name, namespace = meta(job)["name"], meta(job)["namespace"]
        limit = ((job.get("spec") or {}).get("runPolicy") or {}).get("backoffLimit") or 0
        by_name = {meta(p)["name"]: p for p in pods}
        master = by_name.get(replicas[0][1]) if replicas else None
        if master is not None and (master.get("status") or {}).get("phase") == "Succeeded":
            return self._finish(job, conds, failed=False, reason="", message="")
        for pod in pods:
            pstatus = pod.get("status") or {}
            restarts = max([c.get("restartCount") or 0 for c in pstatus.get("containerStatuses") or []] or [0])
            if pstatus.get("phase") == "Failed" or restarts > limit:
                rtype = (meta(pod).get("labels") or {}).get("training.kubeflow.org/replica-type", "master").capitalize()
                return self._finish(job, conds, failed=True, reason="PyTorchJobFailed", retry=False, message=(
                    f"PyTorchJob {namespace}/{name} is failed because 1 {rtype} replica(s) failed."))
        return self.settings.progress_interval

    def _finish(self, job: Obj, conds: Conditions, *, failed: bool, reason: str, message: str,
                retry: bool = True) -> float | None:
        """End one attempt: Succeeded, Restarting (within ``backoffLimit``) or Failed."""
        spec, status = job.get("spec") or {}, job.get("status") or {}
        name, namespace = meta(job)["name"], meta(job)["namespace"]
        replicas = replica_plan(spec, name)
        pods = [] if self.settings.real_workloads else self.api.pods_of(job)
        self.api.finish_pods(pods, failed=failed, message=message)
        restarts = 0
        if failed:
            restarts = int(((status.get("replicaStatuses") or {}).get("Master") or {}).get("failed") or 0) + 1
            restart_policy = replicas[0][3] if replicas else "Never"
            limit = (spec.get("runPolicy") or {}).get("backoffLimit") or 0
            if retry and restart_policy != "Never" and restarts <= limit:
                conds.set("Restarting", "True", "PyTorchJobRestarting",
                          f"PyTorchJob {namespace}/{name} is restarting because 1 Master replica(s) failed.")
                conds.set("Running", "False", "PyTorchJobRestarting", message)
                statuses = replica_statuses(replicas, name, active=False)
                statuses.setdefault("Master", {})["failed"] = restarts
                self.patch_status(job, {"conditions": conds.items, "replicaStatuses": statuses})
                return 0.5
            conds.set("Running", "False", reason, message)
            conds.set("Failed", "True", reason, message)
        else:
            msg = f"PyTorchJob {namespace}/{name} successfully completed."
            conds.set("Running", "False", "PyTorchJobSucceeded", msg)
            conds.set("Succeeded", "True", "PyTorchJobSucceeded", msg)
        statuses = replica_statuses(replicas, name, active=False, done=None if failed else "succeeded")
        if failed:
            statuses.setdefault("Master", {})["failed"] = restarts
        self.patch_status(job, {
            "conditions": conds.items, "replicaStatuses": statuses, "completionTime": stamp(),
            "lastReconcileTime": stamp(),
        })
        return 0.0

    def _cleanup(self, job: Obj) -> float | None:
        """``cleanPodPolicy`` and ``ttlSecondsAfterFinished`` of a finished job."""
        run_policy = (job.get("spec") or {}).get("runPolicy") or {}
        policy = run_policy.get("cleanPodPolicy") or "None"
        if policy in ("All", "Running"):
            pods = [p for p in self.api.pods_of(job) if policy == "All" or not pod_finished(p)]
            self.api.delete_pods(pods)
        ttl = run_policy.get("ttlSecondsAfterFinished")
        if ttl is None:
            return None
        wait = ttl - seconds_since((job.get("status") or {}).get("completionTime"))
        if wait > 0:
            return wait
        try:
            self.resource.delete(name=meta(job)["name"], namespace=meta(job)["namespace"],
                                 body={"propagationPolicy": "Background"})
        except NotFoundError:
            pass
        return None
