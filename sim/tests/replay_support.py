"""Replaying a recording (raft_sim.recording) against the SIMULATED controllers of a local cluster.

Only the recording's *root* objects are created: those of a kind the simulators serve and not
owned by another recorded object (a TrainJob's JobSet, a job's Kueue Workload are their
controllers' doing; the simulators make neither, so those are recorded for reference only).

A manifest from a real cluster is made to run on the simulated one without changing what the
controllers see of it:

* the recording's ``replay.annotations`` (file-level, then the object's) are added: failure
  injection for recordings of real failures;
* spec changes made before the real controller wrote any status (``after: 0``, e.g. Kueue
  admitting at once) are folded into the manifest; later ones are applied once the simulator has
  reached the state the real controller was in when the change came;
* in every pod spec the node placement is dropped (``nodeName``, ``nodeSelector``, ``affinity``,
  ``topologySpreadConstraints``, ``runtimeClassName``, ``schedulerName``): the kwok nodes are not
  the real ones;
* what pods name and the API server checks when a pod is created or scheduled is made as a
  dummy in the replay namespace: ServiceAccounts, PersistentVolumeClaims (bound by the simulated
  provisioner) and PriorityClasses (cluster-wide, value 0). ConfigMaps, Secrets and images are
  never looked at by kwok, so they are left as they are.
"""

from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

from raft_sim.recording import Obj, StatusRecorder, apply_merge_patch, compare, match_prefix, merge_patch
from raft_dev.storage import corpus_claim

# The kinds the simulated controllers serve (raft_sim.controllers; TrainJob with trainer=True).
SIMULATED_KINDS = ("RayJob", "TrainJob", "PyTorchJob", "LeaderWorkerSet")
PLACEMENT = ("nodeName", "nodeSelector", "affinity", "topologySpreadConstraints", "runtimeClassName", "schedulerName")
DEFAULT_TIMEOUT = 120.0
SETTLE = 1.5  # seconds the simulated objects must stay at their recorded end state
DEFAULT_RECORDINGS = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "recordings"


def recordings_dir() -> Path:
    """Where the recordings are: ``$RAFT_RECORDINGS_DIR``, default tests/fixtures/recordings."""
    return Path(os.environ.get("RAFT_RECORDINGS_DIR") or DEFAULT_RECORDINGS)


def recording_files() -> list[Path]:
    """The recording files (``*.json``) of :func:`recordings_dir`, sorted."""
    return sorted(recordings_dir().glob("*.json"))


def key(obj: Obj) -> tuple[str, str]:
    """(kind, name) of a recorded object."""
    return obj["kind"], obj["name"]


def root_objects(recording: Obj) -> tuple[list[Obj], list[Obj]]:
    """(the objects to replay, the objects recorded for reference only)."""
    recorded = {key(o) for o in recording["objects"]}
    roots, others = [], []
    for obj in recording["objects"]:
        owned = any((o.get("kind"), o.get("name")) in recorded for o in obj.get("owners") or [])
        (roots if obj["kind"] in SIMULATED_KINDS and not owned else others).append(obj)
    return roots, others


def pod_specs(node: Any) -> Iterator[Obj]:
    """Every pod spec (a dict with a ``containers`` list) inside a manifest."""
    if isinstance(node, dict):
        if isinstance(node.get("containers"), list):
            yield node
        for value in node.values():
            yield from pod_specs(value)
    elif isinstance(node, list):
        for value in node:
            yield from pod_specs(value)


@dataclass
class Dependencies:
    """What a manifest's pods name that must exist before they are created or scheduled."""

    service_accounts: set[str] = field(default_factory=set)
    claims: set[str] = field(default_factory=set)
    priority_classes: set[str] = field(default_factory=set)


def sanitize_spec(spec: Obj) -> tuple[Obj, Dependencies]:
    """A copy of a spec runnable on the kwok nodes, and what its pods need (module docstring)."""
    spec = copy.deepcopy(spec)
    deps = Dependencies()
    for pod in pod_specs(spec):
        for name in PLACEMENT:
            pod.pop(name, None)
        for name in (pod.get("serviceAccountName"), pod.get("serviceAccount")):
            if name:
                deps.service_accounts.add(name)
        if pod.get("priorityClassName"):
            deps.priority_classes.add(pod["priorityClassName"])
        for volume in pod.get("volumes") or []:
            if claim := (volume.get("persistentVolumeClaim") or {}).get("claimName"):
                deps.claims.add(claim)
    return spec, deps


def initial_spec(obj: Obj) -> Obj:
    """The recorded spec with the changes made before any status (``after: 0``) folded in."""
    spec = copy.deepcopy(obj["manifest"].get("spec") or {})
    for change in obj.get("specChanges") or []:
        if change["after"] == 0:
            spec = apply_merge_patch(spec, change["spec"])
    return spec


def replay_manifest(recording: Obj, obj: Obj, namespace: str) -> tuple[Obj, Dependencies]:
    """The manifest to create for a recorded root object, and what its pods need."""
    manifest = copy.deepcopy(obj["manifest"])
    manifest["spec"], deps = sanitize_spec(initial_spec(obj))
    metadata = manifest.setdefault("metadata", {})
    metadata["namespace"] = namespace
    annotations = {**((recording.get("replay") or {}).get("annotations") or {}),
                   **((obj.get("replay") or {}).get("annotations") or {})}
    if annotations:
        metadata["annotations"] = {**(metadata.get("annotations") or {}), **annotations}
    return manifest, deps


