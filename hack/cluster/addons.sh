# The real add-on controllers on the real node: KubeRay, Kubeflow Trainer with JobSet, Kubeflow's
# training operator, LeaderWorkerSet and Kueue. Sourced by up.sh (after node.sh and
# hack/images/lib.sh); defines functions only.
#
# Sourced by build.sh too, which compiles what addon_fields names. Each controller is the binary
# build.sh --addons compiled from its Go module at the version
# pinned in versions.env, packaged as a one-binary image and installed with that same module
# version's own manifests (its kustomize folder: CRDs, RBAC, Deployment, webhooks), through a
# kustomization made here that only swaps the image for the local one. Webhooks are served by the
# controllers themselves (each rotates its own serving certificate); the API server calls them.

addons_all=(kuberay jobset trainer training-operator lws kueue)
# The kinds whose simulated controllers (raft_sim.controllers) step aside for the real ones.
addons_kinds=(RayJob TrainJob PyTorchJob LeaderWorkerSet)

# addon_fields NAME: "BINARY MODULE VERSION MANIFEST-FOLDER OVERLAY UPSTREAM-IMAGE NAMESPACE MAIN
# VERSION-PACKAGE": the controller binary, its Go module and pinned version, the module's manifest
# folder and the overlay in it, the image its manifests name, its namespace, its main package, and
# the package whose GitVersion/BuildDate the build stamps ("-": none).
addon_fields() {
  case "$1" in
    kuberay) echo "kuberay-operator github.com/ray-project/kuberay/ray-operator $KUBERAY_VERSION config default quay.io/kuberay/operator ray-system . -" ;;
    jobset) echo "jobset-controller sigs.k8s.io/jobset $JOBSET_VERSION config default us-central1-docker.pkg.dev/k8s-staging-images/jobset/jobset jobset-system . sigs.k8s.io/jobset/pkg/version" ;;
    trainer) echo "trainer-controller-manager github.com/kubeflow/trainer/v2 $TRAINER_VERSION manifests base ghcr.io/kubeflow/trainer/trainer-controller-manager kubeflow-system ./cmd/trainer-controller-manager -" ;;
    training-operator) echo "training-operator github.com/kubeflow/training-operator $TRAINING_OPERATOR_VERSION manifests overlays/standalone ghcr.io/kubeflow/training-v1/training-operator kubeflow ./cmd/training-operator.v1 -" ;;
    lws) echo "lws-controller sigs.k8s.io/lws $LWS_VERSION config default us-central1-docker.pkg.dev/k8s-staging-images/lws/lws lws-system ./cmd sigs.k8s.io/lws/pkg/version" ;;
    kueue) echo "kueue-controller sigs.k8s.io/kueue $KUEUE_VERSION config default us-central1-docker.pkg.dev/k8s-staging-images/kueue/kueue kueue-system ./cmd/kueue sigs.k8s.io/kueue/pkg/version" ;;
    *) echo "unknown add-on $1 (one of: ${addons_all[*]})" >&2; return 2 ;;
  esac
}

addon_log() { printf '[addons %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# addon_image NAME: the local image reference of the add-on's controller.
addon_image() {
  local binary version
  read -r binary _ version _ <<<"$(addon_fields "$1")"
  echo "$node_image_prefix/$binary:$version"
}

# addon_manifests NAME DIR: write DIR/kustomization.yaml over a writable copy of the module's
# manifest folder (kustomize reads a path with '@' in it as a remote URL, so not in place).
addon_manifests() {
  local name="$1" dir="$2" binary module version folder overlay upstream namespace src tag
  read -r binary module version folder overlay upstream namespace _ <<<"$(addon_fields "$name")"
  src="$(GOTOOLCHAIN=local GOFLAGS=-mod=mod go mod download -json "$module@$version" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  rm -rf "$dir"
  mkdir -p "$dir"
  cp -r "$src/$folder" "$dir/upstream"
  chmod -R u+w "$dir/upstream"
  tag="$(addon_image "$name")"
  {
    echo "apiVersion: kustomize.config.k8s.io/v1beta1"
    echo "kind: Kustomization"
    case "$name" in
      trainer)  # the manager overlay without its third-party JobSet (installed on its own, above)
        echo "namespace: $namespace"
        echo "resources: [upstream/base/crds, upstream/base/manager, upstream/base/rbac, upstream/base/webhook, namespace.yaml]"
        echo "secretGenerator: [{name: kubeflow-trainer-webhook-cert, options: {disableNameSuffixHash: true}}]"
        echo "configMapGenerator: [{name: kubeflow-trainer-public, literals: [kubeflow_trainer_version=$version], options: {disableNameSuffixHash: true}}]"
        printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n' "$namespace" >"$dir/namespace.yaml" ;;
      kuberay)  # upstream's default overlay installs into the namespace "default"
        echo "namespace: $namespace"
        echo "resources: [upstream/$overlay, namespace.yaml]"
        printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n' "$namespace" >"$dir/namespace.yaml" ;;
      *) echo "resources: [upstream/$overlay]" ;;  # upstream's overlay names the namespace (and keeps kube-system's bindings)
    esac
    echo "images: [{name: $upstream, newName: ${tag%:*}, newTag: ${tag##*:}}]"
    echo "patches:"
    # One node: one replica each (LWS asks for two, spread over nodes by anti-affinity).
    # A small node (this machine's cores): the controllers ask for 1.5 CPUs together upstream,
    # which would leave the run's pods too little to be scheduled. Requests only; limits stay.
    # IfNotPresent: the images are loaded, not pulled (Kueue's manifest says Always).
    local ops='{"op": "add", "path": "/spec/replicas", "value": 1}'
    ops+=', {"op": "add", "path": "/spec/template/spec/containers/0/imagePullPolicy", "value": "IfNotPresent"}'
    case "$name" in trainer|training-operator) ;; *)  # these two ask for no resources
      ops+=', {"op": "add", "path": "/spec/template/spec/containers/0/resources/requests/cpu", "value": "10m"}' ;; esac
    echo "- {target: {kind: Deployment}, patch: '[$ops]'}"
    if [[ "$name" == kueue ]]; then
      # The visibility API is an aggregated API; the local API server has no front-proxy client
      # certificate to reach it, and an unavailable APIService breaks every client's discovery.
      for v in v1beta1 v1beta2; do
        printf -- '- patch: |-\n    $patch: delete\n    apiVersion: apiregistration.k8s.io/v1\n    kind: APIService\n    metadata: {name: %s.visibility.kueue.x-k8s.io}\n' "$v"
      done
    fi
  } >"$dir/kustomization.yaml"
}

