"""The local test cluster from Python: a context manager and a pytest fixture over hack/cluster.

:class:`LocalCluster` runs ``hack/cluster/up.sh`` (real kube-apiserver with RBAC, controller
manager, scheduler and etcd built from source; kwok fake GPU/CPU nodes; the SIMULATED RayJob and
PyTorchJob CRDs and controllers) and ``hack/cluster/down.sh`` on exit, also on test failure,
Ctrl-C, SIGTERM and interpreter exit. Typical use in a ``conftest.py``::

    from raft_dev.cluster import cluster_fixture
    cluster = cluster_fixture("raft-e2e", sim_duration=2.0, vllm_port=18000)

    def test_something(cluster):
        cluster.kubectl("get", "nodes")

Tests skip (with the reason) when the binaries are not built, unless ``RAFT_BUILD_CLUSTER=1``,
which builds them first (``hack/cluster/build.sh``, a long one-off).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence, TypeVar

import yaml

from raft_sim.versions import pinned_versions

REPO_ROOT = Path(__file__).resolve().parents[2]
HACK_DIR = REPO_ROOT / "hack" / "cluster"
BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kwok", "kwokctl", "helm")
NODE_BINARIES = ("kubelet", "kube-proxy", "coredns", "crictl", "kube-router", "pause")  # the real node (hack/cluster/node.sh)
# The real add-on controllers (hack/cluster/addons.sh), built by hack/cluster/build.sh.
ADDON_BINARIES = ("kuberay-operator", "trainer-controller-manager", "jobset-controller", "training-operator",
                  "lws-controller", "kueue-controller")

T = TypeVar("T")


class ClusterError(RuntimeError):
    """The local cluster could not be started or used."""


def cache_dir() -> Path:
    """Where the cluster's binaries and state live (``$RAFT_CACHE``, default ~/.cache/raft-operator)."""
    return Path(os.environ.get("RAFT_CACHE") or Path.home() / ".cache" / "raft-operator")


def bin_dir() -> Path:
    """The folder build.sh puts the binaries in."""
    override = os.environ.get("RAFT_CLUSTER_BIN")
    return Path(override) if override else cache_dir() / "k8s" / pinned_versions()["K8S_VERSION"] / "bin"


def binaries_present(names: Sequence[str] = BINARIES) -> bool:
    """Whether every cluster binary (or every one of ``names``) has been built."""
    return all(os.access(bin_dir() / name, os.X_OK) for name in names)


def real_node_skip_reason() -> str | None:
    """Why the real node cannot run here (None when it can): it needs root, Debian's container
    runtime and image builder, and the node's binaries."""
    if os.geteuid() != 0:
        return "the real node needs root (network namespaces, cgroups, iptables)"
    missing = [tool for tool in ("containerd", "runc", "buildah", "mmdebstrap", "iptables") if shutil.which(tool) is None]
    if missing:
        return f"the real node needs {', '.join(missing)} (Debian packages; hack/install.sh installs them)"
    if not binaries_present(BINARIES + NODE_BINARIES + ADDON_BINARIES) and not build_requested():
        return f"the real node's binaries are not built (looked in {bin_dir()}); run hack/cluster/build.sh"
    return None


def build_requested() -> bool:
    """Whether ``RAFT_BUILD_CLUSTER`` asks to build missing binaries."""
    return os.environ.get("RAFT_BUILD_CLUSTER", "").lower() in ("1", "true", "yes")


def skip_reason() -> str | None:
    """Why cluster tests cannot run here (None when they can): no binaries and no build asked."""
    if binaries_present() or build_requested():
        return None
    return (
        f"local cluster binaries not built (looked in {bin_dir()}); run hack/cluster/build.sh "
        "or set RAFT_BUILD_CLUSTER=1 to build them (cold build: about 15 minutes on 2 cores)"
    )


def ensure_binaries(names: Sequence[str] = BINARIES) -> Path:
    """The binaries' folder, building them first if any of ``names`` is missing and a build is requested."""
    if not binaries_present(names):
        if not build_requested():
            raise ClusterError(skip_reason() or "cluster binaries missing")
        subprocess.run([str(HACK_DIR / "build.sh")], check=True, stdout=subprocess.DEVNULL)
    return bin_dir()


