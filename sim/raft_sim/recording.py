"""Status recordings of the child-kind controllers: what the REAL ones did, to replay against the
SIMULATED ones (``sim/tests/test_replay.py``) so that the simulators cannot drift.

:class:`StatusRecorder` watches some kinds in one namespace (list + watch per kind, in background
threads) and keeps, for every object, the manifest it was first seen with and the ordered list of
distinct *status signatures* it went through. A signature is a small, normalized view of the
status (:data:`KINDS`, one entry per kind): times, names, counts and messages do not count, only
states and reasons. Consecutive equal signatures are collapsed; an object without status yet has
none.

========================================  ====================================================
kind (apiVersion)                         signature
========================================  ====================================================
RayJob (ray.io/v1)                        ``jobDeploymentStatus``, ``jobStatus``; ``reason``
                                          when the deployment status is Failed/ValidationFailed
TrainJob (trainer.kubeflow.org/v1alpha1)  ``conditions`` (sorted [type, status, reason]);
                                          ``jobsStatus``: {job name: its non-zero counts among
                                          active, ready, succeeded, failed}
JobSet (jobset.x-k8s.io/v1alpha2)         ``conditions``; ``terminalState``
PyTorchJob (kubeflow.org/v1)              ``conditions`` whose status is True (the training
                                          operator keeps old ones as False); ``replicaStatuses``:
                                          {replica type: its non-zero counts}
LeaderWorkerSet                           ``conditions``
(leaderworkerset.x-k8s.io/v1)
Workload (kueue.x-k8s.io/v1beta2)         ``conditions``
========================================  ====================================================

Empty parts are left out (a job whose counts are all zero has no ``jobsStatus``). A signature is
*terminal* when: RayJob Complete, Failed or ValidationFailed; TrainJob Complete or Failed True;
JobSet terminalState set; PyTorchJob Succeeded or Failed True; LeaderWorkerSet Available True;
Workload Finished True.

Recording file (JSON, ``format`` 1), written by :meth:`StatusRecorder.save`::

    {
      "format": 1,
      "source": "real",                  # "real" controllers, or "simulated" (never committed)
      "recorded_at": "2025-01-01T00:00:00Z",
      "kubernetes": "v1.33.13",          # the API server's version
      "namespace": "default",            # where it was recorded (informational)
      "recorded_with": [{"kind": "RayJob", "apiVersion": "ray.io/v1",
                         "controller": "kuberay", "version": "v1.6.2"}, ...],
      "replay": {"annotations": {...}, "timeoutSeconds": 120},   # optional, see below
      "objects": [{
        "apiVersion": "ray.io/v1", "kind": "RayJob", "name": "demo-datagen",
        "owners": [{"apiVersion": "...", "kind": "RaftRun", "name": "demo"}],
        "manifest": {...},               # as first seen: metadata only name, labels, annotations
        "signatures": [{"jobDeploymentStatus": "Initializing"}, ...],
        "specChanges": [{"after": 1, "spec": {"suspend": false}}],
        "terminal": true,                # the last signature is terminal
        "deleted": false,                # the object was deleted while recorded
        "replay": {"annotations": {...}} # optional, per object
      }]
    }

``specChanges`` are the object's spec edits seen while recording (e.g. Kueue admitting a job by
setting ``suspend: false``), each a JSON merge patch of ``spec`` made once ``after`` signatures had
been recorded. ``replay.annotations`` (file-level, then per object) are added to the manifest when
it is replayed against the simulators: the simulated controllers' failure injection
(``sim.raftoperator.io/fail: datagen`` etc., :mod:`raft_sim.controllers`) makes them fail where the
real workload really failed. :func:`compare` is the rule a replay is judged by.

Record against a live cluster (the objects must be created after the recorder started)::

    python -m raft_sim.recording --kubeconfig KUBECONFIG --namespace NS --kinds RayJob,Workload \\
        --out rayjob-complete.json --until-terminal --timeout 1800
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from raft_operator import child_kinds

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Signature = dict[str, Any]
FORMAT = 1
WATCH_SECONDS = 30  # one watch request's server-side timeout; the watch is then resumed
# Metadata that the API server or kubectl writes: never part of a replayed manifest.
DROPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)
COUNTS = ("active", "ready", "succeeded", "failed")


# --------------------------------------------------------------------------- signatures


def _text(value: Any) -> str | None:
    """A status string, with '' (unset) as None."""
    return str(value) if value not in (None, "") else None


def condition_triples(status: Obj, only_true: bool = False) -> list[list[str | None]]:
    """Sorted, distinct [type, status, reason] of ``status.conditions`` (only status True ones if asked)."""
    triples = {(_text(c.get("type")), _text(c.get("status")), _text(c.get("reason")))
               for c in status.get("conditions") or [] if not only_true or c.get("status") == "True"}
    return [list(t) for t in sorted(triples, key=lambda t: tuple(x or "" for x in t))]


def nonzero_counts(entry: Obj) -> list[str]:
    """Which of active, ready, succeeded, failed are non-zero in a counts object."""
    return [key for key in COUNTS if entry.get(key)]


def _compact(signature: Signature) -> Signature:
    """The signature without its empty parts."""
    return {k: v for k, v in signature.items() if v not in (None, "", [], {})}


def rayjob_signature(status: Obj) -> Signature:
    """KubeRay: the deployment status and the Ray job status; the reason of a failure."""
    deployment = _text(status.get("jobDeploymentStatus"))
    reason = _text(status.get("reason")) if deployment in ("Failed", "ValidationFailed") else None
    return _compact({"jobDeploymentStatus": deployment, "jobStatus": _text(status.get("jobStatus")), "reason": reason})


def trainjob_signature(status: Obj) -> Signature:
    """Kubeflow Trainer: the conditions and which counts of each child job are non-zero."""
    jobs = {str(j.get("name")): nonzero_counts(j) for j in status.get("jobsStatus") or []}
    return _compact({"conditions": condition_triples(status), "jobsStatus": {k: v for k, v in jobs.items() if v}})


def jobset_signature(status: Obj) -> Signature:
    """JobSet: the conditions and the terminal state."""
    return _compact({"conditions": condition_triples(status), "terminalState": _text(status.get("terminalState"))})


def pytorchjob_signature(status: Obj) -> Signature:
    """Training operator: the True conditions and which counts of each replica type are non-zero."""
    replicas = {str(k): nonzero_counts(v or {}) for k, v in (status.get("replicaStatuses") or {}).items()}
    return _compact({"conditions": condition_triples(status, only_true=True),
                     "replicaStatuses": {k: v for k, v in replicas.items() if v}})


def conditions_signature(status: Obj) -> Signature:
    """LeaderWorkerSet, Kueue's Workload: the conditions."""
    return _compact({"conditions": condition_triples(status)})


