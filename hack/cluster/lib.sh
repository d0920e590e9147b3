# Shared settings of hack/cluster/{build,up,down}.sh; source it, don't run it.
# Everything lives outside the repository, under ${RAFT_CACHE:-$HOME/.cache/raft-operator}:
#   k8s/<K8S_VERSION>/bin   the binaries (build.sh)
#   kwok/                   kwokctl's work dir (KWOK_WORKDIR): pki, component logs, pids
#   clusters/<name>/        this project's state: kubeconfig, simulated-controller pid and log

cluster_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cluster_repo="$(cd "$cluster_here/../.." && pwd)"

# Pinned versions; the environment may override each one.
while IFS='=' read -r _key _value; do
  [[ "$_key" =~ ^[A-Z0-9_]+$ ]] || continue
  [[ -n "${!_key:-}" ]] || printf -v "$_key" '%s' "$_value"
done <"$cluster_here/versions.env"
unset _key _value

cluster_cache="${RAFT_CACHE:-$HOME/.cache/raft-operator}"
cluster_bin="${RAFT_CLUSTER_BIN:-$cluster_cache/k8s/$K8S_VERSION/bin}"
export KWOK_WORKDIR="$cluster_cache/kwok"
cluster_binaries=(kube-apiserver kube-controller-manager kube-scheduler etcd kwok kwokctl helm)

cluster_state_dir() { echo "$cluster_cache/clusters/$1"; }

cluster_log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

cluster_binaries_present() {
  local b
  for b in "${cluster_binaries[@]}"; do [[ -x "$cluster_bin/$b" ]] || return 1; done
}

kwokctl() { "$cluster_bin/kwokctl" "$@"; }

# Stop the processes recorded in STATE_DIR/*.pid (our simulated controllers and servers).
cluster_stop_pids() {
  local dir="$1" pidfile pid i
  for pidfile in "$dir"/*.pid; do
    [[ -e "$pidfile" ]] || continue
    pid="$(cat "$pidfile")"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  done
}

# Delete the kwok cluster NAME and make sure none of its component processes survive.
cluster_delete() {
  local name="$1" kdir="$KWOK_WORKDIR/clusters/$1" pids=() pidfile pid
  cluster_stop_pids "$(cluster_state_dir "$name")"
  [[ -d "$kdir" ]] || return 0
  for pidfile in "$kdir"/pids/*.pid; do
    [[ -e "$pidfile" ]] && pids+=("$(cat "$pidfile")")
  done
  kwokctl delete cluster --name "$name" --kubeconfig "" >&2 || true
  # kwokctl stops its components; anything it missed (e.g. after a crash) goes here.
  for pid in "${pids[@]}"; do
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      sleep 0.5
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$kdir"
}
