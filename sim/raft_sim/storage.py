"""Static PersistentVolumes for a local cluster without a volume provisioner.

The local cluster has no storage driver, so a claim would stay Pending and the real scheduler
would never place pods that mount it. A pool of pre-made ReadWriteMany volumes lets the
controller-manager's PV binder bind claims the usual way. Nothing is written to them: kwok pods
never run. (Part of the SIMULATED environment; production uses the cluster's storage classes.)
"""

from __future__ import annotations

from typing import Any


def volume_pool(count: int, size: str = "10Ti", prefix: str = "local-rwx") -> list[dict[str, Any]]:
    """``count`` unclassed RWX PersistentVolumes big enough for any claim of the tests."""
    return [{
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"{prefix}-{i:03d}", "labels": {"raftoperator.io/local-pool": "true"}},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "hostPath": {"path": f"/tmp/raft-local-pv/{prefix}-{i:03d}"},
        },
    } for i in range(count)]


def corpus_claim(name: str, namespace: str) -> dict[str, Any]:
    """A claim standing for a team's document volume."""
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "",
                     "resources": {"requests": {"storage": "1Gi"}}}}