def _condition_true(*types: str) -> Callable[[Signature], bool]:
    def terminal(signature: Signature) -> bool:
        return any(c[0] in types and c[1] == "True" for c in signature.get("conditions") or [])
    return terminal


@dataclass(frozen=True)
class KindSpec:
    """How one kind is recorded: its API, its real controller, its signature and terminal test."""

    api_version: str
    controller: str  # the real controller's project
    version_key: str  # its pinned version in hack/cluster/versions.env
    signature: Callable[[Obj], Signature]
    terminal: Callable[[Signature], bool]
    child: bool = False  # made by another recorded kind's controller, never by a user


# The versions the operator creates and reads (child_kinds); JobSet only Trainer creates.
KINDS: dict[str, KindSpec] = {
    "RayJob": KindSpec(child_kinds.RAYJOB.api_version, "kuberay", "KUBERAY_VERSION", rayjob_signature,
                       lambda s: s.get("jobDeploymentStatus") in ("Complete", "Failed", "ValidationFailed")),
    "TrainJob": KindSpec(child_kinds.TRAINJOB.api_version, "kubeflow-trainer", "TRAINER_VERSION", trainjob_signature,
                         _condition_true("Complete", "Failed")),
    "JobSet": KindSpec("jobset.x-k8s.io/v1alpha2", "jobset", "JOBSET_VERSION", jobset_signature,
                       lambda s: bool(s.get("terminalState")), child=True),
    "PyTorchJob": KindSpec(child_kinds.PYTORCHJOB.api_version, "training-operator", "TRAINING_OPERATOR_VERSION", pytorchjob_signature,
                           _condition_true("Succeeded", "Failed")),
    "LeaderWorkerSet": KindSpec(child_kinds.LEADER_WORKER_SET.api_version, "lws", "LWS_VERSION", conditions_signature,
                                _condition_true("Available")),
    "Workload": KindSpec(child_kinds.WORKLOAD.api_version, "kueue", "KUEUE_VERSION", conditions_signature,
                         _condition_true("Finished"), child=True),
}


