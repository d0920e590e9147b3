"""Small manifest builders shared by the local-cluster tests."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def pod_template(gpus: int = 0, name: str = "main", labels: dict[str, str] | None = None) -> Obj:
    """A pod template with one container asking for ``gpus`` GPUs (the image is never pulled)."""
    resources: Obj = {"requests": {"cpu": "1", "memory": "1Gi"}}
    if gpus:
        resources["limits"] = {"nvidia.com/gpu": str(gpus)}
    return {
        "metadata": {"labels": labels or {}},
        "spec": {"containers": [{"name": name, "image": "example.invalid/workload:0", "resources": resources}]},
    }


def deployment(name: str, gpus: int) -> Obj:
    """A one-replica Deployment asking for ``gpus`` GPUs."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": pod_template(gpus, labels=labels)},
    }


def job(name: str, labels: dict[str, str] | None = None, owner: Obj | None = None, backoff_limit: int = 0) -> Obj:
    """A batch/v1 Job with one pod."""
    template = pod_template(labels=labels)
    template["spec"]["restartPolicy"] = "Never"
    body: Obj = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"backoffLimit": backoff_limit, "template": template},
    }
    if owner:
        body["metadata"]["ownerReferences"] = [owner]
    return body


def owner_reference(obj: Obj) -> Obj:
    """A controller ownerReference to ``obj`` (as returned by the API, with a uid)."""
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def rayjob(name: str, run: str | None = None, owner: Obj | None = None, workers: int = 1, gpus: int = 8,
           suspend: bool = False) -> Obj:
    """A RayJob shaped like the one raft-operator sends for datagen."""
    metadata: Obj = {"name": name, "labels": {"raftoperator.io/run": run} if run else {}}
    if owner:
        metadata["ownerReferences"] = [owner]
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": metadata,
        "spec": {
            "entrypoint": "python -m raft_jobs.datagen --config /etc/raft/run.yaml",
            "shutdownAfterJobFinishes": True,
            "ttlSecondsAfterFinished": 0,
            "backoffLimit": 0,
            "suspend": suspend,
            "submissionMode": "K8sJobMode",
            "runtimeEnvYAML": "env_vars:\n  RAFT_STAGE: datagen\n",
            "metadata": {"raftoperator.io/run": run or name},
            "rayClusterSpec": {
                "rayVersion": "2.40.0",
                "headGroupSpec": {"rayStartParams": {"num-gpus": "0"}, "template": pod_template(0, "ray-head")},
                "workerGroupSpecs": [{
                    "groupName": "workers", "replicas": workers, "minReplicas": workers, "maxReplicas": workers,
                    "rayStartParams": {"num-gpus": str(gpus)}, "template": pod_template(gpus, "ray-worker"),
                }],
            },
            "submitterPodTemplate": pod_template(0, "ray-job-submitter"),
        },
    }


def pytorchjob(name: str, run: str | None = None, owner: Obj | None = None, workers: int = 1, gpus: int = 8,
               suspend: bool = False, backoff_limit: int = 0) -> Obj:
    """A PyTorchJob shaped like the one raft-operator sends for finetune."""
    metadata: Obj = {"name": name, "labels": {"raftoperator.io/run": run} if run else {}}
    if owner:
        metadata["ownerReferences"] = [owner]
    replica = {"restartPolicy": "OnFailure", "template": pod_template(gpus, "pytorch")}
    spec: Obj = {
        "pytorchReplicaSpecs": {"Master": {"replicas": 1, **replica}},
        "runPolicy": {"cleanPodPolicy": "None", "backoffLimit": backoff_limit, "suspend": suspend},
        "nprocPerNode": str(gpus),
    }
    if workers:
        spec["pytorchReplicaSpecs"]["Worker"] = {"replicas": workers, **replica}
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": metadata, "spec": spec}


def trainjob(name: str, run: str | None = None, owner: Obj | None = None, nodes: int = 2, gpus: int = 8,
             suspend: bool = False, runtime: str = "torch-distributed", deadline: int | None = None) -> Obj:
    """A TrainJob shaped like the one raft-operator sends for finetune (Kubeflow Trainer v2)."""
    metadata: Obj = {"name": name, "labels": {"raftoperator.io/run": run} if run else {}}
    if owner:
        metadata["ownerReferences"] = [owner]
    pod = {"metadata": {"labels": {"raftoperator.io/run": run or name}},
           "spec": {"securityContext": {"runAsNonRoot": True, "runAsUser": 1000},
                    "containers": [{"name": "node", "securityContext": {"allowPrivilegeEscalation": False}}]}}
    spec: Obj = {
        "runtimeRef": {"name": runtime, "apiGroup": "trainer.kubeflow.org", "kind": "ClusterTrainingRuntime"},
        "trainer": {"image": "example.invalid/trainer:0", "command": ["torchrun", "-m", "raft_jobs.finetune"],
                    "env": [{"name": "OMP_NUM_THREADS", "value": "1"}], "numNodes": nodes, "numProcPerNode": gpus,
                    "resourcesPerNode": {"requests": {"cpu": "1", "memory": "1Gi"},
                                         "limits": {"nvidia.com/gpu": gpus}}},
        "runtimePatches": [{"manager": "raftoperator.io/operator", "trainingRuntimeSpec": {"template": {"spec": {
            "replicatedJobs": [{"name": "node", "template": {"spec": {"template": pod}}}]}}}}],
        "suspend": suspend,
    }
    if deadline:
        spec["activeDeadlineSeconds"] = deadline
    return {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob", "metadata": metadata, "spec": spec}


def leaderworkerset(name: str, replicas: int = 1, size: int = 2, gpus: int = 8) -> Obj:
    """A LeaderWorkerSet shaped like raft-operator's multi-node teacher (leader serves, workers join)."""
    return {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "startupPolicy": "LeaderCreated",
                     "leaderWorkerTemplate": {"size": size, "restartPolicy": "RecreateGroupOnPodRestart",
                                              "leaderTemplate": pod_template(gpus, "vllm", {"role": "leader"}),
                                              "workerTemplate": pod_template(gpus, "vllm", {"role": "worker"})}}}
