"""Fixtures of the tests of sim/: the stand-ins (raft_sim) and the development platform (raft_dev).

Tests marked ``e2e`` run on the session's one simulated cluster (:mod:`raft_dev.shared_cluster`,
shared with the product's tests/e2e), each in a namespace of its own; the others need no cluster
and run in ``make test-fast``. Test modules import the helpers of this folder (cluster_manifests,
replay_support; importlib import mode).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from raft_dev.cluster import namespace_fixture
from raft_sim.vllm_server import SimSettings, SimulatedVLLMServer

sys.path.insert(0, str(Path(__file__).parent))

pytest_plugins = ["raft_dev.shared_cluster"]

namespace = namespace_fixture("s")


@pytest.fixture
def teacher() -> Iterator[SimulatedVLLMServer]:
    """One fast SIMULATED vLLM server serving ``sim-teacher``, without faults."""
    settings = SimSettings(models=["sim-teacher"], slots=64, step_base=0.001, step_per_seq=0.00002)
    with SimulatedVLLMServer(settings).running_in_thread() as server:
        yield server
