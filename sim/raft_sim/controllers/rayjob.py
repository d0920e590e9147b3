"""SIMULATED stand-in for KubeRay's RayJob controller (ray.io/v1).

``Initializing`` (creates the head and worker pods from the templates, so the real scheduler
places them on the fake GPU nodes) → ``Running``/``RUNNING`` once every pod runs → after the
simulated duration ``Complete``/``SUCCEEDED`` or ``Failed``/``FAILED``. A name KubeRay refuses
(over 47 characters, not DNS-1035) ends in ``ValidationFailed``, as there. Honours ``suspend``
(``Suspending`` → ``Suspended``), ``backoffLimit`` (``Retrying``), ``activeDeadlineSeconds``
(``DeadlineExceeded``), ``preRunningDeadlineSeconds`` (``PreRunningDeadlineExceeded``),
``shutdownAfterJobFinishes`` with ``ttlSecondsAfterFinished`` (deletes the pods).

With real workloads the pods run Ray (:mod:`raft_sim.workload_pods`): once the head's dashboard
answers, a submitter Job runs the entrypoint, and the Ray job's state decides the outcome.
"""

from __future__ import annotations

import re

from kubernetes.dynamic.exceptions import NotFoundError

from .. import workload_pods
from .base import Conditions, Controller, Obj, meta, owner_ref, pod_running, seconds_since, short_hash, stamp
from .progress import datagen_progress

MAX_RAYJOB_NAME = 47  # KubeRay's MaxRayJobNameLength
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def rayjob_metadata_error(name: str) -> str | None:
    """What KubeRay's metadata validation says of a RayJob name, or None when it passes."""
    if len(name) > MAX_RAYJOB_NAME:
        return f"The RayJob metadata is invalid: RayJob name should be no more than {MAX_RAYJOB_NAME} characters"
    if not DNS_1035.match(name) or len(name) > 63:
        return ("The RayJob metadata is invalid: RayJob name should be a valid DNS1035 label: [a DNS-1035 label must "
                "consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end "
                "with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
                "'[a-z]([-a-z0-9]*[a-z0-9])?')]")
    return None


