"""A vLLM OpenAI-compatible server: Deployment + Service. Used for the teacher and the eval students."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import api
from . import model_cache, server_auth
from ..run import Run
from .common import (Manifest, container_security_context, metadata, pod_spec, pod_template, resources,
                     selector, standard_mounts, standard_volumes, workload_env)

HEALTH_PATH = "/health"
PROBE_PERIOD_SECONDS = 10
COMMAND = ["vllm", "serve"]
CHECK_CONTAINER = "check-model"
# Runs in the server's image before it starts: python3 -c <source> MODEL_DIR (stdlib + transformers only).
CHECK_MODULE = "raft_jobs.common.model_fingerprint"


@dataclass
class VllmServer:
    """What differs between the vLLM servers of a run (the teacher's from its spec, the students' from eval)."""

    name: str
    component: str
    model: str
    served_model_name: str
    replicas: int
    gpus: int
    tensor_parallel_size: int
    max_model_len: int
    gpu_memory_utilization: float
    shm_size: str
    image: str
    startup_timeout_seconds: int
    extra_args: list[str] = field(default_factory=list)
    resources: dict[str, Any] | None = None
    check_export: bool = False  # model is a finetune export: check the image reads it as written
    revision: str | None = None
    cache_model: bool = False  # serve it from spec.storage.modelCache when the run names one


def args(server: VllmServer) -> list[str]:
    """``vllm serve`` arguments: the model, then options."""
    return [
        server.model,
        *(["--revision", server.revision] if server.revision else []),
        "--served-model-name", server.served_model_name,
        "--tensor-parallel-size", str(server.tensor_parallel_size),
        "--max-model-len", str(server.max_model_len),
        "--gpu-memory-utilization", str(server.gpu_memory_utilization),
        "--host", "0.0.0.0",
        "--port", str(api.SERVER_PORT),
        *server.extra_args,
    ]


def _check_source() -> str:
    spec = importlib.util.find_spec(CHECK_MODULE)
    assert spec is not None and spec.origin, CHECK_MODULE
    return Path(spec.origin).read_text(encoding="utf-8")


def check_container(server: VllmServer) -> dict[str, Any]:
    """Init container: the image's own transformers must read the export as the trainer wrote it."""
    return {
        "name": CHECK_CONTAINER,
        "image": server.image,
        "command": ["python3", "-c", _check_source()],
        "args": [server.model],
        "env": [{"name": "HF_HUB_OFFLINE", "value": "1"}],
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "4Gi"}},
        "volumeMounts": standard_mounts(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": container_security_context(read_only_root=True),
    }


def deployment(run: Run, server: VllmServer) -> Manifest:
    """The server Deployment. Recreate: a rolling update would need twice the GPUs."""
    layout = api.RunLayout(run.root)
    env = workload_env(run) + [
        {"name": "VLLM_CACHE_ROOT", "value": layout.vllm_cache},
        {"name": "XDG_CACHE_HOME", "value": layout.xdg_cache},
    ] + server_auth.server_env(run)
    http_get = {"path": HEALTH_PATH, "port": "http"}
    container = {
        "name": "vllm",
        "image": server.image,
        "command": COMMAND,
        "args": args(server),
        "env": env,
        "ports": [{"name": "http", "containerPort": api.SERVER_PORT, "protocol": "TCP"}],
        "resources": resources(server.resources, gpus=server.gpus),
        "volumeMounts": standard_mounts(shm=True),
        # Loading a 70B model takes tens of minutes: the startup probe allows the whole timeout.
        "startupProbe": {"httpGet": http_get, "periodSeconds": PROBE_PERIOD_SECONDS,
                         "failureThreshold": max(1, server.startup_timeout_seconds // PROBE_PERIOD_SECONDS)},
        "readinessProbe": {"httpGet": http_get, "periodSeconds": PROBE_PERIOD_SECONDS, "failureThreshold": 3},
        "livenessProbe": {"httpGet": http_get, "periodSeconds": 30, "timeoutSeconds": 10, "failureThreshold": 5},
        # vLLM compiles kernels and writes caches at start: its root filesystem stays writable.
        "securityContext": container_security_context(read_only_root=False),
    }
    spec = pod_spec(run, [container], standard_volumes(run, shm_size=server.shm_size))
    if server.check_export:
        spec["initContainers"] = [check_container(server)]
    if server.cache_model:
        model_cache.add(run, spec, server.model, server.revision, server.image)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(run, server.name, server.component, queued=True),
        "spec": {
            "replicas": server.replicas,
            "selector": {"matchLabels": selector(run, server.component)},
            "strategy": {"type": "Recreate"},
            "progressDeadlineSeconds": server.startup_timeout_seconds + 600,
            "template": pod_template(run, server.component, spec),
        },
    }


def headless_service(run: Run, server: VllmServer, name: str) -> Manifest:
    """Headless Service ``name`` over the server pods: its DNS name resolves to every ready pod."""
    svc = service(run, server)
    svc["metadata"] = metadata(run, name, server.component)
    svc["spec"]["clusterIP"] = "None"
    return svc


def service(run: Run, server: VllmServer) -> Manifest:
    """ClusterIP Service in front of the server pods (port 8000)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(run, server.name, server.component),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(run, server.component),
            "ports": [{"name": "http", "port": api.SERVER_PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }
