"""Fixtures of the local-cluster tests: one cluster per session, one namespace per test."""

from __future__ import annotations

import sys
from pathlib import Path

from raft_sim.cluster import cluster_fixture, namespace_fixture

# Test modules import the manifest builders in cluster_manifests.py (importlib import mode).
sys.path.insert(0, str(Path(__file__).parent))

cluster = cluster_fixture("raft-cluster-test", sim_duration=2.0, trainer=True)

namespace = namespace_fixture("t")
