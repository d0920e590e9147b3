"""The pinned versions of what the local cluster runs and the stand-ins stand in for
(hack/cluster/versions.env): Kubernetes, helm and the add-on controllers."""

from __future__ import annotations

import os
from pathlib import Path

VERSIONS_FILE = Path(__file__).resolve().parents[2] / "hack" / "cluster" / "versions.env"


def pinned_versions() -> dict[str, str]:
    """The versions of hack/cluster/versions.env, each overridable from the environment."""
    versions = {}
    for line in VERSIONS_FILE.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            versions[key.strip()] = os.environ.get(key.strip()) or value.strip()
    return versions
