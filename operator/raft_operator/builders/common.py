"""Pieces every child shares: metadata, owner reference, pod security, scheduling, volumes."""

from __future__ import annotations

from typing import Any

from raft_api.spec import Resources, SecretKeyRef

from .. import api
from ..run import Run

Manifest = dict[str, Any]

WORKLOAD_UID = 1000  # the non-root user every image runs as


def labels(run: Run, component: str) -> dict[str, str]:
    """The labels every child (and its pods) carries."""
    return {
        "app.kubernetes.io/name": "raftrun",
        "app.kubernetes.io/instance": run.name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": api.MANAGER,
        "app.kubernetes.io/part-of": "raft-operator",
        api.RUN_LABEL: run.name,
    }


def selector(run: Run, component: str) -> dict[str, str]:
    """A label selector that picks one component's pods of one run."""
    return {"app.kubernetes.io/instance": run.name, "app.kubernetes.io/component": component, api.RUN_LABEL: run.name}


def owner_reference(run: Run) -> dict[str, Any]:
    """The controller owner reference to the RaftRun (garbage collection deletes the child with it)."""
    return {
        "apiVersion": api.API_VERSION,
        "kind": api.KIND,
        "name": run.name,
        "uid": run.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def metadata(run: Run, name: str, component: str, *, queued: bool = False, owned: bool = True) -> dict[str, Any]:
    """Metadata of a child: deterministic name, labels, owner reference, Kueue queue when ``queued``."""
    meta: dict[str, Any] = {"name": name, "namespace": run.namespace, "labels": labels(run, component)}
    if queued and run.queue_name:
        meta["labels"][api.KUEUE_QUEUE_LABEL] = run.queue_name
    if owned:
        meta["ownerReferences"] = [owner_reference(run)]
    return meta


def container_security_context(*, read_only_root: bool = True) -> dict[str, Any]:
    """Non-root, no privilege escalation, all capabilities dropped."""
    return {
        "runAsNonRoot": True,
        "runAsUser": WORKLOAD_UID,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": read_only_root,
        "capabilities": {"drop": ["ALL"]},
    }


def workload_env(run: Run) -> list[dict[str, Any]]:
    """Environment every workload container gets: caches on the run's volume, HF token by reference."""
    env: list[dict[str, Any]] = [
        {"name": "HOME", "value": "/tmp"},
        {"name": "HF_HOME", "value": api.RunLayout(run.root).huggingface_cache},
        {"name": "PYTHONUNBUFFERED", "value": "1"},
    ]
    token_ref = run.spec.scheduling.hugging_face_token_secret_ref
    if token_ref:
        env.append(secret_env("HF_TOKEN", token_ref))
    return env


def secret_env(var: str, ref: SecretKeyRef) -> dict[str, Any]:
    """An env var filled from a Secret key (the value never passes through the operator)."""
    return {"name": var, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}


def data_volume(run: Run) -> dict[str, Any]:
    """The run's shared ReadWriteMany volume."""
    return {"name": "data", "persistentVolumeClaim": {"claimName": run.claim_name}}


def config_volume(run: Run) -> dict[str, Any]:
    """The run configuration (run.yaml)."""
    return {"name": "run-config", "configMap": {"name": run.names.config}}


def shm_volume(size: str) -> dict[str, Any]:
    """/dev/shm as memory, bounded (NCCL and PyTorch data loaders need more than the default 64Mi)."""
    return {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": size}}


def tmp_volume() -> dict[str, Any]:
    """A writable /tmp for containers with a read-only root filesystem."""
    return {"name": "tmp", "emptyDir": {}}


def standard_mounts(*, shm: bool = False) -> list[dict[str, Any]]:
    """Mounts of the volumes above at their documented paths."""
    mounts = [
        {"name": "data", "mountPath": api.DATA_MOUNT},
        {"name": "run-config", "mountPath": api.CONFIG_MOUNT, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if shm:
        mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
    return mounts


def standard_volumes(run: Run, *, shm_size: str | None = None) -> list[dict[str, Any]]:
    """Volumes for :func:`standard_mounts`."""
    volumes = [data_volume(run), config_volume(run), tmp_volume()]
    if shm_size:
        volumes.append(shm_volume(shm_size))
    return volumes


def pod_spec(run: Run, containers: list[dict[str, Any]], volumes: list[dict[str, Any]], *,
             restart_policy: str | None = None, writes_progress: bool = False) -> dict[str, Any]:
    """A pod spec with the run's ServiceAccount, security and scheduling settings.

    Only a pod whose program reports progress (``writes_progress``) gets the ServiceAccount's
    token: the others have no business with the API server.
    """
    scheduling = run.spec.scheduling
    spec: dict[str, Any] = {
        "serviceAccountName": run.names.service_account,
        "automountServiceAccountToken": writes_progress,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": WORKLOAD_UID,
            "runAsGroup": WORKLOAD_UID,
            "fsGroup": WORKLOAD_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": containers,
        "volumes": volumes,
    }
    if restart_policy:
        spec["restartPolicy"] = restart_policy
    if scheduling.node_selector:
        spec["nodeSelector"] = dict(scheduling.node_selector)
    if scheduling.tolerations:
        spec["tolerations"] = [t.to_dict() for t in scheduling.tolerations]
    if scheduling.priority_class_name:
        spec["priorityClassName"] = scheduling.priority_class_name
    if scheduling.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": s.name} for s in scheduling.image_pull_secrets]
    return spec


def resources(spec_resources: Resources | None, *, gpus: int = 0) -> dict[str, Any]:
    """Container resources from the spec, with GPUs as both request and limit."""
    out: dict[str, Any] = {k: dict(v) for k, v in (spec_resources or {}).items() if v}
    if gpus:
        out.setdefault("limits", {})["nvidia.com/gpu"] = gpus
        out.setdefault("requests", {})["nvidia.com/gpu"] = gpus
    return out


def pod_template(run: Run, component: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A pod template labelled as the component's."""
    return {"metadata": {"labels": labels(run, component)}, "spec": spec}
