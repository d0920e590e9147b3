"""Golden files: every manifest the operator creates or patches, and every status it writes, for
each example RaftRun, walked to success on each training API. A refactor that changes a single
byte of what reaches the cluster fails here.

    RAFT_UPDATE_GOLDEN=1 pytest tests/unit/operator/test_golden_manifests.py   # rewrite after a deliberate change
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import FakeCluster

REPO_ROOT = Path(__file__).resolve().parents[3]
GOLDEN = REPO_ROOT / "tests" / "fixtures" / "golden"
EXAMPLES = sorted([*REPO_ROOT.glob("examples/*.yaml"), REPO_ROOT / "examples" / "gitops" / "runs" / "raftrun.yaml"])
SERVED = {
    "TrainJob": frozenset({"TrainJob", "PyTorchJob", "LeaderWorkerSet", "Workload"}),
    "PyTorchJob": frozenset({"PyTorchJob", "LeaderWorkerSet", "Workload"}),
}
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"


def example_runs() -> list[tuple[str, dict[str, Any]]]:
    runs = []
    for path in EXAMPLES:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "RaftRun":
                runs.append((f"{path.stem}-{doc['metadata']['name']}", doc))
    return runs


def as_body(doc: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(doc)
    name = body["metadata"]["name"]
    body["metadata"] = {"name": name, "namespace": body["metadata"].get("namespace", "team"),
                        "uid": f"uid-{name}", "generation": 1}
    body["status"] = {}
    return body


def play_controllers(c: FakeCluster) -> None:
    """Every child reaches its successful end, as its controller would report it; Kueue admits
    every queued child at once."""
    for (kind, name), obj in list(c.objects.items()):
        spec = obj.get("spec", {})
        if QUEUE_LABEL in obj["metadata"].get("labels", {}):
            (spec["runPolicy"] if kind == "PyTorchJob" else spec)["suspend"] = False
        if kind == "Deployment" and spec.get("replicas"):
            c.deployment_available(name)
        elif kind == "LeaderWorkerSet" and spec.get("replicas"):
            c.set_status(kind, name, {"replicas": spec["replicas"], "readyReplicas": spec["replicas"],
                                      "conditions": [{"type": "Available", "status": "True"}]})
        elif kind == "RayJob" and not spec.get("suspend"):
            c.rayjob(name, "Complete", "SUCCEEDED")
        elif kind == "PyTorchJob" and not spec["runPolicy"].get("suspend"):
            c.pytorchjob(name, "Succeeded")
        elif kind == "TrainJob" and not spec.get("suspend"):
            c.trainjob(name, "Complete")
        elif kind == "Job" and not spec.get("suspend"):
            c.job(name, "Complete")


def walk(body: dict[str, Any], served: frozenset[str]) -> list[dict[str, Any]]:
    """What each reconcile pass sent to the API server, until the run ends."""
    c = FakeCluster(body, served=served)
    steps = []
    for _ in range(30):
        plan = c.step()
        steps.append({
            "create": plan.create,
            "patch": [{"ref": f"{ref.kind}/{ref.name}", "patch": patch} for ref, patch in plan.patch],
            "delete": [f"{ref.kind}/{ref.name}" for ref in plan.delete],
            "status": plan.status,
        })
        if c.phase in ("Succeeded", "Failed"):
            break
        play_controllers(c)
    assert c.phase == "Succeeded", c.run["status"].get("message")
    return steps


CASES = [(f"{name}-{api}", body, api) for name, body in example_runs() for api in SERVED]


@pytest.mark.parametrize(("case", "doc", "api"), CASES, ids=[c[0] for c in CASES])
def test_example_manifests_are_unchanged(case: str, doc: dict[str, Any], api: str) -> None:
    rendered = yaml.safe_dump(walk(as_body(doc), SERVED[api]), sort_keys=True, width=120)
    path = GOLDEN / f"{case}.yaml"
    if os.environ.get("RAFT_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered)
    assert path.exists(), f"{path.name} is missing: run with RAFT_UPDATE_GOLDEN=1"
    assert rendered == path.read_text(), f"{case}: the manifests changed (RAFT_UPDATE_GOLDEN=1 rewrites them)"
