"""The SIMULATED LeaderWorkerSet: groups of a leader and workers, ready groups, scale to zero."""

from __future__ import annotations

import pytest

from raft_dev.cluster import LocalCluster

from cluster_manifests import leaderworkerset

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_groups_of_pods_become_ready_and_scale_to_zero(cluster: LocalCluster, namespace: str) -> None:
    cluster.apply(leaderworkerset("teacher", replicas=2, size=2), namespace)
    cluster.kubectl("wait", "-n", namespace, "--for=condition=Available", "lws/teacher", "--timeout=60s")
    status = cluster.kubectl_json("get", "lws", "teacher", "-n", namespace)["status"]
    assert status["readyReplicas"] == 2 and status["replicas"] == 2
    pods = {p["metadata"]["name"]: p for p in cluster.kubectl_json("get", "pods", "-n", namespace)["items"]}
    assert set(pods) == {"teacher-0", "teacher-0-1", "teacher-1", "teacher-1-1"}
    leader, worker = pods["teacher-1"], pods["teacher-1-1"]
    assert leader["metadata"]["labels"]["role"] == "leader" and worker["metadata"]["labels"]["role"] == "worker"
    assert worker["metadata"]["labels"]["leaderworkerset.sigs.k8s.io/worker-index"] == "1"
    env = {e["name"]: e["value"] for e in worker["spec"]["containers"][0]["env"]}
    assert env["LWS_LEADER_ADDRESS"] == f"teacher-1.teacher.{namespace}" and env["LWS_GROUP_SIZE"] == "2"
    cluster.kubectl("scale", "-n", namespace, "lws/teacher", "--replicas=0")
    cluster.wait_for(lambda: not [p for p in cluster.kubectl_json("get", "pods", "-n", namespace)["items"]
                                  if not p["metadata"].get("deletionTimestamp")], timeout=60, message="pods gone")
