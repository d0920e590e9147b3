"""The RaftRun CRD, defined in code: the single source of crds/raftoperator.io_raftruns.yaml.

``hack/crdgen.py`` renders it to YAML (and docs/api.md); the operator uses it at run time to
apply the schema's defaults exactly as the API server does (:func:`apply_defaults`) before it
reads the spec through :mod:`raft_operator.run_spec`, which declares no default of its own, so
the operator never repeats a default. The programs' run-config defaults (for a run.yaml written
by hand) equal these; tests/operator/test_run_spec.py checks both. Every field has a description; strings and lists carry bounds so the
API server can estimate the cost of the CEL rules.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from . import admission as adm
from .admission import rule

GROUP = "raftoperator.io"
VERSION = "v1alpha1"
DEFAULT_IMAGE_TAG = "0.1.0"
DEFAULT_IMAGES = {
    "vllm": "vllm/vllm-openai:v0.33.0",  # transformers 5, the trainer's major (hack/transformers-readers.txt)
    "datagen": f"ghcr.io/raft-operator/datagen:{DEFAULT_IMAGE_TAG}",
    "trainer": f"ghcr.io/raft-operator/trainer:{DEFAULT_IMAGE_TAG}",
    "eval": f"ghcr.io/raft-operator/eval:{DEFAULT_IMAGE_TAG}",
}

Schema = dict[str, Any]


# ---- schema helpers -------------------------------------------------------------------------


def string(desc: str, *, default: str | None = None, max_length: int = 253, **extra: Any) -> Schema:
    s: Schema = {"type": "string", "description": desc, "maxLength": max_length, **extra}
    if default is not None:
        s["default"] = default
    return s


def integer(desc: str, *, default: int | None = None, minimum: int | None = None,
            maximum: int | None = None) -> Schema:
    s: Schema = {"type": "integer", "description": desc}
    if minimum is not None:
        s["minimum"] = minimum
    if maximum is not None:
        s["maximum"] = maximum
    if default is not None:
        s["default"] = default
    return s


def number(desc: str, *, default: float | None = None, minimum: float | None = None,
           maximum: float | None = None, rules: list[Schema] | None = None) -> Schema:
    s: Schema = {"type": "number", "description": desc}
    if minimum is not None:
        s["minimum"] = minimum
    if maximum is not None:
        s["maximum"] = maximum
    if default is not None:
        s["default"] = default
    if rules:
        s["x-kubernetes-validations"] = rules
    return s


def boolean(desc: str, *, default: bool | None = None) -> Schema:
    s: Schema = {"type": "boolean", "description": desc}
    if default is not None:
        s["default"] = default
    return s


def obj(desc: str, properties: dict[str, Schema], *, required: list[str] | None = None,
        rules: list[Schema] | None = None, default: Any = None) -> Schema:
    s: Schema = {"type": "object", "description": desc, "properties": properties}
    if required:
        s["required"] = required
    if rules:
        s["x-kubernetes-validations"] = rules
    if default is not None:
        s["default"] = default
    return s


def array(desc: str, items: Schema, *, max_items: int = 64, min_items: int | None = None,
          default: list[Any] | None = None, list_type: str | None = None) -> Schema:
    s: Schema = {"type": "array", "description": desc, "items": items, "maxItems": max_items}
    if min_items is not None:
        s["minItems"] = min_items
    if default is not None:
        s["default"] = default
    if list_type:
        s["x-kubernetes-list-type"] = list_type
    return s


def immutable(what: str) -> Schema:
    return rule(
        "self == oldSelf",
        f"{what} is immutable: the pipeline definition cannot change once the RaftRun exists; "
        "create a new RaftRun to run a different pipeline",
    )


def probability(desc: str, default: float, name: str) -> Schema:
    return number(desc, default=default, rules=[
        rule("self >= 0.0 && self <= 1.0", f"{name} is a probability and must be between 0 and 1"),
    ])


def resources(desc: str) -> Schema:
    amounts = {
        "type": "object",
        "additionalProperties": adm.quantity("A resource quantity.", "a resource amount"),
        "maxProperties": 16,
    }
    return obj(desc, {
        "requests": {**amounts, "description": "Minimum resources, e.g. cpu, memory."},
        "limits": {**amounts, "description": "Maximum resources. GPUs are set by the operator from the GPU fields."},
    })


def key_needs_https(what: str) -> Schema:
    """An endpoint that takes an API key must not send it in clear text."""
    return rule("!has(self.apiKeySecretRef) || self.url.lowerAscii().startsWith('https://')",
                f"{what}.url must use https when apiKeySecretRef is set: the key would cross the network in clear text",
                fieldPath=".url")


def secret_key_ref(desc: str, default_key: str) -> Schema:
    return obj(desc, {
        "name": adm.dns_subdomain("Name of a Secret in the RaftRun's namespace.", "a Secret name"),
        "key": adm.secret_key("Key in the Secret.", default_key),
    }, required=["name"])


# ---- the RaftRun spec ---------------------------------------------------------------------


def corpus() -> Schema:
    return obj(
        "Where the documents come from. Exactly one of volume, sitemap or huggingface.",
        {
            "volume": obj("Documents (txt, md, pdf, html) on a PersistentVolumeClaim, mounted read-only into data generation.", {
                "claimName": adm.dns_subdomain("Name of the PersistentVolumeClaim holding the documents.", "corpus.volume.claimName"),
                "subPath": adm.relative_path("Directory inside the claim; the whole claim when unset.", "corpus.volume.subPath"),
                "include": array("Glob patterns of files to read, relative to subPath.",
                                 string("A glob pattern.", max_length=256), max_items=32,
                                 default=["**/*.txt", "**/*.md", "**/*.pdf", "**/*.html"]),
            }, required=["claimName"]),
            "sitemap": obj("Web pages listed in sitemaps.", {
                "urls": array("Sitemap URLs (XML). Every page they list is fetched.",
                              string("A sitemap URL.", max_length=2048, pattern="^https?://"),
                              max_items=32, min_items=1),
                "maxPages": integer("Upper bound on pages fetched.", default=10000, minimum=1, maximum=1000000),
                "allowPrivateAddresses": boolean("Also fetch from loopback, link-local and private addresses (an intranet site). "
                                                 "Off by default: a sitemap could otherwise point the fetcher at in-cluster services or cloud metadata.",
                                                 default=False),
            }, required=["urls"]),
            "huggingface": obj("A Hugging Face dataset with one text column.", {
                "name": adm.non_empty("Dataset name on the Hub, e.g. org/dataset."),
                "config": adm.non_empty("Dataset configuration name."),
                "split": adm.non_empty("Split to read.", default="train"),
                "textField": adm.non_empty("Column holding the document text.", default="text"),
                "revision": adm.non_empty("Git revision (branch, tag or commit) of the dataset."),
            }, required=["name"]),
        },
        rules=[
            rule("[has(self.volume), has(self.sitemap), has(self.huggingface)].filter(x, x).size() == 1",
                 "corpus needs exactly one source: set one of volume, sitemap or huggingface"),
            immutable("spec.corpus"),
        ],
    )


def teacher() -> Schema:
    vllm = obj(
        "Serve the teacher in the cluster with vLLM's OpenAI-compatible server.",
        {
            "model": adm.model_ref("Model to serve: a Hugging Face id (e.g. meta-llama/Meta-Llama-3-70B-Instruct) or a path on the run's volume.", "teacher.vllm.model"),
            "tensorParallelSize": integer("GPUs the model is sharded over (vLLM --tensor-parallel-size).", default=1, minimum=1, maximum=8),
            "gpusPerReplica": integer("GPUs requested per teacher pod. Defaults to tensorParallelSize; must be a multiple of it.", minimum=1, maximum=16),
            "pipelineParallelSize": integer(
                "Nodes one teacher replica spans (vLLM --pipeline-parallel-size), for models that do not fit on one node: "
                "each replica is a LeaderWorkerSet group (leaderworkerset.x-k8s.io/v1) of this many pods with "
                "tensorParallelSize GPUs each.", default=1, minimum=1, maximum=16),
            "replicas": integer("Teacher pods; data generation spreads requests over all of them.", default=1, minimum=1, maximum=64),
            "revision": adm.non_empty("Model revision (branch, tag or commit) to serve and to cache; the repository's default branch when unset.", max_length=256),
            "image": adm.non_empty("vLLM image; defaults to spec.scheduling.images.vllm.", max_length=512),
            "maxModelLen": integer("Maximum context length in tokens (vLLM --max-model-len).", default=8192, minimum=256, maximum=1048576),
            "gpuMemoryUtilization": number("Fraction of GPU memory vLLM may use (--gpu-memory-utilization).", default=0.9, rules=[
                rule("self > 0.0 && self <= 1.0", "gpuMemoryUtilization must be greater than 0 and at most 1")]),
            "extraArgs": array("More vLLM server arguments, e.g. [--enable-prefix-caching].", string("An argument.", max_length=1024), max_items=64),
            "resources": resources("CPU and memory per teacher pod."),
            "shmSize": adm.size_string("Size of the /dev/shm memory volume (NCCL needs it for tensor parallelism).", "teacher.vllm.shmSize", "16Gi"),
            "startupTimeoutSeconds": integer("How long the teacher may take to load before the run fails (a 70B model takes tens of minutes).", default=3600, minimum=30, maximum=86400),
        },
        required=["model"],
        rules=[rule("!has(self.gpusPerReplica) || self.gpusPerReplica % self.tensorParallelSize == 0",
                    "teacher.vllm.gpusPerReplica must be a multiple of tensorParallelSize: vLLM shards the model over exactly tensorParallelSize GPUs",
                    fieldPath=".gpusPerReplica"),
               rule("self.pipelineParallelSize == 1 || !has(self.gpusPerReplica) || self.gpusPerReplica == self.tensorParallelSize",
                    "with teacher.vllm.pipelineParallelSize above 1 each pod holds one pipeline stage of exactly tensorParallelSize GPUs: gpusPerReplica must equal tensorParallelSize",
                    fieldPath=".gpusPerReplica")],
    )
    external = obj(
        "Use an OpenAI-compatible endpoint that already runs (hosted API or a shared vLLM).",
        {
            "url": adm.non_empty("Base URL of the OpenAI-compatible API, e.g. https://api.example.com/v1.", max_length=2048, pattern="^https?://"),
            "model": adm.non_empty("Model name to request.", max_length=512),
            "apiKeySecretRef": secret_key_ref("Secret holding the API key. The key is passed to workloads as an environment variable and never logged. Needs an https url.", "api-key"),
        },
        required=["url", "model"],
        rules=[key_needs_https("teacher.external")],
    )
    return obj(
        "The large model that writes questions and chain-of-thought answers (and judges eval answers unless eval.judge is set). Exactly one of vllm or external.",
        {"vllm": vllm, "external": external},
        rules=[
            rule("has(self.vllm) != has(self.external)", "teacher needs exactly one of vllm (served in the cluster) or external (an existing endpoint)"),
            immutable("spec.teacher"),
        ],
    )


def datagen() -> Schema:
    return obj(
        "How the RAFT dataset is generated from the corpus.",
        {
            "chunkSize": integer("Target chunk length in characters.", default=1000, minimum=100, maximum=20000),
            "chunkOverlap": integer("Characters shared by neighbouring chunks.", default=100, minimum=0, maximum=10000),
            "minChunkChars": integer("Chunks shorter than this are dropped.", default=200, minimum=0, maximum=10000),
            "questionsPerChunk": integer("Questions the teacher writes per chunk.", default=4, minimum=1, maximum=50),
            "distractors": integer("Distractor documents per record.", default=4, minimum=0, maximum=50),
            "oracleProbability": probability("Probability that a record contains its oracle document (P in the RAFT paper).", 0.8, "oracleProbability"),
            "refusalProbability": probability("With noOracleLabel refuse: probability that a question whose record has the oracle also gets an extra record without it, labelled with the refusal answer. Unused with noOracleLabel answer.", 0.05, "refusalProbability"),
            "noOracleLabel": string("Label of the records without their oracle document (1 - oracleProbability of them). refuse (default): the refusal answer, and the training and eval prompt tell the model to refuse when no document holds the answer; every quote in a label is then in the record's own documents. answer: the chain-of-thought answer, as in the RAFT paper (the student learns the domain by heart, but the label quotes text its documents lack); the prompt tells the model to answer from what it knows, and no refusal records are written.", default="refuse", enum=["refuse", "answer"], max_length=16),
            "workers": integer("Ray worker pods.", default=2, minimum=1, maximum=256),
            "concurrency": integer("Fixed number of requests each worker keeps in flight to the teacher. Unset (the default): each worker finds it per teacher replica, growing while the server's queue is empty and backing off when requests queue (vLLM's /metrics, else throughput), up to maxInFlightPerReplica.", minimum=1, maximum=4096),
            "maxInFlightPerReplica": integer("Most requests all workers together keep in flight to one teacher replica when concurrency is unset.", default=1024, minimum=1, maximum=16384),
            "temperature": number("Teacher sampling temperature.", default=0.7, minimum=0, maximum=2),
            "maxTokens": integer("Maximum tokens per teacher answer.", default=1024, minimum=16, maximum=65536),
            "seed": integer("Seed for every random choice: the same inputs give the same dataset.", default=42, minimum=0),
            "evalQuestions": integer("Questions held out for evaluation (their chunks never appear as oracle in training).", default=100, minimum=0, maximum=100000),
            "resources": resources("CPU and memory per Ray worker."),
        },
        default={},
        rules=[
            rule("!has(self.chunkOverlap) || !has(self.chunkSize) || self.chunkOverlap < self.chunkSize", "datagen.chunkOverlap must be smaller than datagen.chunkSize"),
            immutable("spec.datagen"),
        ],
    )


def student() -> Schema:
    return obj(
        "The small model that is fully fine-tuned on the RAFT dataset with FSDP.",
        {
            "baseModel": adm.model_ref("Model to fine-tune: a Hugging Face id (e.g. meta-llama/Meta-Llama-3-8B-Instruct) or a path on the run's volume. Its tokenizer must have a chat template.", "student.baseModel"),
            "learningRate": number("Peak AdamW learning rate.", default=1e-5, rules=[
                rule("self > 0.0 && self < 1.0", "learningRate must be greater than 0 and less than 1")]),
            "epochs": integer("Passes over the training set.", default=1, minimum=1, maximum=100),
            "contextLength": integer("Tokens per packed training sequence.", default=8192, minimum=512, maximum=262144),
            "perDeviceBatchSize": integer("Packed sequences per GPU per step.", default=1, minimum=1, maximum=256),
            "gradientAccumulationSteps": integer("Micro-batches per optimizer step.", default=8, minimum=1, maximum=4096),
            "warmupRatio": number("Fraction of steps with linear warm-up before the cosine decay.", default=0.03, minimum=0, maximum=0.5),
            "precision": string("bf16 mixed precision, or fp32.", default="bf16", enum=["bf16", "fp32"]),
            "activationCheckpointing": boolean("Recompute activations in the backward pass to save memory.", default=True),
            "checkpointEverySteps": integer("Steps between resumable checkpoints.", default=200, minimum=1),
            "trainingApi": string(
                "Kubeflow API that runs the training: TrainJob (Trainer v2, trainer.kubeflow.org/v1alpha1), "
                "PyTorchJob (training operator, kubeflow.org/v1, legacy) or auto: the one installed, TrainJob when both are.",
                default="auto", enum=["auto", "TrainJob", "PyTorchJob"], max_length=16),
            "trainingRuntime": adm.dns_subdomain("ClusterTrainingRuntime a TrainJob runs on (Trainer's torch runtime).",
                                                 "student.trainingRuntime", default="torch-distributed"),
            "nodes": integer("Nodes (training pods, one torchrun each).", default=1, minimum=1, maximum=512),
            "gpusPerNode": integer("GPUs per node (torchrun --nproc-per-node).", default=8, minimum=1, maximum=16),
            "resources": resources("CPU and memory per training pod."),
            "shmSize": adm.size_string("Size of the /dev/shm memory volume of each training pod.", "student.shmSize", "64Gi"),
        },
        required=["baseModel"],
        rules=[immutable("spec.student")],
    )


def endpoint_ref(desc: str, what: str) -> Schema:
    return obj(desc, {
        "url": adm.non_empty("Base URL of the OpenAI-compatible API.", max_length=2048, pattern="^https?://"),
        "model": adm.non_empty("Model name to request.", max_length=512),
        "apiKeySecretRef": secret_key_ref("Secret holding the API key. Needs an https url.", "api-key"),
    }, required=["url", "model"], rules=[key_needs_https(what)])


def eval_() -> Schema:
    return obj(
        "How the fine-tuned student is scored against baselines.",
        {
            "judge": endpoint_ref("LLM judge that answers YES or NO against the reference answer. Defaults to the teacher.", "eval.judge"),
            "topK": array("Retrieved chunks per question in RAG mode, one evaluation per value.",
                          integer("Top k.", minimum=1, maximum=100), max_items=16, min_items=1,
                          default=[3, 5, 7], list_type="set"),
            "withoutRag": boolean("Also evaluate every model without retrieval.", default=True),
            "primaryMode": string("The mode of the headline score and of the paired comparisons with the baselines, declared before the results: rag (at primaryTopK) or none (no retrieval; needs withoutRag). Every mode stays in the report.", default="rag", enum=["rag", "none"], max_length=8),
            "primaryTopK": integer("The top k of the headline in rag mode; one of topK. Defaults to the first value of topK.", minimum=1, maximum=100),
            "baselines": obj("Models the student is compared with.", {
                "baseStudent": boolean("The student before fine-tuning (served by its own vLLM Deployment).", default=True),
                "teacher": boolean("The teacher.", default=True),
            }, default={}),
            "embeddingModel": adm.model_ref("sentence-transformers model for retrieval.", "eval.embeddingModel") | {"default": "sentence-transformers/all-MiniLM-L6-v2"},
            "evalFile": adm.relative_path("Path of a JSON or JSONL file (question, answer) on the run's volume, relative to the run's directory; replaces the held-out questions.", "eval.evalFile"),
            "concurrency": integer("Fixed number of requests in flight per model. Unset (the default): found per server replica as for datagen, up to maxInFlightPerReplica.", minimum=1, maximum=1024),
            "maxInFlightPerReplica": integer("Most requests in flight to one replica of a model (or the judge) when concurrency is unset.", default=1024, minimum=1, maximum=16384),
            "maxTokens": integer("Maximum tokens per answer and per judge verdict.", default=1024, minimum=16, maximum=65536),
            "rubric": boolean("Also ask the judge for 1-5 rubric scores (groundedness, relevance, similarity).", default=False),
            "servingGpus": integer("GPUs per student vLLM server.", default=1, minimum=1, maximum=8),
        },
        default={},
        rules=[
            rule("!has(self.primaryTopK) || !has(self.topK) || self.primaryTopK in self.topK",
                 "eval.primaryTopK must be one of eval.topK", fieldPath=".primaryTopK"),
            rule("!has(self.primaryTopK) || !has(self.primaryMode) || self.primaryMode == 'rag'",
                 "eval.primaryTopK applies only to eval.primaryMode rag", fieldPath=".primaryTopK"),
            rule("!has(self.primaryMode) || self.primaryMode != 'none' || !has(self.withoutRag) || self.withoutRag",
                 "eval.primaryMode none needs eval.withoutRag true: the headline mode must be evaluated",
                 fieldPath=".primaryMode"),
            immutable("spec.eval"),
        ],
    )


def storage() -> Schema:
    return obj(
        "The ReadWriteMany volume shared by every stage (model cache, dataset, checkpoints, model, reports). Exactly one of existingClaim or size.",
        {
            "existingClaim": adm.dns_subdomain("Use this existing ReadWriteMany PersistentVolumeClaim.", "storage.existingClaim"),
            "size": adm.quantity("Create a claim of this size.", "storage.size", positive=True),
            "storageClassName": adm.dns_subdomain("Storage class of the created claim; it must support ReadWriteMany.", "storage.storageClassName"),
            "retentionPolicy": string("What happens to a created claim when the RaftRun is deleted.", default="Retain", enum=["Retain", "Delete"]),
            "modelCache": obj(
                "A shared ReadWriteMany claim of Hugging Face models, reused by every run that names it (the chart can create it): "
                "the teacher's and the base student's model revisions are downloaded once, by the first server or trainer that needs them "
                "while others wait; vLLM reads them read-only and offline.",
                {"claimName": adm.dns_subdomain("The model-cache claim, in the run's namespace.", "storage.modelCache.claimName")},
                required=["claimName"]),
        },
        rules=[
            rule("has(self.existingClaim) != has(self.size)", "storage needs exactly one of existingClaim or size"),
            rule("!has(self.existingClaim) || !has(self.storageClassName)", "storage.storageClassName applies only to a claim the operator creates (size), not to existingClaim"),
            rule("has(self.existingClaim) == has(oldSelf.existingClaim) && (!has(self.existingClaim) || self.existingClaim == oldSelf.existingClaim)",
                 "storage.existingClaim is immutable once the RaftRun exists"),
            rule("has(self.size) == has(oldSelf.size) && (!has(self.size) || self.size == oldSelf.size)",
                 "storage.size is immutable once the RaftRun exists"),
            rule("has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)",
                 "storage.storageClassName is immutable once the RaftRun exists"),
        ],
    )


def scheduling() -> Schema:
    toleration = obj("A toleration, as in a Pod spec.", {
        "key": string("Taint key."),
        "operator": string("Exists or Equal.", enum=["Exists", "Equal"]),
        "value": string("Taint value."),
        "effect": string("NoSchedule, PreferNoSchedule or NoExecute; all when empty.", enum=["NoSchedule", "PreferNoSchedule", "NoExecute", ""]),
        "tolerationSeconds": integer("For NoExecute: how long the pod stays bound after the taint appears."),
    }, rules=adm.TOLERATION_RULES)
    images = {
        name: adm.non_empty(f"Image of the {what}.", default=DEFAULT_IMAGES[name], max_length=512)
        for name, what in [("vllm", "vLLM servers (teacher and student)"), ("datagen", "Ray data generation workers"),
                           ("trainer", "FSDP trainer"), ("eval", "eval Job")]
    }
    return obj(
        "Where and how the workloads run. Changes apply to workloads created afterwards.",
        {
            "nodeSelector": adm.label_map("Node labels every workload pod requires.", "scheduling.nodeSelector"),
            "tolerations": array("Tolerations added to every workload pod.", toleration, max_items=32),
            "priorityClassName": adm.dns_subdomain("PriorityClass of every workload pod.", "scheduling.priorityClassName"),
            "queueName": adm.label_value("Kueue LocalQueue; sets kueue.x-k8s.io/queue-name on the RayJob, TrainJob or PyTorchJob, Jobs and servers. Kueue 0.19 and later need its pytorchjob integration enabled for a PyTorchJob (see docs/kueue.md); prefer TrainJob.", "scheduling.queueName"),
            "imagePullSecrets": array("Secrets for pulling the images.", obj("A Secret reference.", {"name": adm.dns_subdomain("Secret name.", "an image pull Secret name")}, required=["name"]), max_items=16),
            "huggingFaceTokenSecretRef": secret_key_ref("Secret with a Hugging Face token (gated models such as Llama). Passed as HF_TOKEN, never logged.", "token"),
            "images": obj("Images per workload.", images, default={}),
        },
        default={},
    )


def failure_policy() -> Schema:
    return obj("Retries and deadlines of the stages.", {
        "backoffLimit": integer("Retries of each batch stage (RayJob, PyTorchJob, eval Job) before the run fails.", default=2, minimum=0, maximum=20),
        "datagenDeadlineSeconds": integer("Deadline of the data generation RayJob.", default=86400, minimum=60),
        "finetuneDeadlineSeconds": integer("Deadline of the fine-tuning PyTorchJob.", default=259200, minimum=60),
        "evalDeadlineSeconds": integer("Deadline of the eval stage (student servers and Job).", default=43200, minimum=60),
        "pendingDeadlineSeconds": integer(
            "How long any pod of the run may stay unschedulable or unable to start (missing claim, not enough GPUs, "
            "image pull errors, crash loops) before the run fails and releases every GPU. Time a Kueue-queued job "
            "waits for admission does not count.", default=1800, minimum=10, maximum=86400),
    }, default={})


def spec() -> Schema:
    return obj(
        "The pipeline: documents → teacher-written RAFT dataset → fine-tuned student → evaluation.",
        {
            "suspend": boolean("Pause the run: batch workloads are suspended and servers scaled to zero; set to false to resume.", default=False),
            "corpus": corpus(),
            "teacher": teacher(),
            "datagen": datagen(),
            "student": student(),
            "eval": eval_(),
            "storage": storage(),
            "scheduling": scheduling(),
            "failurePolicy": failure_policy(),
        },
        required=["corpus", "teacher", "student", "storage"],
        rules=adm.spec_rules(),
    )


# ---- status -------------------------------------------------------------------------------

PHASES = ["Pending", "ServingTeacher", "GeneratingData", "FineTuning", "Evaluating", "Succeeded", "Failed", "Suspended"]
STAGES = ["teacher", "datagen", "finetune", "eval"]


def condition() -> Schema:
    return obj("A metav1.Condition.", {
        "type": string("Condition type: Ready, Succeeded, Stalled, Reconciling, TeacherReady, DataGenerated, ModelTrained, Evaluated.", max_length=316),
        "status": string("True, False or Unknown.", enum=["True", "False", "Unknown"]),
        "reason": string("CamelCase reason.", max_length=1024),
        "message": string("Human-readable detail.", max_length=32768),
        "lastTransitionTime": {"type": "string", "format": "date-time", "description": "When status last changed."},
        "observedGeneration": {"type": "integer", "format": "int64", "minimum": 0, "description": "The spec generation this condition was computed from."},
    }, required=["type", "status", "lastTransitionTime", "reason", "message"])


def status() -> Schema:
    stage = obj("One stage's timing and children.", {
        "startTime": {"type": "string", "format": "date-time", "description": "When the stage started."},
        "completionTime": {"type": "string", "format": "date-time", "description": "When the stage finished."},
        "children": array("Child objects of this stage, as Kind/name.", {"type": "string"}, max_items=32),
    })
    result = obj("Scores of one model in one mode.", {
        "model": {"type": "string", "description": "Model name: student, base, teacher."},
        "mode": {"type": "string", "description": "none (no retrieval) or rag."},
        "topK": {"type": "integer", "description": "Retrieved chunks (rag mode)."},
        **{k: {"type": "number", "description": d} for k, d in [
            ("judgeScore", "Fraction of all answers judged correct (YES); absent when the judge coverage is below the threshold."),
            ("judgeCoverage", "Fraction of judge verdicts readable as YES or NO."),
            ("formatFollowed", "Fraction of replies ending in the <ANSWER>: line."),
            ("rouge1", "ROUGE-1 F."), ("rouge2", "ROUGE-2 F."),
            ("rougeL", "ROUGE-L F."), ("bleu", "BLEU."), ("exactMatch", "Exact match of the extracted answer."),
            ("f1", "Token F1 of the extracted answer."), ("precision", "Fraction judged correct among the answers that are not refusals.")]},
        "refusals": {"type": "integer", "description": "Answers that refused."},
        "total": {"type": "integer", "description": "Questions asked."},
    })
    return obj("Observed state. Written by the operator only.", {
        "observedGeneration": {"type": "integer", "format": "int64", "description": "The spec generation the operator last reconciled."},
        "phase": string("Pending, ServingTeacher, GeneratingData, FineTuning, Evaluating, Succeeded, Failed or Suspended.", enum=PHASES),
        "stage": string("Current (or last) stage: teacher, datagen, finetune, eval, done."),
        "progress": string("Progress of the current stage, for people.", max_length=256),
        "score": string("Summary score of the fine-tuned student once evaluated.", max_length=256),
        "message": string("What the run is doing or why it failed.", max_length=32768),
        "startTime": {"type": "string", "format": "date-time", "description": "When the run started."},
        "completionTime": {"type": "string", "format": "date-time", "description": "When the run succeeded or failed."},
        "conditions": {
            **array("Conditions: Ready (reconciled without error, not failed), Succeeded (pipeline finished), Stalled (failed; needs a person), Reconciling (a stage runs, or an ended run releases its servers), and one per stage.", condition(), max_items=16, list_type="map"),
            "x-kubernetes-list-map-keys": ["type"],
        },
        "stages": obj("Per-stage timing and children.", {s: stage for s in STAGES}),
        "datagen": obj("Data generation progress.", {
            k: {"type": "integer", "description": d} for k, d in [
                ("chunksDone", "Chunks finished."), ("chunksTotal", "Chunks in the corpus."), ("records", "RAFT records written."),
                ("malformed", "Teacher outputs that were malformed and skipped."), ("retries", "Requests retried.")]
        } | {"tokensPerSecond": {"type": "number", "description": "Teacher tokens per second."},
             "rejected": {"type": "object", "additionalProperties": {"type": "integer"},
                          "description": "Teacher chain-of-thought answers rejected, by reason: cutOff, noAnswer, teacherRefused, noQuote, quoteNotInOracle."}}),
        "training": obj("Fine-tuning progress.", {
            "step": {"type": "integer", "description": "Optimizer steps done."},
            "totalSteps": {"type": "integer", "description": "Optimizer steps in total."},
            "epoch": {"type": "number", "description": "Fractional epoch."},
            "loss": {"type": "number", "description": "Training loss (latest step)."},
            "firstLoss": {"type": "number", "description": "Training loss of the first step (with loss: the trend over the run)."},
            "validationLoss": {"type": "number", "description": "Last validation loss."},
            "tokensPerSecond": {"type": "number", "description": "Training tokens per second, all GPUs."},
            "mfu": {"type": "number", "description": "Model FLOPs utilisation (GPU only)."},
        }),
        "results": obj("Eval results.", {
            "models": array("Scores per model, mode and top_k.", result, max_items=256),
            "summary": obj("Headline numbers, in the primary mode (spec.eval.primaryMode).", {
                "model": {"type": "string", "description": "The student."},
                "mode": {"type": "string", "description": "The primary mode: none or rag."},
                "topK": {"type": "integer", "description": "Retrieved chunks of the primary mode (rag)."},
                "judgeScore": {"type": "number", "description": "Judge score of the student in the primary mode; absent when judgeWithheld."},
                "judgeCoverage": {"type": "number", "description": "Fraction of the student's judge verdicts that were readable."},
                "judgeWithheld": {"type": "string", "description": "Why there is no judge score (coverage below the threshold)."},
                "judgeIsTeacher": {"type": "boolean", "description": "The judge is the teacher, which also wrote the references and the training labels."},
                "formatFollowed": {"type": "number", "description": "Fraction of the student's replies ending in the <ANSWER>: line."},
                "improvement": {"type": "object", "additionalProperties": {"type": "number"},
                                "description": "Relative improvement of the student's judge score over each baseline."},
                "comparisons": array("Paired differences with each baseline over the same questions.", obj("One paired comparison.", {
                    "baseline": {"type": "string", "description": "The baseline model."},
                    "metric": {"type": "string", "description": "judge (correct or not) or f1."},
                    "difference": {"type": "number", "description": "Mean of student minus baseline."},
                    "ciLow": {"type": "number", "description": "Lower end of the 95% interval (bootstrap over source chunks)."},
                    "ciHigh": {"type": "number", "description": "Upper end of the 95% interval."},
                    "pValue": {"type": "number", "description": "Two-sided paired randomisation test over source chunks."},
                }), max_items=32),
            }),
            "reportPath": {"type": "string", "description": "Path of report.html on the run's volume."},
        }),
    })


def crd() -> Schema:
    printer = [
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Stage", "type": "string", "jsonPath": ".status.stage"},
        {"name": "Progress", "type": "string", "jsonPath": ".status.progress"},
        {"name": "Score", "type": "string", "jsonPath": ".status.score"},
        {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"raftruns.{GROUP}",
            "labels": {"app.kubernetes.io/part-of": "raft-operator"},
        },
        "spec": {
            "group": GROUP,
            "names": {"kind": "RaftRun", "listKind": "RaftRunList", "plural": "raftruns", "singular": "raftrun",
                      "shortNames": ["raft", "rr"], "categories": ["raft", "ml"]},
            "scope": "Namespaced",
            "versions": [{
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": printer,
                "schema": {"openAPIV3Schema": obj(
                    "RaftRun: Retrieval Augmented Fine Tuning from documents to an evaluated student model. "
                    "A teacher model writes a RAFT dataset from the corpus, the student is fully fine-tuned on it, and eval scores it against baselines.",
                    {
                        "apiVersion": {"type": "string", "description": "APIVersion of this object."},
                        "kind": {"type": "string", "description": "Kind of this object."},
                        "metadata": adm.RUN_METADATA,
                        "spec": spec(),
                        "status": status(),
                    },
                    required=["spec"],
                    rules=adm.run_name_rules(),
                )},
            }],
        },
    }


@functools.cache
def spec_schema() -> Schema:
    """The openAPIV3Schema of ``spec``."""
    return crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]


def _default(schema: Schema, value: Any) -> Any:
    if value is None:
        if "default" not in schema:
            return None
        value = copy.deepcopy(schema["default"])
    if isinstance(value, dict) and "properties" in schema:
        for name, sub in schema["properties"].items():
            filled = _default(sub, value.get(name))
            if filled is not None:
                value[name] = filled
    elif isinstance(value, list) and "properties" in schema.get("items", {}):
        value = [_default(schema["items"], v) for v in value]
    return value


def apply_defaults(spec: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``spec`` with the schema's defaults filled in (structural defaulting)."""
    return _default(spec_schema(), copy.deepcopy(spec))
