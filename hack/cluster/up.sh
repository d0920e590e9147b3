#!/usr/bin/env bash
# Start the local Kubernetes cluster: real kube-apiserver (RBAC, admission, service-account
# tokens), kube-controller-manager, kube-scheduler and etcd built from source, kwok fake nodes
# (GPU nodes with nvidia.com/gpu allocatable + CPU nodes), the SIMULATED RayJob/PyTorchJob CRDs
# and, unless --no-sim, the SIMULATED controllers (raft_sim.controllers).
#
#   hack/cluster/up.sh [--name raft] [--gpu-nodes 4] [--cpu-nodes 1] [--gpus-per-node 8]
#                      [--no-sim] [--sim-duration 3] [--sim-progress-interval 1] [--build]
#                      [--vllm-port PORT [--vllm-model NAME]...] [--audit-policy FILE] [--admission-plugins A,B]
#                      [--real-node [--real-controllers]] [--trainer]
#
# Every option also has an environment variable (RAFT_CLUSTER_NAME, RAFT_GPU_NODES,
# RAFT_CPU_NODES, RAFT_GPUS_PER_NODE, RAFT_CLUSTER_SIM=0, RAFT_SIM_DURATION,
# RAFT_SIM_PROGRESS_INTERVAL, RAFT_VLLM_PORT, RAFT_VLLM_MODELS=a,b, RAFT_AUDIT_POLICY,
# RAFT_BUILD_CLUSTER=1, RAFT_SIM_TRAINER=1). --trainer also installs the SIMULATED Kubeflow
# Trainer TrainJob and ClusterTrainingRuntime CRDs and the torch-distributed runtime. --vllm-port also starts the SIMULATED vLLM server
# (raft_sim.vllm_server) on 127.0.0.1:PORT. --audit-policy turns on the API server's audit log
# (an audit.k8s.io/v1 Policy file) at $KWOK_WORKDIR/clusters/NAME/logs/audit.log.
# --real-node (RAFT_REAL_NODE=1) adds the real node `raft-node` (hack/cluster/node.sh): containerd,
# kubelet, kube-proxy, bridge pod network and CoreDNS; the API server then also listens on the
# node's address (port 6443), so that pods reach it. One real node per machine.
# --real-node also starts the simulated controllers with --real-workloads, so that they follow the
# node's workloads instead of simulating them.
# --real-controllers (RAFT_REAL_CONTROLLERS=1; needs --real-node) installs the REAL add-ons instead
# of their simulated CRDs and controllers (hack/cluster/addons.sh): KubeRay, Kubeflow Trainer with
# JobSet and the torch-distributed runtime, the training operator, LeaderWorkerSet and Kueue,
# each built by build.sh --addons. The simulated volume provisioner and eval-Job follower stay. The Python
# that runs the simulators is $RAFT_PYTHON, else the active virtualenv's, else python3; it needs
# the `kubernetes` package.
# A cluster of the same name is deleted first. Everything listens on 127.0.0.1 (with --real-node
# the API server also on the node's address). The last line
# on stdout is the kubeconfig path; progress goes to stderr. Stop it with down.sh --name NAME.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

name="${RAFT_CLUSTER_NAME:-raft}"
gpu_nodes="${RAFT_GPU_NODES:-4}"
cpu_nodes="${RAFT_CPU_NODES:-1}"
gpus_per_node="${RAFT_GPUS_PER_NODE:-8}"
sim="${RAFT_CLUSTER_SIM:-1}"
sim_duration="${RAFT_SIM_DURATION:-3}"
sim_progress_interval="${RAFT_SIM_PROGRESS_INTERVAL:-1}"
sim_workers="${RAFT_SIM_WORKERS:-1}"  # objects the simulated controllers reconcile at once
audit_policy="${RAFT_AUDIT_POLICY:-}"
admission_plugins="${RAFT_ADMISSION_PLUGINS:-}"
vllm_port="${RAFT_VLLM_PORT:-}"
vllm_models="${RAFT_VLLM_MODELS:-}"
build="${RAFT_BUILD_CLUSTER:-0}"
real_node="${RAFT_REAL_NODE:-0}"
trainer="${RAFT_SIM_TRAINER:-0}"
real_controllers="${RAFT_REAL_CONTROLLERS:-0}"
python="${RAFT_PYTHON:-${VIRTUAL_ENV:+$VIRTUAL_ENV/bin/python}}"
python="${python:-python3}"
while (($#)); do
  case "$1" in
    --name) name="$2"; shift ;;
    --gpu-nodes) gpu_nodes="$2"; shift ;;
    --cpu-nodes) cpu_nodes="$2"; shift ;;
    --gpus-per-node) gpus_per_node="$2"; shift ;;
    --no-sim) sim=0 ;;
    --sim-duration) sim_duration="$2"; shift ;;
    --sim-progress-interval) sim_progress_interval="$2"; shift ;;
    --audit-policy) audit_policy="$2"; shift ;;
    --admission-plugins) admission_plugins="$2"; shift ;;
    --vllm-port) vllm_port="$2"; shift ;;
    --vllm-model) vllm_models="${vllm_models:+$vllm_models,}$2"; shift ;;
    --build) build=1 ;;
    --real-node) real_node=1 ;;
    --trainer) trainer=1 ;;
    --real-controllers) real_controllers=1 ;;
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[[ "$name" =~ ^[a-z0-9]([a-z0-9-]*[a-z0-9])?$ ]] || { echo "bad cluster name: $name" >&2; exit 2; }
if [[ "$real_node" == 1 ]] && ((gpu_nodes + cpu_nodes)); then
  echo "--real-node needs --gpu-nodes 0 --cpu-nodes 0 (kwok would take the node's pods)" >&2; exit 2
