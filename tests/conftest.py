"""The product's test tiers: the folder a test lives in is its tier, and its tier gives its markers.

| folder              | what its tests need                                        | markers added |
|---------------------|------------------------------------------------------------|---------------|
| `tests/unit`        | nothing but this process: pure, fast (`make test-fast`)     | none          |
| `tests/integration` | real programs or tools, no cluster (Ray, torchrun, models) | `slow`        |
| `tests/e2e`         | the simulated local cluster, one per session               | `e2e`         |
| `tests/realrun`     | the machine's one real node and the real add-on controllers | `e2e`, `slow` |

`tests/fixtures` is what the tiers share: data (golden manifests, recordings) and the fixtures of
the areas tested in more than one tier (`*_fixtures.py`, on sys.path from here). The simulators'
own tests are in `sim/tests`, with their markers written in each module.

The session runs the tiers in that order (a `sim/tests` test by its markers, before the product's
tests of the same tier), so that the fast answers come first, every test of the simulated cluster
runs before the real node starts, and the one simulated cluster (:mod:`raft_dev.shared_cluster`)
serves `sim/tests` first and then `tests/e2e`, whose operator process it then keeps to itself.
`tests/unit/layout/test_tiers.py` checks that no test under `tests/unit` is marked `slow` or `e2e`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
# Fixtures shared by the tiers (datagen_fixtures, eval_fixtures, finetune_fixtures, corpus).
sys.path.insert(0, str(TESTS / "fixtures"))

pytest_plugins = ["raft_dev.shared_cluster"]

TIERS = ("unit", "integration", "e2e", "realrun")
MARKERS = {"integration": ("slow",), "e2e": ("e2e",), "realrun": ("e2e", "slow")}


def folder_tier(item: pytest.Item) -> str | None:
    """The tier folder of tests/ that holds ``item`` (None for a test elsewhere, e.g. sim/tests)."""
    try:
        parts = Path(item.path).resolve().relative_to(TESTS).parts
    except ValueError:
        return None
    return parts[0] if parts and parts[0] in TIERS else None


def tier_rank(item: pytest.Item) -> tuple[int, int]:
    """(tier, 0 outside tests/ else 1): the order the session runs ``item`` in."""
    tier = folder_tier(item)
    if tier is None:
        marked = "e2e" if item.get_closest_marker("e2e") else "integration" if item.get_closest_marker("slow") else "unit"
        return TIERS.index(marked), 0
    return TIERS.index(tier), 1


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with its folder's markers (before ``-m`` deselects), then order the tiers."""
    for item in items:
        for marker in MARKERS.get(folder_tier(item) or "", ()):
            if not item.get_closest_marker(marker):
                item.add_marker(marker)
    items.sort(key=tier_rank)
