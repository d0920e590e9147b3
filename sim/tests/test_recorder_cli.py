"""``python -m raft_sim.recording`` against the simulated cluster: records until every object ended,
or until SIGTERM, and writes the recording either way."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from raft_dev.cluster import LocalCluster
from raft_sim.recording import load

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def rayjob(name: str, suspend: bool = False) -> dict:
    pod = {"spec": {"containers": [{"name": "ray", "image": "example.invalid/ray:0",
                                    "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]}}
    return {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": name},
            "spec": {"entrypoint": "python -c pass", "suspend": suspend,
                     "rayClusterSpec": {"headGroupSpec": {"rayStartParams": {}, "template": pod}}}}


def start(cluster: LocalCluster, namespace: str, out: Path, *extra: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "raft_sim.recording", "--kubeconfig", str(cluster.kubeconfig), "--namespace", namespace,
         "--kinds", "RayJob,Workload", "--out", str(out), "--source", "simulated", "--settle", "1", *extra],
        stderr=subprocess.PIPE, text=True)
    time.sleep(2.5)  # listed and watching (the objects must come after)
    return proc


def test_records_until_every_object_ended(cluster: LocalCluster, namespace: str, tmp_path: Path) -> None:
    out = tmp_path / "rayjob.json"
    proc = start(cluster, namespace, out, "--until-terminal", "--timeout", "90",
                 "--replay-annotation", "sim.raftoperator.io/duration-seconds=1")
    cluster.apply(rayjob("rec-ok"), namespace)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "Workload (kueue.x-k8s.io/v1beta2) is not served here" in err
    recording = load(out)
    assert recording["source"] == "simulated" and recording["namespace"] == namespace
    assert recording["replay"] == {"annotations": {"sim.raftoperator.io/duration-seconds": "1"}}
    assert [w["kind"] for w in recording["recorded_with"]] == ["RayJob"]
    (obj,) = recording["objects"]
    assert obj["signatures"] == [{"jobDeploymentStatus": "Initializing"},
                                 {"jobDeploymentStatus": "Running", "jobStatus": "RUNNING"},
                                 {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"}]
    assert obj["terminal"] and obj["manifest"]["metadata"] == {"name": "rec-ok"}


def test_sigterm_writes_what_was_recorded(cluster: LocalCluster, namespace: str, tmp_path: Path) -> None:
    out = tmp_path / "suspended.json"
    proc = start(cluster, namespace, out, "--until-terminal", "--timeout", "90")
    cluster.apply(rayjob("rec-held", suspend=True), namespace)
    cluster.wait_for(lambda: "Suspended" in cluster.kubectl("get", "rayjob", "rec-held", "-n", namespace,
                                                            "-o", "jsonpath={.status.jobDeploymentStatus}").stdout)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and "incomplete" in err
    (obj,) = load(out)["objects"]
    assert obj["signatures"] == [{"jobDeploymentStatus": "Suspended"}] and not obj["terminal"]
