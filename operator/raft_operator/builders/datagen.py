"""Data generation: a KubeRay RayJob whose entrypoint runs raft_jobs.datagen against the teacher."""

from __future__ import annotations

from typing import Any

from .. import api, child_kinds
from . import server_auth
from ..run import Run
from .common import (Manifest, container_security_context, metadata, pod_spec, pod_template, resources,
                     secret_env, standard_mounts, standard_volumes, workload_env)
from .configmaps import TEACHER_API_KEY_ENV

RAY_VERSION = "2.60.0"  # must match the Ray the datagen image installs (images/datagen/Dockerfile)
ENTRYPOINT = f"python -m raft_jobs.datagen --config {api.RUN_CONFIG_PATH}"
# The Ray cluster's pods go soon after the job ends: the data is on the volume and the job's output in
# the submitter's log; the delay only lets a log shipper read the Ray pods' last lines.
TTL_SECONDS_AFTER_FINISHED = 30
PRE_RUNNING_DEADLINE_SECONDS = 3600  # from start to a running Ray cluster (image pulls included)


def _env(run: Run) -> list[dict[str, Any]]:
    env = workload_env(run) + (server_auth.client_env(run) if run.teacher_in_cluster else [])
    ext = run.spec.teacher.external
    if ext and ext.api_key_secret_ref:
        env.append(secret_env(TEACHER_API_KEY_ENV, ext.api_key_secret_ref))
    return env


def _corpus_mount(run: Run) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The corpus claim, read-only at /corpus, when the corpus is a volume."""
    volume = run.spec.corpus.volume
    if not volume:
        return [], []
    mount: dict[str, Any] = {"name": "corpus", "mountPath": api.CORPUS_MOUNT, "readOnly": True}
    if volume.sub_path:
        mount["subPath"] = volume.sub_path
    claim = {"name": "corpus", "persistentVolumeClaim": {"claimName": volume.claim_name, "readOnly": True}}
    return [mount], [claim]


def _ray_pod(run: Run, container_name: str, ports: list[dict[str, Any]], *, driver: bool = False) -> dict[str, Any]:
    """A Ray pod; the ``driver`` (the head, where Ray runs the job's entrypoint) reports progress."""
    corpus_mounts, corpus_volumes = _corpus_mount(run)
    container = {
        "name": container_name,
        "image": run.image.datagen,
        "env": _env(run),
        "ports": ports,
        "resources": resources(run.spec.datagen.resources),
        "volumeMounts": standard_mounts() + corpus_mounts,
        # Ray writes its session files under /tmp (a mounted emptyDir) but also into its install tree.
        "securityContext": container_security_context(read_only_root=False),
    }
    return pod_template(run, "datagen", pod_spec(run, [container], standard_volumes(run) + corpus_volumes,
                                                 writes_progress=driver))


def rayjob(run: Run, *, suspend: bool) -> Manifest:
    """The RayJob: one head (no tasks) and ``datagen.workers`` workers."""
    workers = run.spec.datagen.workers
    head_ports = [
        {"name": "gcs", "containerPort": 6379},
        {"name": "dashboard", "containerPort": 8265},
        {"name": "client", "containerPort": 10001},
    ]
    submitter = _ray_pod(run, "ray-job-submitter", [])
    submitter["spec"]["restartPolicy"] = "Never"
    return {
        "apiVersion": child_kinds.RAYJOB.api_version,
        "kind": child_kinds.RAYJOB.kind,
        "metadata": metadata(run, run.names.datagen, "datagen", queued=True),
        "spec": {
            "entrypoint": ENTRYPOINT,
            "submissionMode": "K8sJobMode",
            "shutdownAfterJobFinishes": True,
            "ttlSecondsAfterFinished": TTL_SECONDS_AFTER_FINISHED,
            "activeDeadlineSeconds": run.spec.failure_policy.datagen_deadline_seconds,
            # KubeRay 1.6+: a Ray cluster that never runs (unschedulable, image pull) fails in bounded time.
            "preRunningDeadlineSeconds": PRE_RUNNING_DEADLINE_SECONDS,
            "backoffLimit": run.spec.failure_policy.backoff_limit,
            "suspend": suspend,
            "submitterPodTemplate": submitter,
            "rayClusterSpec": {
                "rayVersion": RAY_VERSION,
                # Ray token authentication (KubeRay >= 1.5.1, Ray >= 2.52): KubeRay generates the
                # token Secret and gives every Ray container (head, workers, submitter) the token, so
                # the dashboard, job-submission API and GCS refuse callers from outside the run.
                "authOptions": {"mode": "token"},
                "headGroupSpec": {
                    "rayStartParams": {"dashboard-host": "0.0.0.0", "num-cpus": "0"},
                    "template": _ray_pod(run, "ray-head", head_ports, driver=True),
                },
                "workerGroupSpecs": [{
                    "groupName": "workers",
                    "replicas": workers,
                    "minReplicas": workers,
                    "maxReplicas": workers,
                    "rayStartParams": {},
                    "template": _ray_pod(run, "ray-worker", []),
                }],
            },
        },
    }


def build(run: Run) -> list[Manifest]:
    """The RayJob (created suspended when queued in Kueue, which admits it)."""
    return [rayjob(run, suspend=bool(run.queue_name))]
