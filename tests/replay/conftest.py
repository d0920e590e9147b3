"""Fixtures of the replay tests: the recordings, one simulated cluster per session, one namespace per recording."""

from __future__ import annotations

import itertools
import re
import sys
from pathlib import Path
from typing import Iterator

import pytest

from raft_sim.cluster import LocalCluster, cluster_fixture

# Test modules import replay_support.py (importlib import mode).
sys.path.insert(0, str(Path(__file__).parent))

# The simulated controllers only (real_node stays off); TrainJob is served with trainer=True.
cluster = cluster_fixture("raft-replay", sim_duration=2.0, trainer=True)

_counter = itertools.count()


@pytest.fixture
def namespace(cluster: LocalCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace, deleted (without waiting) after the test."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())
    name = f"r{next(_counter)}-{slug}"[:63].strip("-")
    cluster.kubectl("create", "namespace", name)
    cluster.wait_for(lambda: cluster.kubectl("get", "serviceaccount", "default", "-n", name, check=False)
                     .returncode == 0, message="default ServiceAccount")
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
