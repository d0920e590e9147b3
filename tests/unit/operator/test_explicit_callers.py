"""Every call in the operator names its callee: no dispatch by a computed attribute name."""

from __future__ import annotations

import ast
from pathlib import Path

import raft_operator

SOURCES = sorted(Path(raft_operator.__file__).parent.rglob("*.py"))


def test_no_getattr_with_a_computed_name() -> None:
    found = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                    and len(node.args) >= 2 and not isinstance(node.args[1], ast.Constant):
                found.append(f"{path.name}:{node.lineno}")
    assert not found, f"dispatch by a computed name hides its callers: {found}"
