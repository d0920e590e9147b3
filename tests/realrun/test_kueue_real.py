"""The run under the real Kueue (v0.19, its defaults), through a LocalQueue named ``default``.

The RaftRun names no queue. Kueue's default LocalQueue takes its children anyway: it labels
them and gates or suspends them until the ClusterQueue has quota. The run must:
* wait while the ClusterQueue has no GPU quota, saying so, holding no GPU, and not fail (its
  pending deadline is 10 s);
* with quota for the teacher only, keep its RayJob suspended and waiting, saying so;
* run once the quota is raised, Kueue (not the operator) un-suspending the queued RayJob;
* say so in a condition when the teacher's start-up timeout is longer than Kueue's
  waitForPodsReady timeout;
* when deleted mid-run, leave no child, no Workload, and no quota held.
"""

from __future__ import annotations

import json
import time

import pytest

from realrun_support import manifest

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

RUN = "q"
CLUSTER_QUEUE = "ci-cq"
KUEUE = "kueue.x-k8s.io/v1beta2"


def queue_objects(gpus: int, namespace: str, cpu: str = "64") -> list[dict]:
    """A flavor, a ClusterQueue with ``gpus`` of GPU and ``cpu`` of CPU quota, and the namespace's LocalQueue ``default``."""
    return [
        {"apiVersion": KUEUE, "kind": "ResourceFlavor", "metadata": {"name": "ci-flavor"}},
        {"apiVersion": KUEUE, "kind": "ClusterQueue", "metadata": {"name": CLUSTER_QUEUE},
         "spec": {"namespaceSelector": {}, "resourceGroups": [{
             "coveredResources": ["cpu", "memory", "nvidia.com/gpu"],
             "flavors": [{"name": "ci-flavor", "resources": [
                 {"name": "cpu", "nominalQuota": cpu}, {"name": "memory", "nominalQuota": "512Gi"},
                 {"name": "nvidia.com/gpu", "nominalQuota": str(gpus)}]}]}]}},
        {"apiVersion": KUEUE, "kind": "LocalQueue", "metadata": {"name": "default", "namespace": namespace},
         "spec": {"clusterQueue": CLUSTER_QUEUE}},
    ]


def condition(status: dict, kind: str) -> dict:
    return next((c for c in status.get("conditions") or [] if c["type"] == kind), {})


@pytest.fixture(scope="module")
def queued(stack):
    """The stack with the default LocalQueue on a ClusterQueue without GPU quota; removed after."""
    stack, _ = stack
    stack.cluster.apply(queue_objects(0, stack.namespace))
    yield stack
    stack.cluster.kubectl("delete", "raftrun", RUN, "-n", stack.namespace, "--ignore-not-found", "--wait=true",
                          "--timeout=120s", check=False)
    stack.cluster.kubectl("delete", "localqueue", "default", "-n", stack.namespace, "--ignore-not-found", check=False)
    stack.cluster.kubectl("delete", "clusterqueue", CLUSTER_QUEUE, "--ignore-not-found", check=False)
    stack.cluster.kubectl("delete", "resourceflavor", "ci-flavor", "--ignore-not-found", check=False)


def run_status(stack) -> dict:
    return stack.get(RUN).get("status") or {}


def wait(stack, what: str, predicate, timeout: float = 300) -> dict:
    """Poll the run's status until ``predicate(status)``; fail with the status and pods if it never holds."""
    deadline = time.monotonic() + timeout
    status: dict = {}
    while time.monotonic() < deadline:
        status = run_status(stack)
        if status.get("phase") == "Failed":
            break
        if predicate(status):
            return status
        time.sleep(2)
    pytest.fail(f"never {what}: {json.dumps(status)[:3000]}\n{stack.pod_logs()[-4000:]}")


