"""``spec`` of a RaftRun: every field once, with its description, default, bounds and admission rules.

The operator reads a stored spec with :func:`view` (pydantic fills the defaults the API server
also fills); ``hack/crdgen.py`` renders these models into the CRD and docs/api.md
(:mod:`raft_api.openapi`); run.yaml (:mod:`raft_api.runconfig`) reuses the sections the programs
read. Attribute names are the wire's in snake_case (``gpusPerNode`` → ``gpus_per_node``).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from .k8s import (LABEL_KEY, LABEL_VALUE, dns_subdomain, field, immutable, label_map, label_value, model_ref, non_empty, probability,
                  quantity, relative_path, resources, rule, secret_key, size_string, string)

DEFAULT_IMAGE_TAG = "0.1.0"
DEFAULT_IMAGES = {
    "vllm": "vllm/vllm-openai:v0.33.0",  # transformers 5, the trainer's major (hack/transformers-readers.txt)
    "datagen": f"ghcr.io/raft-operator/datagen:{DEFAULT_IMAGE_TAG}",
    "trainer": f"ghcr.io/raft-operator/trainer:{DEFAULT_IMAGE_TAG}",
    "eval": f"ghcr.io/raft-operator/eval:{DEFAULT_IMAGE_TAG}",
}
CHARS_PER_TOKEN = 4  # typical for English prose with Llama-style tokenizers

Resources = dict[str, dict[str, Any]]  # {requests: {...}, limits: {...}}, passed on as written
TopK = Annotated[int, Field(ge=1, le=100)]


class SpecModel(BaseModel):
    """Frozen, camelCase on the wire; fields the model does not know are ignored (the API server
    prunes them anyway)."""

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True, extra="ignore")
    # Fields that set the pods, not the program: run.yaml (raft_api.runconfig) leaves them out.
    pod_fields: ClassVar[frozenset[str]] = frozenset()

    def to_dict(self, *, exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
        """The section as the spec writes it (camelCase, unset fields left out), less ``exclude`` (camelCase)."""
        return {k: v for k, v in self.model_dump(mode="json", by_alias=True, exclude_none=True).items()
                if k not in exclude}


def key_needs_https(what: str) -> dict[str, Any]:
    """An endpoint that takes an API key must not send it in clear text."""
    return rule("!has(self.apiKeySecretRef) || self.url.lowerAscii().startsWith('https://')",
                f"{what}.url must use https when apiKeySecretRef is set: the key would cross the network in clear text",
                fieldPath=".url")


# ---- corpus ---------------------------------------------------------------------------------


class SecretKeyRef(SpecModel):
    name: str = dns_subdomain("Name of a Secret in the RaftRun's namespace.", "a Secret name", default=...)
    key: str = secret_key("Key in the Secret.", "api-key")


class TokenSecretRef(SecretKeyRef):
    key: str = secret_key("Key in the Secret.", "token")


class VolumeCorpus(SpecModel):
    claim_name: str = dns_subdomain("Name of the PersistentVolumeClaim holding the documents.",
                                    "corpus.volume.claimName", default=...)
    sub_path: str | None = relative_path("Directory inside the claim; the whole claim when unset.", "corpus.volume.subPath")
    include: tuple[str, ...] = field("Glob patterns of files to read, relative to subPath.",
                                     ("**/*.txt", "**/*.md", "**/*.pdf", "**/*.html"), max_length=32,
                                     k8s={"items": {"type": "string", "description": "A glob pattern.", "maxLength": 256}})


class SitemapCorpus(SpecModel):
    urls: tuple[str, ...] = field("Sitemap URLs (XML). Every page they list is fetched.", ..., min_length=1,
                                  max_length=32, k8s={"items": {"type": "string", "description": "A sitemap URL.",
                                                                "maxLength": 2048, "pattern": "^https?://"}})
    max_pages: int = field("Upper bound on pages fetched.", 10000, ge=1, le=1000000)
    allow_private_addresses: bool = field(
        "Also fetch from loopback, link-local and private addresses (an intranet site). "
        "Off by default: a sitemap could otherwise point the fetcher at in-cluster services or cloud metadata.", False)


class HuggingFaceCorpus(SpecModel):
    name: str = non_empty("Dataset name on the Hub, e.g. org/dataset.", ...)
    config: str | None = non_empty("Dataset configuration name.")
    split: str = non_empty("Split to read.", "train")
    text_field: str = non_empty("Column holding the document text.", "text")
    revision: str | None = non_empty("Git revision (branch, tag or commit) of the dataset.")


class Corpus(SpecModel):
    volume: VolumeCorpus | None = field(
        "Documents (txt, md, pdf, html) on a PersistentVolumeClaim, mounted read-only into data generation.")
    sitemap: SitemapCorpus | None = field("Web pages listed in sitemaps.")
    huggingface: HuggingFaceCorpus | None = field("A Hugging Face dataset with one text column.")


# ---- teacher --------------------------------------------------------------------------------


class VllmTeacher(SpecModel):
    model: str = model_ref("Model to serve: a Hugging Face id (e.g. meta-llama/Meta-Llama-3-70B-Instruct) or a path "
                           "on the run's volume.", "teacher.vllm.model", default=...)
    tensor_parallel_size: int = field("GPUs the model is sharded over (vLLM --tensor-parallel-size).", 1, ge=1, le=8)
    gpus_per_replica: int | None = field(
        "GPUs requested per teacher pod. Defaults to tensorParallelSize; must be a multiple of it.", ge=1, le=16)
    pipeline_parallel_size: int = field(
        "Nodes one teacher replica spans (vLLM --pipeline-parallel-size), for models that do not fit on one node: "
        "each replica is a LeaderWorkerSet group (leaderworkerset.x-k8s.io/v1) of this many pods with "
        "tensorParallelSize GPUs each.", 1, ge=1, le=16)
    replicas: int = field("Teacher pods; data generation spreads requests over all of them.", 1, ge=1, le=64)
    revision: str | None = non_empty("Model revision (branch, tag or commit) to serve and to cache; the repository's "
                                     "default branch when unset.", max_length=256)
    image: str | None = non_empty("vLLM image; defaults to spec.scheduling.images.vllm.", max_length=512)
    max_model_len: int = field("Maximum context length in tokens (vLLM --max-model-len).", 8192, ge=256, le=1048576)
    gpu_memory_utilization: float = field(
        "Fraction of GPU memory vLLM may use (--gpu-memory-utilization).", 0.9,
        rules=[rule("self > 0.0 && self <= 1.0", "gpuMemoryUtilization must be greater than 0 and at most 1")])
    extra_args: tuple[str, ...] | None = field(
        "More vLLM server arguments, e.g. [--enable-prefix-caching].", max_length=64,
        k8s={"items": {"type": "string", "description": "An argument.", "maxLength": 1024}})
    resources: Resources | None = resources("CPU and memory per teacher pod.")
    shm_size: str = size_string("Size of the /dev/shm memory volume (NCCL needs it for tensor parallelism).",
                                "teacher.vllm.shmSize", "16Gi")
    startup_timeout_seconds: int = field(
        "How long the teacher may take to load before the run fails (a 70B model takes tens of minutes).",
        3600, ge=30, le=86400)


class Endpoint(SpecModel):
    """An OpenAI-compatible endpoint that already runs."""

    url: str = non_empty("Base URL of the OpenAI-compatible API, e.g. https://api.example.com/v1.", ...,
                         max_length=2048, pattern="^https?://")
    model: str = non_empty("Model name to request.", ..., max_length=512)
    api_key_secret_ref: SecretKeyRef | None = field(
        "Secret holding the API key. The key is passed to workloads as an environment variable and never logged. "
        "Needs an https url.")


class Teacher(SpecModel):
    vllm: VllmTeacher | None = field(
        "Serve the teacher in the cluster with vLLM's OpenAI-compatible server.",
        rules=[rule("!has(self.gpusPerReplica) || self.gpusPerReplica % self.tensorParallelSize == 0",
                    "teacher.vllm.gpusPerReplica must be a multiple of tensorParallelSize: vLLM shards the model over "
                    "exactly tensorParallelSize GPUs", fieldPath=".gpusPerReplica"),
               rule("self.pipelineParallelSize == 1 || !has(self.gpusPerReplica) || "
                    "self.gpusPerReplica == self.tensorParallelSize",
                    "with teacher.vllm.pipelineParallelSize above 1 each pod holds one pipeline stage of exactly "
                    "tensorParallelSize GPUs: gpusPerReplica must equal tensorParallelSize",
                    fieldPath=".gpusPerReplica")])
    external: Endpoint | None = field(
        "Use an OpenAI-compatible endpoint that already runs (hosted API or a shared vLLM).",
        rules=[key_needs_https("teacher.external")])


# ---- datagen --------------------------------------------------------------------------------


class Datagen(SpecModel):
    pod_fields: ClassVar[frozenset[str]] = frozenset({"resources"})

    chunk_size: int = field("Target chunk length in characters.", 1000, ge=100, le=20000)
    chunk_overlap: int = field("Characters shared by neighbouring chunks.", 100, ge=0, le=10000)
    min_chunk_chars: int = field("Chunks shorter than this are dropped.", 200, ge=0, le=10000)
    questions_per_chunk: int = field("Questions the teacher writes per chunk.", 4, ge=1, le=50)
    distractors: int = field("Distractor documents per record.", 4, ge=0, le=50)
    oracle_probability: float = probability(
        "Probability that a record contains its oracle document (P in the RAFT paper).", 0.8, "oracleProbability")
    refusal_probability: float = probability(
        "With noOracleLabel refuse: probability that a question whose record has the oracle also gets an extra "
        "record without it, labelled with the refusal answer. Unused with noOracleLabel answer.", 0.05,
        "refusalProbability")
    no_oracle_label: Literal["refuse", "answer"] = field(
        "Label of the records without their oracle document (1 - oracleProbability of them). refuse (default): the "
        "refusal answer, and the training and eval prompt tell the model to refuse when no document holds the "
        "answer; every quote in a label is then in the record's own documents. answer: the chain-of-thought answer, "
        "as in the RAFT paper (the student learns the domain by heart, but the label quotes text its documents "
        "lack); the prompt tells the model to answer from what it knows, and no refusal records are written.",
        "refuse", k8s={"maxLength": 16})
    workers: int = field("Ray worker pods.", 2, ge=1, le=256)
    concurrency: int | None = field(
        "Fixed number of requests each worker keeps in flight to the teacher. Unset (the default): each worker finds "
        "it per teacher replica, growing while the server's queue is empty and backing off when requests queue "
        "(vLLM's /metrics, else throughput), up to maxInFlightPerReplica.", ge=1, le=4096)
    max_in_flight_per_replica: int = field(
        "Most requests all workers together keep in flight to one teacher replica when concurrency is unset.",
        1024, ge=1, le=16384)
    temperature: float = field("Teacher sampling temperature.", 0.7, ge=0, le=2)
    max_tokens: int = field("Maximum tokens per teacher answer.", 1024, ge=16, le=65536)
    seed: int = field("Seed for every random choice: the same inputs give the same dataset.", 42, ge=0)
    eval_questions: int = field(
        "Questions held out for evaluation (their chunks never appear as oracle in training).", 100, ge=0, le=100000)
    resources: Resources | None = resources("CPU and memory per Ray worker.")


# ---- student --------------------------------------------------------------------------------


class Student(SpecModel):
    pod_fields: ClassVar[frozenset[str]] = frozenset({"resources", "shm_size", "training_api", "training_runtime"})

    base_model: str = model_ref(
        "Model to fine-tune: a Hugging Face id (e.g. meta-llama/Meta-Llama-3-8B-Instruct) or a path on the run's "
        "volume. Its tokenizer must have a chat template.", "student.baseModel", default=...)
    learning_rate: float = field("Peak AdamW learning rate.", 1e-5, rules=[
        rule("self > 0.0 && self < 1.0", "learningRate must be greater than 0 and less than 1")])
    epochs: int = field("Passes over the training set.", 1, ge=1, le=100)
    context_length: int = field("Tokens per packed training sequence.", 8192, ge=512, le=262144)
    per_device_batch_size: int = field("Packed sequences per GPU per step.", 1, ge=1, le=256)
    gradient_accumulation_steps: int = field("Micro-batches per optimizer step.", 8, ge=1, le=4096)
    warmup_ratio: float = field("Fraction of steps with linear warm-up before the cosine decay.", 0.03, ge=0, le=0.5)
    precision: Literal["bf16", "fp32"] = field("bf16 mixed precision, or fp32.", "bf16", k8s={"maxLength": 253})
    activation_checkpointing: bool = field("Recompute activations in the backward pass to save memory.", True)
    checkpoint_every_steps: int = field("Steps between resumable checkpoints.", 200, ge=1)
    training_api: Literal["auto", "TrainJob", "PyTorchJob"] = field(
        "Kubeflow API that runs the training: TrainJob (Trainer v2, trainer.kubeflow.org/v1alpha1), "
        "PyTorchJob (training operator, kubeflow.org/v1, legacy) or auto: the one installed, TrainJob when both are.",
        "auto", k8s={"maxLength": 16})
    training_runtime: str = dns_subdomain("ClusterTrainingRuntime a TrainJob runs on (Trainer's torch runtime).",
                                          "student.trainingRuntime", default="torch-distributed")
    nodes: int = field("Nodes (training pods, one torchrun each).", 1, ge=1, le=512)
    gpus_per_node: int = field("GPUs per node (torchrun --nproc-per-node).", 8, ge=1, le=16)
    resources: Resources | None = resources("CPU and memory per training pod.")
    shm_size: str = size_string("Size of the /dev/shm memory volume of each training pod.", "student.shmSize", "64Gi")


# ---- eval -----------------------------------------------------------------------------------


class Baselines(SpecModel):
    base_student: bool = field("The student before fine-tuning (served by its own vLLM Deployment).", True)
    teacher: bool = field("The teacher.", True)


class Eval(SpecModel):
    pod_fields: ClassVar[frozenset[str]] = frozenset({"baselines", "serving_gpus"})  # the operator's: which servers run

    judge: Endpoint | None = field(
        "LLM judge that answers YES or NO against the reference answer. Defaults to the teacher.",
        rules=[key_needs_https("eval.judge")])
    top_k: tuple[TopK, ...] = field(
        "Retrieved chunks per question in RAG mode, one evaluation per value.", (3, 5, 7), min_length=1, max_length=16,
        k8s={"items": {"description": "Top k."}, "x-kubernetes-list-type": "set"})
    without_rag: bool = field("Also evaluate every model without retrieval.", True)
    primary_mode: Literal["rag", "none"] = field(
        "The mode of the headline score and of the paired comparisons with the baselines, declared before the "
        "results: rag (at primaryTopK) or none (no retrieval; needs withoutRag). Every mode stays in the report.",
        "rag", k8s={"maxLength": 8})
    primary_top_k: int | None = field(
        "The top k of the headline in rag mode; one of topK. Defaults to the first value of topK.", ge=1, le=100)
    baselines: Baselines = field("Models the student is compared with.", Baselines)
    embedding_model: str = model_ref("sentence-transformers model for retrieval.", "eval.embeddingModel",
                                     default="sentence-transformers/all-MiniLM-L6-v2")
    eval_file: str | None = relative_path(
        "Path of a JSON or JSONL file (question, answer) on the run's volume, relative to the run's directory; "
        "replaces the held-out questions.", "eval.evalFile")
    concurrency: int | None = field(
        "Fixed number of requests in flight per model. Unset (the default): found per server replica as for "
        "datagen, up to maxInFlightPerReplica.", ge=1, le=1024)
    max_in_flight_per_replica: int = field(
        "Most requests in flight to one replica of a model (or the judge) when concurrency is unset.",
        1024, ge=1, le=16384)
    max_tokens: int = field("Maximum tokens per answer and per judge verdict.", 1024, ge=16, le=65536)
    rubric: bool = field("Also ask the judge for 1-5 rubric scores (groundedness, relevance, similarity).", False)
    serving_gpus: int = field("GPUs per student vLLM server.", 1, ge=1, le=8)


# ---- storage --------------------------------------------------------------------------------


class ModelCache(SpecModel):
    claim_name: str = dns_subdomain("The model-cache claim, in the run's namespace.",
                                    "storage.modelCache.claimName", default=...)


class Storage(SpecModel):
    existing_claim: str | None = dns_subdomain("Use this existing ReadWriteMany PersistentVolumeClaim.",
                                               "storage.existingClaim")
    size: int | str | None = quantity("Create a claim of this size.", "storage.size", positive=True)
    storage_class_name: str | None = dns_subdomain(
        "Storage class of the created claim; it must support ReadWriteMany.", "storage.storageClassName")
    retention_policy: Literal["Retain", "Delete"] = field(
        "What happens to a created claim when the RaftRun is deleted.", "Retain", k8s={"maxLength": 253})
    model_cache: ModelCache | None = field(
        "A shared ReadWriteMany claim of Hugging Face models, reused by every run that names it (the chart can "
        "create it): the teacher's and the base student's model revisions are downloaded once, by the first server "
        "or trainer that needs them while others wait; vLLM reads them read-only and offline.")


# ---- scheduling -----------------------------------------------------------------------------

TOLERATION_RULES = [
    rule("!has(self.operator) || self.operator != 'Exists' || !has(self.value) || self.value == ''",
         "a toleration with operator Exists matches any value: leave value empty"),
    rule("has(self.key) && self.key != '' || has(self.operator) && self.operator == 'Exists'",
         "a toleration without a key matches every taint and needs operator Exists"),
    rule("!has(self.tolerationSeconds) || has(self.effect) && self.effect == 'NoExecute'",
         "tolerationSeconds applies only to effect NoExecute"),
    rule("!has(self.key) || self.key == '' || self.key.matches('" + LABEL_KEY + "')",
         "a toleration key must be a label key: an optional DNS prefix and '/', then letters, digits, '-', '_' or '.'"),
    rule("!has(self.value) || self.value.matches('" + LABEL_VALUE + "')",
         "a toleration value must be a label value: at most 63 letters, digits, '-', '_' or '.'"),
]


class Toleration(SpecModel):
    key: str | None = string("Taint key.")
    operator: Literal["Exists", "Equal"] | None = field("Exists or Equal.", k8s={"maxLength": 253})
    value: str | None = string("Taint value.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute", ""] | None = field(
        "NoSchedule, PreferNoSchedule or NoExecute; all when empty.", k8s={"maxLength": 253})
    toleration_seconds: int | None = field("For NoExecute: how long the pod stays bound after the taint appears.")


class ImagePullSecret(SpecModel):
    name: str = dns_subdomain("Secret name.", "an image pull Secret name", default=...)


class Images(SpecModel):
    vllm: str = non_empty("Image of the vLLM servers (teacher and student).", DEFAULT_IMAGES["vllm"], max_length=512)
    datagen: str = non_empty("Image of the Ray data generation workers.", DEFAULT_IMAGES["datagen"], max_length=512)
    trainer: str = non_empty("Image of the FSDP trainer.", DEFAULT_IMAGES["trainer"], max_length=512)
    eval: str = non_empty("Image of the eval Job.", DEFAULT_IMAGES["eval"], max_length=512)


class Scheduling(SpecModel):
    node_selector: dict[str, str] | None = label_map("Node labels every workload pod requires.",
                                                     "scheduling.nodeSelector")
    tolerations: tuple[Toleration, ...] | None = field(
        "Tolerations added to every workload pod.", max_length=32,
        k8s={"items": {"description": "A toleration, as in a Pod spec.", "x-kubernetes-validations": TOLERATION_RULES}})
    priority_class_name: str | None = dns_subdomain("PriorityClass of every workload pod.",
                                                    "scheduling.priorityClassName")
    queue_name: str | None = label_value(
        "Kueue LocalQueue; sets kueue.x-k8s.io/queue-name on the RayJob, TrainJob or PyTorchJob, Jobs and servers. "
        "Kueue 0.19 and later need its pytorchjob integration enabled for a PyTorchJob (see docs/kueue.md); prefer "
        "TrainJob.", "scheduling.queueName")
    image_pull_secrets: tuple[ImagePullSecret, ...] | None = field(
        "Secrets for pulling the images.", max_length=16, k8s={"items": {"description": "A Secret reference."}})
    hugging_face_token_secret_ref: TokenSecretRef | None = field(
        "Secret with a Hugging Face token (gated models such as Llama). Passed as HF_TOKEN, never logged.")
    images: Images = field("Images per workload.", Images)


class FailurePolicy(SpecModel):
    backoff_limit: int = field(
        "Retries of each batch stage (RayJob, PyTorchJob, eval Job) before the run fails.", 2, ge=0, le=20)
    datagen_deadline_seconds: int = field("Deadline of the data generation RayJob.", 86400, ge=60)
    finetune_deadline_seconds: int = field("Deadline of the fine-tuning PyTorchJob.", 259200, ge=60)
    eval_deadline_seconds: int = field("Deadline of the eval stage (student servers and Job).", 43200, ge=60)
    pending_deadline_seconds: int = field(
        "How long any pod of the run may stay unschedulable or unable to start (missing claim, not enough GPUs, "
        "image pull errors, crash loops) before the run fails and releases every GPU. Time a Kueue-queued job "
        "waits for admission does not count.", 1800, ge=10, le=86400)


# ---- the spec -------------------------------------------------------------------------------


class RaftRunSpec(SpecModel):
    """The pipeline: documents → teacher-written RAFT dataset → fine-tuned student → evaluation."""

    suspend: bool = field(
        "Pause the run: batch workloads are suspended and servers scaled to zero; set to false to resume.", False)
    corpus: Corpus = field(
        "Where the documents come from. Exactly one of volume, sitemap or huggingface.", ...,
        rules=[rule("[has(self.volume), has(self.sitemap), has(self.huggingface)].filter(x, x).size() == 1",
                    "corpus needs exactly one source: set one of volume, sitemap or huggingface"),
               immutable("spec.corpus")])
    teacher: Teacher = field(
        "The large model that writes questions and chain-of-thought answers (and judges eval answers unless "
        "eval.judge is set). Exactly one of vllm or external.", ...,
        rules=[rule("has(self.vllm) != has(self.external)",
                    "teacher needs exactly one of vllm (served in the cluster) or external (an existing endpoint)"),
               immutable("spec.teacher")])
    datagen: Datagen = field(
        "How the RAFT dataset is generated from the corpus.", Datagen,
        rules=[rule("!has(self.chunkOverlap) || !has(self.chunkSize) || self.chunkOverlap < self.chunkSize",
                    "datagen.chunkOverlap must be smaller than datagen.chunkSize"),
               immutable("spec.datagen")])
    student: Student = field("The small model that is fully fine-tuned on the RAFT dataset with FSDP.", ...,
                             rules=[immutable("spec.student")])
    eval: Eval = field(
        "How the fine-tuned student is scored against baselines.", Eval,
        rules=[rule("!has(self.primaryTopK) || !has(self.topK) || self.primaryTopK in self.topK",
                    "eval.primaryTopK must be one of eval.topK", fieldPath=".primaryTopK"),
               rule("!has(self.primaryTopK) || !has(self.primaryMode) || self.primaryMode == 'rag'",
                    "eval.primaryTopK applies only to eval.primaryMode rag", fieldPath=".primaryTopK"),
               rule("!has(self.primaryMode) || self.primaryMode != 'none' || !has(self.withoutRag) || self.withoutRag",
                    "eval.primaryMode none needs eval.withoutRag true: the headline mode must be evaluated",
                    fieldPath=".primaryMode"),
               immutable("spec.eval")])
    storage: Storage = field(
        "The ReadWriteMany volume shared by every stage (model cache, dataset, checkpoints, model, reports). "
        "Exactly one of existingClaim or size.", ...,
        rules=[rule("has(self.existingClaim) != has(self.size)", "storage needs exactly one of existingClaim or size"),
               rule("!has(self.existingClaim) || !has(self.storageClassName)",
                    "storage.storageClassName applies only to a claim the operator creates (size), not to existingClaim"),
               *(rule(f"has(self.{f}) == has(oldSelf.{f}) && (!has(self.{f}) || self.{f} == oldSelf.{f})",
                      f"storage.{f} is immutable once the RaftRun exists")
                 for f in ("existingClaim", "size", "storageClassName"))])
    scheduling: Scheduling = field("Where and how the workloads run. Changes apply to workloads created afterwards.",
                                   Scheduling)
    failure_policy: FailurePolicy = field("Retries and deadlines of the stages.", FailurePolicy)


# Limits across sections that a model server would otherwise refuse at run time.
SPEC_RULES = [
    rule(f"!has(self.teacher.vllm) || self.datagen.maxTokens + self.datagen.chunkSize / {CHARS_PER_TOKEN} "
         "< self.teacher.vllm.maxModelLen",
         f"datagen.maxTokens plus a chunk (datagen.chunkSize / {CHARS_PER_TOKEN} tokens) must be below "
         "teacher.vllm.maxModelLen: vLLM refuses requests longer than its context; lower datagen.maxTokens "
         "or raise teacher.vllm.maxModelLen", fieldPath=".datagen.maxTokens"),
    rule(f"self.student.contextLength >= self.eval.maxTokens + self.eval.topK.max() * self.datagen.chunkSize "
         f"/ {CHARS_PER_TOKEN}",
         "student.contextLength is the student server's context and must hold the eval answer (eval.maxTokens) "
         f"plus max(eval.topK) chunks of datagen.chunkSize characters (~{CHARS_PER_TOKEN} characters per token): "
         "raise student.contextLength, or lower eval.maxTokens or eval.topK",
         fieldPath=".student.contextLength"),
]


def view(spec: dict[str, Any]) -> RaftRunSpec:
    """The typed view of a RaftRun ``spec`` as stored, with the schema's defaults filled in."""
    return RaftRunSpec.model_validate(spec)
