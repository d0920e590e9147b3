"""How a recorded manifest is prepared for the simulated cluster (replay_support); no cluster."""

from __future__ import annotations

from typing import Any

from replay_support import replay_manifest, root_objects, sanitize_spec


def recorded(kind: str, name: str, owners: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "x/v1", "kind": kind, "name": name, "owners": owners or [],
            "manifest": {"apiVersion": "x/v1", "kind": kind, "metadata": {"name": name}, "spec": {}},
            "signatures": [], "specChanges": [], **extra}


def test_only_roots_of_simulated_kinds_replay() -> None:
    rayjob = recorded("RayJob", "dg", [{"apiVersion": "raftoperator.io/v1alpha1", "kind": "RaftRun", "name": "demo"}])
    workload = recorded("Workload", "rayjob-dg-1", [{"apiVersion": "ray.io/v1", "kind": "RayJob", "name": "dg"}])
    trainjob = recorded("TrainJob", "ft")
    jobset = recorded("JobSet", "ft", [{"apiVersion": "x/v1", "kind": "TrainJob", "name": "ft"}])
    roots, others = root_objects({"objects": [rayjob, workload, trainjob, jobset]})
    assert [o["kind"] for o in roots] == ["RayJob", "TrainJob"]
    assert [o["kind"] for o in others] == ["Workload", "JobSet"]


def test_pod_specs_lose_their_placement_and_name_their_dependencies() -> None:
    pod = {"serviceAccountName": "raft-demo", "priorityClassName": "high", "nodeName": "raft-node",
           "nodeSelector": {"kubernetes.io/hostname": "raft-node"}, "affinity": {"nodeAffinity": {}},
           "runtimeClassName": "nvidia", "tolerations": [{"key": "gpu"}],
           "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "ci-data"}},
                       {"name": "cfg", "configMap": {"name": "demo-config"}}],
           "containers": [{"name": "main", "image": "localhost/x:local"}]}
    spec = {"rayClusterSpec": {"headGroupSpec": {"template": {"spec": pod}},
                               "workerGroupSpecs": [{"template": {"spec": {**pod, "serviceAccountName": "other"}}}]}}
    clean, deps = sanitize_spec(spec)
    head = clean["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    assert set(head) == {"serviceAccountName", "priorityClassName", "tolerations", "volumes", "containers"}
    assert deps.service_accounts == {"raft-demo", "other"}
    assert deps.claims == {"ci-data"} and deps.priority_classes == {"high"}
    assert "nodeName" in spec["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]  # the recording is left alone


def test_manifest_gets_replay_annotations_and_early_spec_changes() -> None:
    obj = recorded("RayJob", "dg", specChanges=[{"after": 0, "spec": {"suspend": False}},
                                                {"after": 2, "spec": {"suspend": True}}],
                   replay={"annotations": {"sim.raftoperator.io/fail-message": "object's"}})
    obj["manifest"]["metadata"]["annotations"] = {"team": "a"}
    obj["manifest"]["spec"] = {"suspend": True, "entrypoint": "x"}
    rec = {"replay": {"annotations": {"sim.raftoperator.io/fail": "datagen", "sim.raftoperator.io/fail-message": "file's"}},
           "objects": [obj]}
    manifest, _ = replay_manifest(rec, obj, "ns")
    assert manifest["metadata"] == {"name": "dg", "namespace": "ns", "annotations": {
        "team": "a", "sim.raftoperator.io/fail": "datagen", "sim.raftoperator.io/fail-message": "object's"}}
    assert manifest["spec"] == {"suspend": False, "entrypoint": "x"}  # only the change made before any status
