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
node_binaries=(kubelet kube-proxy coredns crictl kube-router pause)

cluster_state_dir() { echo "$cluster_cache/clusters/$1"; }

cluster_log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

cluster_binaries_present() {
  local b
  for b in "${cluster_binaries[@]}" "$@"; do [[ -x "$cluster_bin/$b" ]] || return 1; done
}

kwokctl() { "$cluster_bin/kwokctl" "$@"; }

# Stop the processes recorded in STATE_DIR/*.pid (our simulated controllers and servers).
cluster_stop_pids() {
  local dir="$1" pidfile pid
  for pidfile in "$dir"/*.pid; do
    [[ -e "$pidfile" ]] || continue
    pid="$(cat "$pidfile")"
    if [[ -n "$pid" ]] && cluster_alive "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      cluster_wait_gone 50 "$pid" || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  done
}

# cluster_alive PID: the process exists and is not a zombie (orphans may wait to be reaped).
cluster_alive() {
  local state
  state="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
  [[ -n "$state" && "$state" != Z* ]]
}

# cluster_wait_gone TENTHS PID...: wait up to TENTHS/10 s for the processes to exit.
cluster_wait_gone() {
  local tenths="$1" pid alive i
  shift
  for ((i = 0; i < tenths; i++)); do
    alive=0
    for pid in "$@"; do cluster_alive "$pid" && alive=1; done
    ((alive)) || return 0
    sleep 0.1
  done
  return 1
}

# Delete the kwok cluster NAME and make sure none of its component processes survive.
cluster_delete() {
  local name="$1" kdir="$KWOK_WORKDIR/clusters/$1" pids=() pidfile pid
  node_down "$name"
  cluster_stop_pids "$(cluster_state_dir "$name")"
  [[ -d "$kdir" ]] || return 0
  for pidfile in "$kdir"/pids/*.pid; do
    [[ -e "$pidfile" ]] && pids+=("$(cat "$pidfile")")
  done
  # --kubeconfig: the context to remove lives in the cluster's own kubeconfig, not ~/.kube/config.
  local out
  out="$(kwokctl delete cluster --name "$name" --kubeconfig "$kdir/kubeconfig.yaml" 2>&1)" || echo "$out" >&2
  # kwokctl signals its components without waiting; wait for them, then kill what is left
  # (also what a crashed run left behind).
  cluster_wait_gone 50 "${pids[@]}" || kill -KILL "${pids[@]}" 2>/dev/null || true
  rm -rf "$kdir"
}

source "$cluster_here/node.sh"
