"""Print the requirements of the project's extras named on the command line, one per line.

The local base image (hack/images/build.sh) installs them, pinned by images/constraints.txt, so
that the project's Dockerfiles find them installed as the upstream Ray and PyTorch bases would.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def requirements(extras: list[str]) -> list[str]:
    """The requirement strings of ``extras`` (the project's own, self-referencing ones left out)."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    found = list(project["dependencies"])
    for extra in extras:
        found += [r for r in project["optional-dependencies"][extra] if not r.startswith(project["name"])]
    return sorted(set(found))


if __name__ == "__main__":
    print("\n".join(requirements(sys.argv[1:])))
