"""Fixtures of the chart tests: the real helm binary and a renderer of the chart."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from raft_dev.helm import helm_path, kube_version

REPO_ROOT = Path(__file__).resolve().parents[3]
CHART = REPO_ROOT / "charts" / "raft-operator"
VALUES_DIR = Path(__file__).parent / "values"
RELEASE, NAMESPACE = "raft-operator", "raft-system"


@dataclass
class Helm:
    """Runs helm against the chart, with the cluster's Kubernetes version."""

    binary: Path

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(self.binary), *args], capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stderr}")
        return result

    def template(self, *values_files: str, sets: tuple[str, ...] = (), include_crds: bool = False,
                 check: bool = True) -> subprocess.CompletedProcess[str]:
        args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--kube-version", kube_version()]
        for name in values_files:
            args += ["--values", str(VALUES_DIR / name)]
        for item in sets:
            args += ["--set", item]
        if include_crds:
            args.append("--include-crds")
        return self.run(*args, check=check)


@pytest.fixture(scope="session")
def helm() -> Helm:
    """The pinned helm (built from source once if missing); skips only without helm and Go."""
    path = helm_path()
    if path is None:
        pytest.skip("no helm binary and no Go toolchain to build one (hack/cluster/build.sh builds it)")
    return Helm(path)


Render = Callable[..., list[dict[str, Any]]]


@pytest.fixture(scope="session")
def render(helm: Helm) -> Render:
    """helm template → the list of rendered objects."""

    def _render(*values_files: str, sets: tuple[str, ...] = (), include_crds: bool = False) -> list[dict[str, Any]]:
        out = helm.template(*values_files, sets=sets, include_crds=include_crds).stdout
        return [doc for doc in yaml.safe_load_all(out) if doc]

    return _render
