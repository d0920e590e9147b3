"""run.yaml: the one contract between the operator and the workload programs.

The operator renders a RaftRun into ``run.yaml`` (ConfigMap ``<run>-config``); datagen, finetune
and eval read it with :func:`load_run_config`. The same file, written by hand, drives the
programs on a laptop. Its sections reuse the spec's (:mod:`raft_api.spec`): the fields, defaults
and bounds a user sets are declared there once, less the pod-level ones (:attr:`SpecModel.pod_fields`),
and each section adds only what the programs alone need. Keys are camelCase like the spec; an
unknown key fails loudly, so a typo in a hand-written run.yaml is caught.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from . import spec
from .layout import RunLayout
from .k8s import field

API_VERSION = "raftoperator.io/v1alpha1"
KIND = "RunConfig"

_RUN_YAML = ConfigDict(frozen=False, alias_generator=to_camel, populate_by_name=True, extra="forbid")


class RunConfigError(ValueError):
    """run.yaml is not one the programs can run: one line naming each bad field."""


class RunModel(BaseModel):
    """A run.yaml section of the programs' own."""

    model_config = _RUN_YAML


class Endpoint(RunModel):
    """An OpenAI-compatible model server: one base URL per replica, all serving ``model``."""

    endpoints: list[str] = field("Base URLs, one per replica (or one headless Service, resolveReplicas).", list)
    model: str = field("Model name to request.", "")
    api_key_env: str | None = field("Name of the environment variable holding the key (filled from a Secret).")
    resolve_replicas: bool = field("Each base URL's host is a headless Service: use one endpoint per address "
                                   "it resolves to.", False)

    def api_key(self) -> str:
        """The API key from the environment, or a placeholder for servers without auth."""
        return (os.environ.get(self.api_key_env) if self.api_key_env else None) or "EMPTY"


class VolumeSource(RunModel):
    """Documents in a local folder (the corpus claim, mounted)."""

    path: str = field("Folder holding the documents.", ...)
    include: tuple[str, ...] = spec.VolumeCorpus.model_fields["include"]


class CorpusConfig(RunModel):
    """Exactly one source is set."""

    volume: VolumeSource | None = field("Documents in a folder.")
    sitemap: spec.SitemapCorpus | None = field("Web pages listed in sitemaps.")
    huggingface: spec.HuggingFaceCorpus | None = field("A Hugging Face dataset with one text column.")


def widened(section: type[BaseModel], name: str, note: str, **bounds: Any) -> Any:
    """The spec's field ``name`` (its description and default) with the bounds the programs accept
    instead: a hand-written run.yaml may ask for what a RaftRun cannot (a tiny model's context, no
    retrieval), and ``note`` says what."""
    info = section.model_fields[name]
    return field(f"{info.description} {note}", info.default, **bounds)


class DatagenConfig(spec.Datagen):
    model_config = _RUN_YAML

    validation_fraction: float = field("Share of the training questions kept for validation.", 0.05, ge=0, lt=1)
    request_timeout_seconds: float = field("Timeout of one teacher request.", 120.0, gt=0)
    max_retries: int = field("Retries of one teacher request.", 5, ge=0)


class StudentConfig(spec.Student):
    model_config = _RUN_YAML

    context_length: int = widened(spec.Student, "context_length", "Any length of at least 16 tokens (tiny models).",
                                  ge=16, le=262144)
    weight_decay: float = field("AdamW weight decay.", 0.0, ge=0)
    max_grad_norm: float = field("Gradient clipping norm.", 1.0, gt=0)
    validation_every_steps: int = field("Steps between validation losses.", 200, ge=1)
    seed: int = field("Seed of the data order and initialisation.", 42, ge=0)


class EvalModel(Endpoint):
    """One model to evaluate; ``role`` is ``student`` or ``baseline``."""

    name: str = field("Name in the report: student, base, teacher.", "")
    role: Literal["student", "baseline"] = field("student or baseline.", "baseline")


