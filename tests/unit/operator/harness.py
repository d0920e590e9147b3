"""An in-memory stand-in for the API server's object store, to drive the pure reconciler in tests.

It applies a plan the way the API server would (create-if-absent, merge patch, delete) and
lets a test set children's status the way their controllers would.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from raft_operator.observed import Observed, summarize
from raft_operator.reconciler import Plan, reconcile

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """RFC 7386 merge patch, in place."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def raftrun(name: str = "demo", spec: dict[str, Any] | None = None, **spec_overrides: Any) -> dict[str, Any]:
    """A RaftRun body with a small valid spec."""
    body_spec = spec or {
        "corpus": {"volume": {"claimName": "docs"}},
        "teacher": {"vllm": {"model": "meta-llama/Meta-Llama-3-70B-Instruct", "tensorParallelSize": 4}},
        "student": {"baseModel": "meta-llama/Meta-Llama-3-8B-Instruct", "nodes": 2, "gpusPerNode": 8},
        "storage": {"size": "500Gi"},
    }
    body_spec.update(spec_overrides)
    return {"apiVersion": "raftoperator.io/v1alpha1", "kind": "RaftRun",
            "metadata": {"name": name, "namespace": "team", "uid": f"uid-{name}", "generation": 1},
            "spec": body_spec, "status": {}}


class FakeCluster:
    """Objects by (kind, name); the RaftRun's status is updated from each plan."""

    def __init__(self, run: dict[str, Any], probe_ok: bool = True, served: frozenset[str] | None = None) -> None:
        self.run = run
        self.served = served  # optional kinds the cluster serves (None: unknown)
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.creates: list[tuple[str, str]] = []
        self.events: list[tuple[str, str, str]] = []
        self.now = T0
        self.probe_ok = probe_ok
        self.probes = 0
        self.last_plan: Plan | None = None
        self.missing: list[str] | None = None  # what the preflight reports (None: not checked)
        # Passed to reconcile only when a test sets them (else the reconciler's defaults hold).
        self.addons: dict[str, str] | None = None  # kind → why its add-on is too old
        self.kueue_pods_ready_seconds: int | None = None  # the operator setting

    def probe(self) -> tuple[bool, str]:
        self.probes += 1
        return (True, "ok") if self.probe_ok else (False, "connection refused")

    def observed(self) -> Observed:
        return Observed.from_summaries([summarize(o) for o in self.objects.values()])

    def step(self, seconds: float = 10) -> Plan:
        """One reconcile, applied."""
        self.now += dt.timedelta(seconds=seconds)
        extra: dict[str, Any] = {}
        if self.addons is not None:
            extra["addons"] = self.addons
        if self.kueue_pods_ready_seconds is not None:
            extra["kueue_pods_ready_seconds"] = self.kueue_pods_ready_seconds
        plan = reconcile(copy.deepcopy(self.run), self.observed(), self.now, self.probe, missing=self.missing,
                         served=self.served, **extra)
        for manifest in plan.create:
            key = (manifest["kind"], manifest["metadata"]["name"])
            assert key not in self.objects, f"created twice: {key}"
            self.objects[key] = copy.deepcopy(manifest)
            self.creates.append(key)
        for ref, patch in plan.patch:
            merge(self.objects[(ref.kind, ref.name)], patch)
        for ref in plan.delete:
            self.objects.pop((ref.kind, ref.name), None)
        self.run["status"] = copy.deepcopy(plan.status)
        self.events += [(e.type, e.reason, e.message) for e in plan.events]
        self.last_plan = plan
        return plan

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((kind, name))

    def set_status(self, kind: str, name: str, status: dict[str, Any]) -> None:
        self.objects[(kind, name)]["status"] = status

    @property
    def phase(self) -> str:
        return self.run["status"].get("phase")

    def condition(self, ctype: str) -> dict[str, Any]:
        return next(c for c in self.run["status"]["conditions"] if c["type"] == ctype)

    # What the children's controllers would write.
    def deployment_available(self, name: str) -> None:
        replicas = self.objects[("Deployment", name)]["spec"]["replicas"]
        self.set_status("Deployment", name, {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
                                             "conditions": [{"type": "Available", "status": "True"}]})

    def rayjob(self, name: str, deployment: str, job: str, message: str = "") -> None:
        self.set_status("RayJob", name, {"jobDeploymentStatus": deployment, "jobStatus": job, "message": message})

    def pytorchjob(self, name: str, ctype: str, message: str = "", reason: str = "") -> None:
        self.set_status("PyTorchJob", name, {"conditions": [
            {"type": "Created", "status": "True"},
            {"type": ctype, "status": "True", "reason": reason or f"PyTorchJob{ctype}", "message": message}]})

    def trainjob(self, name: str, ctype: str, message: str = "", reason: str = "") -> None:
        """Kubeflow Trainer's conditions: Complete or Failed (Suspended while suspended)."""
        self.set_status("TrainJob", name, {"conditions": [
            {"type": ctype, "status": "True", "reason": reason or ctype, "message": message}],
            "jobsStatus": [{"name": "node", "ready": 0, "succeeded": 0, "failed": 0, "active": 0, "suspended": 0}]})

    def job(self, name: str, ctype: str, message: str = "", reason: str = "") -> None:
        self.set_status("Job", name, {"conditions": [{"type": ctype, "status": "True", "reason": reason, "message": message}]})

    def progress(self, key: str, value: str) -> None:
        self.objects[("ConfigMap", f"{self.run['metadata']['name']}-progress")].setdefault("data", {})[key] = value
