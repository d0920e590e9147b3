#!/usr/bin/env bash
# The README's main command (`make demo`): install what is needed, then run ONE REAL RAFT run on
# this machine, from `kubectl apply` to Succeeded (raft_sim.localrun.demo):
#   - a local Kubernetes (real API server, etcd, controller-manager, scheduler built from source)
#     with a local node whose pods really run, as local processes (raft_sim.localrun.kubelet);
#   - the chart and the operator (with the chart ServiceAccount's token);
#   - the real small model SmolLM2-135M-Instruct as teacher, judge and student; `transformers
#     serve` on CPU stands where vLLM runs on GPUs; KubeRay and the training operator are
#     simulated controllers that follow the real pods.
# The simulated, fast demo is `make demo-sim` (hack/demo-sim.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=$("$ROOT/hack/install.sh")
export PATH="$VENV/bin:$PATH" PYTHONUNBUFFERED=1
exec "$VENV/bin/python" -m raft_sim.localrun.demo "$@"
