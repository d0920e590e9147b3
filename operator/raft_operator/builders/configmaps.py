"""The run's ConfigMaps: run.yaml (operator → programs) and the progress channel (programs → operator)."""

from __future__ import annotations

from typing import Any

import yaml

from raft_api.spec import Endpoint
from raft_api.runconfig import run_config_from_dict, run_config_to_dict

from .. import api
from . import server_auth
from ..run import Run
from .common import Manifest, metadata

TEACHER_API_KEY_ENV = "TEACHER_API_KEY"
JUDGE_API_KEY_ENV = "JUDGE_API_KEY"


def service_url(run: Run, service: str) -> str:
    """In-cluster base URL of an OpenAI-compatible server behind ``service``."""
    return f"http://{service}.{run.namespace}.svc:{api.SERVER_PORT}/v1"


def teacher_endpoint(run: Run) -> dict[str, Any]:
    """The teacher as the programs see it: base URLs, model name, API-key env var."""
    vllm, ext = run.spec.teacher.vllm, run.spec.teacher.external
    if vllm:
        # The headless Service: the client resolves it to one endpoint per teacher replica.
        return {"endpoints": [service_url(run, run.names.teacher_replicas)], "model": vllm.model,
                "resolveReplicas": True, "apiKeyEnv": server_auth.CLIENT_ENV}
    assert ext is not None  # the schema requires exactly one of vllm and external
    return _endpoint(ext, TEACHER_API_KEY_ENV)


def _endpoint(endpoint: Endpoint, key_env: str) -> dict[str, Any]:
    out: dict[str, Any] = {"endpoints": [endpoint.url.rstrip("/")], "model": endpoint.model}
    if endpoint.api_key_secret_ref:
        out["apiKeyEnv"] = key_env
    return out


def judge_endpoint(run: Run) -> dict[str, Any]:
    """The judge: eval.judge when named, else the teacher."""
    judge = run.spec.eval.judge
    return _endpoint(judge, JUDGE_API_KEY_ENV) if judge else teacher_endpoint(run)


def student_served_name(run: Run) -> str:
    """The model name the fine-tuned student is served under."""
    return f"{run.name}-student"


def eval_models(run: Run) -> list[dict[str, Any]]:
    """The fine-tuned student and the baselines the spec asks for."""
    models = [{"name": "student", "role": "student", "endpoints": [service_url(run, run.names.serve_student)],
               "model": student_served_name(run), "apiKeyEnv": server_auth.CLIENT_ENV}]
    baselines = run.spec.eval.baselines
    if baselines.base_student:
        models.append({"name": "base", "role": "baseline", "endpoints": [service_url(run, run.names.serve_base)],
                       "model": run.spec.student.base_model, "apiKeyEnv": server_auth.CLIENT_ENV})
    if baselines.teacher:
        models.append({"name": "teacher", "role": "baseline", **teacher_endpoint(run)})
    return models


def corpus_config(run: Run) -> dict[str, Any]:
    """The corpus as the datagen program reads it (a volume becomes a local path)."""
    corpus = run.spec.corpus
    if corpus.volume:
        return {"volume": {"path": api.CORPUS_MOUNT, "include": list(corpus.volume.include)}}
    if corpus.sitemap:
        return {"sitemap": corpus.sitemap.to_dict()}
    assert corpus.huggingface is not None  # the schema requires exactly one source
    return {"huggingface": corpus.huggingface.to_dict()}


def run_config(run: Run) -> dict[str, Any]:
    """run.yaml for the programs, validated against the programs' own schema."""
    spec = run.spec
    datagen = spec.datagen.to_dict(exclude=frozenset({"resources"}))
    # Pod-level settings, not the program's.
    student = spec.student.to_dict(exclude=frozenset({"resources", "shmSize", "trainingApi", "trainingRuntime"}))
    ev = spec.eval
    body = {
        "run": {"name": run.name, "namespace": run.namespace, "uid": run.uid},
        "root": run.root,
        "corpus": corpus_config(run),
        "teacher": teacher_endpoint(run),
        "datagen": datagen,
        "student": student,
        "eval": {
            "judge": judge_endpoint(run),
            "topK": list(ev.top_k),
            "withoutRag": ev.without_rag,
            "primaryMode": ev.primary_mode,
            "primaryTopK": ev.primary_top_k,
            "embeddingModel": ev.embedding_model,
            "evalFile": f"{run.root}/{ev.eval_file.lstrip('/')}" if ev.eval_file else None,
            "models": eval_models(run),
            "concurrency": ev.concurrency,
            "maxInFlightPerReplica": ev.max_in_flight_per_replica,
            "maxTokens": ev.max_tokens,
            "rubric": ev.rubric,
        },
        "progress": {"configMap": run.names.progress, "namespace": run.namespace},
    }
    # Round-trip through the programs' loader: a field the programs don't know fails here, not in a pod.
    return run_config_to_dict(run_config_from_dict(body))


def run_config_map(run: Run) -> Manifest:
    """ConfigMap ``<run>-config`` holding run.yaml."""
    text = yaml.safe_dump(run_config(run), sort_keys=False)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata(run, run.names.config, "config"),
            "data": {api.RUN_CONFIG_KEY: text}}


def progress_config_map(run: Run) -> Manifest:
    """ConfigMap ``<run>-progress``, empty until the programs report."""
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata(run, run.names.progress, "progress"), "data": {}}


def build(run: Run) -> list[Manifest]:
    """Both ConfigMaps."""
    return [run_config_map(run), progress_config_map(run)]
