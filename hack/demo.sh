#!/usr/bin/env bash
# The README's main command (`make demo`): install what is needed, then run ONE REAL RAFT run on
# this machine, from `kubectl apply` to Succeeded (raft_dev.localrun.demo):
#   - a local Kubernetes (real API server, etcd, controller-manager, scheduler built from source)
#     with a real node (containerd, kubelet, kube-proxy, pod network, CoreDNS: hack/cluster/node.sh);
#   - the project's images built here (hack/images/build.sh), one container per pod;
#   - the real add-on controllers, built from source (hack/cluster/addons.sh): KubeRay, Kubeflow
#     Trainer with JobSet, the training operator, LeaderWorkerSet and Kueue;
#   - the chart's operator pod;
#   - the real small model SmolLM2-135M-Instruct as judge and student, a SIMULATED teacher; a
#     stand-in vLLM image runs `transformers serve` on CPU where vLLM runs on GPUs.
# It leaves the cluster running and prints its kubeconfig and how to tear it down.
# The simulated, fast demo is `make demo-sim` (hack/demo-sim.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=$("$ROOT/hack/install.sh")
export PATH="$VENV/bin:$PATH" PYTHONUNBUFFERED=1
exec "$VENV/bin/python" -m raft_dev.localrun.demo "$@"