class EvalConfig(spec.Eval):
    model_config = _RUN_YAML

    top_k: tuple[spec.TopK, ...] = widened(spec.Eval, "top_k", "Empty: no retrieval.", max_length=16)

    judge: Endpoint = field("The judge (the teacher unless the spec names one).", Endpoint)  # type: ignore[assignment]
    models: list[EvalModel] = field("The student and the baselines.", list)
    request_timeout_seconds: float = field("Timeout of one request.", 120.0, gt=0)
    max_retries: int = field("Retries of one request.", 5, ge=0)
    ready_timeout_seconds: float = field("How long eval waits for every endpoint to answer /models.", 600.0, gt=0)


class ProgressConfig(RunModel):
    """Where the programs report progress: a ConfigMap only this run's ServiceAccount may patch."""

    config_map: str | None = field("The progress ConfigMap.")
    namespace: str | None = field("Its namespace.")
    interval_seconds: float = field("Seconds between reports (0: every one).", 10.0, ge=0)


class RunConfig(RunModel):
    """run.yaml."""

    run: dict[str, str] = field("The RaftRun: name, namespace, uid.", dict)
    root: str = field("Folder below which every file of this run lives.", "./raft-output")
    corpus: CorpusConfig = field("Where the documents come from.", CorpusConfig)
    teacher: Endpoint = field("The teacher.", Endpoint)
    datagen: DatagenConfig = field("Data generation.", DatagenConfig)
    student: StudentConfig | None = field("Fine-tuning (finetune needs it).")
    eval: EvalConfig = field("Evaluation.", EvalConfig)
    progress: ProgressConfig = field("Progress reporting.", ProgressConfig)

    # Where each stage reads and writes, all derived from ``root``.
    @property
    def dataset_dir(self) -> Path:
        """datagen output: train/validation JSONL, hf/, eval.jsonl, chunks.jsonl, manifest.json."""
        return Path(RunLayout(self.root).dataset)

    @property
    def checkpoint_dir(self) -> Path:
        """finetune's distributed checkpoints (resumable)."""
        return Path(RunLayout(self.root).checkpoints)

    @property
    def model_dir(self) -> Path:
        """finetune's final Hugging Face checkpoint, served by vLLM for eval."""
        return Path(RunLayout(self.root).model)

    @property
    def eval_dir(self) -> Path:
        """eval's results.json, answers.jsonl, report.md/html and plots."""
        return Path(RunLayout(self.root).eval)


def _pod_fields(model: type[BaseModel]) -> set[str]:
    return set(getattr(model, "pod_fields", frozenset()))


def run_config_from_dict(data: Mapping[str, Any]) -> RunConfig:
    """Validate and build a :class:`RunConfig` from a parsed run.yaml."""
    data = dict(data)
    api_version = data.pop("apiVersion", API_VERSION)
    kind = data.pop("kind", KIND)
    if api_version != API_VERSION or kind != KIND:
        raise ValueError(f"run config must be {API_VERSION} {KIND}, got {api_version} {kind}")
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise RunConfigError(f"run.yaml: {problems}") from None


def load_run_config(path: str | os.PathLike[str]) -> RunConfig:
    """Read ``run.yaml`` from ``path``."""
    with open(path, encoding="utf-8") as fh:
        return run_config_from_dict(yaml.safe_load(fh) or {})


def section_to_dict(section: BaseModel) -> dict[str, Any]:
    """One section as run.yaml holds it: camelCase, every program field, no pod-level field; a
    part copied from the spec as the spec writes it (unset fields left out)."""
    body = section.model_dump(mode="json", by_alias=True, exclude=_pod_fields(type(section)))
    for name, info in type(section).model_fields.items():
        value = getattr(section, name)
        if isinstance(value, spec.SpecModel) and not isinstance(value, RunModel) and info.alias in body:
            body[info.alias or name] = value.to_dict()
    return body


def run_config_to_dict(config: RunConfig) -> dict[str, Any]:
    """The YAML-ready form of ``config`` (inverse of :func:`run_config_from_dict`)."""
    body: dict[str, Any] = {"apiVersion": API_VERSION, "kind": KIND}
    for name in RunConfig.model_fields:
        value = getattr(config, name)
        key = RunConfig.model_fields[name].alias or name
        body[key] = section_to_dict(value) if isinstance(value, BaseModel) else value
    return body
