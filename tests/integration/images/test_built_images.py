"""The images as built here (hack/images/build.sh): each starts its entrypoint, and the
production images hold no simulator code. Runs each image's own command with buildah."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from raft_dev.cluster import REPO_ROOT, cache_dir

pytestmark = pytest.mark.slow

PREFIX = "localhost/raft-operator"
# image → a command that starts its entrypoint's program without doing work
ENTRYPOINTS = {
    "operator": ["raft-operator", "--help"],
    "datagen": ["python", "-m", "raft_jobs.datagen", "--help"],
    "trainer": ["python", "-m", "raft_jobs.finetune", "--help"],
    "eval": ["python", "-m", "raft_jobs.eval", "--help"],
    "vllm-standin": ["vllm", "serve", "--help"],
    "sim-teacher": ["vllm", "serve", "--help"],
    "vllm": ["vllm", "serve", "--help"],
}
PRODUCTION = ("operator", "datagen", "trainer", "eval")


def buildah(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["buildah", "--root", str(cache_dir() / "buildah" / "storage"), "--runroot",
                           "/run/raft-buildah", "--storage-driver", "overlay", *args],
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def built() -> list[str]:
    if os.geteuid() != 0 or not shutil.which("buildah") or not shutil.which("mmdebstrap"):
        pytest.skip("building the images needs root, buildah and mmdebstrap (hack/install.sh installs them)")
    result = subprocess.run([str(REPO_ROOT / "hack" / "images" / "build.sh")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.split()


def run_in(image: str, command: list[str]) -> subprocess.CompletedProcess[str]:
    container = buildah("from", "--pull-never", image).stdout.strip()
    try:
        return buildah("run", "--network", "none", container, "--", *command)
    finally:
        buildah("rm", container)


def test_every_image_of_the_table_is_built(built):
    table = [line.split()[0] for line in (REPO_ROOT / "hack" / "images" / "images.tsv").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert built == [f"{PREFIX}/{name}:local" for name in table]
    assert set(table) == set(ENTRYPOINTS)


@pytest.mark.parametrize("name", sorted(ENTRYPOINTS))
def test_the_entrypoint_starts(built, name):
    result = run_in(f"{PREFIX}/{name}:local", ENTRYPOINTS[name])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "usage" in (result.stdout + result.stderr).lower()


@pytest.mark.parametrize("package", ["raft_sim", "raft_dev"])
@pytest.mark.parametrize("name", PRODUCTION)
def test_production_images_hold_no_simulator_code(built, name, package):
    result = run_in(f"{PREFIX}/{name}:local", ["python", "-c", f"import {package}"])
    assert result.returncode != 0 and f"No module named '{package}'" in result.stderr


@pytest.mark.parametrize("name", PRODUCTION)
def test_production_images_hold_the_checked_out_code(built, name):
    """The installed package is this checkout's, byte for byte (a layer-cached build once kept the
    code of an earlier build: its install step reads the wheel through a mount, outside the cache key)."""
    files = sorted((REPO_ROOT / "operator" / "raft_operator").glob("*.py"))
    expected = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    script = ("import hashlib, json, pathlib, raft_operator; d = pathlib.Path(raft_operator.__file__).parent; "
              "print(json.dumps({p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.glob('*.py'))}))")
    result = run_in(f"{PREFIX}/{name}:local", ["python", "-c", script])
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == expected
