"""SIMULATED volume provisioner ``sim.raftoperator.io/hostpath`` (the local cluster's default StorageClass).

A pending claim of this provisioner gets a hostPath PersistentVolume (there is no kubelet in the
simulated cluster, so nothing is ever mounted); Released volumes it made are deleted, as the
reclaim policy ``Delete`` asks.
"""

from __future__ import annotations

import logging
from typing import Any

from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import NotFoundError

from .base import SIMULATED_LABEL, Controller, Obj, SimApi, meta

log = logging.getLogger(__name__)

PROVISIONER = "sim.raftoperator.io/hostpath"


class ClaimProvisioner(Controller):
    """Provisions a hostPath PersistentVolume for each pending claim of :data:`PROVISIONER`."""

    api_version = "v1"
    kind = "PersistentVolumeClaim"

    def __init__(self, api: SimApi, resource: Any) -> None:
        super().__init__(api, resource)
        self.volumes = api.resource("v1", "PersistentVolume")
        self.classes = api.resource("storage.k8s.io/v1", "StorageClass")

    def reconcile(self, namespace: str, name: str) -> float | None:
        """Provision a hostPath PersistentVolume for a pending claim of our provisioner."""
        pvc = self.get(namespace, name)
        if pvc is None or (pvc.get("status") or {}).get("phase") != "Pending" or meta(pvc).get("deletionTimestamp"):
            return None
        spec = pvc.get("spec") or {}
        if spec.get("volumeName"):
            return None
        annotations = meta(pvc).get("annotations") or {}
        provisioner = annotations.get("volume.kubernetes.io/storage-provisioner") or annotations.get(
            "volume.beta.kubernetes.io/storage-provisioner")
        if provisioner is None and spec.get("storageClassName"):
            sc = self.api.get(self.classes, "", spec["storageClassName"])
            provisioner = (sc or {}).get("provisioner")
        if provisioner != PROVISIONER:
            return None
        uid = meta(pvc)["uid"]
        size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        pv: Obj = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {
                "name": f"pvc-{uid}",
                "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER, SIMULATED_LABEL: "true"},
            },
            "spec": {
                "capacity": {"storage": size},
                "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Delete",
                "storageClassName": spec.get("storageClassName") or "",
                "volumeMode": spec.get("volumeMode") or "Filesystem",
                "hostPath": {"path": f"{self.settings.pv_root}/{uid}", "type": "DirectoryOrCreate"},
                "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": namespace,
                             "name": name, "uid": uid},
            },
        }
        try:
            self.volumes.create(body=pv)
            log.info("provisioned SIMULATED volume pvc-%s for %s/%s", uid, namespace, name)
        except ApiException as exc:
            if exc.status != 409:
                raise
        return None


class VolumeReclaimer(Controller):
    """Deletes the Released PersistentVolumes :class:`ClaimProvisioner` made (reclaim policy Delete)."""

    api_version = "v1"
    kind = "PersistentVolume"

    def reconcile(self, namespace: str, name: str) -> float | None:
        """Delete Released volumes this provisioner made (reclaim policy Delete)."""
        pv = self.get("", name)
        if pv is None:
            return None
        ours = (meta(pv).get("annotations") or {}).get("pv.kubernetes.io/provisioned-by") == PROVISIONER
        released = (pv.get("status") or {}).get("phase") == "Released"
        if ours and released and (pv.get("spec") or {}).get("persistentVolumeReclaimPolicy") == "Delete":
            try:
                self.resource.delete(name=name)
            except NotFoundError:
                pass
        return None
