"""tests/ is organised by tier (tests/conftest.py): the folders are the tiers, and a unit test is
never marked ``slow`` or ``e2e``, so that ``make test-fast`` (``-m "not e2e and not slow"``) runs
exactly tests/unit and the unmarked tests of sim/tests."""

from __future__ import annotations

import ast
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
TESTS = REPO_ROOT / "tests"
TIERS = {"unit", "integration", "e2e", "realrun"}
SHARED = {"fixtures"}  # data and fixtures the tiers share


def test_every_folder_of_tests_is_a_tier_or_shared() -> None:
    folders = {p.name for p in TESTS.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders <= TIERS | SHARED, f"folders of tests/ that are no tier: {sorted(folders - TIERS - SHARED)}"
    assert TIERS <= folders


def tier_markers(path: Path) -> list[tuple[int, str]]:
    """(line, marker) of every ``pytest.mark.slow`` / ``pytest.mark.e2e`` written in ``path``."""
    return [(node.lineno, node.attr) for node in ast.walk(ast.parse(path.read_text(), str(path)))
            if isinstance(node, ast.Attribute) and node.attr in ("slow", "e2e")
            and ast.unparse(node.value).endswith("mark")]


def test_no_unit_test_is_marked_slow_or_e2e() -> None:
    marked = [f"{path.relative_to(REPO_ROOT)}:{line} ({marker})"
              for path in sorted((TESTS / "unit").rglob("*.py")) for line, marker in tier_markers(path)]
    assert not marked, f"move these to tests/integration (slow) or tests/e2e (e2e): {marked}"