fi
if [[ "$real_controllers" == 1 && "$real_node" != 1 ]]; then
  echo "--real-controllers needs --real-node (the controllers run as pods)" >&2; exit 2
fi
if [[ -n "$audit_policy" ]]; then
  [[ -r "$audit_policy" ]] || { echo "audit policy not readable: $audit_policy" >&2; exit 2; }
  audit_policy="$(cd "$(dirname "$audit_policy")" && pwd)/$(basename "$audit_policy")"
fi

started=$SECONDS
required=()
[[ "$real_node" == 1 ]] && required=("${node_binaries[@]}")
if ! cluster_binaries_present "${required[@]}"; then
  if [[ "$build" == 1 ]]; then
    "$cluster_here/build.sh" >/dev/null
  else
    echo "cluster binaries missing under $cluster_bin; run hack/cluster/build.sh (or pass --build)" >&2
    exit 3
  fi
fi

state="$(cluster_state_dir "$name")"
cluster_delete "$name"
rm -rf "$state"
mkdir -p "$state"
apiserver_port="${RAFT_APISERVER_PORT:-0}"
if [[ "$real_node" == 1 ]]; then
  node_claim "$name" || exit 1
  apiserver_port="${RAFT_APISERVER_PORT:-$node_apiserver_port}"
  node_network_up
fi

