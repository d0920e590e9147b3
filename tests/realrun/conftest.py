"""The real runs' one stack: a local cluster with the real node, the real add-on controllers and
the operator pod, for the real runs (test_real_run, test_failure_states, test_kueue_real; one real
node per machine). The node's own tests (node/) run first, each on a cluster of its own without
an operator, and stop it before this stack starts. The tier runs after every test of the
simulated cluster (tests/conftest.py orders the tiers), so that no test of the simulated cluster,
several of which time themselves, shares the machine with the real node's start-up and teardown."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Test modules import realrun_support.py and real_node_support.py (importlib import mode).
sys.path.insert(0, str(Path(__file__).parent))

from raft_dev.cluster import REPO_ROOT, real_node_skip_reason  # noqa: E402
from raft_dev.localrun.stack import RealStack  # noqa: E402


@pytest.fixture(scope="package")
def stack():
    """(the stack, the ``ci-data`` claim's folder): the model and embedder on ``ci-data``, a document on ``ci-docs``."""
    reason = real_node_skip_reason()
    if reason:
        pytest.skip(reason)
    with RealStack("raft-ci-real") as stack:
        data = stack.data_claim("ci-data")
        stack.corpus_claim("ci-docs", [REPO_ROOT / "docs" / "status.md"])
        yield stack, data
