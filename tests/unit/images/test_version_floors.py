"""pyproject's version floors are the versions that are tested: the images' exact pins
(images/constraints.txt) satisfy them, and no floor is older than the pinned minor release."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[3]
RUNTIME_GROUPS = ("operator", "datagen", "train", "eval")


def pins() -> dict[str, Version]:
    out = {}
    for line in (ROOT / "images" / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            out[canonicalize_name(name)] = Version(version.strip())
    return out


def test_floors_are_the_tested_minor_releases() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(r) for r in project["dependencies"]]
    for group in RUNTIME_GROUPS:
        requirements += [Requirement(r) for r in project["optional-dependencies"][group]]
    pinned = pins()
    for req in requirements:
        name = canonicalize_name(req.name)
        (floor,) = [Version(s.version) for s in req.specifier if s.operator == ">="]
        assert name in pinned, f"{req.name} is not pinned in images/constraints.txt"
        tested = pinned[name]
        assert req.specifier.contains(tested), f"{req}: the image pins {tested}"
        assert floor.release[:2] >= tested.release[:2], f"{req}: floor older than the tested {tested}"
