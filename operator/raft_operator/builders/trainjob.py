"""Fine-tuning on Kubeflow Trainer v2: a TrainJob (trainer.kubeflow.org/v1alpha1) on a torch runtime.

The ClusterTrainingRuntime (``spec.student.trainingRuntime``, Trainer's ``torch-distributed`` by
default) supplies the JobSet with one replicated job ``node`` whose container ``node`` runs
torchrun; Trainer's torch plugin sets ``PET_NNODES``, ``PET_NPROC_PER_NODE``, ``PET_NODE_RANK``,
``PET_MASTER_ADDR`` and ``PET_MASTER_PORT``, which torchrun reads. The TrainJob's ``trainer``
sets image, command, env, node count, processes and resources per node; the pod-level settings
(ServiceAccount, security, volumes and mounts, placement, pull secrets, labels) go in a
``runtimePatches`` entry owned by the operator. Trainer's pod patch has no priorityClassName:
under Kueue, use a WorkloadPriorityClass.
"""

from __future__ import annotations

from typing import Any

from .. import api, child_kinds
from . import model_cache
from ..run import Run
from .common import (Manifest, container_security_context, labels, metadata, pod_spec, resources,
                     standard_mounts, standard_volumes, workload_env)

NODE = "node"  # the replicated job and its container in Trainer's torch runtimes
PATCH_MANAGER = f"{api.GROUP}/operator"
COMMAND = ["torchrun", "-m", "raft_jobs.finetune", "--config", api.RUN_CONFIG_PATH]
# Fields of a pod spec that Trainer's runtime patch accepts.
_PATCHABLE = ("serviceAccountName", "securityContext", "nodeSelector", "tolerations", "imagePullSecrets", "volumes")


def _pod_patch(run: Run, cache: model_cache.TrainerCache | None) -> dict[str, Any]:
    volumes, mounts = standard_volumes(run, shm_size=run.spec.student.shm_size), standard_mounts(shm=True)
    if cache:
        volumes.append(cache.volume)
        mounts.append(cache.mount)
    spec = pod_spec(run, [], volumes)
    patch = {k: spec[k] for k in _PATCHABLE if k in spec}
    patch["containers"] = [{"name": NODE, "volumeMounts": mounts,
                            "securityContext": container_security_context(read_only_root=True)}]
    return patch


def trainjob(run: Run, *, suspend: bool) -> Manifest:
    """The TrainJob: ``student.nodes`` nodes of ``student.gpusPerNode`` processes each."""
    student = run.spec.student
    cache = model_cache.trainer_cache(run)
    pod_template = {"metadata": {"labels": labels(run, "finetune")}, "spec": _pod_patch(run, cache)}
    return {
        "apiVersion": child_kinds.TRAINJOB.api_version,
        "kind": child_kinds.TRAINJOB.kind,
        "metadata": metadata(run, run.names.finetune, "finetune", queued=True),
        "spec": {
            "runtimeRef": {"name": student.training_runtime, "apiGroup": "trainer.kubeflow.org",
                           "kind": "ClusterTrainingRuntime"},
            "trainer": {
                "image": run.image.trainer,
                "command": COMMAND,
                "env": model_cache.with_env(workload_env(run) + [{"name": "OMP_NUM_THREADS", "value": "1"}],
                                            cache.env if cache else []),
                "numNodes": student.nodes,
                "numProcPerNode": student.gpus_per_node,
                "resourcesPerNode": resources(student.resources, gpus=student.gpus_per_node),
            },
            "runtimePatches": [{
                "manager": PATCH_MANAGER,
                "trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": [{
                    "name": NODE,
                    "template": {"spec": {"template": pod_template}},
                }]}}},
            }],
            "suspend": suspend,
            "activeDeadlineSeconds": run.spec.failure_policy.finetune_deadline_seconds,
        },
    }
