"""Operator scale benchmark: N RaftRuns applied at once on the local cluster (SIMULATED workloads).

    python benchmarks/operator_scale.py [--runs 100] [--interval 10] [--duration 5]
                                        [--progress-interval 10] [--idle-window 120]
                                        [--quiet-window 60] [--gpu-nodes 40]

It starts its own local cluster (``hack/cluster``: real kube-apiserver with an audit log,
controller manager, scheduler, etcd, kwok fake GPU nodes, SIMULATED RayJob/PyTorchJob/eval
controllers and vLLM server), installs the chart with the real helm, runs the operator as a local
process authenticated as the chart's ServiceAccount (so its API requests are attributable in the
audit log), and measures, all in one run:

1. **baseline**: one RaftRun alone, through the whole pipeline;
2. **scale**: ``--runs`` RaftRuns created at once: time until all of them reach each
   phase, the operator's CPU seconds and peak RSS, and its API requests per run (audit log,
   filtered by the operator's user, attributed to runs by namespace: one namespace per run);
3. **idle**: ``--runs`` fresh RaftRuns held in a long data-generation stage (the simulated RayJob
   runs for an hour and reports progress every ``--progress-interval`` seconds, like the real
   program's ``progress.intervalSeconds``): operator requests and CPU per run per minute over
   ``--idle-window`` seconds, against a naive design that would GET every child on every tick;
4. **quiet**: the same runs suspended (nothing changes any more) for ``--quiet-window`` seconds:
   a timer that writes or reads anything here is a hot loop.

Ratios are against the baseline run measured in the same process. Results go to
``benchmarks/results/operator_scale.{json,md}``. The cluster and the operator are stopped at the
end, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

REPO = Path(__file__).resolve().parents[1]

from raft_dev.cluster import LocalCluster, cache_dir  # noqa: E402
from raft_dev.operator_process import RELEASE, RELEASE_NAMESPACE, OperatorProcess, install_chart  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
OPERATOR_USER = f"system:serviceaccount:{RELEASE_NAMESPACE}:{RELEASE}"
TEACHER_MODEL = "bench-teacher"
PHASES = ["Pending", "ServingTeacher", "GeneratingData", "FineTuning", "Evaluating", "Succeeded"]
RANK = {phase: i for i, phase in enumerate(PHASES)}
VLLM_PORT = 18700
# Child kinds a naive controller would GET on every tick (a run in data generation has these).
NAIVE_KINDS = ["serviceaccounts", "configmaps", "persistentvolumeclaims", "roles.rbac.authorization.k8s.io",
               "rolebindings.rbac.authorization.k8s.io", "deployments.apps", "services", "rayjobs.ray.io"]


# --------------------------------------------------------------------------- measurements


def proc_cpu_seconds(pid: int) -> float:
    """user+sys CPU seconds of a process, its threads and its waited-for children (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state): utime, stime, cutime, cstime are fields 14-17.
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def proc_status_kib(pid: int, key: str) -> int:
    """A ``kB`` field of /proc/PID/status (VmHWM: peak RSS, VmRSS: current RSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    return 0


def pid_from(path: Path) -> int | None:
    """A pid recorded in a file, when the file exists."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


class CpuMeter:
    """CPU seconds of a few processes between two points in time."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = {name: pid for name, pid in pids.items() if pid}

    def sample(self) -> dict[str, float]:
        """Current CPU seconds of every process (missing ones are left out)."""
        out = {}
        for name, pid in self.pids.items():
            try:
                out[name] = proc_cpu_seconds(pid)
            except OSError:
                pass
        return out

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        """Seconds used between two samples."""
        return {k: round(after[k] - before[k], 2) for k in after if k in before}


@dataclass
class Request:
    """One API request from the audit log (Metadata level)."""

    at: float  # requestReceivedTimestamp, epoch seconds
    user: str
    verb: str
    resource: str  # resource[/subresource]
    namespace: str
    name: str
    code: int


class AuditLog:
    """Reads the API server's audit log incrementally, one :class:`Request` per auditID."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.seen: set[str] = set()
        self.requests: list[Request] = []

    def refresh(self) -> list[Request]:
        """Parse what was appended since the last call."""
        if not self.path.exists():
            return self.requests
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n") + 1  # a half-written last line waits for the next call
        self.offset += end
        for line in data[:end].splitlines():
            event = json.loads(line)
            if event["auditID"] in self.seen:
                continue  # a watch logs ResponseStarted and ResponseComplete
            self.seen.add(event["auditID"])
            ref = event.get("objectRef") or {}
            resource = ref.get("resource", "?") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
            received = dt.datetime.fromisoformat(event["requestReceivedTimestamp"].replace("Z", "+00:00"))
            self.requests.append(Request(
                at=received.timestamp(), user=event["user"]["username"], verb=event["verb"], resource=resource,
                namespace=ref.get("namespace", ""), name=ref.get("name", ""),
                code=(event.get("responseStatus") or {}).get("code", 0)))
        return self.requests

    def between(self, start: float, end: float, user: str | None = OPERATOR_USER) -> list[Request]:
        """Requests received in [start, end), by ``user`` (None: anyone)."""
        self.refresh()
        return [r for r in self.requests if start <= r.at < end and (user is None or r.user == user)]


AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "Metadata", "users": [OPERATOR_USER]},
        # The simulated workloads' progress reports (what makes the operator write status).
        {"level": "Metadata", "verbs": ["patch"], "resources": [{"group": "", "resources": ["configmaps"]}]},
        {"level": "None"},
    ],
}