# addons_install KUBECONFIG STATE NAME...: build/load the images, apply the manifests, wait until
# every controller is Available and its webhooks answer.
addons_install() {
  local kubeconfig="$1" state="$2" name binary version namespace refs=()
  shift 2
  for name in "$@"; do
    read -r binary _ version _ _ _ namespace _ <<<"$(addon_fields "$name")"
    [[ -x "$cluster_bin/$binary" && "$(cat "$cluster_bin/.$binary.version" 2>/dev/null)" == "$version" ]] || {
      echo "$binary $version is not built; run hack/cluster/build.sh --addons" >&2; return 3; }
    # As in the upstream images: /manager (the manifests' command), uid 65532 (distroless nonroot).
    image_from_binary "$(addon_image "$name")" "$cluster_bin/$binary" /manager 65532:65532
    refs+=("$(addon_image "$name")")
  done
  image_load "${refs[@]}"
  for name in "$@"; do
    read -r binary _ version _ _ _ namespace _ <<<"$(addon_fields "$name")"
    addon_log "installing $name $version"
    addon_manifests "$name" "$state/addons/$name"
    # Server-side: several CRDs exceed the client-side apply annotation's size limit.
    kubectl --kubeconfig "$kubeconfig" kustomize "$state/addons/$name" >"$state/addons/$name.yaml"
    kubectl --kubeconfig "$kubeconfig" apply --server-side --force-conflicts -f "$state/addons/$name.yaml" >/dev/null
  done
  for name in "$@"; do
    read -r binary _ version _ _ _ namespace _ <<<"$(addon_fields "$name")"
    kubectl --kubeconfig "$kubeconfig" -n "$namespace" wait --for=condition=Available --timeout=180s deployment --all >&2 \
      || { kubectl --kubeconfig "$kubeconfig" -n "$namespace" get pods -o wide >&2
           kubectl --kubeconfig "$kubeconfig" -n "$namespace" logs --all-containers --tail 20 --prefix \
             "deployment/$(kubectl --kubeconfig "$kubeconfig" -n "$namespace" get deployment -o name | head -1 | cut -d/ -f2)" >&2 || true
           return 1; }
  done
  addon_log "add-ons running: $*"
}

# addons_runtimes KUBECONFIG: Trainer's own torch-distributed ClusterTrainingRuntime (the one
# TrainJobs name by default), from the Trainer module. Applied on its own: kustomize would give
# the cluster-scoped kind it does not know the installation's namespace.
addons_runtimes() {
  local src
  src="$(GOTOOLCHAIN=local GOFLAGS=-mod=mod go mod download -json "github.com/kubeflow/trainer/v2@$TRAINER_VERSION" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  # Trainer's validating webhook checks runtimes: retry while its certificate is still being injected.
  local _
  for _ in $(seq 60); do
    kubectl --kubeconfig "$1" apply --server-side -f "$src/manifests/base/runtimes/torch_distributed.yaml" >/dev/null 2>&1 && return 0
    sleep 2
  done
  kubectl --kubeconfig "$1" apply --server-side -f "$src/manifests/base/runtimes/torch_distributed.yaml" >&2
}
