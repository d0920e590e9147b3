"""Claims for the local cluster, whose default StorageClass (``sim-shared``) binds a fake volume.

Part of the SIMULATED environment: nothing is ever written to these volumes, since kwok pods
do not run. Production uses the cluster's own ReadWriteMany storage classes.
"""

from __future__ import annotations

from typing import Any


def corpus_claim(name: str, namespace: str) -> dict[str, Any]:
    """A claim standing for a team's document volume (bound through the default StorageClass)."""
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "1Gi"}}}}