class PhaseWatcher:
    """Watches every RaftRun and records when each one first reached each phase (or a later one)."""

    def __init__(self, cluster: LocalCluster) -> None:
        from kubernetes import client

        self.api = client.CustomObjectsApi(cluster.api_client())
        self.reached: dict[tuple[str, str], dict[str, float]] = collections.defaultdict(dict)
        self.latest: dict[tuple[str, str], dict[str, Any]] = {}
        self.reconcile_errors: collections.Counter[str] = collections.Counter()  # distinct messages
        # Per run: how often each status field changed (which fields make the operator write status).
        self.changed: dict[tuple[str, str], collections.Counter[str]] = collections.defaultdict(collections.Counter)
        self._error_seen: set[tuple[str, str, str]] = set()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name="raftrun-watch", daemon=True)

    def start(self) -> None:
        """Start watching in a background thread."""
        self.thread.start()

    def _record(self, obj: dict[str, Any]) -> None:
        now = time.time()
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        status = obj.get("status") or {}
        phase = status.get("phase")
        with self.lock:
            if key in self.latest and status != self.latest[key]:
                self.changed[key].update(changed_fields(self.latest[key], status))
            self.latest[key] = status
            for cond in status.get("conditions") or []:
                if cond.get("reason") == "ReconcileError":
                    # Counted once per run and transition (the condition stays while it retries).
                    seen = (key[0], key[1], cond.get("lastTransitionTime", ""))
                    if seen not in self._error_seen:
                        self._error_seen.add(seen)
                        self.reconcile_errors[cond.get("message", "")[:300]] += 1
            reached = self.reached[key]
            rank = RANK.get(phase)
            if rank is not None:
                for earlier in PHASES[: rank + 1]:
                    reached.setdefault(earlier, now)
            elif phase:
                reached.setdefault(phase, now)

    def _run(self) -> None:
        """List once, then follow a watch from the last resourceVersion seen; list again only when
        that version is too old (410 Gone). Listing a thousand RaftRuns each minute would itself
        load the API server this benchmark measures."""
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        version: str | None = None
        while not self.stop.is_set():
            try:
                if version is None:
                    listing = self.api.list_cluster_custom_object("raftoperator.io", "v1alpha1", "raftruns")
                    for item in listing["items"]:
                        self._record(item)
                    version = listing["metadata"]["resourceVersion"]
                stream = watch.Watch().stream(
                    self.api.list_cluster_custom_object, "raftoperator.io", "v1alpha1", "raftruns",
                    resource_version=version, timeout_seconds=300)
                for event in stream:
                    if self.stop.is_set():
                        return
                    if event["type"] == "ERROR":
                        version = None if (event.get("raw_object") or {}).get("code") == 410 else version
                        break
                    version = event["object"]["metadata"]["resourceVersion"]
                    self._record(event["object"])
            except ApiException as exc:
                if exc.status == 410:
                    version = None
                time.sleep(0.5)
            except Exception:  # noqa: BLE001 - reconnect from the same version after any hiccup
                time.sleep(0.5)

    def phase_of(self, key: tuple[str, str]) -> str | None:
        """The last phase seen for a run."""
        with self.lock:
            return (self.latest.get(key) or {}).get("phase")

    def status_of(self, key: tuple[str, str]) -> dict[str, Any]:
        """The last status seen for a run."""
        with self.lock:
            return dict(self.latest.get(key) or {})

    def wait(self, keys: list[tuple[str, str]], done: Any, timeout: float, what: str) -> bool:
        """Wait until ``done(status)`` holds for every run; False (and a message) on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(done(self.status_of(k)) for k in keys):
                return True
            failed = [k for k in keys if self.phase_of(k) == "Failed"]
            if failed:
                print(f"  {len(failed)} run(s) failed, e.g. {failed[0]}: {self.status_of(failed[0]).get('message')}")
                return False
            time.sleep(0.5)
        left = collections.Counter(self.phase_of(k) for k in keys if not done(self.status_of(k)))
        print(f"  timed out waiting for {what}: still {dict(left)}")
        return False


def changed_fields(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Top-level status fields that differ; conditions by type (``conditions.Ready``)."""
    out = []
    for name in sorted(set(old) | set(new)):
        if old.get(name) == new.get(name):
            continue
        if name == "conditions":
            before = {c.get("type"): c for c in old.get(name) or []}
            after = {c.get("type"): c for c in new.get(name) or []}
            out += [f"conditions.{t}" for t in sorted(set(before) | set(after), key=str) if before.get(t) != after.get(t)]
        elif name == "stages":
            before, after = old.get(name) or {}, new.get(name) or {}
            out += [f"stages.{t}" for t in sorted(set(before) | set(after)) if before.get(t) != after.get(t)]
        else:
            out.append(name)
    return out


# --------------------------------------------------------------------------- manifests


def raftrun(name: str, namespace: str, duration: float, datagen_duration: float | None = None,
            suspend: bool = False, pending_deadline: int | None = None) -> dict[str, Any]:
    """A RaftRun small enough that 100 fit on the fake nodes: TP=1 teacher, 1 worker, 1x1 GPU student."""
    annotations = {"sim.raftoperator.io/duration-seconds": str(duration)}
    if datagen_duration is not None:
        annotations["sim.raftoperator.io/datagen-duration-seconds"] = str(datagen_duration)
    spec: dict[str, Any] = {
        "corpus": {"huggingface": {"name": "bench/corpus"}},  # no corpus volume to provision
        "teacher": {"vllm": {"model": TEACHER_MODEL, "tensorParallelSize": 1}},
        "datagen": {"workers": 1},
        "student": {"baseModel": "bench/student-base", "nodes": 1, "gpusPerNode": 1},
        "storage": {"size": "1Gi", "retentionPolicy": "Delete"},
    }
    if suspend:
        spec["suspend"] = True
    if pending_deadline is not None:
        spec["failurePolicy"] = {"pendingDeadlineSeconds": pending_deadline}
    return {"apiVersion": "raftoperator.io/v1alpha1", "kind": "RaftRun",
            "metadata": {"name": name, "namespace": namespace, "annotations": annotations}, "spec": spec}


def namespaces(names: Iterable[str]) -> list[dict[str, Any]]:
    """Namespace objects."""
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in names]


SUBMIT_THREADS = 8


def submit(cluster: LocalCluster, docs: list[dict[str, Any]], *, merge: bool = False) -> float:
    """Create ``docs`` (or merge-patch them, with ``merge``) from a few threads, as a GitOps tool or
    a script would; returns the time it was started (epoch seconds). An object that already exists
    is left as it is. (One ``kubectl apply`` of 1,000 runs took 17 minutes on this machine, most
    of it kubectl's client-side apply competing for the same two cores.)"""
    from concurrent.futures import ThreadPoolExecutor

    from kubernetes.client.exceptions import ApiException
    from kubernetes.dynamic import DynamicClient

    dyn = DynamicClient(cluster.api_client())
    resources = {(d["apiVersion"], d["kind"]): dyn.resources.get(api_version=d["apiVersion"], kind=d["kind"])
                 for d in docs}

    def send(doc: dict[str, Any]) -> None:
        resource = resources[(doc["apiVersion"], doc["kind"])]
        namespace = doc["metadata"].get("namespace")
        for attempt in range(5):
            try:
                if merge:
                    resource.patch(body=doc, name=doc["metadata"]["name"], namespace=namespace,
                                   content_type="application/merge-patch+json")
                else:
                    resource.create(body=doc, namespace=namespace)
                return
            except ApiException as exc:
                if exc.status == 409 and not merge:
                    return
                if exc.status not in (429, 500, 503, 504) or attempt == 4:
                    raise
                time.sleep(1.0 + attempt)

    started = time.time()
    with ThreadPoolExecutor(SUBMIT_THREADS) as pool:
        list(pool.map(send, docs))
    return started


