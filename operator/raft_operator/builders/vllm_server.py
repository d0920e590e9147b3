"""A vLLM OpenAI-compatible server: Deployment + Service. Used for the teacher and the eval students."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import api
from . import server_auth
from .common import (Manifest, Run, container_security_context, metadata, pod_spec, pod_template, resources,
                     selector, standard_mounts, standard_volumes, workload_env)

HEALTH_PATH = "/health"
PROBE_PERIOD_SECONDS = 10


@dataclass
class VllmServer:
    """What differs between the vLLM servers of a run."""

    name: str
    component: str
    model: str
    served_model_name: str
    replicas: int
    gpus: int
    tensor_parallel_size: int
    max_model_len: int = 8192
    gpu_memory_utilization: float = 0.9
    extra_args: list[str] = field(default_factory=list)
    resources: dict[str, Any] | None = None
    shm_size: str = "16Gi"
    image: str = ""
    startup_timeout_seconds: int = 3600


def args(server: VllmServer) -> list[str]:
    """vLLM server arguments."""
    return [
        "--model", server.model,
        "--served-model-name", server.served_model_name,
        "--tensor-parallel-size", str(server.tensor_parallel_size),
        "--max-model-len", str(server.max_model_len),
        "--gpu-memory-utilization", str(server.gpu_memory_utilization),
        "--host", "0.0.0.0",
        "--port", str(api.SERVER_PORT),
        *server.extra_args,
    ]


def deployment(run: Run, server: VllmServer) -> Manifest:
    """The server Deployment. Recreate: a rolling update would need twice the GPUs."""
    env = workload_env(run) + [
        {"name": "VLLM_CACHE_ROOT", "value": f"{run.root}/cache/vllm"},
        {"name": "XDG_CACHE_HOME", "value": f"{run.root}/cache/xdg"},
    ] + server_auth.server_env(run)
    http_get = {"path": HEALTH_PATH, "port": "http"}
    container = {
        "name": "vllm",
        "image": server.image,
        "command": ["python3", "-m", "vllm.entrypoints.openai.api_server"],
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