def kind_spec(kind: str) -> KindSpec:
    """The recording rules of ``kind`` (ValueError for a kind not in :data:`KINDS`)."""
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"no signature for kind {kind!r} (one of: {', '.join(KINDS)})") from None


def signature(kind: str, obj: Obj) -> Signature:
    """The status signature of ``obj`` (a ``kind``); {} when it has no status yet."""
    return kind_spec(kind).signature(obj.get("status") or {})


def is_terminal(kind: str, sig: Signature) -> bool:
    """Whether ``sig`` is an end state of ``kind``."""
    return bool(sig) and kind_spec(kind).terminal(sig)


def collapse(signatures: Iterable[Signature]) -> list[Signature]:
    """The signatures without empty ones and without consecutive repeats."""
    out: list[Signature] = []
    for sig in signatures:
        if sig and (not out or out[-1] != sig):
            out.append(sig)
    return out


# --------------------------------------------------------------------------- the replay rule


def match_prefix(recorded: Sequence[Signature], simulated: Sequence[Signature]) -> int | None:
    """How many recorded signatures ``simulated`` has passed (matched greedily in order), or None
    when ``simulated`` is not a subsequence of ``recorded``."""
    position = 0
    for sig in simulated:
        while position < len(recorded) and recorded[position] != sig:
            position += 1
        if position == len(recorded):
            return None
        position += 1
    return position


def compare(recorded: Sequence[Signature], simulated: Sequence[Signature]) -> str | None:
    """Why a simulated sequence does not replay a recorded one, or None when it does.

    The rule: the last signatures are equal (the same end state, for the same reason), and the
    simulated sequence is a subsequence of the recorded one: the simulator may skip an
    intermediate state the real controller went through (one it held too briefly to matter, or a
    count the real controller updates in more steps), but it must never show a state the real
    controller did not, nor show states in another order.
    """
    if not recorded and not simulated:
        return None
    if not simulated:
        return f"the simulator wrote no status; the real controller ended at {recorded[-1]}"
    if not recorded:
        return f"the real controller wrote no status; the simulator wrote {list(simulated)}"
    for index in range(len(simulated)):
        if match_prefix(recorded, simulated[:index + 1]) is None:
            rest = recorded[match_prefix(recorded, simulated[:index]) or 0:]
            return (f"simulated signature #{index} {simulated[index]} is not in the rest of the recorded sequence "
                    f"{list(rest)} (recorded: {list(recorded)}; simulated: {list(simulated)})")
    if simulated[-1] != recorded[-1]:
        return f"ends at {simulated[-1]}, the real controller at {recorded[-1]} (simulated: {list(simulated)})"
    return None


# --------------------------------------------------------------------------- manifests


