"""The real node's tests (hack/cluster/node.sh). They run after every test of the simulated
clusters (tests/cluster, tests/e2e), so that no kwok cluster shares the machine's moments of
node start-up and teardown (iptables, bridge, containerd) with a test that is timing itself."""

from __future__ import annotations

import sys
from pathlib import Path

# Test modules import real_node_support.py (importlib import mode).
sys.path.insert(0, str(Path(__file__).parent))
