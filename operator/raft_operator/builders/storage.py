"""The run's ReadWriteMany PersistentVolumeClaim, when the operator creates it."""

from __future__ import annotations

from ..run import Run
from .common import Manifest, metadata, owner_reference


def owned_by_run(run: Run) -> bool:
    """With retention Delete the claim is owned by the run and garbage-collected with it."""
    return run.spec.storage.retention_policy == "Delete"


def owner_references(run: Run) -> list[dict]:
    """The ownerReferences the claim should have under the current retention policy."""
    return [owner_reference(run)] if owned_by_run(run) else []


def build(run: Run) -> Manifest | None:
    """The claim, or None when the spec names an existing one."""
    storage = run.spec.storage
    if storage.existing_claim:
        return None
    spec = {
        "accessModes": ["ReadWriteMany"],
        "resources": {"requests": {"storage": str(storage.size)}},
    }
    if storage.storage_class_name:
        spec["storageClassName"] = storage.storage_class_name
    meta = metadata(run, run.names.pvc, "storage", owned=owned_by_run(run))
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": spec}