class RayJobController(Controller):
    """Moves RayJobs through KubeRay's ``jobDeploymentStatus`` machine (see the module docstring)."""

    api_version = "ray.io/v1"
    kind = "RayJob"

    def reconcile(self, namespace: str, name: str) -> float | None:
        """Move one RayJob through KubeRay's jobDeploymentStatus machine (SIMULATED)."""
        job = self.get(namespace, name)
        if job is None:
            return None
        spec, status = job.get("spec") or {}, job.get("status") or {}
        phase = status.get("jobDeploymentStatus") or ""
        suspend = bool(spec.get("suspend"))
        tick = self.settings.progress_interval

        if phase == "ValidationFailed":
            return None  # terminal, as in KubeRay: nothing was created
        if phase == "" and (invalid := rayjob_metadata_error(name)):
            self.patch_status(job, {
                "jobDeploymentStatus": "ValidationFailed", "reason": "ValidationFailed", "message": invalid})
            return None
        if phase in ("Complete", "Failed"):
            return self._cleanup(job)
        if suspend:
            if phase in ("", "Suspended"):
                if phase == "":
                    self.patch_status(job, {"jobDeploymentStatus": "Suspended"})
                return None
            if phase != "Suspending":
                self.patch_status(job, {"jobDeploymentStatus": "Suspending"})
                return 0.2
            self.api.delete_pods(self.api.pods_of(job))
            self.patch_status(job, {
                "jobDeploymentStatus": "Suspended", "jobStatus": None, "rayClusterName": None,
                "rayJobInfo": None, "startTime": None, "message": None, "reason": None,
            })
            return None
        if phase in ("Suspended", "Suspending"):  # resumed: start over like a new job
            self.patch_status(job, {"jobDeploymentStatus": ""})
            return 0.0
        if phase == "Retrying":
            pods = self.api.pods_of(job)
            if pods:
                self.api.delete_pods(pods)
                return 0.5
            self.patch_status(job, {"jobDeploymentStatus": "", "jobStatus": None})
            return 0.0

        uid = meta(job)["uid"]
        cluster = f"{name}-raycluster-{short_hash(uid + str(status.get('failed') or 0))}"
        if phase == "":
            self.patch_status(job, {
                "jobDeploymentStatus": "Initializing",
                "startTime": stamp(),
                "rayClusterName": cluster,
                "jobId": spec.get("jobId") or f"{name}-{short_hash(uid, 8)}",
                "dashboardURL": f"{cluster}-head-svc.{namespace}.svc.cluster.local:8265",
                "observedGeneration": meta(job).get("generation"),
                "succeeded": status.get("succeeded") or 0,
                "failed": status.get("failed") or 0,
            })
            return 0.0

        deadline = spec.get("activeDeadlineSeconds")
        if deadline and seconds_since(status.get("startTime")) > deadline:
            return self._finish(job, failed=True, reason="DeadlineExceeded", message=(
                f"The RayJob has passed the activeDeadlineSeconds. StartTime: {status.get('startTime')}. "
                f"ActiveDeadlineSeconds: {deadline}"), retry=False)

        pre_running = spec.get("preRunningDeadlineSeconds")
        if phase == "Initializing" and pre_running and seconds_since(status.get("startTime")) > pre_running:
            return self._finish(job, failed=True, reason="PreRunningDeadlineExceeded", message=(
                f"The RayJob did not reach Running within preRunningDeadlineSeconds ({pre_running}s)"), retry=False)

        if phase == "Initializing":
            error = self._ensure_pods(job, status.get("rayClusterName") or cluster)
            if error:
                self.patch_status(job, {"message": error})
                return 2.0
            pods = self.api.pods_of(job)
            if not self.settings.create_pods or (pods and all(pod_running(p) for p in pods)):
                # An entrypoint that fails at once (a failure injected with a duration of 0) is never
                # seen RUNNING by KubeRay: Running without a jobStatus, then FAILED (recorded, v1.6.2).
                inj = self.api.injection(job, "datagen")
                at_once = inj.fail and not inj.duration and not self.settings.real_workloads
                self.patch_status(job, {
                    "jobDeploymentStatus": "Running", "jobStatus": None if at_once else "RUNNING", "message": None,
                    "rayJobInfo": {"startTime": stamp()},
                })
                return 0.0
            return tick

        if phase == "Running" and self.settings.real_workloads:
            return self._watch_real(job, status.get("rayClusterName") or cluster)
        if phase == "Running":
            inj = self.api.injection(job, "datagen")
            elapsed = seconds_since((status.get("rayJobInfo") or {}).get("startTime"))
            fraction = inj.fraction(elapsed)
            if fraction >= 1.0:
                if not inj.fail:
                    self.api.report(job, "datagen", datagen_progress(1.0, self.api.run_config(job)))
                return self._finish(job, failed=inj.fail, reason="AppFailed", message=inj.message)
            self.api.report(job, "datagen", datagen_progress(fraction, self.api.run_config(job)))
            return inj.next_check(elapsed, tick)
        return None

    def _ensure_pods(self, job: Obj, cluster: str) -> str | None:
        """Create the Ray cluster's head and worker pods that are missing; an error message if refused."""
        if not self.settings.create_pods:
            return None
        cspec = (job.get("spec") or {}).get("rayClusterSpec") or {}
        existing = {meta(p)["name"] for p in self.api.pods_of(job)}
        base = {"ray.io/cluster": cluster, "app.kubernetes.io/created-by": "kuberay-operator",
                "ray.io/is-ray-node": "yes"}
        head = cspec.get("headGroupSpec") or {}
        namespace = meta(job)["namespace"]

        def template(group: Obj, is_head: bool) -> Obj:
            if not self.settings.real_workloads:
                return group.get("template") or {}
            return workload_pods.ray_node_template(group.get("template") or {}, head=is_head, cluster=cluster,
                                                   namespace=namespace, start_params=group.get("rayStartParams"))

        if self.settings.real_workloads:
            self.api.create_if_absent(self.api.services,
                                      workload_pods.ray_head_service(cluster, namespace, owner_ref(job)))
        wanted = [(f"{cluster}-head", template(head, True), "head", "headgroup")]
        for group in cspec.get("workerGroupSpecs") or []:
            replicas = group.get("replicas", group.get("minReplicas", 0)) or 0
            gname = group.get("groupName", "workers")
            wanted += [(f"{cluster}-{gname}-worker-{i}", template(group, False), "worker", gname)
                       for i in range(replicas * (group.get("numOfHosts", 1) or 1))]
        for pod_name, pod_template, node_type, gname in wanted:
            if pod_name in existing:
                continue
            error = self.api.create_pod(job, pod_name, pod_template,
                                        {**base, "ray.io/node-type": node_type, "ray.io/group": gname})
            if error:
                return error
        return None

    def _watch_real(self, job: Obj, cluster: str) -> float | None:
        """Real workloads: submit the entrypoint once the dashboard answers, then follow the Ray job."""
        status = job.get("status") or {}
        job_id = status.get("jobId") or meta(job)["name"]
        head = next((p for p in self.api.pods_of(job) if meta(p)["name"] == f"{cluster}-head"), None)
        head_ip = ((head or {}).get("status") or {}).get("podIP")
        if head is None or (head.get("status") or {}).get("phase") in ("Failed", "Succeeded"):
            return self._finish(job, failed=True, reason="AppFailed", message="the Ray head pod is gone or ended")
        if not head_ip:
            return self.settings.progress_interval
        info = workload_pods.ray_job_info(head_ip, job_id)
        submitter = self.api.get(self.api.jobs, meta(job)["namespace"], meta(job)["name"])
        if submitter is None:
            if workload_pods.ray_head_healthy(head_ip):
                self.api.create_if_absent(self.api.jobs,
                                          workload_pods.ray_submitter_job(job, cluster, job_id, owner_ref(job)))
            return self.settings.progress_interval
        state = (info or {}).get("status")
        if state == "SUCCEEDED":
            return self._finish(job, failed=False, reason="", message="")
        if state in ("FAILED", "STOPPED"):
            return self._finish(job, failed=True, reason="AppFailed",
                                message=f"Ray job {job_id} {state}: {(info or {}).get('message') or ''}".strip())
        if Conditions((submitter.get("status") or {}).get("conditions")).true("Failed"):
            return self._finish(job, failed=True, reason="SubmissionFailed",
                                message=f"the submitter Job {meta(submitter)['name']} failed")
        if state and state != status.get("jobStatus"):
            self.patch_status(job, {"jobStatus": state})
        return self.settings.progress_interval

    def _finish(self, job: Obj, *, failed: bool, reason: str, message: str, retry: bool = True) -> float | None:
        """End one attempt: Complete, Retrying (within ``backoffLimit``) or Failed."""
        spec, status = job.get("spec") or {}, job.get("status") or {}
        pods = [] if self.settings.real_workloads else self.api.pods_of(job)
        if not failed:
            self.api.finish_pods(pods, failed=False)
            self.patch_status(job, {
                "jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED", "endTime": stamp(),
                "rayJobInfo": {"endTime": stamp()}, "succeeded": (status.get("succeeded") or 0) + 1,
                "reason": None, "message": None,
            })
            return 0.0
        failures = (status.get("failed") or 0) + 1
        self.api.finish_pods(pods, failed=True, message=message)
        if retry and failures <= (spec.get("backoffLimit") or 0):
            self.patch_status(job, {
                "jobDeploymentStatus": "Retrying", "jobStatus": "FAILED", "failed": failures,
                "reason": reason, "message": message,
            })
            return 0.5
        self.patch_status(job, {
            "jobDeploymentStatus": "Failed", "jobStatus": "FAILED", "endTime": stamp(),
            "rayJobInfo": {"endTime": stamp()}, "failed": failures, "reason": reason, "message": message,
        })
        return 0.0

    def _cleanup(self, job: Obj) -> float | None:
        """``shutdownAfterJobFinishes``: delete the Ray cluster ``ttlSecondsAfterFinished`` after the end."""
        spec, status = job.get("spec") or {}, job.get("status") or {}
        if not spec.get("shutdownAfterJobFinishes"):
            return None
        wait = (spec.get("ttlSecondsAfterFinished") or 0) - seconds_since(status.get("endTime"))
        if wait > 0:
            return wait
        self.api.delete_pods(self.api.pods_of(job))
        if self.settings.real_workloads:
            cluster = status.get("rayClusterName") or ""
            for resource, name in ((self.api.services, workload_pods.head_service_name(cluster)),
                                   (self.api.jobs, meta(job)["name"])):
                try:
                    resource.delete(name=name, namespace=meta(job)["namespace"], body={"propagationPolicy": "Background"})
                except NotFoundError:
                    pass
        return None
