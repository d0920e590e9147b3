"""The real node's own tests on the tier's one stack: namespaces of their own on its cluster."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from raft_dev.cluster import LocalCluster


@contextlib.contextmanager
def real_node_namespaces(cluster: LocalCluster, namespaces: tuple[str, ...]) -> Iterator[LocalCluster]:
    """Create ``namespaces`` on the stack's cluster (its real node has every image of a run loaded,
    the operator image included), wait for their default ServiceAccounts, which pods need, and
    delete them, with their pods, afterwards."""
    for namespace in namespaces:
        cluster.kubectl("create", "namespace", namespace)
    for namespace in namespaces:
        cluster.wait_for(lambda: cluster.kubectl("get", "serviceaccount", "default", "-n", namespace,
                                                 check=False).returncode == 0,
                         timeout=30, message=f"default ServiceAccount of {namespace}")
    try:
        yield cluster
    finally:
        for namespace in namespaces:
            cluster.kubectl("delete", "namespace", namespace, "--wait=true", "--timeout=180s", check=False, timeout=200)
