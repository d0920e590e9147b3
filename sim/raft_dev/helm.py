"""Find (or build) the helm binary the chart and GitOps tests run, at the version hack/cluster pins.

Order: $RAFT_HELM; the helm hack/cluster/build.sh built for the local cluster; a helm this
module built before; else ``go install helm.sh/helm/v3/cmd/helm@<HELM_VERSION>`` into
``${RAFT_CACHE:-~/.cache/raft-operator}/helm/<HELM_VERSION>/bin`` (a few minutes, once).

    python -m raft_dev.helm    # print the path, building helm if needed
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .cluster import bin_dir, cache_dir, pinned_versions

HELM_MODULE = "helm.sh/helm/v3"


def kube_version() -> str:
    """The Kubernetes version the local cluster runs: the default for helm lint/template."""
    return pinned_versions()["K8S_VERSION"]


def _version_of(helm: Path) -> str | None:
    try:
        out = subprocess.run([str(helm), "version", "--template", "{{.Version}}"], capture_output=True,
                             text=True, timeout=30)
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _candidates(helm_version: str) -> list[Path]:
    return [bin_dir() / "helm", cache_dir() / "helm" / helm_version / "bin" / "helm"]


def _build(helm_version: str, target: Path) -> None:
    """go install helm at ``helm_version`` into target's folder (the same flags as build.sh)."""
    minor = kube_version().split(".")[1]
    h = HELM_MODULE
    ldflags = " ".join([
        "-s -w",
        f"-X {h}/internal/version.version={helm_version}",
        f"-X {h}/internal/version.gitTreeState=clean",
        f"-X {h}/pkg/chartutil.k8sVersionMajor=1 -X {h}/pkg/chartutil.k8sVersionMinor={minor}",
        f"-X {h}/pkg/lint/rules.k8sVersionMajor=1 -X {h}/pkg/lint/rules.k8sVersionMinor={minor}",
    ])
    env = {**os.environ, "GOBIN": str(target.parent), "GOFLAGS": "", "CGO_ENABLED": "0", "GOTOOLCHAIN": "local"}
    subprocess.run(["go", "install", "-trimpath", "-ldflags", ldflags, f"{h}/cmd/helm@{helm_version}"],
                   env=env, check=True, timeout=1800)


def helm_path(build: bool = True) -> Path | None:
    """An executable helm at the pinned version, or None when there is none and none can be built."""
    if os.environ.get("RAFT_HELM"):
        return Path(os.environ["RAFT_HELM"])
    helm_version = pinned_versions()["HELM_VERSION"]
    for candidate in _candidates(helm_version):
        if os.access(candidate, os.X_OK) and _version_of(candidate) == helm_version:
            return candidate
    if not build or shutil.which("go") is None:
        return None
    target = _candidates(helm_version)[-1]
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".build.lock", "w") as lock:  # one build at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (os.access(target, os.X_OK) and _version_of(target) == helm_version):
            _build(helm_version, target)
    return target if _version_of(target) == helm_version else None


if __name__ == "__main__":
    path = helm_path()
    if path is None:
        sys.exit("no helm and no Go toolchain to build it")
    print(path)
