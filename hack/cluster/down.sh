#!/usr/bin/env bash
# Stop the local cluster started by up.sh: the SIMULATED controllers/servers, then every
# Kubernetes component, then its state. Safe to run twice or for a cluster that never started.
#
#   hack/cluster/down.sh [--name raft]      # or RAFT_CLUSTER_NAME
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

name="${RAFT_CLUSTER_NAME:-raft}"
while (($#)); do
  case "$1" in
    --name) name="$2"; shift ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
cluster_delete "$name"
rm -rf "$(cluster_state_dir "$name")"
cluster_log "cluster $name deleted"
