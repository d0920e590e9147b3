"""The real node's own tests (hack/cluster/node.sh), each module on a real-node cluster of its own
with no operator running: they come first in the realrun tier, so each cluster has stopped before
the tier's shared stack (tests/realrun/conftest.py) starts the machine's one real node again."""

from __future__ import annotations

import sys
from pathlib import Path

# Test modules import real_node_support.py (importlib import mode).
sys.path.insert(0, str(Path(__file__).parent))
