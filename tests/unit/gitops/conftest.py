"""Fixtures of the GitOps tests: helm (shared with tests/unit/chart) to render example values."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from raft_dev.helm import helm_path, kube_version

CHART = Path(__file__).resolve().parents[3] / "charts" / "raft-operator"


@pytest.fixture(scope="session")
def render_values() -> Callable[[dict[str, Any]], list[dict[str, Any]]]:
    """helm template the chart with a values mapping; fails on values the chart rejects."""
    helm = helm_path()
    if helm is None:
        pytest.skip("no helm binary and no Go toolchain to build one")

    def _render(values: dict[str, Any]) -> list[dict[str, Any]]:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            yaml.safe_dump(values, f)
            f.flush()
            done = subprocess.run([str(helm), "template", "raft-operator", str(CHART), "--kube-version", kube_version(),
                                   "--values", f.name], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return [d for d in yaml.safe_load_all(done.stdout) if d]

    return _render
