"""Boundaries between the repository's folders: production code never uses the simulators nor the
development platform, the simulators do not use the development platform, and tests/, sim/tests/
and benchmarks/ share code only through importable packages (raft_sim, raft_dev), never by
putting each other's folders on sys.path."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
PRODUCTION = ("api", "operator", "jobs")  # raft_api, raft_operator, raft_jobs: what the images install
SIMULATORS = ("raft_sim", "raft_dev")  # the stand-ins and the development platform (sim/, never in an image)
TEST_FOLDERS = ("tests", "sim/tests", "benchmarks")  # each shares code with the others only through packages


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
            assert module.split(".")[0] not in SIMULATORS, f"{path.relative_to(REPO_ROOT)}:{line} imports {module}"
        for node in ast.walk(tree):  # nor starts them (python -m raft_sim...), nor imports them by name
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for package in SIMULATORS:
                    assert package not in node.value, f"{path.relative_to(REPO_ROOT)}:{node.lineno} names {package}"


def test_the_stand_ins_do_not_use_the_development_platform() -> None:
    """raft_sim stands in for other people's software; raft_dev (the local cluster, helm, ...) runs it."""
    for path in python_files("sim/raft_sim"):
        for line, module in imported_modules(ast.parse(path.read_text(), str(path))):
            assert module.split(".")[0] != "raft_dev", f"{path.relative_to(REPO_ROOT)}:{line} imports {module}"


def sys_path_additions(path: Path) -> list[str]:
    """The source of every ``sys.path.insert/append(...)`` argument in ``path``."""
    source = path.read_text()
    out = []
    for node in ast.walk(ast.parse(source, str(path))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("insert", "append") and ast.unparse(node.func.value) == "sys.path"):
            out.append(" ".join(ast.get_source_segment(source, a) or "" for a in node.args))
    return out


@pytest.mark.parametrize(("folder", "other"), [(a, b) for a in TEST_FOLDERS for b in TEST_FOLDERS if a != b])
def test_tests_and_benchmarks_do_not_import_each_other(folder: str, other: str) -> None:
    theirs = {p.stem for p in python_files(other)} - {"__init__", "conftest"}
    ours = {p.stem for p in python_files(folder)}  # a name both folders use is imported from one's own
    for path in python_files(folder):
        for added in sys_path_additions(path):
            assert not _names_folder(added, other), (
                f"{path.relative_to(REPO_ROOT)} puts {other}/ on sys.path ({added}): share code through raft_sim or raft_dev")
        for line, module in imported_modules(ast.parse(path.read_text(), str(path))):
            top = module.split(".")[0]
            assert top not in theirs or top in ours, (
                f"{path.relative_to(REPO_ROOT)}:{line} imports {module} from {other}/: share code through raft_sim or raft_dev")


def _names_folder(source: str, folder: str) -> bool:
    """Whether the source of a sys.path argument names ``folder`` of the repository root."""
    return f'"{folder}"' in source or f'"{folder}/' in source or f"/{folder}/" in source
