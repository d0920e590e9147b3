#!/usr/bin/env bash
# The real node of the local cluster: containerd and runc (Debian's packages), the kubelet and
# kube-proxy built from the pinned Kubernetes, a bridge CNI network (Debian's CNI plugins),
# kube-router enforcing NetworkPolicies, and CoreDNS, deployed in kube-system as kubeadm deploys it. Pods run as real containers from
# images in the node's containerd, get their own network namespace and IP, reach Services
# through their ClusterIP and resolve <svc>.<ns>.svc.cluster.local.
#
# Sourced by up.sh and down.sh (it defines functions only):
#   node_network_up                 the bridge that carries the node's address (before the API server)
#   node_up NAME KUBECONFIG         containerd, kubelet, kube-proxy and CoreDNS for cluster NAME
#   node_down NAME                  stop them, remove every pod sandbox, the bridge and the rules
#
# One real node per machine: its bridge, addresses and iptables rules are the machine's.
# containerd's root (the images) lives under $cluster_cache/node and survives clusters; the
# rest (kubelet, pods, logs) lives in the cluster's state folder and goes with it.

node_name=raft-node
node_bridge=raft0
node_ip=10.244.0.1                 # the node's address, on its bridge; the API server listens here
node_pod_cidr=10.244.0.0/24        # pod addresses (host-local IPAM on the bridge)
node_service_cidr=10.96.0.0/16     # ClusterIPs; 10.96.0.1 is the API server's Service
node_dns_ip=10.96.0.10             # CoreDNS's Service (kube-dns), as kubeadm numbers it
node_apiserver_port=6443
node_gpus="${RAFT_NODE_GPUS:-8}"     # nvidia.com/gpu advertised (none exist; see node_up)
node_kubelet_port=10250
node_kube_router_health_port=20244
node_cluster_domain=cluster.local
node_run=/run/raft-node            # sockets and runtime state (not kept across reboots)
node_root="$cluster_cache/node"    # containerd's root: image content and snapshots
node_socket="$node_run/containerd.sock"
node_image_prefix=localhost/raft-operator

# node_claim NAME: make cluster NAME the real node's owner; fails while another live cluster owns it.
node_claim() {
  local owner
  mkdir -p "$node_run"
  owner="$(cat "$node_run/owner" 2>/dev/null || true)"
  if [[ -n "$owner" && "$owner" != "$1" && -e "$(cluster_state_dir "$owner")/node/containerd.pid" ]] \
      && cluster_alive "$(cat "$(cluster_state_dir "$owner")/node/containerd.pid")"; then
    node_log "the real node belongs to cluster $owner; stop it first: hack/cluster/down.sh --name $owner"
    return 1
  fi
  [[ -z "$owner" || "$owner" == "$1" ]] || node_down "$owner"
  echo "$1" >"$node_run/owner"
}