def apiserver_requests(cluster: LocalCluster) -> collections.Counter[str]:
    """Requests the API server has served so far, by all clients ("VERB resource[/subresource]",
    watches left out), from its ``apiserver_request_total`` metric."""
    import re

    text = cluster.kubectl("get", "--raw", "/metrics", timeout=120).stdout
    counts: collections.Counter[str] = collections.Counter()
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line[: line.rindex("}")]))
        if labels.get("verb") == "WATCH":
            continue
        key = f"{labels.get('verb')} {labels.get('resource')}" + (
            f"/{labels['subresource']}" if labels.get("subresource") else "")
        counts[key] += int(float(line.rsplit(" ", 1)[1]))
    return counts


class Timeline:
    """Every ``every`` seconds: phase counts (from the watcher), CPU seconds of every component so far,
    the operator's RSS and the load average; what a 1,000-run benchmark shows while it runs."""

    def __init__(self, watcher: "PhaseWatcher", cpu: "CpuMeter", op_pid: int, every: float = 30.0) -> None:
        self.watcher, self.cpu, self.op_pid, self.every = watcher, cpu, op_pid, every
        self.rows: list[dict[str, Any]] = []
        self.stop = threading.Event()
        self.t0 = time.time()
        self.thread = threading.Thread(target=self._run, name="timeline", daemon=True)

    def start(self) -> None:
        """Start sampling in a background thread."""
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(self.every):
            with self.watcher.lock:
                phases = collections.Counter((s or {}).get("phase") or "none" for s in self.watcher.latest.values())
            try:
                rss = round(proc_status_kib(self.op_pid, "VmRSS") / 1024, 1)
            except OSError:
                rss = None
            self.rows.append({"t_s": round(time.time() - self.t0), "phases": dict(phases),
                              "cpu_s": {k: round(v, 1) for k, v in self.cpu.sample().items()},
                              "operator_rss_mib": rss, "loadavg_1m": round(os.getloadavg()[0], 2)})
            print(f"  [{self.rows[-1]['t_s']} s] {dict(phases)}", flush=True)


# --------------------------------------------------------------------------- phases of the benchmark


@dataclass
class Bench:
    """Shared state of one benchmark run."""

    args: argparse.Namespace
    cluster: LocalCluster
    operator: OperatorProcess
    watcher: PhaseWatcher
    audit: AuditLog
    cpu: CpuMeter
    results: dict[str, Any] = field(default_factory=dict)

    @property
    def op_pid(self) -> int:
        assert self.operator.process is not None
        return self.operator.process.pid


def count_by(requests: Iterable[Request], *keys: str) -> dict[str, int]:
    """Counts of requests by the joined values of ``keys`` (e.g. verb, resource)."""
    counter = collections.Counter(" ".join(str(getattr(r, k)) for k in keys) for r in requests)
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def per_run_requests(requests: list[Request], run_namespaces: list[str]) -> dict[str, Any]:
    """Operator requests attributed to runs by namespace: mean/min/max per run and the rest (shared)."""
    wanted = set(run_namespaces)
    by_ns = collections.Counter(r.namespace for r in requests if r.namespace in wanted)
    counts = [by_ns.get(ns, 0) for ns in run_namespaces]
    in_runs = [r for r in requests if r.namespace in wanted]
    shared = [r for r in requests if r.namespace not in wanted]
    return {
        "per_run_mean": round(statistics.fmean(counts), 2) if counts else 0.0,
        "per_run_min": min(counts, default=0),
        "per_run_max": max(counts, default=0),
        "total_in_runs": len(in_runs),
        "by_verb_resource_per_run": {k: round(v / max(len(counts), 1), 2)
                                     for k, v in count_by(in_runs, "verb", "resource").items()},
        "non_2xx": count_by([r for r in in_runs if not 200 <= r.code < 300], "code", "verb", "resource"),
        "shared_total": len(shared),
        "shared_by_verb_resource": count_by(shared, "verb", "resource"),
    }


def pipeline_phase(bench: Bench, label: str, names: list[tuple[str, str]], timeout: float) -> dict[str, Any]:
    """Create ``names`` (namespace, run) at once and follow them to Succeeded."""
    args = bench.args
    print(f"[{label}] {len(names)} run(s): namespaces, then the RaftRuns, created from {SUBMIT_THREADS} threads")
    submit(bench.cluster, namespaces(ns for ns, _ in names))
    served0 = apiserver_requests(bench.cluster)
    cpu0, t0 = bench.cpu.sample(), time.time()
    started = submit(bench.cluster, [raftrun(n, ns, args.duration, pending_deadline=args.pending_deadline)
                                     for ns, n in names])
    submitted_s = round(time.time() - started, 1)
    ok = bench.watcher.wait(names, lambda s: s.get("phase") == "Succeeded", timeout, f"{label} runs to succeed")
    done_at = time.time()
    # One more tick: writes that follow success (servers deleted, teacher scaled to zero) count too.
    time.sleep(args.interval + 2)
    cpu1, t1 = bench.cpu.sample(), time.time()
    served = apiserver_requests(bench.cluster)
    served.subtract(served0)
    requests = bench.audit.between(t0, t1)
    run_ns = {ns for ns, _ in names}
    progress = [r for r in bench.audit.between(t0, t1, user=None) if r.user != OPERATOR_USER
                and r.namespace in run_ns and r.verb == "patch" and r.name.endswith("-progress")]
    reached = {p: [] for p in PHASES[1:]}
    for key in names:
        for phase in reached:
            at = bench.watcher.reached.get(key, {}).get(phase)
            if at is not None:
                reached[phase].append(at - started)
    phases = {}
    for phase, times in reached.items():
        phases[phase] = {
            "all_s": round(max(times), 1) if len(times) == len(names) else None,
            "median_s": round(statistics.median(times), 1) if times else None,
            "reached": len(times),
        }
    operator_cpu = CpuMeter.delta(cpu0, cpu1)
    result = {
        "runs": len(names),
        "completed": ok,
        "wall_s": round(done_at - started, 1),
        "submitted_s": submitted_s,
        "phases": phases,
        "cpu_s": operator_cpu,
        "operator_cpu_s_per_run": round(operator_cpu.get("operator", 0.0) / len(names), 3),
        "operator_peak_rss_mib": round(proc_status_kib(bench.op_pid, "VmHWM") / 1024, 1),
        "requests": per_run_requests(requests, [ns for ns, _ in names]),
        "progress_reports_per_run": round(len(progress) / len(names), 2),
        # Every client (controller manager, scheduler, kwok, simulators, operator), non-watch requests.
        "all_clients_requests_per_run": round(sum(served.values()) / len(names), 1),
        "all_clients_top_per_run": {k: round(v / len(names), 2) for k, v in served.most_common(15)},
        "status_field_changes_per_run": status_changes(bench.watcher, names),
        "failed": {f"{ns}/{n}": bench.watcher.status_of((ns, n)).get("message")
                   for ns, n in names if bench.watcher.phase_of((ns, n)) == "Failed"},
        "loadavg_1m_end": round(os.getloadavg()[0], 2),
    }
    print(f"[{label}] done in {result['wall_s']} s; operator CPU {operator_cpu.get('operator')} s; "
          f"{result['requests']['per_run_mean']} requests/run")
    return result


