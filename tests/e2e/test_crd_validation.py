"""The real API server enforces the RaftRun schema and CEL rules with messages a user understands."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
NS = "crd-validation"


def valid() -> dict[str, Any]:
    return {
        "apiVersion": "raftoperator.io/v1alpha1", "kind": "RaftRun", "metadata": {"name": "v", "namespace": NS},
        "spec": {
            "corpus": {"volume": {"claimName": "docs"}},
            "teacher": {"vllm": {"model": "meta-llama/Meta-Llama-3-70B-Instruct", "tensorParallelSize": 4}},
            "student": {"baseModel": "meta-llama/Meta-Llama-3-8B-Instruct"},
            "storage": {"size": "100Gi"},
        },
    }


def with_(path: str, value: Any, base: dict | None = None) -> dict[str, Any]:
    """A copy of ``base`` (default :func:`valid`) with ``path`` set; value None deletes it."""
    doc = copy.deepcopy(base or valid())
    node = doc
    keys = path.split(".")
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    if value is None:
        node.pop(keys[-1], None)
    else:
        node[keys[-1]] = value
    return doc


INVALID = [
    ("missing corpus", with_("spec.corpus", None), "spec.corpus: Required value"),
    ("missing teacher", with_("spec.teacher", None), "spec.teacher: Required value"),
    ("missing student", with_("spec.student", None), "spec.student: Required value"),
    ("missing storage", with_("spec.storage", None), "spec.storage: Required value"),
    ("missing base model", with_("spec.student", {"nodes": 1}), "spec.student.baseModel: Required value"),
    ("two sources", with_("spec.corpus.sitemap", {"urls": ["https://docs.example.com/sitemap.xml"]}),
     "corpus needs exactly one source"),
    ("no source", with_("spec.corpus", {}), "corpus needs exactly one source"),
    ("two teachers", with_("spec.teacher.external", {"url": "https://api.example.com/v1", "model": "m"}),
     "teacher needs exactly one of vllm"),
    ("no teacher kind", with_("spec.teacher", {}), "teacher needs exactly one of vllm"),
    ("oracle probability above 1", with_("spec.datagen", {"oracleProbability": 1.5}),
     "oracleProbability is a probability and must be between 0 and 1"),
    ("negative refusal probability", with_("spec.datagen", {"refusalProbability": -0.1}),
     "refusalProbability is a probability and must be between 0 and 1"),
    ("tensor parallel above 8", with_("spec.teacher.vllm.tensorParallelSize", 9), "should be less than or equal to 8"),
    ("GPUs not a multiple of TP", with_("spec.teacher.vllm.gpusPerReplica", 6), "must be a multiple of tensorParallelSize"),
    ("pipeline stage not one TP group", with_("spec.teacher.vllm.gpusPerReplica", 8,
                                              with_("spec.teacher.vllm.pipelineParallelSize", 2)),
     "gpusPerReplica must equal tensorParallelSize"),
    ("pipeline too long", with_("spec.teacher.vllm.pipelineParallelSize", 17), "spec.teacher.vllm.pipelineParallelSize"),
    ("unknown training API", with_("spec.student.trainingApi", "MPIJob"), "spec.student.trainingApi: Unsupported value"),
    ("overlap not below size", with_("spec.datagen", {"chunkSize": 500, "chunkOverlap": 500}),
     "chunkOverlap must be smaller than datagen.chunkSize"),
    ("workers as text", with_("spec.datagen", {"workers": "four"}), 'spec.datagen.workers: Invalid value: "string"'),
    ("nodes as text", with_("spec.student.nodes", "2"), 'spec.student.nodes: Invalid value: "string"'),
    ("claim and size", with_("spec.storage.existingClaim", "shared"), "storage needs exactly one of existingClaim or size"),
    ("neither claim nor size", with_("spec.storage", {}), "storage needs exactly one of existingClaim or size"),
    ("class with existing claim", with_("spec.storage", {"existingClaim": "x", "storageClassName": "fast"}),
     "storageClassName applies only to a claim the operator creates"),
    ("unknown precision", with_("spec.student.precision", "fp8"), 'Unsupported value: "fp8"'),
    ("unknown retention", with_("spec.storage.retentionPolicy", "Keep"), 'Unsupported value: "Keep"'),
    ("sitemap not http", with_("spec.corpus", {"sitemap": {"urls": ["ftp://example.com/sitemap.xml"]}}),
     "should match '^https?://'"),
    ("external teacher without model", with_("spec.teacher", {"external": {"url": "https://api.example.com/v1"}}),
     "spec.teacher.external.model: Required value"),
    ("top k zero", with_("spec.eval", {"topK": [0]}), "should be greater than or equal to 1"),
    ("GPU memory utilization zero", with_("spec.teacher.vllm.gpuMemoryUtilization", 0),
     "gpuMemoryUtilization must be greater than 0 and at most 1"),
    ("learning rate zero", with_("spec.student.learningRate", 0), "learningRate must be greater than 0"),
    ("misspelled field", with_("spec.teacher.vllm.tensorParallel", 4), 'unknown field "spec.teacher.vllm.tensorParallel"'),
    ("not a list of k", with_("spec.eval", {"topK": 5}), 'spec.eval.topK: Invalid value: "integer"'),
    ("external teacher key over http", with_("spec.teacher", {"external": {
        "url": "http://api.example.com/v1", "model": "m", "apiKeySecretRef": {"name": "k"}}}),
     "teacher.external.url must use https when apiKeySecretRef is set"),
    ("judge key over http", with_("spec.eval", {"judge": {
        "url": "http://judge.example.com/v1", "model": "j", "apiKeySecretRef": {"name": "k"}}}),
     "eval.judge.url must use https when apiKeySecretRef is set"),
    ("primary k not evaluated", with_("spec.eval", {"topK": [3, 5], "primaryTopK": 7}),
     "eval.primaryTopK must be one of eval.topK"),
    ("primary k without rag", with_("spec.eval", {"primaryMode": "none", "primaryTopK": 3}),
     "eval.primaryTopK applies only to eval.primaryMode rag"),
    ("primary mode not evaluated", with_("spec.eval", {"primaryMode": "none", "withoutRag": False}),
     "eval.primaryMode none needs eval.withoutRag true"),
    ("unknown no-oracle label", with_("spec.datagen", {"noOracleLabel": "guess"}), 'Unsupported value: "guess"'),
]


@pytest.fixture(scope="module")
def crd(cluster):
    cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
    cluster.wait_for(lambda: "Established" in cluster.kubectl(
        "get", "crd", "raftruns.raftoperator.io", "-o", "jsonpath={.status.conditions[*].type}").stdout,
        message="CRD established")
    cluster.kubectl("create", "namespace", NS, check=False)
    return cluster


def create(cluster, doc: dict[str, Any], *extra: str):
    return cluster.kubectl("create", "--dry-run=server", "-f", "-", *extra, input=yaml.safe_dump(doc), check=False)


@pytest.mark.parametrize("name,doc,message", INVALID, ids=[c[0] for c in INVALID])
def test_invalid_manifest_is_rejected_with_a_clear_message(crd, name: str, doc: dict, message: str) -> None:
    result = create(crd, doc)
    assert result.returncode != 0, f"{name}: accepted"
    assert message in result.stderr, f"{name}: {result.stderr}"


def test_at_least_twenty_invalid_cases() -> None:
    assert len(INVALID) >= 20


def test_an_endpoint_without_a_key_may_use_http(crd) -> None:
    doc = with_("spec.teacher", {"external": {"url": "http://shared-vllm.models.svc:8000/v1", "model": "m"}})
    doc = with_("spec.eval", {"judge": {"url": "http://judge.models.svc:8000/v1", "model": "j"}}, doc)
    result = create(crd, doc)
    assert result.returncode == 0, result.stderr


def test_valid_manifest_with_every_field_is_accepted(crd) -> None:
    spec = {
        "suspend": False,
        "corpus": {"volume": {"claimName": "docs", "subPath": "handbook", "include": ["**/*.md"]}},
        "teacher": {"vllm": {"model": "meta-llama/Meta-Llama-3-70B-Instruct", "tensorParallelSize": 8, "gpusPerReplica": 8,
                             "replicas": 2, "image": "vllm/vllm-openai:v0.11.0", "maxModelLen": 8192,
                             "gpuMemoryUtilization": 0.9, "extraArgs": ["--enable-prefix-caching"],
                             "resources": {"requests": {"cpu": "8", "memory": "64Gi"}, "limits": {"memory": "128Gi"}},
                             "shmSize": "32Gi", "startupTimeoutSeconds": 3600}},
        "datagen": {"chunkSize": 1000, "chunkOverlap": 100, "minChunkChars": 200, "questionsPerChunk": 4, "distractors": 4,
                    "oracleProbability": 0.8, "refusalProbability": 0.05, "workers": 4, "concurrency": 64,
                    "temperature": 0.7, "maxTokens": 1024, "seed": 7, "evalQuestions": 200, "noOracleLabel": "answer",
                    "resources": {"requests": {"cpu": "2"}}},
        "student": {"baseModel": "meta-llama/Meta-Llama-3-8B-Instruct", "learningRate": 1e-5, "epochs": 1,
                    "contextLength": 8192, "perDeviceBatchSize": 1, "gradientAccumulationSteps": 8, "warmupRatio": 0.03,
                    "precision": "bf16", "activationCheckpointing": True, "checkpointEverySteps": 100, "nodes": 2,
                    "gpusPerNode": 8, "resources": {"requests": {"cpu": "16"}}, "shmSize": "64Gi"},
        "eval": {"judge": {"url": "https://judge.example.com/v1", "model": "judge", "apiKeySecretRef": {"name": "j"}},
                 "topK": [3, 5, 7], "withoutRag": True, "primaryMode": "rag", "primaryTopK": 5, "baselines": {"baseStudent": True, "teacher": True},
                 "embeddingModel": "sentence-transformers/all-MiniLM-L6-v2", "evalFile": "eval/questions.jsonl",
                 "concurrency": 8, "rubric": True, "servingGpus": 1},
        "storage": {"size": "2Ti", "storageClassName": "rwx", "retentionPolicy": "Delete"},
        "scheduling": {"nodeSelector": {"pool": "gpu"},
                       "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                       "priorityClassName": "batch", "queueName": "team-queue", "imagePullSecrets": [{"name": "reg"}],
                       "huggingFaceTokenSecretRef": {"name": "hf", "key": "token"},
                       "images": {"vllm": "r/vllm:1", "datagen": "r/d:1", "trainer": "r/t:1", "eval": "r/e:1"}},
        "failurePolicy": {"backoffLimit": 1, "datagenDeadlineSeconds": 3600, "finetuneDeadlineSeconds": 7200,
                          "evalDeadlineSeconds": 3600},
    }
    doc = with_("spec", spec)
    result = create(crd, doc)
    assert result.returncode == 0, result.stderr
    for example in sorted((ROOT / "examples").glob("*.yaml")):
        body = yaml.safe_load(example.read_text())
        body["metadata"]["namespace"] = NS
        result = create(crd, body)
        assert result.returncode == 0, f"{example.name}: {result.stderr}"


def test_defaults_are_applied_by_the_server(crd) -> None:
    out = create(crd, valid(), "-o", "yaml")
    spec = yaml.safe_load(out.stdout)["spec"]
    assert spec["datagen"]["oracleProbability"] == 0.8 and spec["datagen"]["questionsPerChunk"] == 4
    assert spec["eval"]["topK"] == [3, 5, 7] and spec["storage"]["retentionPolicy"] == "Retain"
    assert spec["eval"]["primaryMode"] == "rag" and "primaryTopK" not in spec["eval"]
    assert spec["datagen"]["noOracleLabel"] == "refuse"
    assert spec["scheduling"]["images"]["vllm"].startswith("vllm/vllm-openai:")


@pytest.mark.parametrize("path,value,message", [
    ("spec.corpus", {"volume": {"claimName": "other"}}, "spec.corpus is immutable"),
    ("spec.student.baseModel", "meta-llama/Llama-3.2-1B-Instruct", "spec.student is immutable"),
    ("spec.teacher.vllm.tensorParallelSize", 8, "spec.teacher is immutable"),
    ("spec.datagen", {"questionsPerChunk": 9}, "spec.datagen is immutable"),
    ("spec.storage.size", "200Gi", "storage.size is immutable"),
])
def test_pipeline_definition_is_immutable(crd, path: str, value: Any, message: str) -> None:
    name = "immutable-" + path.split(".")[-1].lower()
    doc = with_("metadata.name", name)
    crd.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc))
    try:
        result = crd.kubectl("apply", "-f", "-", input=yaml.safe_dump(with_(path, value, doc)), check=False)
        assert result.returncode != 0 and message in result.stderr, result.stderr
        assert "create a new RaftRun" in result.stderr or "immutable once the RaftRun exists" in result.stderr
        mutable = with_("spec.suspend", True, with_("spec.storage.retentionPolicy", "Delete", doc))
        result = crd.kubectl("apply", "-f", "-", input=yaml.safe_dump(mutable), check=False)
        assert result.returncode == 0, f"suspend and retention stay mutable: {result.stderr}"
    finally:
        crd.kubectl("delete", "raftrun", name, "-n", NS, "--wait=false", check=False)


def test_kubectl_explain_teaches_the_api(crd) -> None:
    out = crd.kubectl("explain", "raftrun.spec.datagen.oracleProbability").stdout
    assert "Probability that a record contains its oracle document" in out
