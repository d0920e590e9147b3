"""The SIMULATED RayJob / PyTorchJob CRDs and controllers, and the simulated eval progress."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from raft_api.layout import RUN_CONFIG_KEY
from raft_dev.cluster import LocalCluster

from cluster_manifests import job, owner_reference, pytorchjob, rayjob

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TIMEOUT = "60s"


def make_parent(cluster: LocalCluster, namespace: str, run: str, annotations: dict[str, str] | None = None) -> Any:
    """A stand-in parent (a ConfigMap; the controllers read any owner's annotations), the progress
    ConfigMap, and run.yaml naming it, as the operator writes them (the controllers report where it says)."""
    cluster.apply({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": run, "annotations": annotations or {}}}, namespace)
    cluster.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{run}-progress"}}, namespace)
    run_yaml = yaml.safe_dump({"apiVersion": "raftoperator.io/v1alpha1", "kind": "RunConfig",
                               "progress": {"configMap": f"{run}-progress", "namespace": namespace}})
    cluster.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{run}-config"},
                   "data": {RUN_CONFIG_KEY: run_yaml}}, namespace)
    return owner_reference(cluster.kubectl_json("get", "configmap", run, "-n", namespace))


def progress(cluster: LocalCluster, namespace: str, run: str, stage: str) -> dict[str, Any]:
    data = cluster.kubectl_json("get", "configmap", f"{run}-progress", "-n", namespace).get("data") or {}
    return json.loads(data[stage]) if stage in data else {}


def status(cluster: LocalCluster, namespace: str, kind: str, name: str) -> dict[str, Any]:
    return cluster.kubectl_json("get", kind, name, "-n", namespace).get("status") or {}


@pytest.mark.parametrize(
    ("manifest", "error"),
    [
        ({"spec": {"entrypiont": "python x.py"}}, "entrypiont"),
        ({"spec": {"rayClusterSpec": {"headGroupSpec": {"template": {}}, "workerGroupSpec": []}}},
         "workerGroupSpec"),
        ({"spec": {"suspend": "yes"}}, "suspend"),
        ({"spec": {"submissionMode": "SidecarMode"}}, "submissionMode"),
        ({"speck": {}}, "speck"),
    ],
)
def test_rayjob_crd_rejects_wrong_fields(cluster: LocalCluster, namespace: str, manifest: dict[str, Any],
                                         error: str) -> None:
    body = {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "bad"}, **manifest}
    result = cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body), check=False)
    assert result.returncode != 0
    assert error in result.stderr


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ({"pytorchReplicaSpec": {}}, "pytorchReplicaSpec"),
        ({"pytorchReplicaSpecs": {"Wroker": {"replicas": 1}}}, "Wroker"),
        ({"pytorchReplicaSpecs": {"Master": {"replicas": 1, "restartPolicy": "Sometimes"}}}, "restartPolicy"),
        ({"pytorchReplicaSpecs": {}, "runPolicy": {"cleanPodPolicy": "All", "suspnd": True}}, "suspnd"),
        ({"pytorchReplicaSpecs": {}, "nprocPerNode": 8}, "nprocPerNode"),
    ],
)
def test_pytorchjob_crd_rejects_wrong_fields(cluster: LocalCluster, namespace: str, spec: dict[str, Any],
                                             error: str) -> None:
    body = {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": "bad"}, "spec": spec}
    result = cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body), check=False)
    assert result.returncode != 0
    assert error in result.stderr


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda spec: spec["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0].update(name="x"),
         'container named "pytorch"'),
        (lambda spec: spec["pytorchReplicaSpecs"]["Master"].update(replicas=2), "exactly 1 replica"),
    ],
)
def test_pytorchjob_admission_mirrors_the_training_operator(cluster: LocalCluster, namespace: str, change: Any,
                                                            error: str) -> None:
    body = pytorchjob("bad")
    change(body["spec"])
    result = cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body), check=False)
    assert result.returncode != 0
    assert error in result.stderr


def test_crds_accept_the_operator_shaped_manifests(cluster: LocalCluster, namespace: str) -> None:
    for body in (rayjob("ok-ray", suspend=True), pytorchjob("ok-pt", suspend=True)):
        result = cluster.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-",
                                 input=json.dumps(body), check=False)
        assert result.returncode == 0, result.stderr


def test_python_client_strict_field_validation(cluster: LocalCluster, namespace: str) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    api = client.CustomObjectsApi(cluster.api_client())
    body = rayjob("typo")
    body["spec"]["shutdownAfterJobFinish"] = True
    with pytest.raises(ApiException) as excinfo:
        api.create_namespaced_custom_object("ray.io", "v1", namespace, "rayjobs", body, field_validation="Strict")
    assert excinfo.value.status == 422 or "shutdownAfterJobFinish" in str(excinfo.value.body)


def test_rayjob_runs_to_success_with_progress(cluster: LocalCluster, namespace: str) -> None:
    owner = make_parent(cluster, namespace, "run1")
    cluster.apply(rayjob("run1-datagen", run="run1", owner=owner, workers=2), namespace)
    cluster.kubectl("wait", "-n", namespace, "--for=jsonpath={.status.jobDeploymentStatus}=Running",
                    "rayjob/run1-datagen", f"--timeout={TIMEOUT}")
    pods = cluster.kubectl_json("get", "pods", "-n", namespace, "-l", "ray.io/node-type=worker")["items"]
    assert len(pods) == 2 and all(p["spec"]["nodeName"].startswith("gpu-node-") for p in pods)
    cluster.kubectl("wait", "-n", namespace, "--for=jsonpath={.status.jobDeploymentStatus}=Complete",
                    "rayjob/run1-datagen", f"--timeout={TIMEOUT}")
    st = status(cluster, namespace, "rayjob", "run1-datagen")
    assert st["jobStatus"] == "SUCCEEDED"
    assert st["startTime"] and st["endTime"] and st["rayClusterName"] and st["jobId"]
    assert st["succeeded"] == 1
    report = progress(cluster, namespace, "run1", "datagen")
    assert report["chunksDone"] == report["chunksTotal"] > 0
    assert {"records", "malformed", "retries", "tokensPerSecond", "updatedAt"} <= report.keys()
    # shutdownAfterJobFinishes with ttlSecondsAfterFinished 0: the cluster's pods go away.
    cluster.wait_for(lambda: not cluster.kubectl_json("get", "pods", "-n", namespace, "-l", "ray.io/cluster")["items"],
                     message="RayCluster pods not deleted after the job finished")


def test_pytorchjob_runs_to_success_with_progress(cluster: LocalCluster, namespace: str) -> None:
    owner = make_parent(cluster, namespace, "run2")
    cluster.apply(pytorchjob("run2-finetune", run="run2", owner=owner, workers=1), namespace)
    cluster.kubectl("wait", "-n", namespace, "--for=condition=Succeeded", "pytorchjob/run2-finetune",
                    f"--timeout={TIMEOUT}")
    st = status(cluster, namespace, "pytorchjob", "run2-finetune")
    types = [c["type"] for c in st["conditions"]]
    assert types[0] == "Created" and types[-1] == "Succeeded" and "Running" in types
    assert st["completionTime"] and st["replicaStatuses"]["Master"]["succeeded"] == 1
    pods = cluster.kubectl_json("get", "pods", "-n", namespace, "-l", "training.kubeflow.org/job-name=run2-finetune")
    assert sorted(p["metadata"]["name"] for p in pods["items"]) == ["run2-finetune-master-0", "run2-finetune-worker-0"]
    assert all(p["status"]["phase"] == "Succeeded" for p in pods["items"])
    report = progress(cluster, namespace, "run2", "finetune")
    assert report["step"] == report["totalSteps"] > 0 and report["loss"] > 0


def test_fail_annotation_on_the_parent_fails_the_stages(cluster: LocalCluster, namespace: str) -> None:
    owner = make_parent(cluster, namespace, "run3", {"sim.raftoperator.io/fail": "datagen,finetune,eval",
                                                     "sim.raftoperator.io/duration-seconds": "1"})
    cluster.apply([rayjob("run3-datagen", run="run3", owner=owner),
                   pytorchjob("run3-finetune", run="run3", owner=owner, workers=0),
                   job("run3-eval", labels={"app.kubernetes.io/component": "eval", "raftoperator.io/run": "run3"},
                       owner=owner)], namespace)
    cluster.kubectl("wait", "-n", namespace, "--for=jsonpath={.status.jobDeploymentStatus}=Failed",
                    "rayjob/run3-datagen", f"--timeout={TIMEOUT}")
    ray = status(cluster, namespace, "rayjob", "run3-datagen")
    assert ray["jobStatus"] == "FAILED" and ray["reason"] == "AppFailed" and "SIMULATED" in ray["message"]
    cluster.kubectl("wait", "-n", namespace, "--for=condition=Failed", "pytorchjob/run3-finetune",
                    f"--timeout={TIMEOUT}")
    failed = next(c for c in status(cluster, namespace, "pytorchjob", "run3-finetune")["conditions"]
                  if c["type"] == "Failed")
    assert failed["reason"] == "PyTorchJobFailed" and "SIMULATED" in failed["message"]
    cluster.kubectl("wait", "-n", namespace, "--for=condition=Failed", "job/run3-eval", f"--timeout={TIMEOUT}")


def test_eval_job_is_held_running_then_completes_with_results(cluster: LocalCluster, namespace: str) -> None:
    owner = make_parent(cluster, namespace, "run4", {"sim.raftoperator.io/eval-duration-seconds": "2"})
    cluster.apply(job("run4-eval", labels={"app.kubernetes.io/component": "eval", "raftoperator.io/run": "run4"},
                      owner=owner), namespace)
    cluster.wait_for(lambda: progress(cluster, namespace, "run4", "eval").get("results"),
                     message="no eval progress while the eval pod runs")
    assert cluster.kubectl_json("get", "job", "run4-eval", "-n", namespace)["status"].get("succeeded") is None
    cluster.kubectl("wait", "-n", namespace, "--for=condition=Complete", "job/run4-eval", f"--timeout={TIMEOUT}")
    report = progress(cluster, namespace, "run4", "eval")
    assert {r["mode"] for r in report["results"]} == {"none", "rag"}
    assert report["summary"]["improvement"]["base"] > 0 and report["summary"]["mode"] == "rag"  # the primary mode


def test_suspend_and_resume(cluster: LocalCluster, namespace: str) -> None:
    cluster.apply([rayjob("ray-s", suspend=True), pytorchjob("pt-s", suspend=True, workers=0)], namespace)
    cluster.kubectl("wait", "-n", namespace, "--for=jsonpath={.status.jobDeploymentStatus}=Suspended",
                    "rayjob/ray-s", f"--timeout={TIMEOUT}")
    cluster.kubectl("wait", "-n", namespace, "--for=condition=Suspended", "pytorchjob/pt-s", f"--timeout={TIMEOUT}")
    assert not cluster.kubectl_json("get", "pods", "-n", namespace)["items"]
    cluster.kubectl("patch", "-n", namespace, "rayjob/ray-s", "--type=merge", "-p", '{"spec":{"suspend":false}}')
    cluster.kubectl("patch", "-n", namespace, "pytorchjob/pt-s", "--type=merge",
                    "-p", '{"spec":{"runPolicy":{"suspend":false}}}')
    cluster.kubectl("wait", "-n", namespace, "--for=jsonpath={.status.jobDeploymentStatus}=Complete",
                    "rayjob/ray-s", f"--timeout={TIMEOUT}")
    cluster.kubectl("wait", "-n", namespace, "--for=condition=Succeeded", "pytorchjob/pt-s", f"--timeout={TIMEOUT}")


def test_retries_then_failure(cluster: LocalCluster, namespace: str) -> None:
    owner = make_parent(cluster, namespace, "run5", {"sim.raftoperator.io/fail": "all",
                                                     "sim.raftoperator.io/duration-seconds": "0.5"})
    ray = rayjob("run5-datagen", run="run5", owner=owner)
    ray["spec"]["backoffLimit"] = 1
    cluster.apply([ray, pytorchjob("run5-finetune", run="run5", owner=owner, workers=0, backoff_limit=1)],
                  namespace)
    cluster.kubectl("wait", "-n", namespace, "--for=jsonpath={.status.jobDeploymentStatus}=Failed",
                    "rayjob/run5-datagen", f"--timeout={TIMEOUT}")
    assert status(cluster, namespace, "rayjob", "run5-datagen")["failed"] == 2
    cluster.kubectl("wait", "-n", namespace, "--for=condition=Failed", "pytorchjob/run5-finetune",
                    f"--timeout={TIMEOUT}")
    st = status(cluster, namespace, "pytorchjob", "run5-finetune")
    assert "Restarting" in [c["type"] for c in st["conditions"]]
    assert st["replicaStatuses"]["Master"]["failed"] == 2 and st["replicaStatuses"]["Master"]["active"] == 0


@pytest.mark.parametrize(("name", "message"), [
    ("r" * 48, "RayJob name should be no more than 47 characters"),
    ("1-starts-with-a-digit", "RayJob name should be a valid DNS1035 label"),
    ("has.a.dot", "RayJob name should be a valid DNS1035 label"),
])
def test_rayjob_names_kuberay_refuses_end_in_validation_failed(cluster: LocalCluster, namespace: str, name: str,
                                                               message: str) -> None:
    cluster.apply(rayjob(name, run="run1"), namespace)
    cluster.kubectl("wait", "-n", namespace, "--for=jsonpath={.status.jobDeploymentStatus}=ValidationFailed",
                    f"rayjob/{name}", f"--timeout={TIMEOUT}")
    st = status(cluster, namespace, "rayjob", name)
    assert st["reason"] == "ValidationFailed" and message in st["message"]
    assert not cluster.kubectl_json("get", "pods", "-n", namespace, "-l", "ray.io/cluster")["items"], "no pods"


def test_rayjob_pods_stay_pending_when_their_claim_does_not_exist(cluster: LocalCluster, namespace: str) -> None:
    """The SIMULATED KubeRay creates the pods, and the real scheduler leaves them Pending, saying why."""
    body = rayjob("run2-datagen", run="run2", workers=1)
    for template in [body["spec"]["rayClusterSpec"]["headGroupSpec"]["template"],
                     body["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["template"]]:
        template["spec"]["volumes"] = [{"name": "corpus", "persistentVolumeClaim": {"claimName": "no-such-claim"}}]
    cluster.apply(body, namespace)

    def unschedulable() -> list[str]:
        pods = cluster.kubectl_json("get", "pods", "-n", namespace, "-l", "ray.io/cluster")["items"]
        return [c.get("message", "") for p in pods for c in (p.get("status") or {}).get("conditions") or []
                if c.get("type") == "PodScheduled" and c.get("status") == "False"]
    messages = cluster.wait_for(unschedulable, timeout=60, message="pods Unschedulable")
    assert any('persistentvolumeclaim "no-such-claim" not found' in m for m in messages), messages
    assert status(cluster, namespace, "rayjob", "run2-datagen")["jobDeploymentStatus"] == "Initializing"