def status_changes(watcher: PhaseWatcher, names: list[tuple[str, str]]) -> dict[str, float]:
    """Mean number of status writes per run that changed each field (a write may change several)."""
    total: collections.Counter[str] = collections.Counter()
    with watcher.lock:
        for key in names:
            total.update(watcher.changed.get(key, {}))
    return {k: round(v / len(names), 2) for k, v in sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))}


def window(bench: Bench, label: str, run_namespaces: list[str], seconds: float, alive: int) -> dict[str, Any]:
    """Operator requests and CPU over ``seconds`` while nothing is applied, per run per minute."""
    cpu0, t0 = bench.cpu.sample(), time.time()
    load0 = os.getloadavg()[0]
    print(f"[{label}] measuring for {seconds:.0f} s")
    time.sleep(seconds)
    cpu1, t1 = bench.cpu.sample(), time.time()
    minutes = (t1 - t0) / 60
    requests = bench.audit.between(t0, t1)
    wanted = set(run_namespaces)
    in_runs = [r for r in requests if r.namespace in wanted]
    other_runs = [r for r in requests if r.namespace.startswith("bench-") and r.namespace not in wanted]
    shared = [r for r in requests if not r.namespace.startswith("bench-")]
    progress = [r for r in bench.audit.between(t0, t1, user=None) if r.user != OPERATOR_USER
                and r.namespace in wanted and r.verb == "patch" and r.name.endswith("-progress")]
    n = len(run_namespaces)
    status_writes = [r for r in in_runs if r.resource == "raftruns/status" or r.resource == "raftruns"]
    cpu = CpuMeter.delta(cpu0, cpu1)
    result = {
        "seconds": round(t1 - t0, 1),
        "runs": n,
        "requests_per_run_per_min": round(len(in_runs) / n / minutes, 3),
        "status_writes_per_run_per_min": round(len(status_writes) / n / minutes, 3),
        "other_requests_per_run_per_min": round((len(in_runs) - len(status_writes)) / n / minutes, 3),
        "progress_reports_per_run_per_min": round(len(progress) / n / minutes, 3),
        "by_verb_resource": count_by(in_runs, "verb", "resource"),
        "requests_on_other_runs": count_by(other_runs, "verb", "resource"),
        "shared_requests": count_by(shared, "verb", "resource"),
        "cpu_s": cpu,
        "operator_cpu_s_per_min": round(cpu.get("operator", 0.0) / minutes, 2),
        # Every RaftRun the operator holds ticks once per interval, whatever its phase.
        "runs_alive": alive,
        "operator_cpu_ms_per_run_tick": round(1000 * cpu.get("operator", 0.0)
                                              / (alive * (t1 - t0) / bench.args.interval), 2),
        "loadavg_1m": [round(load0, 2), round(os.getloadavg()[0], 2)],
    }
    print(f"[{label}] {result['requests_per_run_per_min']} operator requests/run/min "
          f"({result['status_writes_per_run_per_min']} status writes, "
          f"{result['progress_reports_per_run_per_min']} progress reports/run/min); "
          f"operator CPU {result['operator_cpu_s_per_min']} s/min")
    return result


def children_per_run(cluster: LocalCluster, namespace: str, run: str) -> dict[str, int]:
    """How many children of each kind a run has now (what a naive controller would GET per tick)."""
    out = {}
    for kind in NAIVE_KINDS:
        items = cluster.kubectl_json("get", kind, "-n", namespace, "-l", f"raftoperator.io/run={run}")["items"]
        out[kind.split(".")[0]] = len(items)
    return out


def idle_phases(bench: Bench) -> None:
    """N fresh runs held in a one-hour data generation stage, then suspended."""
    args = bench.args
    names = [(f"bench-idle-{i:03d}", f"idle-{i:03d}") for i in range(args.idle_runs)]
    run_ns = [ns for ns, _ in names]
    submit(bench.cluster, namespaces(run_ns))
    docs = [raftrun(n, ns, args.duration, datagen_duration=3600, pending_deadline=args.pending_deadline)
            for ns, n in names]
    started = submit(bench.cluster, docs)
    print(f"[idle] {len(names)} runs applied; waiting until every RayJob runs and reports progress")
    ok = bench.watcher.wait(names, lambda s: s.get("phase") == "GeneratingData" and "datagen" in s,
                            args.timeout, "idle runs to report data generation progress")
    bench.results["idle_setup_s"] = round(time.time() - started, 1)
    if not ok:
        bench.results["idle"] = {"error": "runs did not reach a running data generation stage"}
        return
    time.sleep(args.interval)  # let the last transitions' writes land before the window
    alive = bench.results["runs_alive_during_idle"]
    idle = window(bench, "idle", run_ns, args.idle_window, alive)
    children = children_per_run(bench.cluster, *names[0])
    idle["children_per_run"] = children
    naive = sum(children.values()) * 60 / args.interval
    idle["naive_gets_per_run_per_min"] = round(naive, 1)
    idle["naive_over_measured"] = (round(naive / idle["requests_per_run_per_min"], 1)
                                   if idle["requests_per_run_per_min"] else None)
    bench.results["idle"] = idle

    if args.quiet_window <= 0:
        return
    print("[quiet] suspending the idle runs (a merge patch of each)")
    submit(bench.cluster, [{"apiVersion": "raftoperator.io/v1alpha1", "kind": "RaftRun",
                            "metadata": {"name": n, "namespace": ns}, "spec": {"suspend": True}}
                           for ns, n in names], merge=True)
    ok = bench.watcher.wait(names, lambda s: s.get("phase") == "Suspended", args.timeout, "runs to suspend")
    if not ok:
        bench.results["quiet"] = {"error": "runs did not suspend"}
        return
    time.sleep(args.interval + 2)  # the suspend writes (RayJob suspend, teacher scale-down) settle
    bench.results["quiet"] = window(bench, "quiet", run_ns, args.quiet_window, alive)