def ensure_dependencies(dyn: DynamicClient, namespace: str, deps: Dependencies) -> None:
    """Create the dummies of ``deps`` that do not exist yet."""
    wanted = [("v1", "ServiceAccount", {"metadata": {"name": n, "namespace": namespace}}) for n in deps.service_accounts]
    wanted += [("v1", "PersistentVolumeClaim", corpus_claim(n, namespace)) for n in deps.claims]
    wanted += [("scheduling.k8s.io/v1", "PriorityClass", {"metadata": {"name": n}, "value": 0})
               for n in deps.priority_classes]
    for api_version, kind, body in wanted:
        resource = dyn.resources.get(api_version=api_version, kind=kind)
        try:
            resource.create(body={"apiVersion": api_version, "kind": kind, **body},
                            namespace=namespace if resource.namespaced else None)
        except ApiException as exc:
            if exc.status != 409:
                raise


@dataclass
class Outcome:
    """One replayed object: its recorded and simulated signatures, and what was wrong (None: nothing)."""

    kind: str
    name: str
    recorded: list[Obj]
    simulated: list[Obj]
    problem: str | None

    def describe(self) -> str:
        return f"{self.kind}/{self.name}: {self.problem or 'replayed'}"


class Replay:
    """One recording replayed in ``namespace``: create the roots, follow them, judge them by
    :func:`raft_sim.recording.compare`."""

    def __init__(self, api_client: Any, namespace: str, recording: Obj) -> None:
        self.dyn = DynamicClient(api_client)
        self.api_client = api_client
        self.namespace = namespace
        self.recording = recording
        self.roots, self.reference_only = root_objects(recording)
        self.timeout = float((recording.get("replay") or {}).get("timeoutSeconds") or DEFAULT_TIMEOUT)
        self._specs: dict[tuple[str, str], Obj] = {}  # the recorded spec each object is at now (unsanitized)
        self._applied: dict[tuple[str, str], int] = {}  # how many spec changes were applied

    def run(self) -> list[Outcome]:
        """Replay every root object at once; one outcome each."""
        kinds = sorted({(o["apiVersion"], o["kind"]) for o in self.roots})
        with StatusRecorder(self.api_client, self.namespace, kinds) as recorder:
            for obj in self.roots:
                manifest, deps = replay_manifest(self.recording, obj, self.namespace)
                ensure_dependencies(self.dyn, self.namespace, deps)
                self._resource(obj).create(body=manifest, namespace=self.namespace)
                self._specs[key(obj)] = initial_spec(obj)
                self._applied[key(obj)] = sum(1 for c in obj.get("specChanges") or [] if c["after"] == 0)
            self._follow(recorder)
            return [self._outcome(obj, recorder.signatures(*key(obj))) for obj in self.roots]

    def _resource(self, obj: Obj) -> Any:
        return self.dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])

    def _follow(self, recorder: StatusRecorder) -> None:
        """Until every root sits at its recorded end state (for :data:`SETTLE` s), one strays, or the timeout."""
        deadline = time.monotonic() + self.timeout
        settled_since: float | None = None
        while time.monotonic() < deadline:
            at_end = True
            for obj in self.roots:
                recorded, simulated = obj["signatures"], recorder.signatures(*key(obj))
                passed = match_prefix(recorded, simulated)
                if passed is None:
                    return  # strayed: no need to wait for the rest
                self._apply_due_changes(obj, passed)
                pending = len(obj.get("specChanges") or []) > self._applied[key(obj)]
                at_end &= not pending and (simulated[-1:] == recorded[-1:])
            if at_end:
                settled_since = settled_since if settled_since is not None else time.monotonic()
                if time.monotonic() - settled_since >= SETTLE:
                    return
            else:
                settled_since = None
            recorder.wait_changed(0.2)

    def _apply_due_changes(self, obj: Obj, passed: int) -> None:
        """Apply the recorded spec changes whose moment (``after`` signatures) the simulator has reached."""
        changes = obj.get("specChanges") or []
        k = key(obj)
        while self._applied[k] < len(changes) and changes[self._applied[k]]["after"] <= passed:
            old = self._specs[k]
            new = apply_merge_patch(old, changes[self._applied[k]]["spec"])
            (old_clean, _), (new_clean, deps) = sanitize_spec(old), sanitize_spec(new)
            ensure_dependencies(self.dyn, self.namespace, deps)
            if patch := merge_patch(old_clean, new_clean):
                self._resource(obj).patch(body={"spec": patch}, name=obj["name"], namespace=self.namespace,
                                          content_type="application/merge-patch+json")
            self._specs[k] = new
            self._applied[k] += 1

    def _outcome(self, obj: Obj, simulated: list[Obj]) -> Outcome:
        problem = compare(obj["signatures"], simulated)
        changes = obj.get("specChanges") or []
        if problem is None and self._applied[key(obj)] < len(changes):
            problem = f"the simulator never reached the state of spec change #{self._applied[key(obj)]}"
        return Outcome(obj["kind"], obj["name"], obj["signatures"], simulated, problem)