def test_waits_for_quota_then_runs_and_deleting_it_releases_everything(queued):
    stack = queued
    body = manifest(RUN)
    body["spec"]["failurePolicy"] = {"pendingDeadlineSeconds": 10}
    body["spec"]["teacher"]["vllm"]["startupTimeoutSeconds"] = 3600  # longer than waitForPodsReady (1800)
    body["spec"]["datagen"]["resources"] = {"requests": {"cpu": "100m"}}  # the Ray pods ask for CPU quota
    stack.apply(body)

    # 1. No GPU quota: the teacher's pods are gated by Kueue, the run waits and says why.
    status = wait(stack, "waiting for quota",
                  lambda s: condition(s, "TeacherReady").get("reason") == "WaitingForQuota")
    deployment = stack.cluster.kubectl_json("get", "deployment", f"{RUN}-teacher", "-n", stack.namespace)
    assert deployment["metadata"]["labels"].get("kueue.x-k8s.io/queue-name") == "default"
    deadlines = condition(status, "KueueDeadlines")
    assert deadlines.get("status") == "False" and "3600" in deadlines["message"] and "1800" in deadlines["message"]
    time.sleep(30)  # three times the pending deadline
    status = run_status(stack)
    assert status.get("phase") != "Failed", status
    assert condition(status, "TeacherReady").get("reason") == "WaitingForQuota", status
    pods = stack.cluster.kubectl_json("get", "pods", "-n", stack.namespace)
    teacher = [p for p in pods["items"] if p["metadata"]["name"].startswith(f"{RUN}-teacher")]
    assert teacher and all(not p["spec"].get("nodeName") for p in teacher), "a gated pod was scheduled"
    assert all(p["spec"].get("schedulingGates") for p in teacher)

    # 2. GPU quota, and CPU quota for the teacher only: Kueue admits the teacher; the RayJob it
    #    labelled and suspended itself waits for CPU quota, and the run says so without failing.
    stack.cluster.apply(queue_objects(8, stack.namespace, cpu="0")[1])  # the teacher asks for GPUs only
    status = wait(stack, "its RayJob waiting for quota", lambda s: s.get("phase") == "GeneratingData" and
                  "quota" in condition(s, "DataGenerated").get("message", ""))
    rayjob = stack.cluster.kubectl_json("get", "rayjob", f"{RUN}-datagen", "-n", stack.namespace)
    assert rayjob["spec"].get("suspend") is True, "a RayJob waiting for quota runs nothing"
    time.sleep(20)  # twice the pending deadline
    assert run_status(stack).get("phase") != "Failed", run_status(stack)
    assert stack.cluster.kubectl_json("get", "rayjob", f"{RUN}-datagen", "-n", stack.namespace)["spec"]["suspend"]

    # 3. CPU quota: Kueue admits the RayJob and un-suspends it.
    stack.cluster.apply(queue_objects(8, stack.namespace)[1])
    wait(stack, "generating data", lambda s: s.get("phase") == "GeneratingData" and
         stack.cluster.kubectl_json("get", "rayjob", f"{RUN}-datagen", "-n", stack.namespace)
         .get("status", {}).get("jobDeploymentStatus") == "Running")
    rayjob = stack.cluster.kubectl_json("get", "rayjob", f"{RUN}-datagen", "-n", stack.namespace)
    assert rayjob["metadata"]["labels"].get("kueue.x-k8s.io/queue-name") == "default"
    workloads = stack.cluster.kubectl_json("get", "workloads.kueue.x-k8s.io", "-n", stack.namespace)["items"]
    admitted = {(w["metadata"]["ownerReferences"][0]["kind"]) for w in workloads
                if condition(w["status"], "Admitted").get("status") == "True"}
    assert "RayJob" in admitted, [w["metadata"]["name"] for w in workloads]
    # The operator never un-suspended it (it logs each patch of a child).
    unsuspends = [line for line in stack.operator.logs().splitlines()
                  if f"patched RayJob/{RUN}-datagen" in line and '"suspend": false' in line]
    assert not unsuspends, unsuspends

    # 4. Delete mid-run: every child goes, and with them the Workloads and the quota they held.
    stack.cluster.kubectl("delete", "raftrun", RUN, "-n", stack.namespace, "--wait=true", "--timeout=120s")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        left = [o for o in stack.cluster.kubectl(
            "get", "deployments,rayjobs,rayclusters,jobs,pods,workloads.kueue.x-k8s.io", "-n", stack.namespace,
            "-o", "name").stdout.split() if o.split("/", 1)[-1].startswith(f"{RUN}-")]
        usage = stack.cluster.kubectl_json("get", "clusterqueue", CLUSTER_QUEUE).get("status", {})
        if not left and not usage.get("admittedWorkloads") and not usage.get("reservingWorkloads"):
            break
        time.sleep(2)
    assert not left, f"left after the run's deletion: {left}"
    assert not usage.get("admittedWorkloads") and not usage.get("reservingWorkloads"), usage