# kwokctl configuration: binary runtime, every binary local, so nothing is downloaded.
{
  cat <<YAML
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  runtime: binary
  kubeVersion: $K8S_VERSION
  kwokVersion: $KWOK_VERSION
  etcdVersion: ${ETCD_VERSION#v}
  bindAddress: 127.0.0.1
  securePort: true
  kubeAuthorization: true
  kubeAdmission: true
  quietPull: true
  cacheDir: $KWOK_WORKDIR/cache
  kubeApiserverPort: $apiserver_port
  kubeApiserverBinary: $cluster_bin/kube-apiserver
  kubeControllerManagerBinary: $cluster_bin/kube-controller-manager
  kubeSchedulerBinary: $cluster_bin/kube-scheduler
  kwokControllerBinary: $cluster_bin/kwok
  etcdBinary: $cluster_bin/etcd
  kubectlBinary: $(command -v kubectl || echo "$cluster_bin/kubectl")
YAML
  # kwokctl copies the policy into its work dir and passes --audit-policy-file/--audit-log-path.
  [[ -z "$audit_policy" ]] || echo "  kubeAuditPolicy: $audit_policy"
  # One controller manager and one scheduler: no leader election. On a loaded machine a lease
  # renewal past its 5 s deadline made them exit ("leaderelection lost"), and nothing restarts them.
  if [[ "$real_node" == 1 ]]; then
    # Pods reach the API server as https://kubernetes.default.svc (10.96.0.1): the serving
    # certificate must name that address and the node's.
    printf '  kubeApiserverCertSANs: ["%s", "%s"]\n' "${node_service_cidr%.*/*}.1" "$node_ip"
  fi
  printf 'componentsPatches:\n'
  for component in kube-controller-manager kube-scheduler; do
    printf -- '- name: %s\n  extraArgs:\n  - key: leader-elect\n    value: "false"\n' "$component"
    # The controller manager's client is limited to 20 requests/s by default: with a thousand
    # runs its Deployment, ReplicaSet, Job and volume-binding work queued behind that limit for
    # over an hour. Large clusters raise it the same way.
    if [[ $component == kube-controller-manager ]]; then
      printf -- '  - key: kube-api-qps\n    value: "200"\n  - key: kube-api-burst\n    value: "400"\n'
    fi
  done
  printf -- '- name: kube-apiserver\n  extraArgs:\n'
  # More admission plugins on top of the defaults (e.g. OwnerReferencesPermissionEnforcement).
  if [[ -n "$admission_plugins" ]]; then
    printf -- '  - key: enable-admission-plugins\n    value: %s\n' "$admission_plugins"
  fi
  if [[ "$real_node" == 1 ]]; then
    # The kubernetes Service's endpoint is the node's address, so the API server listens there
    # too (kwokctl's own components keep using 127.0.0.1; node.sh admits only the loopback and
    # the pod bridge to the port). Logs and exec go to the kubelet at the node's address, with
    # the admin certificate kwokctl made.
    pki="$KWOK_WORKDIR/clusters/$name/pki"
    printf -- '  - key: %s\n    value: "%s"\n' bind-address 0.0.0.0 advertise-address "$node_ip" \
      service-cluster-ip-range "$node_service_cidr" kubelet-preferred-address-types InternalIP \
      kubelet-client-certificate "$pki/admin.crt" kubelet-client-key "$pki/admin.key"
  fi
  echo "---"
  cat "$cluster_here/kwok-stages.yaml"
} >"$state/kwokctl.yaml"

cluster_log "creating cluster $name (kube $K8S_VERSION, kwok $KWOK_VERSION, etcd $ETCD_VERSION)"
if ! kwokctl create cluster --name "$name" --config "$state/kwokctl.yaml" --kubeconfig "" \
    --wait 60s >"$state/kwokctl-create.log" 2>&1; then
  cat "$state/kwokctl-create.log" >&2
  cluster_delete "$name"
  exit 1
fi
kubeconfig="$state/kubeconfig"
cp "$KWOK_WORKDIR/clusters/$name/kubeconfig.yaml" "$kubeconfig"
k() { kubectl --kubeconfig "$kubeconfig" "$@"; }

# Fake nodes. GPU nodes look like 8x H100 machines; kwok keeps them Ready and runs their pods.
nodes_yaml() {
  local i kind node gpus
  for ((i = 0; i < gpu_nodes + cpu_nodes; i++)); do
    if ((i < gpu_nodes)); then kind=gpu; node="gpu-node-$i"; gpus="$gpus_per_node"
    else kind=cpu; node="cpu-node-$((i - gpu_nodes))"; gpus=0; fi
    cat <<YAML
---
apiVersion: v1
kind: Node
metadata:
  name: $node
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/hostname: $node
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
    raftoperator.io/node-kind: $kind
$(if [[ $kind == gpu ]]; then printf '    nvidia.com/gpu.present: "true"\n    nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3\n    nvidia.com/gpu.count: "%s"\n' "$gpus"; fi)
status:
  capacity: &resources
    cpu: "$([[ $kind == gpu ]] && echo 96 || echo 32)"
    memory: $([[ $kind == gpu ]] && echo 1Ti || echo 128Gi)
    ephemeral-storage: 2Ti
    pods: "110"
$(if [[ $kind == gpu ]]; then printf '    nvidia.com/gpu: "%s"\n' "$gpus"; fi)
  allocatable: *resources
  nodeInfo:
    architecture: amd64
    operatingSystem: linux
    kubeletVersion: fake
    kubeProxyVersion: fake
YAML
  done
}
nodes_yaml >"$state/nodes.yaml"
if ((gpu_nodes + cpu_nodes)); then k apply -f "$state/nodes.yaml" >&2; fi

# A default StorageClass whose claims the SIMULATED provisioner in raft_sim.controllers binds.
k apply -f - >&2 <<'YAML'
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: sim-shared
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
    raftoperator.io/simulated: "true"
provisioner: sim.raftoperator.io/hostpath
reclaimPolicy: Delete
volumeBindingMode: Immediate
YAML

# kubectl wait fails at once, instead of waiting, while a new object has no status yet
# (".status.conditions accessor error"): try again for a while.
wait_for_condition() {
  local _
  for _ in $(seq 30); do
    k wait "$@" >/dev/null 2>&1 && return 0
    sleep 1
  done
  k wait "$@" >&2
}

if [[ "$real_controllers" != 1 ]]; then
k apply -f "$cluster_repo/sim/raft_sim/crds/" >&2
wait_for_condition --for=condition=Established --timeout=60s crd/rayjobs.ray.io crd/pytorchjobs.kubeflow.org \
  crd/leaderworkersets.leaderworkerset.x-k8s.io
if [[ "$trainer" == 1 ]]; then
  k apply -f "$cluster_repo/sim/raft_sim/crds/trainer/trainer.kubeflow.org_trainjobs.yaml" \
    -f "$cluster_repo/sim/raft_sim/crds/trainer/trainer.kubeflow.org_clustertrainingruntimes.yaml" >&2
  wait_for_condition --for=condition=Established --timeout=60s crd/trainjobs.trainer.kubeflow.org \
    crd/clustertrainingruntimes.trainer.kubeflow.org
  k apply -f "$cluster_repo/sim/raft_sim/crds/trainer/torch-distributed.yaml" >&2
fi
# The admission policy applies once the API server has loaded it: wait until it denies.
for _ in $(seq 50); do
  k apply --dry-run=server -f - >/dev/null 2>&1 <<'YAML' || break
{"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": "probe", "namespace": "default"},
 "spec": {"pytorchReplicaSpecs": {}}}
