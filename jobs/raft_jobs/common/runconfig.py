"""The run configuration: the one contract between the operator and the workload programs.

The operator renders a RaftRun into ``run.yaml`` (ConfigMap ``<run>-config``, mounted at
``/etc/raft/run.yaml``); datagen, finetune and eval read it with :func:`load_run_config`.
The same file, written by hand, drives the programs on a laptop. Keys are camelCase like
the RaftRun spec they come from. See ``docs/architecture.md`` ("Run configuration").
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml
from raft_api.layout import RunLayout

API_VERSION = "raftoperator.io/v1alpha1"
KIND = "RunConfig"


@dataclass
class Endpoint:
    """An OpenAI-compatible model server: one base URL per replica, all serving ``model``."""

    endpoints: list[str] = field(default_factory=list)
    model: str = ""
    apiKeyEnv: str | None = None  # name of the env var holding the key (filled from a Secret)
    # Each base URL's host is a headless Service: use one endpoint per address it resolves to.
    resolveReplicas: bool = False

    def api_key(self) -> str:
        """The API key from the environment, or a placeholder for servers without auth."""
        return (os.environ.get(self.apiKeyEnv) if self.apiKeyEnv else None) or "EMPTY"


@dataclass
class CorpusConfig:
    """Exactly one source is set."""

    volume: dict[str, Any] | None = None  # {path: "/corpus"}
    sitemap: dict[str, Any] | None = None  # {urls: [...]}
    huggingface: dict[str, Any] | None = None  # {name, config, split, textField}


@dataclass
class DatagenConfig:
    chunkSize: int = 1000
    chunkOverlap: int = 100
    minChunkChars: int = 200
    questionsPerChunk: int = 4
    distractors: int = 4
    oracleProbability: float = 0.8
    refusalProbability: float = 0.05
    # Label of records without their oracle document: "refuse" or "answer" (common.conversation).
    noOracleLabel: str = "refuse"
    workers: int = 2
    concurrency: int | None = None  # fixed requests in flight per worker; None adapts (common/concurrency.py)
    maxInFlightPerReplica: int = 1024  # cap of the adaptive limit, all workers together
    temperature: float = 0.7
    maxTokens: int = 1024
    seed: int = 42
    evalQuestions: int = 100
    validationFraction: float = 0.05
    requestTimeoutSeconds: float = 120.0
    maxRetries: int = 5


@dataclass
class StudentConfig:
    baseModel: str = ""
    learningRate: float = 1e-5
    epochs: int = 1
    contextLength: int = 8192
    perDeviceBatchSize: int = 1
    gradientAccumulationSteps: int = 8
    warmupRatio: float = 0.03
    weightDecay: float = 0.0
    maxGradNorm: float = 1.0
    precision: str = "bf16"  # bf16 | fp32
    activationCheckpointing: bool = True
    checkpointEverySteps: int = 200
    validationEverySteps: int = 200
    seed: int = 42
    nodes: int = 1
    gpusPerNode: int = 8


@dataclass
class EvalModel:
    """One model to evaluate; ``role`` is ``student`` or ``baseline``."""

    name: str = ""
    role: str = "baseline"
    endpoints: list[str] = field(default_factory=list)
    model: str = ""
    apiKeyEnv: str | None = None
    resolveReplicas: bool = False  # as in Endpoint


@dataclass
class EvalConfig:
    judge: Endpoint = field(default_factory=Endpoint)
    topK: list[int] = field(default_factory=lambda: [3, 5, 7])
    withoutRag: bool = True
    embeddingModel: str = "sentence-transformers/all-MiniLM-L6-v2"
    evalFile: str | None = None
    models: list[EvalModel] = field(default_factory=list)
    primaryMode: str = "rag"  # the headline mode: "rag" or "none", declared before any result
    primaryTopK: int | None = None  # the headline's k in rag mode; the first of topK when unset
    concurrency: int | None = None  # fixed requests in flight per model; None adapts per replica
    maxInFlightPerReplica: int = 1024
    maxTokens: int = 1024
    rubric: bool = False
    requestTimeoutSeconds: float = 120.0
    maxRetries: int = 5
    readyTimeoutSeconds: float = 600.0  # how long eval waits for every endpoint to answer /models


@dataclass
class ProgressConfig:
    """Where the programs report progress: a ConfigMap only this run's ServiceAccount may patch."""

    configMap: str | None = None
    namespace: str | None = None
    intervalSeconds: float = 10.0


@dataclass
class RunConfig:
    run: dict[str, str] = field(default_factory=dict)  # {name, namespace, uid}
    root: str = "./raft-output"  # every file this run writes lives below it
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    teacher: Endpoint = field(default_factory=Endpoint)
    datagen: DatagenConfig = field(default_factory=DatagenConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    progress: ProgressConfig = field(default_factory=ProgressConfig)

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


def _build(cls: type, data: Mapping[str, Any] | None) -> Any:
    """Build dataclass ``cls`` from a mapping, recursing into nested dataclasses.

    Unknown keys are rejected so that a typo in a hand-written run.yaml fails loudly.
    """
    data = dict(data or {})
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {unknown}; expected some of {sorted(known)}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        nested = _NESTED.get((cls.__name__, name))
        if nested is not None and value is not None:
            if isinstance(value, list):
                kwargs[name] = [_build(nested, v) for v in value]
            else:
                kwargs[name] = _build(nested, value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


_NESTED: dict[tuple[str, str], type] = {
    ("RunConfig", "corpus"): CorpusConfig,
    ("RunConfig", "teacher"): Endpoint,
    ("RunConfig", "datagen"): DatagenConfig,
    ("RunConfig", "student"): StudentConfig,
    ("RunConfig", "eval"): EvalConfig,
    ("RunConfig", "progress"): ProgressConfig,
    ("EvalConfig", "judge"): Endpoint,
    ("EvalConfig", "models"): EvalModel,
}


def run_config_from_dict(data: Mapping[str, Any]) -> RunConfig:
    """Validate and build a :class:`RunConfig` from a parsed run.yaml."""
    data = dict(data)
    api_version = data.pop("apiVersion", API_VERSION)
    kind = data.pop("kind", KIND)
    if api_version != API_VERSION or kind != KIND:
        raise ValueError(f"run config must be {API_VERSION} {KIND}, got {api_version} {kind}")
    return _build(RunConfig, data)


def load_run_config(path: str | os.PathLike[str]) -> RunConfig:
    """Read ``run.yaml`` from ``path``."""
    with open(path, encoding="utf-8") as fh:
        return run_config_from_dict(yaml.safe_load(fh) or {})


def run_config_to_dict(config: RunConfig) -> dict[str, Any]:
    """The YAML-ready form of ``config`` (inverse of :func:`run_config_from_dict`)."""
    body = dataclasses.asdict(config)
    return {"apiVersion": API_VERSION, "kind": KIND, **body}
