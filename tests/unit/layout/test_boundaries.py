"""Boundaries between the repository's folders: production code never uses the simulators, and
tests/ and benchmarks/ share code only through importable packages (raft_sim), never by putting
each other's folders on sys.path."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ("api", "operator", "jobs")  # raft_api, raft_operator, raft_jobs: what the images install
SIMULATORS = "raft_sim"


def python_files(folder: str) -> list[Path]:
    return sorted((REPO_ROOT / folder).rglob("*.py"))


def imported_modules(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of every import in ``tree``, also those inside functions."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


@pytest.mark.parametrize("folder", PRODUCTION)
def test_production_code_never_uses_the_simulators(folder: str) -> None:
    for path in python_files(folder):
        tree = ast.parse(path.read_text(), str(path))
        for line, module in imported_modules(tree):
            assert module.split(".")[0] != SIMULATORS, f"{path.relative_to(REPO_ROOT)}:{line} imports {module}"
        for node in ast.walk(tree):  # nor starts them (python -m raft_sim...), nor imports them by name
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert SIMULATORS not in node.value, f"{path.relative_to(REPO_ROOT)}:{node.lineno} names {SIMULATORS}"


def sys_path_additions(path: Path) -> list[str]:
    """The source of every ``sys.path.insert/append(...)`` argument in ``path``."""
    source = path.read_text()
    out = []
    for node in ast.walk(ast.parse(source, str(path))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("insert", "append") and ast.unparse(node.func.value) == "sys.path"):
            out.append(" ".join(ast.get_source_segment(source, a) or "" for a in node.args))
    return out


@pytest.mark.parametrize(("folder", "other"), [("benchmarks", "tests"), ("tests", "benchmarks")])
def test_tests_and_benchmarks_do_not_import_each_other(folder: str, other: str) -> None:
    theirs = {p.stem for p in python_files(other)} - {"__init__", "conftest"}
    for path in python_files(folder):
        for added in sys_path_additions(path):
            assert f'"{other}"' not in added and f"/{other}/" not in added, (
                f"{path.relative_to(REPO_ROOT)} puts {other}/ on sys.path ({added}): share code through raft_sim")
        for line, module in imported_modules(ast.parse(path.read_text(), str(path))):
            assert module.split(".")[0] not in theirs, (
                f"{path.relative_to(REPO_ROOT)}:{line} imports {module} from {other}/: share code through raft_sim")
