#!/usr/bin/env bash
# Build the local cluster's binaries from source through the Go module proxy.
#
#   hack/cluster/build.sh            # build whatever is missing, print the bin folder
#   hack/cluster/build.sh --addons   # only the add-on controllers (hack/cluster/addons.sh)
#
# Output: ${RAFT_CACHE:-$HOME/.cache/raft-operator}/k8s/<K8S_VERSION>/bin with
# kube-apiserver, kube-controller-manager, kube-scheduler, etcd, kwok, kwokctl, helm, and the
# real node's kubelet, kube-proxy, coredns, crictl, kube-router and pause (hack/cluster/node.sh),
# and the add-on controllers: kuberay-operator, trainer-controller-manager, jobset-controller,
# training-operator, lws-controller, kueue-controller (hack/cluster/addons.sh).
# Each binary has a stamp (.<name>.version); a binary whose stamp matches is not rebuilt,
# so a warm run returns in well under a second. Versions: hack/cluster/versions.env
# (any of them may be overridden from the environment).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bin="$cluster_bin"
work="$cluster_cache/k8s/$K8S_VERSION/src"
mkdir -p "$bin" "$work"

export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
started=$SECONDS

log() { printf '[build %4ss] %s\n' "$((SECONDS - started))" "$*" >&2; }

fresh() {  # fresh NAME VERSION: the binary exists and was built at VERSION
  [[ -x "$bin/$1" && "$(cat "$bin/.$1.version" 2>/dev/null)" == "$2" ]]
}

stamp() { for name in "${@:2}"; do echo "$1" >"$bin/.$name.version"; done; }

module_gomod() {  # the go.mod of MODULE@VERSION, fetched through the proxy
  go mod download -json "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["GoMod"])'
}

