"""Bad RaftRuns, as a new user writes them, against the real API server with the operator running.

Each one ends in one of the ways issue 11 allows, and none holds GPUs:
* rejected by the API server, with a message naming the field;
* accepted, then Failed within a bound, with one line naming the cause;
* accepted and held Pending by the preflight (something it names is missing), creating nothing,
  and going on once the missing thing appears.
A valid run beside them succeeds, and the operator's log stays small.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
import yaml

from raft_dev.storage import corpus_claim

pytestmark = pytest.mark.e2e

FAST = {"sim.raftoperator.io/duration-seconds": "2"}
BASE_SPEC: dict[str, Any] = {
    "corpus": {"volume": {"claimName": "demo-docs"}},
    "teacher": {"vllm": {"model": "meta-llama/Meta-Llama-3-70B-Instruct", "tensorParallelSize": 4}},
    "datagen": {"workers": 1},
    # The PyTorchJob path, as before the session's cluster served TrainJob too (tests/e2e/conftest.py).
    "student": {"baseModel": "meta-llama/Meta-Llama-3-8B-Instruct", "nodes": 1, "gpusPerNode": 8,
                "trainingApi": "PyTorchJob"},
    "storage": {"size": "1Gi", "retentionPolicy": "Delete"},
    "failurePolicy": {"pendingDeadlineSeconds": 10},
}
TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def manifest(name: str, namespace: str, changes: dict[str, Any] | None = None) -> dict[str, Any]:
    """A RaftRun from BASE_SPEC with ``changes`` (dotted path → value; None deletes)."""
    body = {"apiVersion": "raftoperator.io/v1alpha1", "kind": "RaftRun",
            "metadata": {"name": name, "namespace": namespace, "annotations": dict(FAST)},
            "spec": copy.deepcopy(BASE_SPEC)}
    for path, value in (changes or {}).items():
        node = body
        keys = path.split(".")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(keys[-1], None)
        else:
            node[keys[-1]] = value
    return body


# (case id, changes, text the API server's message must contain: the field and the rule)
REJECTED: list[tuple[str, dict[str, Any], str]] = [
    ("name over the KubeRay budget", {"metadata.name": "a-run-name-that-is-far-too-long-for-kuberay"},
     "metadata.name must be at most 39 characters"),
    ("name not DNS-1035", {"metadata.name": "9lives"}, "metadata.name must be a DNS-1035 label"),
    ("name with a dot", {"metadata.name": "team.run"}, "metadata.name must be a DNS-1035 label"),
    ("empty teacher model", {"spec.teacher.vllm.model": ""}, "spec.teacher.vllm.model"),
    ("teacher model path escaping", {"spec.teacher.vllm.model": "../../other-run/model"},
     "teacher.vllm.model is a Hugging Face id or a path"),
    ("base model path off the volume", {"spec.student.baseModel": "/etc/models/llama"},
     "student.baseModel is a Hugging Face id or a path on the run's volume (under /data/)"),
    ("empty base model", {"spec.student.baseModel": ""}, "spec.student.baseModel"),
    ("claim name with capitals", {"spec.corpus.volume.claimName": "Team_Docs"},
     "corpus.volume.claimName must be a Kubernetes object name"),
    ("subPath climbing out", {"spec.corpus.volume.subPath": "../other-team"},
     "corpus.volume.subPath must be a relative path"),
    ("absolute subPath", {"spec.corpus.volume.subPath": "/etc"}, "corpus.volume.subPath must be a relative path"),
    ("evalFile climbing out", {"spec.eval.evalFile": "../../secrets.jsonl"}, "eval.evalFile must be a relative path"),
    ("negative storage size", {"spec.storage.size": "-10Gi"}, "storage.size must be a quantity greater than zero"),
    ("zero storage size", {"spec.storage.size": "0"}, "storage.size must be a quantity greater than zero"),
    ("zero teacher shm", {"spec.teacher.vllm.shmSize": "0"}, "teacher.vllm.shmSize must be a size greater than zero"),
    ("shm not a size", {"spec.student.shmSize": "lots"}, "student.shmSize must be a size greater than zero"),
    ("negative cpu request", {"spec.datagen.resources": {"requests": {"cpu": "-1"}}},
     "spec.datagen.resources.requests.cpu"),
    ("negative memory limit", {"spec.student.resources": {"limits": {"memory": -1}}},
     "spec.student.resources.limits.memory"),
    ("node selector key with a space", {"spec.scheduling.nodeSelector": {"gpu pool": "a100"}},
     "scheduling.nodeSelector keys must be label keys"),
    ("node selector value too long", {"spec.scheduling.nodeSelector": {"pool": "x" * 64}},
     "spec.scheduling.nodeSelector.pool"),
    ("node selector value with a slash", {"spec.scheduling.nodeSelector": {"pool": "a100/80g"}},
     "scheduling.nodeSelector values must be label values"),
    ("queue name with a space", {"spec.scheduling.queueName": "team queue"}, "scheduling.queueName becomes a label value"),
    ("Exists toleration with a value", {"spec.scheduling.tolerations": [{**TOLERATION, "value": "true"}]},
     "operator Exists matches any value"),
    ("toleration without key, Equal", {"spec.scheduling.tolerations": [{"operator": "Equal", "value": "x"}]},
     "a toleration without a key matches every taint and needs operator Exists"),
    ("tolerationSeconds without NoExecute", {"spec.scheduling.tolerations": [{**TOLERATION, "tolerationSeconds": 60}]},
     "tolerationSeconds applies only to effect NoExecute"),
    ("toleration key with a space", {"spec.scheduling.tolerations": [{**TOLERATION, "key": "nvidia gpu"}]},
     "a toleration key must be a label key"),
    ("toleration value with a slash", {"spec.scheduling.tolerations": [{"key": "pool", "operator": "Equal",
                                                                        "value": "a/b", "effect": "NoSchedule"}]},
     "a toleration value must be a label value"),
    ("embedding model path escaping", {"spec.eval.embeddingModel": "../../models/x"},
     "eval.embeddingModel is a Hugging Face id or a path"),
    ("unknown toleration effect", {"spec.scheduling.tolerations": [{**TOLERATION, "effect": "NoRun"}]},
     'Unsupported value: "NoRun"'),
    ("priority class with capitals", {"spec.scheduling.priorityClassName": "High_Priority"},
     "scheduling.priorityClassName must be a Kubernetes object name"),
    ("pull secret with a space", {"spec.scheduling.imagePullSecrets": [{"name": "reg cred"}]},
     "an image pull Secret name must be a Kubernetes object name"),
    ("empty token Secret name", {"spec.scheduling.huggingFaceTokenSecretRef": {"name": ""}},
     "spec.scheduling.huggingFaceTokenSecretRef.name"),
    ("Secret key with a slash", {"spec.scheduling.huggingFaceTokenSecretRef": {"name": "hf", "key": "hf/token"}},
     "a Secret key consists of letters"),
    ("storage class with capitals", {"spec.storage.storageClassName": "Fast-SSD"},
     "storage.storageClassName must be a Kubernetes object name"),
    ("existing claim with a space", {"spec.storage": {"existingClaim": "shared data"}},
     "storage.existingClaim must be a Kubernetes object name"),
    ("answers longer than the teacher's context", {"spec.teacher.vllm.maxModelLen": 1024, "spec.datagen.maxTokens": 1024},
     "datagen.maxTokens plus a chunk"),
    ("student context too short for eval", {"spec.student.contextLength": 1024},
     "student.contextLength is the student server's context"),
    ("empty Hugging Face dataset", {"spec.corpus": {"huggingface": {"name": ""}}}, "spec.corpus.huggingface.name"),
    ("empty external model", {"spec.teacher": {"external": {"url": "https://api.example.com/v1", "model": ""}}},
     "spec.teacher.external.model"),
    ("empty image", {"spec.scheduling.images": {"vllm": ""}}, "spec.scheduling.images.vllm"),
    ("pending deadline too short", {"spec.failurePolicy.pendingDeadlineSeconds": 1},
     "spec.failurePolicy.pendingDeadlineSeconds"),
]

# Accepted, then Failed: (name, changes, setup, text the run's message must contain).
FAILED: list[tuple[str, dict[str, Any], str, str]] = [
    ("gpus-nowhere", {"spec.teacher.vllm.tensorParallelSize": 8, "spec.teacher.vllm.gpusPerReplica": 16}, "",
     "Insufficient nvidia.com/gpu"),
    ("no-such-nodes", {"spec.scheduling.nodeSelector": {"pool": "h100-nowhere"}}, "",
     "didn't match Pod's node affinity/selector"),
    ("workers-too-big", {"spec.datagen.resources": {"requests": {"cpu": "5000"}}}, "", "Insufficient cpu"),
    ("trainer-too-big", {"spec.student.gpusPerNode": 16}, "", "Insufficient nvidia.com/gpu"),
    ("limit-below-request", {"spec.teacher.vllm.resources": {"requests": {"memory": "64Gi"},
                                                             "limits": {"memory": "32Gi"}}}, "",
     "must be less than or equal to memory limit"),
    ("sa-taken", {}, "service-account", "ServiceAccount sa-taken-workload already exists and is not controlled"),
    # "exceeded quota: no-rayjobs" once the quota controller has counted, "status unknown for quota:
    # no-rayjobs" before: either way the API server refuses the RayJob, naming the quota.
    ("quota-no-rayjobs", {}, "quota", "quota: no-rayjobs"),
    ("claim-being-deleted", {"spec.corpus.volume.claimName": "leaving-docs"}, "claim-being-deleted",
     'persistentvolumeclaim "leaving-docs" is being deleted'),
    ("class-no-provisioner", {"spec.storage.storageClassName": "no-provisioner"}, "storage-class",
     "unbound immediate PersistentVolumeClaims"),
]

# Accepted and held Pending by the preflight: (name, changes, text InputsReady's message must contain).
PENDING: list[tuple[str, dict[str, Any], str]] = [
    ("no-corpus-claim", {"spec.corpus.volume.claimName": "docs-typo"},
     "PersistentVolumeClaim docs-typo (spec.corpus.volume.claimName) not found"),
    ("no-existing-claim", {"spec.storage": {"existingClaim": "shared-typo"}},
     "PersistentVolumeClaim shared-typo (spec.storage.existingClaim) not found"),
    ("no-token-secret", {"spec.scheduling.huggingFaceTokenSecretRef": {"name": "hf-typo"}},
     "Secret hf-typo (spec.scheduling.huggingFaceTokenSecretRef.name) not found"),
    ("no-token-key", {"spec.scheduling.huggingFaceTokenSecretRef": {"name": "hf", "key": "tokn"}},
     "Secret hf has no key tokn (spec.scheduling.huggingFaceTokenSecretRef.key)"),
    ("no-pull-secret", {"spec.scheduling.imagePullSecrets": [{"name": "regcred"}]},
     "Secret regcred (spec.scheduling.imagePullSecrets[0].name) not found"),
    ("no-priority-class", {"spec.scheduling.priorityClassName": "research-high"},
     "PriorityClass research-high (spec.scheduling.priorityClassName) not found"),
    ("no-storage-class", {"spec.storage.storageClassName": "rwx-typo"},
     "StorageClass rwx-typo (spec.storage.storageClassName) not found"),
    ("no-kueue", {"spec.scheduling.queueName": "team-queue"}, "Kueue is not installed"),
    ("no-judge-secret", {"spec.eval.judge": {"url": "https://judge.example.com/v1", "model": "judge",
                                             "apiKeySecretRef": {"name": "judge-key"}}},
     "Secret judge-key (spec.eval.judge.apiKeySecretRef.name) not found"),
]
FAIL_BOUND = 150  # seconds from creation to Failed (pendingDeadlineSeconds is 10)
LOG_LINE_BOUND = 300


def test_at_least_thirty_distinct_bad_manifests() -> None:
    assert len(REJECTED) + len(FAILED) + len(PENDING) >= 30 and len(REJECTED) >= 20


def setup_case(cluster, kind: str, namespace: str, name: str) -> None:
    """What an accepted-but-doomed case needs around it."""
    if kind == "service-account":  # someone's ServiceAccount holds the name <run>-workload
        cluster.apply({"apiVersion": "v1", "kind": "ServiceAccount",
                       "metadata": {"name": f"{name}-workload", "namespace": namespace}})
    elif kind == "quota":  # the namespace's quota allows no RayJobs: creating one is refused (403)
        cluster.apply({"apiVersion": "v1", "kind": "ResourceQuota",
                       "metadata": {"name": "no-rayjobs", "namespace": namespace},
                       "spec": {"hard": {"count/rayjobs.ray.io": "0"}}})
    elif kind == "claim-being-deleted":  # the corpus claim exists for the preflight, but is on its way out
        claim = corpus_claim("leaving-docs", namespace)
        claim["metadata"]["finalizers"] = ["example.com/hold"]
        cluster.apply(claim)
        cluster.kubectl("delete", "pvc", "leaving-docs", "-n", namespace, "--wait=false")
    elif kind == "storage-class":  # a class nothing provisions: the claim never binds
        cluster.apply({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                       "metadata": {"name": "no-provisioner"}, "provisioner": "example.com/absent",
                       "volumeBindingMode": "Immediate"})


def gpu_pods(cluster, namespace: str, run: str) -> list[str]:
    """Pods of ``run`` that request GPUs and have not finished."""
    pods = cluster.kubectl_json("get", "pods", "-n", namespace, "-l", f"raftoperator.io/run={run}")["items"]
    return [p["metadata"]["name"] for p in pods
            if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            and not p["metadata"].get("deletionTimestamp")
            and any("nvidia.com/gpu" in ((c.get("resources") or {}).get("requests") or {}) for c in p["spec"]["containers"])]


def test_bad_manifests_are_rejected_or_fail_fast_and_a_good_run_still_succeeds(runs) -> None:
    cluster, ns = runs.cluster, runs.namespace
    log_lines_before = len(runs.operator.logs().splitlines())
    cluster.apply(manifest("good", ns, {"spec.failurePolicy": None}))  # the default deadline: GPUs may be busy a while
    cluster.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hf", "namespace": ns},
                   "stringData": {"token": "not-a-real-token"}})

    # 1. Rejected at admission, with the field named.
    for i, (case, changes, expected) in enumerate(REJECTED):
        doc = manifest(f"rejected-{i}", ns, changes)
        result = cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc), check=False)
        assert result.returncode != 0, f"{case}: accepted"
        assert expected in result.stderr, f"{case}: {result.stderr}"

    # 2. Accepted, doomed: each in its own namespace (a quota there must not touch the others).
    created: dict[str, tuple[str, float]] = {}
    for name, changes, setup, _ in FAILED:
        namespace = f"{ns}-{name}"
        cluster.kubectl("create", "namespace", namespace)
        cluster.apply(corpus_claim("demo-docs", namespace))
        setup_case(cluster, setup, namespace, name)
        cluster.apply(manifest(name, namespace, changes))
        created[name] = (namespace, time.monotonic())

    # 3. Accepted, held by the preflight.
    for name, changes, _ in PENDING:
        cluster.apply(manifest(name, ns, changes))

    failed_at: dict[str, float] = {}
    deadline = time.monotonic() + FAIL_BOUND
    while len(failed_at) < len(FAILED) and time.monotonic() < deadline:
        for name, (namespace, started) in created.items():
            if name not in failed_at and (runs.cluster.kubectl_json("get", "raftrun", name, "-n", namespace)
                                          .get("status") or {}).get("phase") == "Failed":
                failed_at[name] = time.monotonic() - started
        time.sleep(1)
    for name, _, _, expected in FAILED:
        namespace = created[name][0]
        status = cluster.kubectl_json("get", "raftrun", name, "-n", namespace).get("status") or {}
        assert status.get("phase") == "Failed", f"{name} not Failed within {FAIL_BOUND}s: {json.dumps(status)[:1500]}"
        message = status["message"]
        assert expected in message and "\n" not in message and len(message) < 1024, f"{name}: {message}"
        ready = next(c for c in status["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "False" and "HTTP response headers" not in ready["message"]

    for name, _, expected in PENDING:
        status = runs.until(lambda n=name: (s := runs.status(n)).get("conditions") and s, timeout=120,
                            message=f"{name} has a status")
        cond = next(c for c in status["conditions"] if c["type"] == "InputsReady")
        assert status["phase"] == "Pending" and cond["status"] == "False", f"{name}: {status}"
        assert expected in cond["message"], f"{name}: {cond['message']}"
        for kind in ("deployments", "rayjobs", "pytorchjobs", "jobs", "persistentvolumeclaims"):
            assert runs.children(kind, name) == [], f"{name}: created {kind} while inputs are missing"

    # The valid run beside them all succeeds.
    runs.wait_phase("good", "Succeeded", timeout=480)

    # A missing input that appears lets its run go on.
    cluster.apply(corpus_claim("docs-typo", ns))
    runs.wait_phase("no-corpus-claim", "ServingTeacher", "GeneratingData", "FineTuning", timeout=120)

    # No failed run holds GPUs.
    for name, (namespace, _) in created.items():
        runs.until(lambda n=name, s=namespace: not gpu_pods(cluster, s, n), timeout=120,
                   message=f"{name}'s GPU pods released")
        for deploy in cluster.kubectl_json("get", "deployments", "-n", namespace, "-l",
                                           f"raftoperator.io/run={name}")["items"]:
            assert deploy["spec"]["replicas"] == 0, f"{name}: {deploy['metadata']['name']} still scaled up"

    log = runs.operator.logs().splitlines()[log_lines_before:]
    assert not [line for line in log if line.startswith("Traceback")], "\n".join(log[-80:])
    assert len(log) < LOG_LINE_BOUND, f"{len(log)} operator log lines:\n" + "\n".join(log[-80:])
    print(f"\nfailed after (s): {json.dumps({k: round(v) for k, v in sorted(failed_at.items())})}; "
          f"operator log lines: {len(log)}")
