"""Fine-tuning: a Kubeflow PyTorchJob, Master + Workers, torchrun over every GPU of every node."""

from __future__ import annotations

from typing import Any

from .. import api
from .common import (Manifest, Run, container_security_context, metadata, pod_spec, pod_template, resources,
                     standard_mounts, standard_volumes, workload_env)

TTL_SECONDS_AFTER_FINISHED = 3600
# The training operator sets MASTER_ADDR/MASTER_PORT and PET_NNODES/PET_NPROC_PER_NODE/PET_NODE_RANK.
TORCHRUN = (
    "exec torchrun --nnodes=${PET_NNODES} --nproc-per-node=${PET_NPROC_PER_NODE} --node-rank=${PET_NODE_RANK} "
    "--master-addr=${MASTER_ADDR} --master-port=${MASTER_PORT} "
    f"-m raft_jobs.finetune --config {api.RUN_CONFIG_PATH}"
)


def _replica(run: Run, replicas: int, *, master: bool) -> dict[str, Any]:
    """One replica type; the Master runs rank 0, the one that reports progress."""
    student = run.spec["student"]
    container = {
        "name": "pytorch",  # the training operator finds the container by this name
        "image": run.image["trainer"],
        "command": ["/bin/sh", "-c", TORCHRUN],
        "env": workload_env(run) + [{"name": "OMP_NUM_THREADS", "value": "1"}],
        "ports": [{"name": "pytorchjob-port", "containerPort": 23456}],
        "resources": resources(student.get("resources"), gpus=student["gpusPerNode"]),
        "volumeMounts": standard_mounts(shm=True),
        "securityContext": container_security_context(read_only_root=True),
    }
    spec = pod_spec(run, [container], standard_volumes(run, shm_size=student["shmSize"]), writes_progress=master)
    return {"replicas": replicas, "restartPolicy": "OnFailure", "template": pod_template(run, "finetune", spec)}


def pytorchjob(run: Run, *, suspend: bool) -> Manifest:
    """The PyTorchJob; a one-node run has a Master only."""
    student = run.spec["student"]
    replica_specs = {"Master": _replica(run, 1, master=True)}
    if student["nodes"] > 1:
        replica_specs["Worker"] = _replica(run, student["nodes"] - 1, master=False)
    run_policy: dict[str, Any] = {
        "cleanPodPolicy": "All",
        "ttlSecondsAfterFinished": TTL_SECONDS_AFTER_FINISHED,
        "activeDeadlineSeconds": run.spec["failurePolicy"]["finetuneDeadlineSeconds"],
        "backoffLimit": run.spec["failurePolicy"]["backoffLimit"],
        "suspend": suspend,
    }
    if run.queue_name:
        run_policy["schedulingPolicy"] = {"queue": run.queue_name}
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": metadata(run, run.names.finetune, "finetune", queued=True),
        "spec": {
            "nprocPerNode": str(student["gpusPerNode"]),
            "runPolicy": run_policy,
            "pytorchReplicaSpecs": replica_specs,
        },
    }


def build(run: Run, *, suspend: bool = False) -> list[Manifest]:
    """The PyTorchJob (created suspended when suspended or queued in Kueue)."""
    return [pytorchjob(run, suspend=suspend or bool(run.queue_name))]
