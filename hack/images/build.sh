#!/usr/bin/env bash
# Build the project's images here, with buildah, and load them into the real node's containerd.
#
#   hack/images/build.sh [--load] [NAME...]    # default: every image of hack/images/images.tsv
#
# The upstream bases of images/*/Dockerfile (python slim, rayproject/ray, pytorch, vLLM) cannot
# be pulled here, so every Dockerfile takes its bases as build arguments (BUILDER_IMAGE for the
# wheel stage, BASE_IMAGE for the runtime) and this script passes bases made here:
#   base-python  Debian $IMAGE_DEBIAN_SUITE (mmdebstrap, from this machine's apt sources) with python3 and a venv at
#                /opt/venv first on PATH, owned by uid 1000 as the Ray image's Python is;
#   base-ml      base-python with the pinned (images/constraints.txt) dependencies of the
#                datagen, train and eval extras and of the CPU model server, which the
#                upstream Ray and PyTorch images would otherwise bring.
# pip inside a build uses this machine's pip configuration and CA bundle, mounted at build
# time; no registry address is written anywhere. Each image is labelled with the hash of what
# it is built from and rebuilt only when that changes; the bases are keyed by their inputs.
# Prints one progress line per step. --load also loads the images into the node's containerd.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../cluster/lib.sh"
source "$cluster_repo/hack/images/lib.sh"

load=0
names=()
while (($#)); do
  case "$1" in
    --load) load=1 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) names+=("$1") ;;
  esac
  shift
done

