"""Eval: vLLM servers for the fine-tuned student (and the base student), then a Job running raft_jobs.eval."""

from __future__ import annotations

from typing import Any

from .. import api, child_kinds
from . import server_auth
from ..run import Run
from .common import (Manifest, container_security_context, metadata, pod_spec, pod_template, resources,
                     secret_env, standard_mounts, standard_volumes, workload_env)
from .configmaps import JUDGE_API_KEY_ENV, TEACHER_API_KEY_ENV, student_served_name
from .vllm_server import VllmServer, deployment, service

COMMAND = ["python", "-m", "raft_jobs.eval", "--config", api.RUN_CONFIG_PATH]
# The student servers' own settings (the spec has none for them).
SERVER_GPU_MEMORY_UTILIZATION = 0.9
SERVER_SHM_SIZE = "16Gi"
SERVER_STARTUP_TIMEOUT_SECONDS = 1800


def _server(run: Run, name: str, model: str, served: str, replicas: int, *, exported: bool = False,
            cached: bool = False) -> VllmServer:
    gpus = run.spec.eval.serving_gpus
    return VllmServer(
        name=name, component="student-server", model=model, served_model_name=served, replicas=replicas,
        gpus=gpus, tensor_parallel_size=gpus, max_model_len=run.spec.student.context_length,
        gpu_memory_utilization=SERVER_GPU_MEMORY_UTILIZATION, shm_size=SERVER_SHM_SIZE, image=run.image.vllm,
        startup_timeout_seconds=SERVER_STARTUP_TIMEOUT_SECONDS, check_export=exported, cache_model=cached,
    )


def servers(run: Run, replicas: int = 1) -> list[VllmServer]:
    """The fine-tuned student (from the run's volume) and, when asked, the base student."""
    # Both share the component label: give each its own selector by distinct names below.
    out = [_server(run, run.names.serve_student, api.RunLayout(run.root).model, student_served_name(run), replicas,
                   exported=True)]
    if run.spec.eval.baselines.base_student:
        base = run.spec.student.base_model
        out.append(_server(run, run.names.serve_base, base, base, replicas, cached=True))
    return out


def server_manifests(run: Run, replicas: int = 1) -> list[Manifest]:
    """Deployment + Service per student server; each selects its own pods by name."""
    manifests: list[Manifest] = []
    for s in servers(run, replicas):
        dep, svc = deployment(run, s), service(run, s)
        pick = {"raftoperator.io/server": s.name}
        dep["spec"]["selector"]["matchLabels"].update(pick)
        dep["spec"]["template"]["metadata"]["labels"].update(pick)
        svc["spec"]["selector"].update(pick)
        manifests += [dep, svc]
    return manifests


def _env(run: Run) -> list[dict[str, Any]]:
    env = workload_env(run) + [{"name": "HF_HUB_OFFLINE", "value": "0"}] + server_auth.client_env(run)
    ext, judge = run.spec.teacher.external, run.spec.eval.judge
    if ext and ext.api_key_secret_ref:
        env.append(secret_env(TEACHER_API_KEY_ENV, ext.api_key_secret_ref))
    if judge and judge.api_key_secret_ref:
        env.append(secret_env(JUDGE_API_KEY_ENV, judge.api_key_secret_ref))
    return env


def job(run: Run) -> Manifest:
    """The eval Job."""
    container = {
        "name": "eval",
        "image": run.image.eval,
        "command": COMMAND,
        "env": _env(run),
        "resources": resources(None),
        "volumeMounts": standard_mounts(),
        "securityContext": container_security_context(read_only_root=True),
    }
    spec = pod_spec(run, [container], standard_volumes(run), restart_policy="Never", writes_progress=True)
    return {
        "apiVersion": child_kinds.JOB.api_version,
        "kind": child_kinds.JOB.kind,
        "metadata": metadata(run, run.names.eval, "eval", queued=True),
        "spec": {
            "backoffLimit": run.spec.failure_policy.backoff_limit,
            "activeDeadlineSeconds": run.spec.failure_policy.eval_deadline_seconds,
            "suspend": bool(run.queue_name),
            "template": pod_template(run, "eval", spec),
        },
    }