build_kubernetes() {
  local components=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy) missing=() c
  for c in "${components[@]}"; do fresh "$c" "$K8S_VERSION" || missing+=("$c"); done
  ((${#missing[@]})) || return 0
  log "kubernetes $K8S_VERSION: ${missing[*]}"

  local dir="$work/kubernetes" gomod minor staging_version
  minor="$(echo "$K8S_VERSION" | cut -d. -f2)"
  staging_version="v0.${K8S_VERSION#v1.}"  # v1.33.13 -> v0.33.13
  gomod="$(module_gomod "k8s.io/kubernetes@$K8S_VERSION")"
  mkdir -p "$dir"
  # k8s.io/kubernetes replaces its staging modules with local paths, which a dependent
  # module cannot see; point each of them at its published v0.x release instead.
  {
    echo "module raft.local/k8sbuild"
    echo
    echo "go 1.24.0"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    sed -nE 's#^[[:space:]]*(k8s\.io/[a-z0-9.-]+) => \./staging/.*#replace \1 => \1 '"$staging_version"'#p' "$gomod"
  } >"$dir/go.mod"
  printf 'package k8sbuild\n' >"$dir/doc.go"

  local v=k8s.io/component-base/version cv=k8s.io/client-go/pkg/version ldflags="-s -w" p
  for p in "$v" "$cv"; do
    ldflags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=$build_date"
  done
  local pkgs=()
  for c in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  (cd "$dir" && go build -trimpath -ldflags "$ldflags" -o "$bin/" "${pkgs[@]}")
  stamp "$K8S_VERSION" "${missing[@]}"
}

build_etcd() {
  fresh etcd "$ETCD_VERSION" && return 0
  log "etcd $ETCD_VERSION"
  # etcd's server module also replaces its siblings with local paths: same wrapper trick,
  # but its requirements already name the matching releases, so no replace is needed.
  local dir="$work/etcd"
  mkdir -p "$dir"
  printf 'module raft.local/etcdbuild\n\ngo 1.24.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n' \
    "$ETCD_VERSION" >"$dir/go.mod"
  printf 'package etcdbuild\n' >"$dir/doc.go"
  (cd "$dir" && go build -trimpath -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3)
  stamp "$ETCD_VERSION" etcd
}

build_kwok() {
  local missing=() c
  for c in kwok kwokctl; do fresh "$c" "$KWOK_VERSION" || missing+=("$c"); done
  ((${#missing[@]})) || return 0
  log "kwok $KWOK_VERSION: ${missing[*]}"
  local k=sigs.k8s.io/kwok/pkg/consts
  local ldflags="-s -w -X $k.Version=${KWOK_VERSION#v} -X $k.KubeVersion=${K8S_VERSION#v}"
  for c in "${missing[@]}"; do
    GOFLAGS= GOBIN="$bin" go install -trimpath -ldflags "$ldflags" "sigs.k8s.io/kwok/cmd/$c@$KWOK_VERSION"
  done
  stamp "$KWOK_VERSION" "${missing[@]}"
}

build_helm() {
  fresh helm "$HELM_VERSION+k8s$K8S_VERSION" && return 0
  log "helm $HELM_VERSION"
  local minor h=helm.sh/helm/v3
  minor="$(echo "$K8S_VERSION" | cut -d. -f2)"
  # Default kube version for `helm template`/lint = the cluster's (else helm assumes v1.20).
  local ldflags="-s -w -X $h/internal/version.version=$HELM_VERSION -X $h/internal/version.gitTreeState=clean"
  ldflags+=" -X $h/pkg/chartutil.k8sVersionMajor=1 -X $h/pkg/chartutil.k8sVersionMinor=$minor"
  ldflags+=" -X $h/pkg/lint/rules.k8sVersionMajor=1 -X $h/pkg/lint/rules.k8sVersionMinor=$minor"
  GOFLAGS= GOBIN="$bin" go install -trimpath -ldflags "$ldflags" "$h/cmd/helm@$HELM_VERSION"
  stamp "$HELM_VERSION+k8s$K8S_VERSION" helm
}

build_coredns() {
  fresh coredns "$COREDNS_VERSION" && return 0
  log "coredns $COREDNS_VERSION"
  GOFLAGS= GOBIN="$bin" go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION"
  stamp "$COREDNS_VERSION" coredns
}

build_crictl() {  # the CRI's own client: removes the node's pod sandboxes at teardown, and for debugging
  fresh crictl "$CRICTL_VERSION" && return 0
  log "crictl $CRICTL_VERSION"
  # Through a wrapper module: the proxy refuses the package path as a module path (403), which
  # ends `go install PKG@VERSION`'s search for the module.
  local dir="$work/crictl"
  mkdir -p "$dir"
  printf 'module raft.local/crictlbuild\n\ngo 1.24.0\n\nrequire sigs.k8s.io/cri-tools %s\n' "$CRICTL_VERSION" >"$dir/go.mod"
  printf 'package crictlbuild\n' >"$dir/doc.go"
  (cd "$dir" && go build -trimpath -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION" \
    -o "$bin/crictl" sigs.k8s.io/cri-tools/cmd/crictl)
  stamp "$CRICTL_VERSION" crictl
}

build_kube_router() {  # NetworkPolicy enforcement on the real node (hack/cluster/node.sh)
  fresh kube-router "$KUBE_ROUTER_VERSION" && return 0
  log "kube-router $KUBE_ROUTER_VERSION"
  GOFLAGS= GOBIN="$bin" go install -trimpath \
    -ldflags "-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION" \
    "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$KUBE_ROUTER_VERSION"
  stamp "$KUBE_ROUTER_VERSION" kube-router
}

build_pause() {  # the pod sandbox's process, from the pinned Kubernetes module's own source
  fresh pause "$K8S_VERSION" && return 0
  log "pause (kubernetes $K8S_VERSION build/pause)"
  local src
  src="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  cc -Os -static -Wall -Werror -DVERSION="$K8S_VERSION" -o "$bin/pause" "$src/build/pause/linux/pause.c"
  stamp "$K8S_VERSION" pause
}

source "$(dirname "${BASH_SOURCE[0]}")/addons.sh"  # addon_fields: what each add-on is built from

build_addon() {  # build_addon NAME: the add-on's controller, from its module at the pinned version
  local binary module version main version_pkg dir ldflags="-s -w"
  read -r binary module version _ _ _ _ main version_pkg <<<"$(addon_fields "$1")"
  fresh "$binary" "$version" && return 0
  log "$binary ($module $version)"
  # Each builds inside its own module at the pinned version, with that module's go.sum: exactly
  # the dependency versions upstream released. Go's build cache is shared, so the Kubernetes
  # libraries they have in common compile once.
  dir="$(go mod download -json "$module@$version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  [[ "$version_pkg" == - ]] || ldflags+=" -X '$version_pkg.GitVersion=$version' -X '$version_pkg.BuildDate=$build_date'"
  (cd "$dir" && GOFLAGS=-mod=readonly go build -trimpath -ldflags "$ldflags" -o "$bin/$binary" "$main")
  stamp "$version" "$binary"
}

build_addons() {
  local name
  for name in "${addons_all[@]}"; do build_addon "$name"; done
}

if [[ "${1:-}" == --addons ]]; then
  build_addons
  log "done in $((SECONDS - started))s"
  echo "$bin"
  exit 0
fi

build_kubernetes
build_coredns
build_crictl
build_kube_router
build_pause
build_etcd
build_kwok
build_helm
build_addons
log "done in $((SECONDS - started))s"
echo "$bin"
