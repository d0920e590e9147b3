"""A cluster with the real node for a test module: its images loaded and its namespaces ready."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from raft_dev.cluster import LocalCluster, real_node_skip_reason


@contextlib.contextmanager
def real_node_cluster(name: str, namespaces: tuple[str, ...], images: tuple[str, ...] = ("operator",)) -> Iterator[LocalCluster]:
    """Start it (or skip, saying why the real node cannot run here), load ``images``, create
    ``namespaces`` and wait for their default ServiceAccounts, which pods need."""
    reason = real_node_skip_reason()
    if reason:
        pytest.skip(reason)
    with LocalCluster(name, gpu_nodes=0, cpu_nodes=0, sim=False, real_node=True) as cluster:
        cluster.load_images(*images)
        for namespace in namespaces:
            cluster.kubectl("create", "namespace", namespace)
        for namespace in namespaces:
            cluster.wait_for(lambda: cluster.kubectl("get", "serviceaccount", "default", "-n", namespace,
                                                     check=False).returncode == 0,
                             timeout=30, message=f"default ServiceAccount of {namespace}")
        yield cluster
