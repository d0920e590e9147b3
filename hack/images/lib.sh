# Building the project's images here and loading them into the local node's containerd.
# Sourced (after hack/cluster/lib.sh and node.sh); defines functions only.
#
# buildah (Debian's package) builds without a daemon. Its storage lives under
# $cluster_cache/buildah, so images survive between runs; each image carries the hash of what
# it was built from (label raftoperator.io/source) and is rebuilt only when that changes.
# Loading into containerd is also skipped when the loaded image is already the built one.

image_root="$cluster_cache/buildah"

image_log() { printf '[images %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

buildah_() {
  buildah --root "$image_root/storage" --runroot /run/raft-buildah --storage-driver overlay "$@"
}

# image_source REF: the source hash the image REF was built from ('' when there is no such image):
# an annotation on the images committed here (OCI format), a label on those built from a
# Dockerfile (docker format, which keeps no annotations).
image_source() {
  buildah_ inspect --type image \
    --format '{{index .ImageAnnotations "raftoperator.io/source"}}{{index .OCIv1.Config.Labels "raftoperator.io/source"}}' \
    "$1" 2>/dev/null || true
}

# image_from_binary REF BINARY PATH USER: an image of one static binary at PATH, its entrypoint.
image_from_binary() {
  local ref="$1" binary="$2" path="$3" user="$4" source c
  source="$( (sha256sum <"$binary"; echo "$path $user") | sha256sum | cut -c1-16)"
  [[ "$(image_source "$ref")" == "$source" ]] && return 0
  image_log "building $ref from $(basename "$binary")"
  c="$(buildah_ from scratch)"
  buildah_ copy --chmod 0755 "$c" "$binary" "$path" >/dev/null
  buildah_ config --entrypoint "[\"$path\"]" --user "$user" \
    --annotation "raftoperator.io/source=$source" --label "raftoperator.io/built-here=true" "$c"
  buildah_ commit -q --rm "$c" "$ref" >/dev/null
}

# image_load REF...: load the built images into the node's containerd, unless loaded already.
# Through an OCI layout that keeps every blob once (buildah skips the blobs it holds) and an
# archive of only the blobs containerd lacks (thin_archive.py): the shared base travels once.
image_load() {
  local ref id stamp layout="$image_root/oci-layout" present
  mkdir -p "$node_root/loaded"
  for ref in "$@"; do
    id="$(buildah_ inspect --type image --format '{{.FromImageID}}' "$ref")"
    stamp="$node_root/loaded/$(printf '%s' "$ref" | tr '/:' '__')"
    if [[ "$(cat "$stamp" 2>/dev/null)" == "$id" ]] && node_ctr images ls -q "name==$ref" | grep -q .; then
      continue
    fi
    image_log "loading $ref into containerd"
    buildah_ push -q --disable-compression "$ref" "oci:$layout:$ref" >/dev/null
    present="$(mktemp)"
    node_ctr content ls -q >"$present"
    python3 "$cluster_repo/hack/images/thin_archive.py" "$layout" "$ref" "$present" | node_ctr images import - >/dev/null
    rm -f "$present"
    echo "$id" >"$stamp"
  done
  [[ -d "$layout" ]] && python3 "$cluster_repo/hack/images/thin_archive.py" --prune "$layout" 2>/dev/null || true
}
