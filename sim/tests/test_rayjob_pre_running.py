"""The SIMULATED KubeRay honours preRunningDeadlineSeconds: a Ray cluster that never runs fails."""

from __future__ import annotations

import pytest

from raft_dev.cluster import LocalCluster

from cluster_manifests import rayjob

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_unschedulable_ray_cluster_fails_with_pre_running_deadline_exceeded(cluster: LocalCluster, namespace: str) -> None:
    body = rayjob("stuck", workers=1, gpus=64)  # no node has 64 GPUs: the workers stay Pending
    body["spec"]["preRunningDeadlineSeconds"] = 3
    cluster.apply(body, namespace)
    cluster.wait_for(lambda: (cluster.kubectl_json("get", "rayjob", "stuck", "-n", namespace).get("status") or {})
                     .get("jobDeploymentStatus") == "Failed", timeout=60, message="RayJob Failed")
    status = cluster.kubectl_json("get", "rayjob", "stuck", "-n", namespace)["status"]
    assert status["reason"] == "PreRunningDeadlineExceeded" and "preRunningDeadlineSeconds" in status["message"]