class LocalCluster:
    """One local cluster, started by :meth:`start` (or ``with``) and torn down by :meth:`stop`.

    ``name`` keeps clusters apart (tests and the demo can run side by side). ``sim`` starts the
    SIMULATED controllers (``raft_sim.controllers``) with ``sim_duration`` seconds per stage;
    ``vllm_port`` also starts the SIMULATED vLLM server (``raft_sim.vllm_server``) on
    127.0.0.1:``vllm_port``, serving ``vllm_models``, when that module exists. ``keep_logs`` (default
    ``$RAFT_CLUSTER_LOGS``) is a folder the component logs are copied to before teardown.
    ``sim_progress_interval`` is how often the simulated workloads report progress (seconds);
    ``sim_workers`` how many objects the simulated controllers reconcile at once.
    ``trainer`` also installs the SIMULATED Kubeflow Trainer CRDs (TrainJob, ClusterTrainingRuntime).
    ``audit_policy`` (an ``audit.k8s.io/v1`` Policy file) turns on the API server's audit log,
    written to :attr:`audit_log_path`. ``admission_plugins`` are enabled in the API server on top
    of its defaults (e.g. ``OwnerReferencesPermissionEnforcement``). ``real_node`` adds the real
    node (:file:`hack/cluster/node.sh`: containerd, kubelet, kube-proxy, pod network, CoreDNS) and
    makes the simulated controllers follow its workloads; use it with ``gpu_nodes=0, cpu_nodes=0``.
    One real node runs per machine. ``real_controllers`` (with ``real_node``) installs the real
    KubeRay, Kubeflow Trainer with JobSet, training operator, LeaderWorkerSet and Kueue
    (:file:`hack/cluster/addons.sh`) in place of their simulated controllers.
    """

    def __init__(
        self,
        name: str = "raft-test",
        *,
        gpu_nodes: int = 4,
        cpu_nodes: int = 1,
        gpus_per_node: int = 8,
        sim: bool = True,
        sim_duration: float = 3.0,
        sim_progress_interval: float = 1.0,
        sim_workers: int = 1,
        audit_policy: str | os.PathLike[str] | None = None,
        admission_plugins: Sequence[str] = (),
        vllm_port: int | None = None,
        vllm_models: Sequence[str] = ("sim-model",),
        python: str | None = None,
        keep_logs: str | os.PathLike[str] | None = None,
        real_node: bool = False,
        trainer: bool = False,
        real_controllers: bool = False,
    ) -> None:
        self.name = name
        self.gpu_nodes = gpu_nodes
        self.cpu_nodes = cpu_nodes
        self.gpus_per_node = gpus_per_node
        self.sim = sim
        self.sim_duration = sim_duration
        self.sim_progress_interval = sim_progress_interval
        self.sim_workers = sim_workers
        self.audit_policy = Path(audit_policy) if audit_policy is not None else None
        self.admission_plugins = list(admission_plugins)
        self.vllm_port = vllm_port
        self.vllm_models = list(vllm_models)
        self.trainer = trainer
        self.python = python or sys.executable
        self.real_node = real_node
        self.real_controllers = real_controllers
        keep_logs = keep_logs or os.environ.get("RAFT_CLUSTER_LOGS")
        self.keep_logs = Path(keep_logs) / name if keep_logs else None
        self.state_dir = cache_dir() / "clusters" / name
        self.kubeconfig = self.state_dir / "kubeconfig"
        self._started = False
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "LocalCluster":
        """Start the cluster (replacing one of the same name); returns self once it is usable."""
        ensure_binaries(BINARIES + (NODE_BINARIES if self.real_node else ())
                        + (ADDON_BINARIES if self.real_controllers else ()))
        if self.vllm_port is not None and not _module_exists("raft_sim.vllm_server"):
            self.vllm_port = None
        env = {
            **os.environ,
            "RAFT_CLUSTER_NAME": self.name,
            "RAFT_GPU_NODES": str(self.gpu_nodes),
            "RAFT_CPU_NODES": str(self.cpu_nodes),
            "RAFT_GPUS_PER_NODE": str(self.gpus_per_node),
            "RAFT_CLUSTER_SIM": "1" if self.sim else "0",
            "RAFT_SIM_DURATION": str(self.sim_duration),
            "RAFT_SIM_PROGRESS_INTERVAL": str(self.sim_progress_interval),
            "RAFT_SIM_WORKERS": str(self.sim_workers),
            "RAFT_AUDIT_POLICY": "" if self.audit_policy is None else str(self.audit_policy),
            "RAFT_ADMISSION_PLUGINS": ",".join(self.admission_plugins),
            "RAFT_VLLM_PORT": "" if self.vllm_port is None else str(self.vllm_port),
            "RAFT_VLLM_MODELS": ",".join(self.vllm_models),
            "RAFT_PYTHON": self.python,
            "RAFT_REAL_NODE": "1" if self.real_node else "0",
            "RAFT_SIM_TRAINER": "1" if self.trainer else "0",
            "RAFT_REAL_CONTROLLERS": "1" if self.real_controllers else "0",
        }
        _install_exit_handlers()
        with self._lock:
            _LIVE.add(self)
            self._started = True
        result = subprocess.run([str(HACK_DIR / "up.sh")], env=env, capture_output=True, text=True)
        if result.returncode != 0:
            self.stop()
            raise ClusterError(f"hack/cluster/up.sh failed ({result.returncode}):\n{result.stderr[-4000:]}")
        self.kubeconfig = Path(result.stdout.strip().splitlines()[-1])
        return self

    def stop(self) -> None:
        """Tear everything down; safe to call more than once."""
        with self._lock:
            if not self._started:
                return
            self._started = False
            _LIVE.discard(self)
        if self.keep_logs is not None:
            self._copy_logs(self.keep_logs)
        subprocess.run([str(HACK_DIR / "down.sh"), "--name", self.name], capture_output=True, text=True)

    def detach(self) -> Path:
        """Leave the cluster running after this process (no teardown on exit); returns its kubeconfig.
        ``hack/cluster/down.sh --name NAME`` stops it."""
        with self._lock:
            self._started = False
            _LIVE.discard(self)
        return self.kubeconfig

    def __enter__(self) -> "LocalCluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def vllm_url(self) -> str | None:
        """Base URL of the SIMULATED vLLM server (``http://127.0.0.1:PORT``), if one runs."""
        return None if self.vllm_port is None else f"http://127.0.0.1:{self.vllm_port}"

    # ------------------------------------------------------------------ using it

    @property
    def env(self) -> dict[str, str]:
        """The environment with ``KUBECONFIG`` pointing at this cluster."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster; raises :class:`ClusterError` on failure when ``check``."""
        result = subprocess.run(["kubectl", "--kubeconfig", str(self.kubeconfig), *args], input=input,
                                capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def load_images(self, *names: str) -> list[str]:
        """Build the named images (hack/images/images.tsv) where they changed and load them into the
        real node's containerd; returns their references (``localhost/raft-operator/NAME:local``)."""
        if not self.real_node:
            raise ClusterError("images are loaded into the real node only (real_node=True)")
        result = subprocess.run([str(REPO_ROOT / "hack" / "images" / "build.sh"), "--load", *names],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise ClusterError(f"hack/images/build.sh failed ({result.returncode}):\n{result.stderr[-4000:]}")
        return result.stdout.split()

    def node_crictl(self, *args: str) -> str:
        """``crictl`` against the real node's containerd; returns its output."""
        config = self.state_dir / "node" / "crictl.yaml"
        result = subprocess.run([str(bin_dir() / "crictl"), "--config", str(config), *args],
                                capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise ClusterError(f"crictl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def helm(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run the pinned helm (built by build.sh) against this cluster."""
        result = subprocess.run([str(bin_dir() / "helm"), "--kubeconfig", str(self.kubeconfig), *args],
                                capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise ClusterError(f"helm {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def kubectl_json(self, *args: str) -> Any:
        """``kubectl ... -o json``, parsed."""
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def apply(self, manifests: str | dict[str, Any] | Iterable[dict[str, Any]], namespace: str | None = None) -> str:
        """``kubectl apply`` YAML text or objects; returns kubectl's output."""
        if not isinstance(manifests, str):
            docs = [manifests] if isinstance(manifests, dict) else list(manifests)
            manifests = yaml.safe_dump_all(docs)
        args = ["apply", "-f", "-"] + (["-n", namespace] if namespace else [])
        return self.kubectl(*args, input=manifests).stdout

    def api_client(self) -> Any:
        """A ``kubernetes.client.ApiClient`` for this cluster (cluster-admin)."""
        from kubernetes import config as kube_config

        return kube_config.new_client_from_config(config_file=str(self.kubeconfig))

    def service_account_kubeconfig(self, namespace: str, name: str, path: str | os.PathLike[str] | None = None,
                                   duration_seconds: int = 24 * 3600) -> Path:
        """A kubeconfig that authenticates as ServiceAccount ``namespace/name`` (a bound token).

        The ServiceAccount must exist. Use it to run the operator with exactly its RBAC.
        """
        token = self.kubectl("create", "token", name, "-n", namespace,
                             f"--duration={duration_seconds}s").stdout.strip()
        admin = yaml.safe_load(self.kubeconfig.read_text())
        cluster = admin["clusters"][0]["cluster"]
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": self.name, "cluster": cluster}],
            "users": [{"name": f"{namespace}-{name}", "user": {"token": token}}],
            "contexts": [{"name": self.name, "context": {"cluster": self.name, "user": f"{namespace}-{name}",
                                                         "namespace": namespace}}],
            "current-context": self.name,
        }
        if path is None:
            path = self.state_dir / f"sa-{namespace}-{name}.kubeconfig"
        Path(path).write_text(yaml.safe_dump(config))
        os.chmod(path, 0o600)
        return Path(path)

    def server_url(self) -> str:
        """The API server's URL (https://127.0.0.1:PORT)."""
        return yaml.safe_load(self.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]

    @staticmethod
    def wait_for(predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.25,
                 message: str = "condition not met") -> T:
        """Poll ``predicate`` until it returns something truthy; returns that value."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{message} (after {timeout:.0f}s)")
            time.sleep(interval)

    # ------------------------------------------------------------------ logs

    @property
    def audit_log_path(self) -> Path:
        """The API server's audit log (JSON lines; written only when ``audit_policy`` was given)."""
        return cache_dir() / "kwok" / "clusters" / self.name / "logs" / "audit.log"

    def log_path(self, component: str) -> Path:
        """Log file of a component: kube-apiserver, kube-controller-manager, kube-scheduler, etcd,
        kwok-controller (kwokctl's logs), sim-controllers or vllm-server (ours)."""
        ours = self.state_dir / f"{component}.log"
        if ours.exists() or component in ("sim-controllers", "vllm-server"):
            return ours
        return cache_dir() / "kwok" / "clusters" / self.name / "logs" / f"{component}.log"

    def _copy_logs(self, target: Path) -> None:
        target.mkdir(parents=True, exist_ok=True)
        sources = list(self.state_dir.glob("*.log"))
        sources += list((cache_dir() / "kwok" / "clusters" / self.name / "logs").glob("*.log"))
        for source in sources:
            shutil.copy(source, target / source.name)

    def log_tail(self, component: str, lines: int = 40) -> str:
        """The last ``lines`` lines of a component's log ('' when there is none)."""
        try:
            return "\n".join(self.log_path(component).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def cluster_fixture(name: str = "raft-test", scope: str = "session", **options: Any) -> Any:
    """A pytest fixture yielding a started :class:`LocalCluster`; skips when binaries are missing.

    Assign it to a name in a conftest.py: ``cluster = cluster_fixture("raft-e2e", sim_duration=2)``.
    """
    import pytest

    @pytest.fixture(scope=scope)
    def _cluster() -> Any:
        reason = skip_reason()
        if reason:
            pytest.skip(reason)
        with LocalCluster(name, **options) as cluster:
            yield cluster

    return _cluster


def namespace_fixture(prefix: str) -> Any:
    """A pytest fixture yielding a fresh namespace of the ``cluster`` fixture, named after the test
    (``<prefix><n>-<test>``) and deleted, without waiting, after it."""
    import itertools
    import re

    import pytest

    counter = itertools.count()

    @pytest.fixture
    def _namespace(cluster: LocalCluster, request: Any) -> Any:
        slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())
        name = f"{prefix}{next(counter)}-{slug}"[:63].strip("-")
        cluster.kubectl("create", "namespace", name)
        cluster.wait_for(lambda: cluster.kubectl("get", "serviceaccount", "default", "-n", name, check=False)
                         .returncode == 0, message="default ServiceAccount")
        yield name
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)

    return _namespace


# --------------------------------------------------------------------------- teardown safety net

_LIVE: set[LocalCluster] = set()
_handlers_installed = False


def _stop_all() -> None:
    for cluster in list(_LIVE):
        cluster.stop()


def _install_exit_handlers() -> None:
    """Stop live clusters at interpreter exit, and turn SIGTERM/SIGHUP into a clean exit."""
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(_stop_all)
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, None):
            signal.signal(sig, lambda signum, _frame: sys.exit(128 + signum))


def _module_exists(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False