node_log() { printf '[node %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

node_ctr() { ctr --address "$node_socket" --namespace k8s.io "$@"; }

node_crictl() { "$cluster_bin/crictl" --runtime-endpoint "unix://$node_socket" --timeout 30s "$@"; }

# node_network_up: the bridge with the node's address. The API server binds to this address, so
# that pods reach it through the kubernetes Service; it must exist before the cluster starts.
node_network_up() {
  sysctl -qw net.ipv4.ip_forward=1
  sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
  if ! ip link show "$node_bridge" >/dev/null 2>&1; then
    ip link add "$node_bridge" type bridge
  fi
  ip addr replace "$node_ip/${node_pod_cidr#*/}" dev "$node_bridge"
  ip link set "$node_bridge" up
  # Pods talk to each other, to the node and to Services, and to nothing beyond this machine:
  # the local cluster has no outside network (no image is pulled, no model is downloaded).
  iptables -C FORWARD -s "$node_pod_cidr" ! -d "$node_pod_cidr" -j DROP 2>/dev/null \
    || iptables -I FORWARD -s "$node_pod_cidr" ! -d "$node_pod_cidr" -j DROP
  # The API server, the kubelet and kube-router answer the loopback and the pods only.
  iptables -N RAFT-NODE-INPUT 2>/dev/null || iptables -F RAFT-NODE-INPUT
  iptables -A RAFT-NODE-INPUT -i lo -j RETURN
  iptables -A RAFT-NODE-INPUT -i "$node_bridge" -j RETURN
  iptables -A RAFT-NODE-INPUT -p tcp -m multiport --dports "$node_apiserver_port,$node_kubelet_port,$node_kube_router_health_port" -j DROP
  iptables -C INPUT -j RAFT-NODE-INPUT 2>/dev/null || iptables -I INPUT -j RAFT-NODE-INPUT
}

# node_sign NAME CN ORG: a client certificate for CN/ORG signed by the cluster's CA (kwokctl's PKI).
node_sign() {
  local dir="$1" name="$2" cn="$3" org="$4" pki="$5"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$dir/$name.key" -subj "/O=$org/CN=$cn" \
    -out "$dir/$name.csr" 2>/dev/null
  openssl x509 -req -in "$dir/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 30 -out "$dir/$name.crt" 2>/dev/null
  rm -f "$dir/$name.csr"
}

# node_kubeconfig DIR NAME SERVER CA: a kubeconfig that authenticates with DIR/NAME.{crt,key}.
node_kubeconfig() {
  local dir="$1" name="$2" server="$3" ca="$4"
  cat >"$dir/$name.kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "$server", certificate-authority: "$ca"}
users:
- name: $name
  user: {client-certificate: "$dir/$name.crt", client-key: "$dir/$name.key"}
contexts:
- name: local
  context: {cluster: local, user: $name}
current-context: local
YAML
}

node_write_config() {
  local dir="$1" server="$2" pki="$3"
  mkdir -p "$dir/cni" "$dir/kubelet" "$dir/logs" "$node_run" "$node_root"
  cat >"$dir/containerd.toml" <<TOML
version = 2
root = "$node_root/containerd"
state = "$node_run/containerd"
[grpc]
  address = "$node_socket"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$node_image_prefix/pause:$K8S_VERSION"
  # Root here may not lower an OOM score (no CAP_SYS_RESOURCE); the CRI's -998 for sandboxes
  # then fails every sandbox. Restricted, scores are never set below containerd's own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$dir/registries"
TOML
  # Every image is built and loaded here: a pull of any other image goes to a closed local port
  # and fails at once (ErrImagePull), as on a cluster whose registry refuses it; nothing leaves
  # this machine.
  mkdir -p "$dir/registries/_default"
  cat >"$dir/registries/_default/hosts.toml" <<TOML
server = "http://127.0.0.1:9"
[host."http://127.0.0.1:9"]
  capabilities = ["pull", "resolve"]
TOML
  cat >"$dir/cni/10-raft-pods.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "raft-pods",
  "plugins": [
    {"type": "bridge", "bridge": "$node_bridge", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$node_run/ipam",
              "ranges": [[{"subnet": "$node_pod_cidr", "gateway": "$node_ip"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
  # crictl's configuration: `crictl --config $dir/crictl.yaml ps` inspects the node's containers.
  printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 30\n' "$node_socket" "$node_socket" \
    >"$dir/crictl.yaml"
  node_sign "$dir" kubelet "system:node:$node_name" system:nodes "$pki"
  node_sign "$dir" kube-proxy system:kube-proxy system:node-proxier "$pki"
  node_kubeconfig "$dir" kubelet "$server" "$pki/ca.crt"
  node_kubeconfig "$dir" kube-proxy "$server" "$pki/ca.crt"
  node_sign "$dir" kube-router system:kube-router system:kube-router "$pki"
  node_kubeconfig "$dir" kube-router "$server" "$pki/ca.crt"
  cat >"$dir/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $node_ip
port: $node_kubelet_port
readOnlyPort: 0
containerRuntimeEndpoint: unix://$node_socket
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$pki/ca.crt"}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
failSwapOn: false
clusterDNS: [$node_dns_ip]
clusterDomain: $node_cluster_domain
resolvConf: $dir/resolv.conf
# Every image is built here and loaded into containerd; nothing may be collected or pulled.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
serializeImagePulls: false
syncFrequency: 10s
fileCheckFrequency: 0s
healthzBindAddress: 127.0.0.1
healthzPort: 10248
YAML
  # Default-policy pods (CoreDNS itself) get no upstream resolver: there is no outside network.
  printf 'nameserver %s\n' "$node_ip" >"$dir/resolv.conf"
  cat >"$dir/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "$dir/kube-proxy.kubeconfig"}
hostnameOverride: $node_name
bindAddress: $node_ip
clusterCIDR: $node_pod_cidr
mode: iptables
nodePortAddresses: ["$node_ip/32"]
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
YAML
}

# node_start NAME LOG COMMAND...: start a node daemon in the background, its pid in DIR/NAME.pid.
node_start() {
  local dir="$1" name="$2"
  shift 2
  nohup "$@" >"$dir/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/$name.pid"
}

# node_wait TENTHS WHAT COMMAND...: retry COMMAND until it succeeds.
node_wait() {
  local tenths="$1" what="$2" i
  shift 2
  for ((i = 0; i < tenths; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  node_log "timed out waiting for $what"
  return 1
}

# node_images_up: the node's own images (pause, CoreDNS) built from the binaries and loaded.
node_images_up() {
  source "$cluster_repo/hack/images/lib.sh"
  image_from_binary "$node_image_prefix/pause:$K8S_VERSION" "$cluster_bin/pause" /pause 65534:65534
  image_from_binary "$node_image_prefix/coredns:$COREDNS_VERSION" "$cluster_bin/coredns" /coredns 0:0  # binds :53 with only NET_BIND_SERVICE
  image_load "$node_image_prefix/pause:$K8S_VERSION" "$node_image_prefix/coredns:$COREDNS_VERSION"
}

node_up() {
  local name="$1" kubeconfig="$2" state dir server pki
  state="$(cluster_state_dir "$name")"
  dir="$state/node"
  pki="$KWOK_WORKDIR/clusters/$name/pki"
  server="$(kubectl --kubeconfig "$kubeconfig" config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
  node_write_config "$dir" "$server" "$pki"

  node_log "containerd $(containerd --version | awk '{print $3}'), runc $(runc --version | awk 'NR==1{print $3}')"
  node_start "$dir" containerd containerd --config "$dir/containerd.toml"
  node_wait 300 containerd node_ctr version || { tail -20 "$dir/logs/containerd.log" >&2; return 1; }
  node_sandboxes_remove  # a crashed run's sandboxes, if any
  node_images_up

  node_log "kubelet and kube-proxy $K8S_VERSION"
  node_start "$dir" kubelet "$cluster_bin/kubelet" --config "$dir/kubelet.yaml" \
    --kubeconfig "$dir/kubelet.kubeconfig" --hostname-override "$node_name" --node-ip "$node_ip" \
    --root-dir "$dir/kubelet" --cert-dir "$dir/kubelet/pki" --v 1
  node_start "$dir" kube-proxy "$cluster_bin/kube-proxy" --config "$dir/kube-proxy.yaml" --v 1
  local k=(kubectl --kubeconfig "$kubeconfig")
  node_wait 900 "node $node_name Ready" "${k[@]}" wait --for=condition=Ready --timeout=1s "node/$node_name" \
    || { tail -30 "$dir/logs/kubelet.log" >&2; return 1; }

  # NetworkPolicies are enforced by kube-router's firewall alone: routes are the bridge's and
  # Services are kube-proxy's. It needs the registered node.
  node_log "kube-router $KUBE_ROUTER_VERSION (NetworkPolicy firewall)"
  "${k[@]}" apply -f "$cluster_here/kube-router-rbac.yaml" >/dev/null
  node_start "$dir" kube-router "$cluster_bin/kube-router" --kubeconfig "$dir/kube-router.kubeconfig" \
    --hostname-override "$node_name" --run-firewall=true --run-router=false --run-service-proxy=false \
    --enable-cni=false --health-port "$node_kube_router_health_port" --metrics-port 0 --v 1
  node_wait 600 "kube-router healthy" curl -sf "http://127.0.0.1:$node_kube_router_health_port/healthz" \
    || { tail -20 "$dir/logs/kube-router.log" >&2; return 1; }

  # The runs' pods ask for nvidia.com/gpu. This machine has none: the node advertises them as an
  # extended resource (Kubernetes' documented status patch), so the scheduler places those pods
  # as on a GPU node; no device reaches any container, and the programs run on the CPU.
  "${k[@]}" patch node "$node_name" --subresource=status --type=merge \
    -p "{\"status\": {\"capacity\": {\"nvidia.com/gpu\": \"$node_gpus\"}}}" >/dev/null
  "${k[@]}" label node "$node_name" nvidia.com/gpu.present=true raftoperator.io/gpus-advertised-only=true >/dev/null

  node_log "CoreDNS $COREDNS_VERSION at $node_dns_ip"
  sed -e "s#@IMAGE@#$node_image_prefix/coredns:$COREDNS_VERSION#" -e "s#@DNS_IP@#$node_dns_ip#" \
    -e "s#@DOMAIN@#$node_cluster_domain#" "$cluster_here/coredns.yaml" | "${k[@]}" apply -f - >/dev/null
  node_wait 1200 "CoreDNS ready" "${k[@]}" -n kube-system wait --for=condition=Available --timeout=1s deployment/coredns \
    || { "${k[@]}" -n kube-system describe pods -l k8s-app=kube-dns >&2; return 1; }
}

# node_sandboxes_remove: stop and remove every pod sandbox through the CRI, which also releases
# each pod's network (CNI DEL) and unmounts its file systems.
node_sandboxes_remove() {
  [[ -x "$cluster_bin/crictl" ]] || return 0
  node_crictl rmp --all --force >/dev/null 2>&1 || true
}

# node_unmount_below DIR: unmount every mount point at or below DIR, deepest first.
node_unmount_below() {
  local target
  [[ -d "$1" ]] || return 0
  # DIR itself and what lies below it: DIR/, so that a sibling named DIR-other is left alone.
  findmnt -rn -o TARGET | awk -v d="${1%/}" '$0 == d || index($0, d "/") == 1' | sort -r | while read -r target; do
    umount -l "$target" 2>/dev/null || true
  done
}

node_down() {
  local name="$1" state dir pidfile
  state="$(cluster_state_dir "$name")"
  dir="$state/node"
  [[ -d "$dir" ]] || return 0
  for pidfile in "$dir/kubelet.pid" "$dir/kube-proxy.pid" "$dir/kube-router.pid"; do node_stop_pid "$pidfile"; done
  if [[ -e "$dir/containerd.pid" ]] && cluster_alive "$(cat "$dir/containerd.pid")"; then
    node_sandboxes_remove
  fi
  node_stop_pid "$dir/containerd.pid"
  # Shims outlive containerd by design; with their sandboxes removed there are none, unless a
  # crash left some.
  pkill -KILL -f "containerd-shim-runc-v2 .*-address $node_socket" 2>/dev/null || true
  "$cluster_bin/kube-proxy" --cleanup >/dev/null 2>&1 || true
  "$cluster_bin/kube-router" --cleanup-config >/dev/null 2>&1 || true
  node_kube_chains_remove iptables
  node_kube_chains_remove ip6tables
  node_unmount_below "$dir"
  node_unmount_below "$node_run/containerd"
  rm -rf "$node_run/ipam"
  ip link del "$node_bridge" 2>/dev/null || true
  iptables -D FORWARD -s "$node_pod_cidr" ! -d "$node_pod_cidr" -j DROP 2>/dev/null || true
  iptables -D INPUT -j RAFT-NODE-INPUT 2>/dev/null || true
  iptables -F RAFT-NODE-INPUT 2>/dev/null && iptables -X RAFT-NODE-INPUT 2>/dev/null || true
  rm -rf "$dir"
  [[ "$(cat "$node_run/owner" 2>/dev/null)" != "$name" ]] || rm -f "$node_run/owner"
}

# node_kube_chains_remove IPTABLES: the KUBE-* chains the kubelet leaves (kube-proxy's own
# --cleanup removes the rest), and the jumps to them.
node_kube_chains_remove() {
  local tool="$1" table rule chain
  command -v "$tool" >/dev/null || return 0
  for table in filter nat mangle; do
    { "$tool" -t "$table" -S 2>/dev/null || true; } | awk '/^-A [A-Z]+ .*-j KUBE-/ && !/^-A KUBE-/' | sed 's/^-A/-D/' \
      | while read -r rule; do eval "$tool -t $table $rule" 2>/dev/null || true; done
    for chain in $("$tool" -t "$table" -S 2>/dev/null | awk '/^-N KUBE-/ {print $2}'); do "$tool" -t "$table" -F "$chain"; done
    for chain in $("$tool" -t "$table" -S 2>/dev/null | awk '/^-N KUBE-/ {print $2}'); do "$tool" -t "$table" -X "$chain" 2>/dev/null || true; done
  done
}

node_stop_pid() {
  local pid
  [[ -e "$1" ]] || return 0
  pid="$(cat "$1")"
  if cluster_alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    cluster_wait_gone 100 "$pid" || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}
