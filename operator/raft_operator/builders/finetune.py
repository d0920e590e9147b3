"""Fine-tuning: torchrun over every GPU of every node, as a Kubeflow TrainJob or PyTorchJob.

Which API runs it is ``spec.student.trainingApi``; ``auto`` takes the one the cluster serves,
TrainJob (Trainer v2) when both are. A run keeps the kind of a fine-tuning child it already has.
The PyTorchJob (training operator, kubeflow.org/v1, legacy) has a Master and Workers.
"""

from __future__ import annotations

from typing import Any

from .. import api, child_kinds
from . import model_cache, trainjob
from ..run import Run
from .common import (Manifest, container_security_context, metadata, pod_spec, pod_template, resources,
                     standard_mounts, standard_volumes, workload_env)

TTL_SECONDS_AFTER_FINISHED = 3600
PYTORCHJOB = child_kinds.PYTORCHJOB.kind
TRAINJOB = child_kinds.TRAINJOB.kind
KINDS = (TRAINJOB, PYTORCHJOB)  # preferred first
# The training operator sets MASTER_ADDR/MASTER_PORT and PET_NNODES/PET_NPROC_PER_NODE/PET_NODE_RANK.
TORCHRUN = (
    "exec torchrun --nnodes=${PET_NNODES} --nproc-per-node=${PET_NPROC_PER_NODE} --node-rank=${PET_NODE_RANK} "
    "--master-addr=${MASTER_ADDR} --master-port=${MASTER_PORT} "
    f"-m raft_jobs.finetune --config {api.RUN_CONFIG_PATH}"
)


def _replica(run: Run, replicas: int, *, master: bool) -> dict[str, Any]:
    """One replica type; the Master runs rank 0, the one that reports progress."""
    student = run.spec.student
    container = {
        "name": "pytorch",  # the training operator finds the container by this name
        "image": run.image.trainer,
        "command": ["/bin/sh", "-c", TORCHRUN],
        "env": workload_env(run) + [{"name": "OMP_NUM_THREADS", "value": "1"}],
        "ports": [{"name": "pytorchjob-port", "containerPort": 23456}],
        "resources": resources(student.resources, gpus=student.gpus_per_node),
        "volumeMounts": standard_mounts(shm=True),
        "securityContext": container_security_context(read_only_root=True),
    }
    volumes = standard_volumes(run, shm_size=student.shm_size)
    cache = model_cache.trainer_cache(run)
    if cache:
        volumes.append(cache.volume)
        container["volumeMounts"].append(cache.mount)
        container["env"] = model_cache.with_env(container["env"], cache.env)
    spec = pod_spec(run, [container], volumes, writes_progress=master)
    return {"replicas": replicas, "restartPolicy": "OnFailure", "template": pod_template(run, "finetune", spec)}


def pytorchjob(run: Run, *, suspend: bool) -> Manifest:
    """The PyTorchJob; a one-node run has a Master only."""
    student = run.spec.student
    replica_specs = {"Master": _replica(run, 1, master=True)}
    if student.nodes > 1:
        replica_specs["Worker"] = _replica(run, student.nodes - 1, master=False)
    run_policy: dict[str, Any] = {
        "cleanPodPolicy": "All",
        "ttlSecondsAfterFinished": TTL_SECONDS_AFTER_FINISHED,
        "activeDeadlineSeconds": run.spec.failure_policy.finetune_deadline_seconds,
        "backoffLimit": run.spec.failure_policy.backoff_limit,
        "suspend": suspend,
    }
    return {
        "apiVersion": child_kinds.PYTORCHJOB.api_version,
        "kind": PYTORCHJOB,
        "metadata": metadata(run, run.names.finetune, "finetune", queued=True),
        "spec": {
            "nprocPerNode": str(student.gpus_per_node),
            "runPolicy": run_policy,
            "pytorchReplicaSpecs": replica_specs,
        },
    }


def choose_kind(requested: str, served: frozenset[str] | None, existing: str | None) -> tuple[str, str | None]:
    """(kind, why it cannot run) for ``student.trainingApi`` ``requested``.

    ``served`` holds the kinds the cluster serves (None: not known, assume the requested or the
    legacy one); ``existing`` is the kind of the run's fine-tuning child, if it has one.
    """
    if existing:
        return existing, None
    if requested != "auto":
        missing = served is not None and requested not in served
        return requested, f"spec.student.trainingApi is {requested} but the cluster does not serve it" if missing else None
    if served is None:
        return PYTORCHJOB, None
    for kind in KINDS:
        if kind in served:
            return kind, None
    return TRAINJOB, ("spec.student.trainingApi is auto but the cluster serves neither TrainJob "
                      "(Kubeflow Trainer v2) nor PyTorchJob (training operator): install Kubeflow Trainer")


def build(run: Run, *, kind: str = PYTORCHJOB) -> list[Manifest]:
    """The TrainJob or PyTorchJob (created suspended when queued in Kueue)."""
    suspend = bool(run.queue_name)
    return [trainjob.trainjob(run, suspend=suspend) if kind == TRAINJOB else pytorchjob(run, suspend=suspend)]