YAML
  sleep 0.1
done
fi
if ((gpu_nodes + cpu_nodes)); then k wait --for=condition=Ready --timeout=60s node --all >&2; fi
# The service-account controller must have made the default ServiceAccount before pods can be admitted.
for _ in $(seq 100); do k get serviceaccount default -n default >/dev/null 2>&1 && break; sleep 0.1; done

# wait_started NAME PATTERN: the background process NAME logged PATTERN (or give up and fail).
wait_started() {
  local pid log="$state/$1.log" i
  pid="$(cat "$state/$1.pid")"
  for i in $(seq 300); do
    grep -q "$2" "$log" 2>/dev/null && return 0
    if ! cluster_alive "$pid"; then break; fi
    sleep 0.1
  done
  echo "$1 did not start:" >&2
  tail -n 30 "$log" >&2
  cluster_delete "$name"
  exit 1
}

export PYTHONPATH="$cluster_repo/sim${PYTHONPATH:+:$PYTHONPATH}"
sim_args=()
if [[ "$real_node" == 1 ]]; then
  # No fake nodes: stop kwok's controller, which would otherwise take the node over.
  kill "$(cat "$KWOK_WORKDIR/clusters/$name/pids/kwok-controller.pid")" 2>/dev/null || true
  node_up "$name" "$kubeconfig" || { cluster_delete "$name"; exit 1; }
  sim_args=(--real-workloads --pv-root "$state/volumes")
  if [[ "$real_controllers" == 1 ]]; then
    source "$cluster_here/addons.sh"
    addons_install "$kubeconfig" "$state" "${addons_all[@]}" || { cluster_delete "$name"; exit 1; }
    addons_runtimes "$kubeconfig" || { cluster_delete "$name"; exit 1; }
    sim_args+=(--skip "$(IFS=,; echo "${addons_kinds[*]}")")
  fi
fi
if [[ "$sim" == 1 ]]; then
  nohup "$python" -m raft_sim.controllers --kubeconfig "$kubeconfig" --duration "$sim_duration" \
    --progress-interval "$sim_progress_interval" --workers "$sim_workers" "${sim_args[@]}" \
    >"$state/sim-controllers.log" 2>&1 </dev/null &
  echo $! >"$state/sim-controllers.pid"
fi
if [[ -n "$vllm_port" ]]; then
  model_args=()
  IFS=',' read -ra models <<<"$vllm_models"
  for m in "${models[@]}"; do [[ -n "$m" ]] && model_args+=(--model "$m"); done
  nohup "$python" -m raft_sim.vllm_server --host 127.0.0.1 --port "$vllm_port" "${model_args[@]}" \
    >"$state/vllm-server.log" 2>&1 </dev/null &
  echo $! >"$state/vllm-server.pid"
fi
if [[ "$sim" == 1 ]]; then wait_started sim-controllers "SIMULATED controllers running"; fi
if [[ -n "$vllm_port" ]]; then wait_started vllm-server "listening"; fi

cluster_log "cluster $name ready in $((SECONDS - started))s; export KUBECONFIG=$kubeconfig"
echo "$kubeconfig"
