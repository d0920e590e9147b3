"""The shared model cache (``spec.storage.modelCache``): download once, serve read-only.

A vLLM server whose model is a Hugging Face id gets the cache claim at ``/models``: the init
container ``fetch-model`` (the server's image, ``raft_jobs.common.model_fetch``) downloads the
model revision into it unless it is there, under a lock shared by every run; the server reads
it with ``HF_HUB_OFFLINE=1`` through a read-only mount.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from .common import Run, container_security_context, workload_env

MOUNT = "/models"
HF_HOME = f"{MOUNT}/huggingface"
VOLUME = "model-cache"
FETCH_CONTAINER = "fetch-model"
FETCH_MODULE = "raft_jobs.common.model_fetch"


def claim(run: Run) -> str | None:
    """The model-cache claim the run names, if any."""
    return (run.spec["storage"].get("modelCache") or {}).get("claimName")


def cacheable(model: str) -> bool:
    """A Hugging Face id (org/name), not a path on a volume."""
    return not model.startswith("/") and "/" in model


def _source() -> str:
    spec = importlib.util.find_spec(FETCH_MODULE)
    assert spec is not None and spec.origin, FETCH_MODULE
    return Path(spec.origin).read_text(encoding="utf-8")


def _set_env(container: dict[str, Any], name: str, value: str) -> None:
    env = [e for e in container.get("env", []) if e["name"] != name]
    container["env"] = env + [{"name": name, "value": value}]


def add(run: Run, pod_spec: dict[str, Any], model: str, revision: str | None, image: str) -> None:
    """Mount the cache in ``pod_spec`` (its first container serves ``model``) and fetch first."""
    name = claim(run)
    if not name or not cacheable(model):
        return
    pod_spec["volumes"].append({"name": VOLUME, "persistentVolumeClaim": {"claimName": name}})
    server = pod_spec["containers"][0]
    server["volumeMounts"].append({"name": VOLUME, "mountPath": MOUNT, "readOnly": True})
    _set_env(server, "HF_HOME", HF_HOME)
    _set_env(server, "HF_HUB_OFFLINE", "1")
    fetch = {
        "name": FETCH_CONTAINER,
        "image": image,
        "command": ["python3", "-c", _source()],
        "args": [model, revision or "main"],
        "env": [e for e in workload_env(run) if e["name"] != "HF_HOME"] + [{"name": "HF_HOME", "value": HF_HOME}],
        "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "8Gi"}},
        "volumeMounts": [{"name": VOLUME, "mountPath": MOUNT}, {"name": "tmp", "mountPath": "/tmp"}],
        "securityContext": container_security_context(read_only_root=True),
    }
    pod_spec["initContainers"] = [fetch] + pod_spec.get("initContainers", [])
