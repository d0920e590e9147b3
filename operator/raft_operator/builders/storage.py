"""The run's ReadWriteMany PersistentVolumeClaim, when the operator creates it."""

from __future__ import annotations

from .common import Manifest, Run, metadata, owner_reference


def owned_by_run(run: Run) -> bool:
    """With retention Delete the claim is owned by the run and garbage-collected with it."""
    return run.spec["storage"].get("retentionPolicy", "Retain") == "Delete"


def owner_references(run: Run) -> list[dict]:
    """The ownerReferences the claim should have under the current retention policy."""
    return [owner_reference(run)] if owned_by_run(run) else []


def build(run: Run) -> Manifest | None:
    """The claim, or None when the spec names an existing one."""
    storage = run.spec["storage"]
    if storage.get("existingClaim"):
        return None
    spec = {
        "accessModes": ["ReadWriteMany"],
        "resources": {"requests": {"storage": str(storage["size"])}},
    }
    if storage.get("storageClassName"):
        spec["storageClassName"] = storage["storageClassName"]
    meta = metadata(run, run.names.pvc, "storage", owned=owned_by_run(run))
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": spec}