# --------------------------------------------------------------------------- report


def log_summary(text: str) -> dict[str, Any]:
    """ERROR/WARNING counts of the operator log, retried API requests apart, with a few examples."""
    lines = text.splitlines()
    retried = [ln for ln in lines if " ERROR " in ln and "will retry" in ln]
    errors = [ln for ln in lines if " ERROR " in ln and "will retry" not in ln]
    warnings = [ln for ln in lines if " WARNING " in ln]
    return {"errors": len(errors), "retried_requests": len(retried), "warnings": len(warnings),
            "examples": [ln[:300] for ln in (errors[:3] + retried[:2] + warnings[:3])]}



def machine() -> dict[str, Any]:
    """What the benchmark ran on."""
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "operator", "sim", "charts"],
                           capture_output=True, text=True).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "commit": commit,
        "uncommitted_changes_in_operator_sim_charts": bool(dirty),
    }


def md_table(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table."""
    def cell(v: Any) -> str:
        return "–" if v is None else str(v)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def ratio(a: float | None, b: float | None) -> str | None:
    """a/b as '1.23x' (None when either is missing or b is 0)."""
    return f"{a / b:.2f}x" if a is not None and b else None


def cpu_by_component(scale: dict[str, Any]) -> list[str]:
    """Markdown lines: CPU seconds of every process during the scale phase, and their share of a core."""
    cpu, wall = scale.get("cpu_s") or {}, scale.get("wall_s") or 0
    if not cpu or not wall:
        return []
    rows = [[name, seconds, round(seconds / wall, 2)] for name, seconds in sorted(cpu.items(), key=lambda kv: -kv[1])]
    return [f"CPU of every process from submission until the last run succeeded ({wall} s):", "",
            md_table(["process", "CPU s", "cores (mean)"], rows), ""]


def timeline_table(rows: list[dict[str, Any]], limit: int = 40) -> list[str]:
    """Markdown lines: phase counts, cumulative CPU and operator RSS over the benchmark."""
    if not rows:
        return []
    step = max(1, -(-len(rows) // limit))
    shown = rows[::step] + ([rows[-1]] if (len(rows) - 1) % step else [])
    phases = [p for p in ["none", *PHASES, "Failed", "Suspended"] if any(p in r["phases"] for r in shown)]
    header = ["t (s)", *phases, "operator CPU s", "kube-apiserver CPU s", "operator RSS MiB", "load"]
    table = [[r["t_s"], *[r["phases"].get(p, 0) for p in phases], r["cpu_s"].get("operator"),
              r["cpu_s"].get("kube-apiserver"), r["operator_rss_mib"], r["loadavg_1m"]] for r in shown]
    return ["## Phases over time", "",
            "RaftRuns by phase (all the operator holds, baseline and idle runs included), cumulative CPU "
            "seconds since the cluster started, and the operator's RSS:", "", md_table(header, table), ""]


def report(results: dict[str, Any]) -> str:
    """The Markdown report (also printed)."""
    base, scale = results.get("baseline") or {}, results.get("scale") or {}
    n = scale.get("runs", "N")
    out = [f"# Operator scale benchmark ({n} RaftRuns at once, SIMULATED workloads)", ""]
    out += [f"- date: {results['date']}", f"- command: `{results['command']}`",
            f"- machine: {results['machine']['cpus']} cores, {results['machine']['memory_gib']} GiB, "
            f"Python {results['machine']['python']}, commit {results['machine']['commit']}"
            + (" (with uncommitted changes under operator/, sim/ or charts/)"
               if results["machine"]["uncommitted_changes_in_operator_sim_charts"] else ""),
            f"- settings: reconcile interval {results['settings']['interval']} s, simulated stage duration "
            f"{results['settings']['duration']} s, simulated progress reports every "
            f"{results['settings']['progress_interval']} s, {results['settings']['gpu_nodes']} fake GPU nodes x {results['settings'].get('gpus_per_node', 8)}",
            f"- machine load (1 min load average): {results.get('loadavg_start')} at start, "
            f"{scale.get('loadavg_1m_end')} after the scale phase"
            " (other jobs shared this machine; the cluster, simulators and operator all share its cores)",
            f"- benchmark wall time: {results.get('total_s')} s (cluster start to teardown); operator RSS "
            f"{results.get('operator_rss_after_start_mib')} MiB after start, peak {results.get('operator_peak_rss_mib')} "
            f"MiB (VmHWM) over the whole benchmark ({results.get('runs_alive_during_idle')} RaftRuns held at the end)",
            ""]
    out += ["## Time from submission until runs reach each phase", ""]
    if scale.get("submitted_s") is not None:
        out += [f"Creating the {n} RaftRuns took {scale['submitted_s']} s ({SUBMIT_THREADS} client threads); "
                "the operator starts on the first runs while the rest are still being created.", ""]
    rows = []
    for phase in PHASES[1:]:
        b, s = (base.get("phases") or {}).get(phase, {}), (scale.get("phases") or {}).get(phase, {})
        rows.append([phase, b.get("all_s"), s.get("median_s"), s.get("all_s"), ratio(s.get("all_s"), b.get("all_s")),
                     f"{s.get('reached', 0)}/{n}"])
    out += [md_table(["phase", "1 run (s)", f"{n} runs: median (s)", f"{n} runs: all (s)", "all vs 1 run",
                      "reached"], rows), ""]
    out += ["## Operator cost per run through the whole pipeline", ""]
    br, sr = base.get("requests") or {}, scale.get("requests") or {}
    rows = [
        ["operator CPU s per run", base.get("operator_cpu_s_per_run"), scale.get("operator_cpu_s_per_run"),
         ratio(scale.get("operator_cpu_s_per_run"), base.get("operator_cpu_s_per_run"))],
        ["API requests per run (mean)", br.get("per_run_mean"), sr.get("per_run_mean"),
         ratio(sr.get("per_run_mean"), br.get("per_run_mean"))],
        ["API requests per run (min–max)", f"{br.get('per_run_min')}–{br.get('per_run_max')}",
         f"{sr.get('per_run_min')}–{sr.get('per_run_max')}", None],
        ["progress reports by the simulated workloads per run", base.get("progress_reports_per_run"),
         scale.get("progress_reports_per_run"), None],
        ["cluster-wide operator requests in the phase (watches, peering)", br.get("shared_total"),
         sr.get("shared_total"), None],
        ["API requests per run by all clients (apiserver_request_total, watches left out)",
         base.get("all_clients_requests_per_run"), scale.get("all_clients_requests_per_run"),
         ratio(scale.get("all_clients_requests_per_run"), base.get("all_clients_requests_per_run"))],
        ["kube-apiserver CPU s in the phase (all clients)", (base.get("cpu_s") or {}).get("kube-apiserver"),
         (scale.get("cpu_s") or {}).get("kube-apiserver"), None],
        ["simulated controllers CPU s in the phase", (base.get("cpu_s") or {}).get("sim-controllers"),
         (scale.get("cpu_s") or {}).get("sim-controllers"), None],
        ["operator peak RSS (MiB, VmHWM so far)", base.get("operator_peak_rss_mib"),
         scale.get("operator_peak_rss_mib"), None],
    ]
    out += [md_table(["", "1 run", f"{n} runs", "ratio"], rows), ""]
    out += cpu_by_component(scale)
    top = scale.get("all_clients_top_per_run") or {}
    if top:
        out += ["The API server's busiest requests per run, all clients (the operator's own are below):", "",
                md_table(["verb resource", f"{n} runs (per run)", "1 run"],
                         [[k, v, (base.get("all_clients_top_per_run") or {}).get(k)] for k, v in top.items()]), ""]
    verbs = sorted(set(br.get("by_verb_resource_per_run", {})) | set(sr.get("by_verb_resource_per_run", {})))
    rows = [[v, br.get("by_verb_resource_per_run", {}).get(v), sr.get("by_verb_resource_per_run", {}).get(v)]
            for v in verbs]
    out += ["Requests per run by verb and resource (operator's ServiceAccount, audit log):", "",
            md_table(["verb resource", "1 run", f"{n} runs (mean)"], rows), ""]
    bc, sc = base.get("status_field_changes_per_run") or {}, scale.get("status_field_changes_per_run") or {}
    if bc or sc:
        fields = sorted(set(bc) | set(sc), key=lambda f: (-(sc.get(f) or 0), f))
        out += ["What the status writes changed (per run; one write can change several fields; from a watch on "
                "RaftRuns):", "", md_table(["status field", "1 run", f"{n} runs (mean)"],
                                           [[f, bc.get(f), sc.get(f)] for f in fields]), ""]
    if sr.get("non_2xx") or br.get("non_2xx"):
        out += [f"Non-2xx responses: 1 run {br.get('non_2xx')}, {n} runs {sr.get('non_2xx')}", ""]
    idle, quiet = results.get("idle") or {}, results.get("quiet") or {}
    out += ["## Idle cost", ""]
    if "requests_per_run_per_min" in idle:
        rows = [
            ["runs in a long data-generation stage (progress every "
             f"{results['settings']['progress_interval']} s)", idle["requests_per_run_per_min"],
             idle["status_writes_per_run_per_min"], idle["other_requests_per_run_per_min"],
             idle["progress_reports_per_run_per_min"], idle["operator_cpu_s_per_min"],
             idle["operator_cpu_ms_per_run_tick"], idle["seconds"]],
        ]
        if "requests_per_run_per_min" in quiet:
            rows.append(["the same runs suspended (nothing changes)", quiet["requests_per_run_per_min"],
                         quiet["status_writes_per_run_per_min"], quiet["other_requests_per_run_per_min"],
                         quiet["progress_reports_per_run_per_min"], quiet["operator_cpu_s_per_min"],
                         quiet["operator_cpu_ms_per_run_tick"], quiet["seconds"]])
        out += [md_table(["state", "operator requests /run/min", "of which status writes", "other",
                          "progress reports by the workload /run/min", "operator CPU s/min (all runs)",
                          "operator CPU ms per run per tick", "window (s)"], rows), ""]
        out += [f"A naive controller that GETs each child on every tick would make "
                f"{idle['naive_gets_per_run_per_min']} requests/run/min here "
                f"({sum(idle['children_per_run'].values())} children x {60 / results['settings']['interval']:.0f} "
                f"ticks/min: {idle['children_per_run']}); measured: {idle['requests_per_run_per_min']} "
                f"({idle['naive_over_measured'] or 'inf'}x fewer).", ""]
        total_runs = results.get("runs_alive_during_idle")
        out += [f"During the windows the operator held {total_runs} RaftRuns (the finished ones of the scale and "
                f"baseline phases included); requests on the finished runs: idle window "
                f"{idle.get('requests_on_other_runs') or 'none'}"
                + (f", quiet window {quiet.get('requests_on_other_runs') or 'none'}" if quiet else "") + "; "
                f"cluster-wide: idle window {idle.get('shared_requests') or 'none'}"
                + (f", quiet window {quiet.get('shared_requests') or 'none'}" if quiet else "") + ".", ""]
    else:
        out += [f"not measured: {idle.get('error')}", ""]
    out += timeline_table(results.get("timeline") or [])
    errors = results.get("reconcile_errors") or {}
    if errors:
        out += ["Reconcile errors seen in status (`Ready=False`, reason `ReconcileError`; the next tick retries):", ""]
        out += [f"- {count}x `{message}`" for message, count in errors.items()] + [""]
    log = results.get("operator_log") or {}
    if log:
        out += [f"Operator log: {log['errors']} ERROR lines, {log['retried_requests']} API requests retried by Kopf, "
                f"{log['warnings']} WARNING lines.", ""]
        out += [f"    {line}" for line in log["examples"]] + ([""] if log["examples"] else [])
    out += ["## Findings", ""] + [f"- {line}" for line in findings(results)] + [""]
    if results.get("notes"):
        out += ["## Notes", ""] + [f"- {note}" for note in results["notes"]] + [""]
    out += ["## Method", ""] + [f"- {line}" for line in METHOD] + [""]
    return "\n".join(out)


METHOD = [
    "Everything runs on this machine: the local cluster of `hack/cluster` (real kube-apiserver, etcd, "
    "controller manager and scheduler; kwok fake nodes, whose pods never execute), the SIMULATED RayJob, "
    "PyTorchJob and eval-Job controllers and vLLM server of `sim/raft_sim`, and the operator as a local process "
    "(`python -m raft_operator`) with the token of the chart's ServiceAccount, so it has exactly the chart's RBAC.",
    "Stage timings include the simulated workloads (the stage duration, and the simulators polling every "
    "progress interval while pods start) and the reconcile interval (a run moves at most one stage per tick, "
    "unless stages finish within the same pass). Compare them with the 1-run baseline, not as absolute numbers.",
    "API requests come from the API server's audit log (Metadata level) filtered by the operator's user "
    f"(`{OPERATOR_USER}`), one request per auditID. Each run lives in its own namespace, so requests are "
    "attributed to runs by namespace; cluster-wide ones (watches, the peering keepalive) are counted apart. "
    "Progress reports are the simulators' merge patches of `<run>-progress`, logged by the same policy.",
    "One namespace per run, so that every request the operator makes can be attributed to its run.",
    "The SIMULATED controllers read pods, owners and run configs from watch caches, as the real controllers "
    "read their informers; each of their steps costs the API server one GET of the object and its writes.",
    "CPU is user+sys of /proc/PID/stat (threads and waited-for children included); peak RSS is VmHWM. Other "
    "jobs shared the 2 cores during the run (see the load average), which stretches wall times more than CPU times.",
    "Phase 'reached' means first seen (by a watch on RaftRuns) in that phase or a later one, so a phase "
    "skipped within one pass still counts.",
    "`patch raftruns` (once per run) is Kopf adding its finalizer; `create events` are the operator's "
    "Events on phase and condition changes.",
    "The local cluster's Service range is the API server's default /24 (253 ClusterIPs). Each run keeps its "
    "teacher Service for its whole life and has 2 more (student servers) during eval, so when most of 100 runs "
    "evaluate at once (a loaded machine stretches stages), creating a Service can fail with 'failed to allocate "
    "a serviceIP: range is full' (HTTP 500). The operator records it as a ReconcileError and the next tick "
    "retries; the section above lists any such errors of this run.",
    "The naive reference is computed, not run: a controller without watches/indexes that GETs each of the "
    "run's children once per tick.",
]


def findings(results: dict[str, Any]) -> list[str]:
    """What the numbers say, as sentences (derived from the results, not written by hand)."""
    out = []
    scale, base = results.get("scale") or {}, results.get("baseline") or {}
    interval = results["settings"]["interval"]
    if scale:
        n = scale["runs"]
        status = "all succeeded" if scale.get("completed") else f"NOT all succeeded ({scale.get('failed') or 'timeout'})"
        out.append(f"{n} runs applied at once: {status}; the last one in {scale.get('wall_s')} s "
                   f"(1 run alone: {base.get('wall_s')} s).")
        first = (scale.get("phases") or {}).get("ServingTeacher", {}).get("all_s")
        if first is not None and first > interval:
            out.append(f"The first reconcile of every run took {first} s to get through all {n} runs "
                       f"(> the {interval:g} s interval): the first tick creates ~8 children per run, so it is "
                       "the operator's busiest moment; later ticks are cheap.")
        sr, br = scale.get("requests") or {}, base.get("requests") or {}
        status_writes = lambda r: (r.get("by_verb_resource_per_run") or {}).get("patch raftruns/status", 0)
        out.append(f"API requests per run: {sr.get('per_run_mean')} at {n} runs vs {br.get('per_run_mean')} alone; "
                   f"the difference is status writes ({status_writes(sr)} vs {status_writes(br)}) and Events: "
                   f"with {n} runs sharing the machine each run spends more ticks in each stage "
                   f"({scale.get('wall_s')} s vs {base.get('wall_s')} s end to end), so the operator sees and "
                   "records more intermediate states (see the status-field table); not more progress reports "
                   f"({scale.get('progress_reports_per_run')} vs {base.get('progress_reports_per_run')} per run: "
                   "the busy simulator looks at each job less often, so it skips interim reports).")
    idle, quiet = results.get("idle") or {}, results.get("quiet") or {}
    if "requests_per_run_per_min" in idle:
        per_report = (idle["status_writes_per_run_per_min"] / idle["progress_reports_per_run_per_min"]
                      if idle["progress_reports_per_run_per_min"] else None)
        out.append(f"Runs waiting on a long stage: {idle['requests_per_run_per_min']} operator requests/run/min, "
                   f"all of them status writes ({idle['other_requests_per_run_per_min']} other), "
                   + (f"{per_report:.2f} per progress report: " if per_report is not None else "")
                   + "the operator writes status only when a report changed it, at most once per tick.")
    if "requests_per_run_per_min" in quiet:
        verdict = ("no hot loop" if quiet["requests_per_run_per_min"] == 0
                   else "UNEXPECTED requests while nothing changes (possible hot loop)")
        out.append(f"Suspended runs: {quiet['requests_per_run_per_min']} requests/run/min ({verdict}); operator "
                   f"CPU {quiet['operator_cpu_ms_per_run_tick']} ms per run per tick "
                   f"({quiet['operator_cpu_s_per_min']} CPU s/min for {quiet['runs_alive']} runs, finished ones "
                   "included). Finished and suspended runs with nothing left to release are at rest "
                   "(Reconciling=False): Kopf stops their timers, so what remains is the operator's fixed cost "
                   "(watch streams, peering keepalive, metrics), not a cost per run.")
    return out


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=100, help="RaftRuns applied at once (default 100)")
    p.add_argument("--interval", type=float, default=10.0, help="operator reconcile interval, s (default 10)")
    p.add_argument("--duration", type=float, default=5.0, help="simulated duration of each stage, s (default 5)")
    p.add_argument("--progress-interval", type=float, default=10.0,
                   help="simulated workloads report progress every this many s (default 10, the programs' default)")
    p.add_argument("--idle-window", type=float, default=120.0, help="idle measurement window, s (default 120)")
    p.add_argument("--quiet-window", type=float, default=60.0,
                   help="suspended-runs measurement window, s (default 60; 0 skips it)")
    p.add_argument("--idle-runs", type=int, default=None,
                   help="runs held in the idle and quiet windows (default: --runs)")
    p.add_argument("--gpu-nodes", type=int, default=40, help="fake GPU nodes (default 40)")
    p.add_argument("--gpus-per-node", type=int, default=8,
                   help="GPUs per fake node (default 8; fewer, larger nodes cost the API server fewer heartbeats)")
    p.add_argument("--timeout", type=float, default=420.0, help="max seconds to wait for a phase (default 420)")
    p.add_argument("--pending-deadline", type=int, default=None, metavar="SECONDS",
                   help="the runs' failurePolicy.pendingDeadlineSeconds (default: the RaftRun default, 1800). On 2 "
                        "cores the local cluster's controller manager binds about one volume per second or less, "
                        "so with 1,000 runs the last teacher pods wait for their claim longer than 1800 s")
    p.add_argument("--sample-every", type=float, default=30.0,
                   help="seconds between timeline samples (phase counts, CPU, RSS; default 30)")
    p.add_argument("--cluster-name", default="raft-bench")
    p.add_argument("--out", type=Path, default=RESULTS, help="results folder (default benchmarks/results)")
    p.add_argument("--no-write", action="store_true", help="print only; write no result files")
    p.add_argument("--render", type=Path, default=None, metavar="JSON",
                   help="only re-render the report of an earlier results JSON (no cluster)")
    p.add_argument("--log-dir", type=Path, default=None,
                   help="keep the operator's and the cluster's logs (audit log included) here (default: a new temp dir)")
    args = p.parse_args(argv)
    args.idle_runs = args.runs if args.idle_runs is None else args.idle_runs
    return args


# Processes of the local cluster whose CPU the benchmark records (kwokctl's pid files).
CLUSTER_COMPONENTS = ("kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler", "kwok-controller")

# The API server's default Service range holds 253 ClusterIPs; each run has up to 3 Services at once.
EXTRA_SERVICE_CIDR = {"apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR",
                      "metadata": {"name": "bench-extra"}, "spec": {"cidrs": ["172.30.0.0/16"]}}


def results_stem(runs: int) -> str:
    """``operator_scale`` for the default 100 runs, ``operator_scale_<N>`` otherwise."""
    return "operator_scale" if runs == 100 else f"operator_scale_{runs}"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    args = parse_args(argv)
    if args.render:
        results = json.loads(args.render.read_text())
        write(results, args.out, args.no_write, results_stem(results["settings"]["runs"]))
        return 0
    command = "python benchmarks/operator_scale.py " + " ".join(shlex.quote(a) for a in recorded_args(argv))
    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command.strip(),
        "machine": machine(),
        "settings": {"runs": args.runs, "interval": args.interval, "duration": args.duration,
                     "progress_interval": args.progress_interval, "gpu_nodes": args.gpu_nodes,
                     "gpus_per_node": args.gpus_per_node,
                     "idle_window": args.idle_window, "quiet_window": args.quiet_window,
                     "idle_runs": args.idle_runs, "pending_deadline": args.pending_deadline},
        "loadavg_start": round(os.getloadavg()[0], 2),
        "notes": [],
    }
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="raft-bench-logs-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    print(f"logs (operator, cluster components, audit log) go to {log_dir}")
    with tempfile.TemporaryDirectory(prefix="raft-bench-") as tmp:
        policy = Path(tmp) / "audit-policy.yaml"
        policy.write_text(yaml.safe_dump(AUDIT_POLICY))
        cluster = LocalCluster(args.cluster_name, gpu_nodes=args.gpu_nodes, gpus_per_node=args.gpus_per_node,
                               sim_duration=args.duration,
                               sim_workers=max(1, min(16, args.runs // 50)),
                               sim_progress_interval=args.progress_interval, audit_policy=policy,
                               vllm_port=VLLM_PORT, vllm_models=(TEACHER_MODEL,), keep_logs=log_dir)
        operator: OperatorProcess | None = None
        watcher: PhaseWatcher | None = None
        timeline: Timeline | None = None
        t_start = time.monotonic()
        try:
            print(f"starting cluster {args.cluster_name} ({args.gpu_nodes} GPU nodes, audit log on)")
            cluster.start()
            if 3 * (args.runs + args.idle_runs + 1) > 250:
                cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(EXTRA_SERVICE_CIDR))
            install_chart(cluster, "replicaCount=0")
            cluster.wait_for(lambda: "Established" in cluster.kubectl(
                "get", "crd", "raftruns.raftoperator.io", "-o", "jsonpath={.status.conditions[*].type}").stdout,
                message="RaftRun CRD established")
            operator = OperatorProcess(cluster, log_dir, interval=args.interval,
                                       env={"RAFT_ENDPOINT_URL_TEMPLATE": cluster.vllm_url or ""})
            operator.start()
            watcher = PhaseWatcher(cluster)
            watcher.start()
            state = cluster.state_dir
            kwok_pids = cache_dir() / "kwok" / "clusters" / cluster.name / "pids"
            cpu = CpuMeter({
                "operator": operator.process.pid if operator.process else None,
                **{component: pid_from(kwok_pids / f"{component}.pid") for component in CLUSTER_COMPONENTS},
                "sim-controllers": pid_from(state / "sim-controllers.pid"),
                "sim-vllm-server": pid_from(state / "vllm-server.pid"),
            })
            bench = Bench(args, cluster, operator, watcher, AuditLog(cluster.audit_log_path), cpu, results)
            timeline = Timeline(watcher, cpu, bench.op_pid, every=args.sample_every)
            timeline.start()
            results["setup_s"] = round(time.monotonic() - t_start, 1)
            results["operator_rss_after_start_mib"] = round(proc_status_kib(bench.op_pid, "VmRSS") / 1024, 1)
            results["baseline"] = pipeline_phase(bench, "baseline", [("bench-base", "base")], args.timeout)
            scale = [(f"bench-{i:03d}", f"run-{i:03d}") for i in range(args.runs)]
            results["scale"] = pipeline_phase(bench, "scale", scale, args.timeout)
            results["runs_alive_during_idle"] = 1 + args.runs + args.idle_runs
            idle_phases(bench)
            results["operator_peak_rss_mib"] = round(proc_status_kib(bench.op_pid, "VmHWM") / 1024, 1)
            if operator.process and operator.process.poll() is not None:
                results["notes"].append(f"the operator exited with {operator.process.returncode}")
            results["operator_log"] = log_summary(operator.logs())
        finally:
            results["total_s"] = round(time.monotonic() - t_start, 1)
            if timeline is not None:
                timeline.stop.set()
                results["timeline"] = timeline.rows
            if watcher is not None:
                watcher.stop.set()
                results["reconcile_errors"] = dict(watcher.reconcile_errors.most_common(10))
            if operator is not None:
                operator.stop()
            cluster.stop()
    write(results, args.out, args.no_write, results_stem(args.runs))
    return 0 if (results.get("scale") or {}).get("completed") else 1


def recorded_args(argv: list[str] | None) -> list[str]:
    """The command-line arguments as recorded in the results: local folders replaced by placeholders."""
    out, args = [], list(sys.argv[1:] if argv is None else argv)
    placeholders = {"--log-dir": "DIR", "--out": "DIR"}
    while args:
        arg = args.pop(0)
        name = arg.split("=", 1)[0]
        if name in placeholders:
            out.append(f"{name}={placeholders[name]}" if "=" in arg else arg)
            if "=" not in arg and args:
                args.pop(0)
                out.append(placeholders[name])
        else:
            out.append(arg)
    return out


def write(results: dict[str, Any], out: Path, dry: bool, stem: str) -> None:
    """Print the report and write ``stem``.json and .md under ``out`` (unless ``dry``)."""
    text = report(results)
    print()
    print(text)
    if not dry:
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
        (out / f"{stem}.md").write_text(text)


if __name__ == "__main__":
    raise SystemExit(main())
