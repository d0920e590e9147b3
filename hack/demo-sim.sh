#!/usr/bin/env bash
# The fast SIMULATED demo (`make demo-sim`): install what is needed, start the local cluster,
# install the chart, run the operator, apply a demo RaftRun and watch it reach Succeeded.
#
#   hack/demo-sim.sh      run the demo (the cluster and operator stay up afterwards)
#   hack/demo-sim.sh down stop the operator and tear the cluster down
#
# GPU workloads are SIMULATED here: fake GPU nodes (kwok), simulated KubeRay / training-operator
# controllers and a simulated vLLM endpoint. The operator, the API server, RBAC, scheduling,
# garbage collection and the manifests are real.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NAME=${RAFT_DEMO_CLUSTER:-raft-demo}
VLLM_PORT=${RAFT_DEMO_VLLM_PORT:-18700}
CACHE=${RAFT_CACHE:-$HOME/.cache/raft-operator}
STATE=$CACHE/demo
mkdir -p "$STATE"
say() { printf '\n\033[1;36m==> %s\033[0m\n' "$*"; }

stop_operator() {
  if [[ -f $STATE/operator.pid ]]; then
    kill "$(cat "$STATE/operator.pid")" 2>/dev/null || true
    rm -f "$STATE/operator.pid"
  fi
}

if [[ ${1:-} == down ]]; then
  stop_operator
  "$ROOT/hack/cluster/down.sh" --name "$NAME"
  echo "demo cluster $NAME removed"
  exit 0
fi

say "Installing what is needed (cached under $CACHE; the first run builds Kubernetes from source)"
VENV=$("$ROOT/hack/install.sh")
export PATH="$VENV/bin:$PATH" RAFT_PYTHON="$VENV/bin/python"
HELM=$("$VENV/bin/python" -c 'from raft_dev.cluster import bin_dir; print(bin_dir() / "helm")')

cat <<'EOF2'

  NOTE: GPU workloads are SIMULATED on this local cluster. The nodes with nvidia.com/gpu are
  kwok fakes; RayJobs and PyTorchJobs are moved by simulated controllers (sim/raft_sim) that
  report progress the way the real programs do; the teacher answers from a simulated vLLM.
  On a GPU cluster the same operator sends the same manifests to KubeRay, Kubeflow and vLLM.
EOF2

say "Starting the local cluster '$NAME' (kube-apiserver, etcd, controller-manager, scheduler, kwok)"
stop_operator
KUBECONFIG=$(RAFT_VLLM_MODELS=meta-llama/Meta-Llama-3-70B-Instruct "$ROOT/hack/cluster/up.sh" --name "$NAME" \
  --sim-duration 6 --vllm-port "$VLLM_PORT" | tail -n 1)
export KUBECONFIG
kubectl get nodes -L nvidia.com/gpu.count 2>/dev/null || kubectl get nodes

say "Installing the Helm chart (CRDs, RBAC, ServiceAccount, peering)"
"$HELM" upgrade --install raft-operator "$ROOT/charts/raft-operator" -n raft-system --create-namespace \
  --set replicaCount=0 >/dev/null
kubectl wait --for=condition=Established crd/raftruns.raftoperator.io --timeout=60s >/dev/null

say "Running the operator locally with the chart ServiceAccount's token (so its RBAC applies)"
SA_KUBECONFIG=$("$VENV/bin/python" -c "
from raft_dev.cluster import LocalCluster
print(LocalCluster('$NAME').service_account_kubeconfig('raft-system', 'raft-operator'))")
KUBECONFIG=$SA_KUBECONFIG RAFT_RECONCILE_INTERVAL=2 RAFT_ENDPOINT_URL_TEMPLATE="http://127.0.0.1:$VLLM_PORT" \
  RAFT_METRICS_PORT=0 setsid "$VENV/bin/python" -m raft_operator --all-namespaces --peering raft-operator \
  >"$STATE/operator.log" 2>&1 < /dev/null &
echo $! > "$STATE/operator.pid"

say "Applying examples/demo.yaml"
"$VENV/bin/python" -c 'import yaml; from raft_dev.storage import corpus_claim; print(yaml.safe_dump(corpus_claim("demo-docs", "default")))' \
  | kubectl apply -f - >/dev/null
kubectl apply -f "$ROOT/examples/demo.yaml"

say "Watching the run (kubectl get raftruns)"
phase=""
for _ in $(seq 1 150); do
  line=$(kubectl get raftrun demo --no-headers 2>/dev/null || true)
  [[ -n $line ]] && printf '%s  %s\n' "$(date +%T)" "$line"
  phase=$(kubectl get raftrun demo -o jsonpath='{.status.phase}' 2>/dev/null || true)
  [[ $phase == Succeeded || $phase == Failed ]] && break
  sleep 2
done
kubectl get raftruns

if [[ $phase != Succeeded ]]; then
  echo "the demo run did not succeed (phase: ${phase:-none}); operator log: $STATE/operator.log" >&2
  exit 1
fi

cat <<EOF2

The demo run succeeded. Look around (the cluster and the operator keep running):
  export KUBECONFIG=$KUBECONFIG
  kubectl describe raftrun demo              # conditions, progress, results, Events
  kubectl get raftrun demo -o yaml           # the full status
  kubectl get deploy,svc,rayjobs,pytorchjobs,jobs,configmaps -l raftoperator.io/run=demo
  kubectl get configmap demo-config -o jsonpath='{.data.run\.yaml}'   # what the programs read
  tail -f $STATE/operator.log
Apply your own: edit examples/small-external-teacher.yaml or examples/production.yaml and kubectl apply it.
Tear down:  hack/demo-sim.sh down
EOF2
