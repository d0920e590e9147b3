"""The in-cluster teacher: vLLM with tensor parallelism, GPUs per pod from the spec."""

from __future__ import annotations

from . import leaderworkerset
from ..run import Run
from .common import Manifest
from .vllm_server import VllmServer, deployment, headless_service, service


def server(run: Run, replicas: int | None = None) -> VllmServer:
    """The teacher's server settings; ``replicas`` overrides the spec (0 scales it down)."""
    vllm = run.vllm_teacher
    tp = vllm.tensor_parallel_size
    return VllmServer(
        name=run.names.teacher,
        component="teacher",
        model=vllm.model,
        served_model_name=vllm.model,
        replicas=vllm.replicas if replicas is None else replicas,
        gpus=vllm.gpus_per_replica or tp,
        tensor_parallel_size=tp,
        max_model_len=vllm.max_model_len,
        gpu_memory_utilization=vllm.gpu_memory_utilization,
        extra_args=list(vllm.extra_args or []),
        resources=vllm.resources,
        shm_size=vllm.shm_size,
        image=vllm.image or run.image.vllm,
        startup_timeout_seconds=vllm.startup_timeout_seconds,
        revision=vllm.revision,
        cache_model=True,
    )


def replicas_service(run: Run) -> Manifest | None:
    """The headless Service the datagen client resolves to spread requests over the replicas."""
    if not run.teacher_in_cluster:
        return None
    svc = headless_service(run, server(run), run.names.teacher_replicas)
    return leaderworkerset.leader_selector(svc) if run.vllm_teacher.pipeline_parallel_size > 1 else svc


def build(run: Run, replicas: int | None = None) -> list[Manifest]:
    """Deployment and Service; empty for an external teacher."""
    if not run.teacher_in_cluster:
        return []
    s = server(run, replicas)
    nodes = run.vllm_teacher.pipeline_parallel_size
    if nodes > 1:
        return [leaderworkerset.leaderworkerset(run, s, nodes), leaderworkerset.leader_selector(service(run, s))]
    return [deployment(run, s), service(run, s)]
