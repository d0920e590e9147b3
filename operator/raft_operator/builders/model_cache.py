"""The shared model cache (``spec.storage.modelCache``): download once, serve read-only.

A vLLM server whose model is a Hugging Face id gets the cache claim at ``/models``: the init
container ``fetch-model`` (the server's image, ``raft_jobs.common.model_fetch``) downloads the
model revision into it unless it is there, under a lock shared by every run; the server reads
it with ``HF_HUB_OFFLINE=1`` through a read-only mount. The trainer's Kubeflow APIs take no init
container of the operator's own, so the trainer mounts the cache read-write and fetches its base
model itself, under the same lock (``model_fetch.ensure_requested``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, NamedTuple

from raft_jobs.common.model_fetch import FETCH_ENV

from ..run import Run
from .common import container_security_context, workload_env

MOUNT = "/models"
HF_HOME = f"{MOUNT}/huggingface"
VOLUME = "model-cache"
FETCH_CONTAINER = "fetch-model"
FETCH_MODULE = "raft_jobs.common.model_fetch"


def claim(run: Run) -> str | None:
    """The model-cache claim the run names, if any."""
    cache = run.spec.storage.model_cache
    return cache.claim_name if cache else None


def cacheable(model: str) -> bool:
    """A Hugging Face id (org/name), not a path on a volume."""
    return not model.startswith("/") and "/" in model


def _source() -> str:
    spec = importlib.util.find_spec(FETCH_MODULE)
    assert spec is not None and spec.origin, FETCH_MODULE
    return Path(spec.origin).read_text(encoding="utf-8")


class TrainerCache(NamedTuple):
    """What the trainer's pods get to fetch the base model into the cache."""

    volume: dict[str, Any]
    mount: dict[str, Any]
    env: list[dict[str, Any]]


def trainer_cache(run: Run) -> TrainerCache | None:
    """(volume, mount, env) that let the trainer fetch the base model into the cache, if the run has one."""
    name = claim(run)
    if not name or not cacheable(run.spec.student.base_model):
        return None
    env = [{"name": "HF_HOME", "value": HF_HOME}, {"name": FETCH_ENV, "value": "1"}]
    return TrainerCache({"name": VOLUME, "persistentVolumeClaim": {"claimName": name}},
                        {"name": VOLUME, "mountPath": MOUNT}, env)


def with_env(env: list[dict[str, Any]], extra: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``env`` with the variables of ``extra`` set (replacing same-named ones)."""
    names = {e["name"] for e in extra}
    return [e for e in env if e["name"] not in names] + extra


def add(run: Run, pod_spec: dict[str, Any], model: str, revision: str | None, image: str) -> None:
    """Mount the cache in ``pod_spec`` (its first container serves ``model``) and fetch first."""
    name = claim(run)
    if not name or not cacheable(model):
        return
    pod_spec["volumes"].append({"name": VOLUME, "persistentVolumeClaim": {"claimName": name}})
    server = pod_spec["containers"][0]
    server["volumeMounts"].append({"name": VOLUME, "mountPath": MOUNT, "readOnly": True})
    server["env"] = with_env(server.get("env", []), [{"name": "HF_HOME", "value": HF_HOME},
                                                     {"name": "HF_HUB_OFFLINE", "value": "1"}])
    fetch = {
        "name": FETCH_CONTAINER,
        "image": image,
        "command": ["python3", "-c", _source()],
        "args": [model, revision or "main"],
        "env": with_env(workload_env(run), [{"name": "HF_HOME", "value": HF_HOME}]),
        "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "8Gi"}},
        "volumeMounts": [{"name": VOLUME, "mountPath": MOUNT}, {"name": "tmp", "mountPath": "/tmp"}],
        "securityContext": container_security_context(read_only_root=True),
    }
    pod_spec["initContainers"] = [fetch] + pod_spec.get("initContainers", [])