started=$SECONDS
table="$cluster_repo/hack/images/images.tsv"
((${#names[@]})) || mapfile -t names < <(awk '!/^#/ && NF {print $1}' "$table")

# The build's view of this machine's pip settings: its pip.conf and PIP_* variables as one
# file, and the CA bundle they name, both mounted read-only into every RUN.
image_pip_mounts() {
  local conf="$image_root/pip.conf" cert
  mkdir -p "$image_root"
  {
    echo "[global]"
    python3 - <<'PY'
import os
for key, value in sorted(os.environ.items()):
    if key.startswith("PIP_") and key not in ("PIP_FIND_LINKS", "PIP_NO_CACHE_DIR"):
        print(f"{key[4:].lower().replace('_', '-')} = {value}")
PY
    [[ -r /etc/pip.conf ]] && grep -v '^\[' /etc/pip.conf || true
  } | awk '!seen[$1]++' >"$conf"
  cert="${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}"
  pip_mounts=(-v "$conf:/etc/pip.conf:ro")
  if [[ -r "$cert" ]]; then
    pip_mounts+=(-v "$cert:/etc/ssl/certs/ca-certificates.crt:ro")
    [[ "$cert" == /etc/ssl/certs/ca-certificates.crt ]] || pip_mounts+=(-v "$cert:$cert:ro")
  fi
}

# base-python: Debian $IMAGE_DEBIAN_SUITE from mmdebstrap, through this machine's apt sources.
build_base_python() {
  local suite="$IMAGE_DEBIAN_SUITE" packages=python3,python3-venv,ca-certificates source rootfs c host_suite
  source="$( (echo "$suite $packages"; cat "$cluster_repo/hack/images/base-python.sh") | sha256sum | cut -c1-16)"
  base_python="$node_image_prefix/base-python:$source"
  [[ "$(image_source "$base_python")" == "$source" ]] && return 0
  image_log "base-python: Debian $suite with python3 (mmdebstrap)"
  rootfs="$image_root/debian-$suite.tar"
  # This machine's own apt sources, with its suite replaced by the image's.
  host_suite="$(. /etc/os-release && echo "$VERSION_CODENAME")"
  mmdebstrap --quiet --variant=minbase --include="$packages" "$suite" "$rootfs" - \
    < <(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | grep -v '^#' \
        | sed "s/\b$host_suite\b/$suite/g" || true)
  c="$(buildah_ from scratch)"
  buildah_ add "$c" "$rootfs" / >/dev/null
  buildah_ run --network host "$c" -- /bin/sh -s <"$cluster_repo/hack/images/base-python.sh"
  buildah_ config --env PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 --annotation "raftoperator.io/source=$source" --label "raftoperator.io/built-here=true" "$c"
  buildah_ commit -q --rm "$c" "$base_python" >/dev/null
  rm -f "$rootfs"
}

# base-ml: base-python with the pinned heavy dependencies of the project's extras.
build_base_ml() {
  local extras=(datagen train eval local) source c requirements
  requirements="$(python3 "$cluster_repo/hack/images/requirements.py" "${extras[@]}")"
  source="$( (echo "$base_python"; echo "$requirements"; cat "$cluster_repo/images/constraints.txt") | sha256sum | cut -c1-16)"
  base_ml="$node_image_prefix/base-ml:$source"
  [[ "$(image_source "$base_ml")" == "$source" ]] && return 0
  image_log "base-ml: pinned dependencies of ${extras[*]} (pip; first time: several GB)"
  mkdir -p "$image_root/pip-cache"
  printf '%s\n' "$requirements" >"$image_root/requirements.txt"
  c="$(buildah_ from "$base_python")"
  buildah_ run --network host "${pip_mounts[@]}" -v "$image_root/pip-cache:/root/.cache/pip" \
    -v "$image_root/requirements.txt:/tmp/requirements.txt:ro" \
    -v "$cluster_repo/images/constraints.txt:/tmp/constraints.txt:ro" "$c" -- \
    /opt/venv/bin/pip install -q --cache-dir /root/.cache/pip -c /tmp/constraints.txt -r /tmp/requirements.txt
  buildah_ run "$c" -- chown -R 1000:100 /opt/venv
  buildah_ config --annotation "raftoperator.io/source=$source" --label "raftoperator.io/built-here=true" "$c"
  buildah_ commit -q --rm "$c" "$base_ml" >/dev/null
}

# build_image NAME: images/NAME/Dockerfile (or the stand-in's under sim/images) on the local bases.
build_image() {
  local name="$1" dockerfile base args ref source context files build_args=() ignore=()
  read -r _ dockerfile base args < <(awk -v n="$name" '$1 == n' "$table")
  [[ -n "$dockerfile" ]] || { echo "unknown image $name (see $table)" >&2; exit 2; }
  ref="$node_image_prefix/$name:local"
  case "$base" in base-python) base="$base_python" ;; base-ml) base="$base_ml" ;; *) base="$node_image_prefix/$base:local" ;; esac
  context="$cluster_repo"
  # What the build reads: the Dockerfile, the base and the files its context sends, which are the
  # allowlist (`!path` lines) of its ignore file: NAME/Dockerfile.dockerignore, else the repository's.
  local ignorefile="$context/.dockerignore" inputs
  [[ -e "$context/$dockerfile.dockerignore" ]] && ignorefile="$context/$dockerfile.dockerignore"
  mapfile -t inputs < <(sed -n 's#^!\(.*[^/]\)/*$#\1#p' "$ignorefile")
  files="$(cd "$context" && git ls-files --cached --others --exclude-standard -- "${inputs[@]}" \
    | grep -v -e '__pycache__' -e '\.pyc$' | sort | xargs sha256sum | sha256sum | cut -c1-16)"
  source="$( (echo "$base $files $args"; cat "$context/$dockerfile") | sha256sum | cut -c1-16)"
  for arg in $args; do build_args+=(--build-arg "$arg"); done
  # A Dockerfile may send its own context (NAME/Dockerfile.dockerignore); else the repository's.
  [[ -e "$context/$dockerfile.dockerignore" ]] && ignore=(--ignorefile "$context/$dockerfile.dockerignore")
  if [[ "$(image_source "$ref")" != "$source" ]]; then
    image_log "$name: $dockerfile on $base"
    # No layer cache: a RUN that installs from a bind mount of an earlier stage (the project's
    # wheel) has the same cache key whatever the mount holds, so a cached build kept old code.
    # The source hash is a label: the docker format keeps labels, not annotations.
    buildah_ build --quiet --no-cache --format docker --network host "${pip_mounts[@]}" -f "$context/$dockerfile" \
      --build-arg "BUILDER_IMAGE=$base_python" --build-arg "BASE_IMAGE=$base" "${build_args[@]}" "${ignore[@]}" \
      --label "org.opencontainers.image.base.name=$base" \
      --label "raftoperator.io/source=$source" --label "raftoperator.io/built-here=true" \
      -t "$ref" "$context" >/dev/null
  fi
  built+=("$ref")
}

# prune_old_bases: remove the bases of earlier inputs and what only they held (several GB each).
prune_old_bases() {
  local ref
  buildah_ images --format '{{.Name}}:{{.Tag}}' | grep -E "^$node_image_prefix/base-(python|ml):" \
    | { grep -vxF -e "$base_python" -e "$base_ml" || true; } | while read -r ref; do
    buildah_ rmi -f "$ref" >/dev/null 2>&1 || true
  done
  buildah_ rm --all >/dev/null 2>&1 || true  # working containers an interrupted build left
  buildah_ rmi --prune >/dev/null 2>&1 || true
}

image_pip_mounts
build_base_python
build_base_ml
built=()
for name in "${names[@]}"; do build_image "$name"; done
prune_old_bases
if ((load)); then image_load "${built[@]}"; fi
image_log "done in $((SECONDS - started))s"
printf '%s\n' "${built[@]}"