def clean_manifest(obj: Obj) -> Obj:
    """``obj`` as it can be created again: metadata only name, labels and annotations; no status."""
    meta = obj.get("metadata") or {}
    metadata: Obj = {"name": meta.get("name")}
    if meta.get("labels"):
        metadata["labels"] = dict(meta["labels"])
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in DROPPED_ANNOTATIONS}
    if annotations:
        metadata["annotations"] = annotations
    body = {k: copy.deepcopy(v) for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata", "status")}
    return {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": metadata, **body}


def owners(obj: Obj) -> list[Obj]:
    """The object's ownerReferences as apiVersion, kind, name (no uids: they never replay)."""
    return [{"apiVersion": r.get("apiVersion"), "kind": r.get("kind"), "name": r.get("name")}
            for r in (obj.get("metadata") or {}).get("ownerReferences") or []]


def merge_patch(old: Any, new: Any) -> Any:
    """The JSON merge patch (RFC 7386) that turns ``old`` into ``new`` (lists are replaced whole)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return copy.deepcopy(new)
    patch: Obj = {key: None for key in old if key not in new}
    for key, value in new.items():
        if key not in old:
            patch[key] = copy.deepcopy(value)
        elif isinstance(value, dict) and isinstance(old[key], dict):
            if sub := merge_patch(old[key], value):
                patch[key] = sub
        elif value != old[key]:
            patch[key] = copy.deepcopy(value)
    return patch


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """``target`` with the JSON merge patch ``patch`` applied (a new object)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


# --------------------------------------------------------------------------- one object


@dataclass
class ObjectRecord:
    """What was seen of one object: its first manifest, its signatures and its spec changes."""

    api_version: str
    kind: str
    name: str
    manifest: Obj
    owners: list[Obj]
    signatures: list[Signature] = field(default_factory=list)
    spec_changes: list[Obj] = field(default_factory=list)
    deleted: bool = False
    _spec: Any = None

    @classmethod
    def first(cls, kind: str, obj: Obj) -> "ObjectRecord":
        """The record of an object seen for the first time (its first signature included)."""
        record = cls(obj.get("apiVersion") or kind_spec(kind).api_version, kind, obj["metadata"]["name"],
                     clean_manifest(obj), owners(obj), _spec=copy.deepcopy(obj.get("spec")))
        record.observe(obj)
        return record

    def observe(self, obj: Obj) -> bool:
        """Note the object's current state; whether that added a signature."""
        spec = obj.get("spec")
        if spec != self._spec:
            self.spec_changes.append({"after": len(self.signatures), "spec": merge_patch(self._spec or {}, spec or {})})
            self._spec = copy.deepcopy(spec)
        sig = signature(self.kind, obj)
        if sig and (not self.signatures or self.signatures[-1] != sig):
            self.signatures.append(sig)
            return True
        return False

    @property
    def terminal(self) -> bool:
        """Whether the last signature is an end state."""
        return bool(self.signatures) and is_terminal(self.kind, self.signatures[-1])

    def to_dict(self) -> Obj:
        """The object's entry of a recording file."""
        return {"apiVersion": self.api_version, "kind": self.kind, "name": self.name, "owners": self.owners,
                "manifest": self.manifest, "signatures": self.signatures, "specChanges": self.spec_changes,
                "terminal": self.terminal, "deleted": self.deleted}


# --------------------------------------------------------------------------- the recorder


def _stamp() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class StatusRecorder:
    """Records the status signatures of ``kinds`` in ``namespace`` while started (see the module docstring).

    ``client`` is a ``kubernetes.client.ApiClient`` or a kubeconfig path. ``kinds`` are kind names
    of :data:`KINDS` or (apiVersion, kind) pairs (to record another served version). Kinds the
    cluster does not serve are left out (:attr:`unserved`). Use it as a context manager, or
    :meth:`start` and :meth:`stop`.
    """

    def __init__(self, client: Any, namespace: str, kinds: Iterable[str | tuple[str, str]],
                 watch_seconds: int = WATCH_SECONDS, name_prefix: str = "") -> None:
        from kubernetes import config as kube_config
        from kubernetes.dynamic import DynamicClient

        if isinstance(client, (str, Path)):
            client = kube_config.new_client_from_config(config_file=str(client))
        self.api_client = client
        self.dyn = DynamicClient(client)
        self.namespace = namespace
        self.name_prefix = name_prefix  # only objects so named: others of the namespace are not the scenario's
        self.kinds: dict[str, str] = {}
        for entry in kinds:
            api_version, kind = (kind_spec(entry).api_version, entry) if isinstance(entry, str) else entry
            kind_spec(kind)
            self.kinds[kind] = api_version
        self.watch_seconds = watch_seconds
        self.unserved: list[str] = []
        self.synced = threading.Event()  # every served kind was listed once
        self._records: dict[tuple[str, str], ObjectRecord] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._watchers: list[Any] = []
        self._pending = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "StatusRecorder":
        """Start one list + watch thread per served kind; returns self once every kind was listed."""
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        resources = []
        for kind, api_version in self.kinds.items():
            try:
                resources.append((kind, self.dyn.resources.get(api_version=api_version, kind=kind)))
            except ResourceNotFoundError:
                log.warning("%s (%s) is not served here: not recorded", kind, api_version)
                self.unserved.append(kind)
        self._pending = len(resources)
        if not resources:
            self.synced.set()
        for kind, resource in resources:
            threading.Thread(target=self._run, args=(kind, resource), name=f"record-{kind}", daemon=True).start()
        self.synced.wait(60)
        return self

    def stop(self) -> None:
        """Stop following the kinds (the watch threads end with their current request)."""
        self._stop.set()
        for watcher in list(self._watchers):
            watcher.stop()

    def __enter__(self) -> "StatusRecorder":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ reading

    def records(self) -> list[ObjectRecord]:
        """Copies of the objects' records, in the order they were first seen."""
        with self._lock:
            return [copy.deepcopy(r) for r in self._records.values()]

    def record(self, kind: str, name: str) -> ObjectRecord | None:
        """A copy of one object's record, or None when it was not seen."""
        with self._lock:
            found = self._records.get((kind, name))
            return copy.deepcopy(found) if found is not None else None

    def signatures(self, kind: str, name: str) -> list[Signature]:
        """The signatures one object went through so far ([] when it was not seen)."""
        with self._lock:
            found = self._records.get((kind, name))
            return [dict(s) for s in found.signatures] if found is not None else []

    def wait_changed(self, timeout: float) -> None:
        """Block until a signature or object is added, or ``timeout`` seconds pass."""
        with self._changed:
            self._changed.wait(timeout)

    def done(self, expect: Iterable[str] = ()) -> bool:
        """Whether every kind of ``expect`` has an object and every object ended (or was deleted)."""
        with self._lock:
            seen = {kind for kind, _ in self._records}
            return set(expect) <= seen and bool(self._records) and all(
                r.terminal or r.deleted for r in self._records.values())

    def wait_until_done(self, timeout: float, expect: Iterable[str] = (), settle: float = 3.0,
                        interrupted: threading.Event | None = None) -> bool:
        """Wait until :meth:`done` held for ``settle`` seconds (late status updates are recorded too);
        False on timeout or when ``interrupted`` is set."""
        expect = list(expect)
        deadline = time.monotonic() + timeout
        done_since: float | None = None
        while time.monotonic() < deadline and not (interrupted is not None and interrupted.is_set()):
            if self.done(expect):
                done_since = done_since if done_since is not None else time.monotonic()
                if time.monotonic() - done_since >= settle:
                    return True
            else:
                done_since = None
            self.wait_changed(0.25)
        return False

    # ------------------------------------------------------------------ saving

    def to_dict(self, source: str = "real", replay: Obj | None = None) -> Obj:
        """The recording (see the module docstring); ``source`` says whose controllers ran."""
        try:
            from .versions import pinned_versions

            versions = pinned_versions()
        except OSError:
            versions = {}
        try:
            from kubernetes.client import VersionApi

            server = VersionApi(self.api_client).get_code().git_version
        except Exception:  # noqa: BLE001 - informational only
            server = None
        recording: Obj = {
            "format": FORMAT, "source": source, "recorded_at": _stamp(), "kubernetes": server,
            "namespace": self.namespace,
            "recorded_with": [{"kind": kind, "apiVersion": api_version, "controller": KINDS[kind].controller,
                               "version": versions.get(KINDS[kind].version_key)}
                              for kind, api_version in self.kinds.items() if kind not in self.unserved],
        }
        if replay:
            recording["replay"] = replay
        recording["objects"] = [r.to_dict() for r in self.records()]
        return recording

    def save(self, path: str | Path, source: str = "real", replay: Obj | None = None) -> Obj:
        """Write the recording to ``path`` as JSON; returns it."""
        recording = self.to_dict(source, replay)
        Path(path).write_text(json.dumps(recording, indent=1) + "\n")
        return recording

    # ------------------------------------------------------------------ the watch

    def _observe(self, kind: str, obj: Obj) -> None:
        name = (obj.get("metadata") or {}).get("name")
        if not name or not name.startswith(self.name_prefix):
            return
        obj.setdefault("apiVersion", self.kinds[kind])
        obj.setdefault("kind", kind)
        with self._changed:
            record = self._records.get((kind, name))
            if record is None or record.deleted:  # deleted and made again: a new object
                self._records[(kind, name)] = ObjectRecord.first(kind, obj)
                changed = True
            else:
                changed = record.observe(obj)
            if changed:
                self._changed.notify_all()

    def _deleted(self, kind: str, names: Iterable[str]) -> None:
        with self._changed:
            for name in names:
                if (record := self._records.get((kind, name))) is not None:
                    record.deleted = True
            self._changed.notify_all()

    def _listed(self) -> None:
        with self._lock:
            self._pending -= 1
            if self._pending <= 0:
                self.synced.set()

    def _run(self, kind: str, resource: Any) -> None:
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        version: str | None = None
        first = True
        while not self._stop.is_set():
            try:
                if version is None:
                    listing = resource.get(namespace=self.namespace).to_dict()
                    names = set()
                    for item in listing.get("items") or []:
                        names.add(item["metadata"]["name"])
                        self._observe(kind, item)
                    with self._lock:
                        gone = [n for (k, n), r in self._records.items() if k == kind and n not in names and not r.deleted]
                    self._deleted(kind, gone)
                    version = listing["metadata"]["resourceVersion"]
                    if first:
                        first = False
                        self._listed()
                watcher = watch.Watch()
                self._watchers.append(watcher)
                try:
                    version = self._follow(kind, resource, version, watcher)
                finally:
                    self._watchers.remove(watcher)
            except ApiException as exc:
                version = None
                if exc.status != 410:
                    log.debug("watch %s: %s", kind, exc)
                    time.sleep(1.0)
            except Exception as exc:  # noqa: BLE001 - keep recording through API hiccups
                version = None
                if not self._stop.is_set():
                    log.debug("watch %s restarting: %s", kind, exc)
                    time.sleep(1.0)

    def _follow(self, kind: str, resource: Any, version: str, watcher: Any) -> str | None:
        """One watch request from ``version``; the version to resume from (None: list again)."""
        for event in self.dyn.watch(resource, namespace=self.namespace, resource_version=version,
                                    timeout=self.watch_seconds, watcher=watcher):
            raw = event["raw_object"]
            if event["type"] == "ERROR":
                return None
            version = (raw.get("metadata") or {}).get("resourceVersion") or version
            if event["type"] == "DELETED":
                self._deleted(kind, [raw["metadata"]["name"]])
            elif event["type"] in ("ADDED", "MODIFIED"):
                self._observe(kind, raw)
            if self._stop.is_set():
                break
        return version


# --------------------------------------------------------------------------- files


def load(path: str | Path) -> Obj:
    """A recording file, checked for its format (ValueError when it is not one)."""
    recording = json.loads(Path(path).read_text())
    if recording.get("format") != FORMAT or not isinstance(recording.get("objects"), list):
        raise ValueError(f"{path}: not a format-{FORMAT} recording")
    for obj in recording["objects"]:
        kind_spec(obj["kind"])
    return recording


# --------------------------------------------------------------------------- command line


def _annotations(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"--replay-annotation needs KEY=VALUE, not {pair!r}")
        out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m raft_sim.recording``: record until done, timeout or a signal, then save."""
    parser = argparse.ArgumentParser(
        prog="python -m raft_sim.recording",
        description="Record the status signatures of child kinds in a namespace (see the module docstring).")
    parser.add_argument("--kubeconfig", help="kubeconfig path (default: ~/.kube/config or in-cluster)")
    parser.add_argument("--namespace", required=True, help="the namespace to record")
    parser.add_argument("--kinds", required=True, help=f"comma-separated kinds, of: {', '.join(KINDS)}")
    parser.add_argument("--out", required=True, help="the recording file to write (JSON)")
    parser.add_argument("--until-terminal", action="store_true",
                        help="stop once every object ended (see --expect), held for --settle seconds")
    parser.add_argument("--expect", default=None,
                        help="kinds that must have an object before stopping (default: the non-child kinds of --kinds)")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds to keep recording once all ended (default 3)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds to record at most (default 3600)")
    parser.add_argument("--source", choices=("real", "simulated"), default="real",
                        help="whose controllers ran (default real; simulated recordings are for development only)")
    parser.add_argument("--replay-annotation", action="append", default=[], metavar="KEY=VALUE",
                        help="an annotation the replay adds to every manifest (e.g. sim.raftoperator.io/fail=datagen)")
    parser.add_argument("--name-prefix", default="", help="record only the objects whose names start with this")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    try:
        for kind in kinds:
            kind_spec(kind)
        replay_annotations = _annotations(args.replay_annotation)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        parser.error(str(exc))
    expect = ([k.strip() for k in args.expect.split(",") if k.strip()] if args.expect is not None
              else [k for k in kinds if not KINDS[k].child])

    if args.kubeconfig:
        client: Any = args.kubeconfig
    else:
        from kubernetes import client as kube_client, config as kube_config

        try:
            kube_config.load_kube_config()
        except kube_config.ConfigException:
            kube_config.load_incluster_config()
        client = kube_client.ApiClient()
    interrupted = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: interrupted.set())

    recorder = StatusRecorder(client, args.namespace, kinds, name_prefix=args.name_prefix).start()
    expect = [k for k in expect if k not in recorder.unserved]
    log.info("recording %s in %s (served: %s)", ",".join(kinds), args.namespace,
             ",".join(k for k in kinds if k not in recorder.unserved) or "none")
    if args.until_terminal:
        finished = recorder.wait_until_done(args.timeout, expect, args.settle, interrupted)
    else:
        interrupted.wait(args.timeout)
        finished = True
    recorder.stop()
    recording = recorder.save(args.out, args.source,
                              {"annotations": replay_annotations} if replay_annotations else None)
    for obj in recording["objects"]:
        states = " → ".join(json.dumps(s, separators=(",", ":")) for s in obj["signatures"]) or "(no status)"
        log.info("%s/%s%s: %s", obj["kind"], obj["name"], " (deleted)" if obj["deleted"] else "", states)
    log.info("wrote %s (%d objects)", args.out, len(recording["objects"]))
    if not finished:
        log.error("stopped before every object ended (timeout or signal); the recording is incomplete")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
