"""The real runs' shared stack: one local cluster with the real node, the real add-on controllers
and the operator pod, for every module of this folder (one real node per machine)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Test modules import realrun_support.py (importlib import mode).
sys.path.insert(0, str(Path(__file__).parent))

from raft_sim.cluster import REPO_ROOT, real_node_skip_reason  # noqa: E402
from raft_sim.localrun.stack import RealStack  # noqa: E402


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
