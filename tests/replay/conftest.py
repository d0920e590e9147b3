"""Fixtures of the replay tests: the recordings, one simulated cluster per session, one namespace per recording."""

from __future__ import annotations

import sys
from pathlib import Path

from raft_sim.cluster import cluster_fixture, namespace_fixture

# Test modules import replay_support.py (importlib import mode).
sys.path.insert(0, str(Path(__file__).parent))

# The simulated controllers only (real_node stays off); TrainJob is served with trainer=True.
cluster = cluster_fixture("raft-replay", sim_duration=2.0, trainer=True)

namespace = namespace_fixture("r")
