"""A typed, read-only view of a RaftRun's spec, with the schema's defaults applied.

The view declares no defaults: :func:`view` fills them from :mod:`raft_operator.schema`
(:func:`~raft_operator.schema.apply_defaults`, as the API server does) and then reads the
result. A field is ``X | None`` exactly when the schema gives it neither a default nor makes it
required, so the builders never fall back to a value of their own. Attribute names are the
schema's in snake_case (``gpusPerNode`` → ``gpus_per_node``); tests/operator/test_run_spec.py
checks that every field, type and enum matches the schema and that the view covers all of it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from .schema import apply_defaults

Resources = dict[str, dict[str, Any]]  # {requests: {...}, limits: {...}}, passed on as written


class SpecModel(BaseModel):
    """Frozen, camelCase on the wire; fields the view does not know are ignored (the test forbids that)."""

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_dict(self, *, exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
        """The section as the spec writes it (camelCase, unset fields left out), less ``exclude`` (camelCase)."""
        return {k: v for k, v in self.model_dump(mode="json", by_alias=True, exclude_none=True).items()
                if k not in exclude}


class SecretKeyRef(SpecModel):
    name: str
    key: str


class VolumeCorpus(SpecModel):
    claim_name: str
    sub_path: str | None = None
    include: tuple[str, ...]


class SitemapCorpus(SpecModel):
    urls: tuple[str, ...]
    max_pages: int
    allow_private_addresses: bool


class HuggingFaceCorpus(SpecModel):
    name: str
    config: str | None = None
    split: str
    text_field: str
    revision: str | None = None


class Corpus(SpecModel):
    volume: VolumeCorpus | None = None
    sitemap: SitemapCorpus | None = None
    huggingface: HuggingFaceCorpus | None = None


class VllmTeacher(SpecModel):
    model: str
    tensor_parallel_size: int
    gpus_per_replica: int | None = None
    pipeline_parallel_size: int
    replicas: int
    revision: str | None = None
    image: str | None = None
    max_model_len: int
    gpu_memory_utilization: float
    extra_args: tuple[str, ...] | None = None
    resources: Resources | None = None
    shm_size: str
    startup_timeout_seconds: int


class Endpoint(SpecModel):
    url: str
    model: str
    api_key_secret_ref: SecretKeyRef | None = None


class Teacher(SpecModel):
    vllm: VllmTeacher | None = None
    external: Endpoint | None = None


class Datagen(SpecModel):
    chunk_size: int
    chunk_overlap: int
    min_chunk_chars: int
    questions_per_chunk: int
    distractors: int
    oracle_probability: float
    refusal_probability: float
    no_oracle_label: Literal["refuse", "answer"]
    workers: int
    concurrency: int | None = None
    max_in_flight_per_replica: int
    temperature: float
    max_tokens: int
    seed: int
    eval_questions: int
    resources: Resources | None = None


class Student(SpecModel):
    base_model: str
    learning_rate: float
    epochs: int
    context_length: int
    per_device_batch_size: int
    gradient_accumulation_steps: int
    warmup_ratio: float
    precision: Literal["bf16", "fp32"]
    activation_checkpointing: bool
    checkpoint_every_steps: int
    training_api: Literal["auto", "TrainJob", "PyTorchJob"]
    training_runtime: str
    nodes: int
    gpus_per_node: int
    resources: Resources | None = None
    shm_size: str


class Baselines(SpecModel):
    base_student: bool
    teacher: bool


class Eval(SpecModel):
    judge: Endpoint | None = None
    top_k: tuple[int, ...]
    without_rag: bool
    primary_mode: Literal["rag", "none"]
    primary_top_k: int | None = None
    baselines: Baselines
    embedding_model: str
    eval_file: str | None = None
    concurrency: int | None = None
    max_in_flight_per_replica: int
    max_tokens: int
    rubric: bool
    serving_gpus: int


class ModelCache(SpecModel):
    claim_name: str


class Storage(SpecModel):
    existing_claim: str | None = None
    size: int | str | None = None
    storage_class_name: str | None = None
    retention_policy: Literal["Retain", "Delete"]
    model_cache: ModelCache | None = None


class Toleration(SpecModel):
    key: str | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute", ""] | None = None
    toleration_seconds: int | None = None


class ImagePullSecret(SpecModel):
    name: str


class Images(SpecModel):
    vllm: str
    datagen: str
    trainer: str
    eval: str


class Scheduling(SpecModel):
    node_selector: dict[str, str] | None = None
    tolerations: tuple[Toleration, ...] | None = None
    priority_class_name: str | None = None
    queue_name: str | None = None
    image_pull_secrets: tuple[ImagePullSecret, ...] | None = None
    hugging_face_token_secret_ref: SecretKeyRef | None = None
    images: Images


class FailurePolicy(SpecModel):
    backoff_limit: int
    datagen_deadline_seconds: int
    finetune_deadline_seconds: int
    eval_deadline_seconds: int
    pending_deadline_seconds: int


class RaftRunSpec(SpecModel):
    """``spec`` of a RaftRun."""

    suspend: bool
    corpus: Corpus
    teacher: Teacher
    datagen: Datagen
    student: Student
    eval: Eval
    storage: Storage
    scheduling: Scheduling
    failure_policy: FailurePolicy


def view(spec: dict[str, Any]) -> RaftRunSpec:
    """The typed view of a RaftRun ``spec`` as stored (the schema's defaults are filled in here)."""
    return RaftRunSpec.model_validate(apply_defaults(spec))
