"""The run's ConfigMaps: run.yaml (operator → programs) and the progress channel (programs → operator)."""

from __future__ import annotations

from typing import Any

import yaml

from raft_jobs.common.runconfig import run_config_from_dict, run_config_to_dict

from .. import api
from . import server_auth
from .common import Manifest, Run, metadata

TEACHER_API_KEY_ENV = "TEACHER_API_KEY"
JUDGE_API_KEY_ENV = "JUDGE_API_KEY"


def service_url(run: Run, service: str) -> str:
    """In-cluster base URL of an OpenAI-compatible server behind ``service``."""
    return f"http://{service}.{run.namespace}.svc:{api.SERVER_PORT}/v1"


def teacher_endpoint(run: Run) -> dict[str, Any]:
    """The teacher as the programs see it: base URLs, model name, API-key env var."""
    teacher = run.spec["teacher"]
    if "vllm" in teacher:
        # The headless Service: the client resolves it to one endpoint per teacher replica.
        return {"endpoints": [service_url(run, run.names.teacher_replicas)], "model": teacher["vllm"]["model"],
                "resolveReplicas": True, "apiKeyEnv": server_auth.CLIENT_ENV}
    ext = teacher["external"]
    out: dict[str, Any] = {"endpoints": [ext["url"].rstrip("/")], "model": ext["model"]}
    if ext.get("apiKeySecretRef"):
        out["apiKeyEnv"] = TEACHER_API_KEY_ENV
    return out


def judge_endpoint(run: Run) -> dict[str, Any]:
    """The judge: eval.judge when named, else the teacher."""
    judge = run.spec["eval"].get("judge")
    if not judge:
        return teacher_endpoint(run)
    out: dict[str, Any] = {"endpoints": [judge["url"].rstrip("/")], "model": judge["model"]}
    if judge.get("apiKeySecretRef"):
        out["apiKeyEnv"] = JUDGE_API_KEY_ENV
    return out


def student_served_name(run: Run) -> str:
    """The model name the fine-tuned student is served under."""
    return f"{run.name}-student"


def eval_models(run: Run) -> list[dict[str, Any]]:
    """The fine-tuned student and the baselines the spec asks for."""
    models = [{"name": "student", "role": "student", "endpoints": [service_url(run, run.names.serve_student)],
               "model": student_served_name(run), "apiKeyEnv": server_auth.CLIENT_ENV}]
    baselines = run.spec["eval"]["baselines"]
    if baselines.get("baseStudent", True):
        models.append({"name": "base", "role": "baseline", "endpoints": [service_url(run, run.names.serve_base)],
                       "model": run.spec["student"]["baseModel"], "apiKeyEnv": server_auth.CLIENT_ENV})
    if baselines.get("teacher", True):
        models.append({"name": "teacher", "role": "baseline", **teacher_endpoint(run)})
    return models


def corpus_config(run: Run) -> dict[str, Any]:
    """The corpus as the datagen program reads it (a volume becomes a local path)."""
    corpus = run.spec["corpus"]
    if "volume" in corpus:
        return {"volume": {"path": api.CORPUS_MOUNT, "include": list(corpus["volume"]["include"])}}
    if "sitemap" in corpus:
        return {"sitemap": dict(corpus["sitemap"])}
    return {"huggingface": dict(corpus["huggingface"])}


def run_config(run: Run) -> dict[str, Any]:
    """run.yaml for the programs, validated against the programs' own schema."""
    spec = run.spec
    datagen = {k: v for k, v in spec["datagen"].items() if k != "resources"}
    student = {k: v for k, v in spec["student"].items()
               if k not in ("resources", "shmSize", "trainingApi", "trainingRuntime")}  # pod-level, not the program's
    ev = spec["eval"]
    body = {
        "run": {"name": run.name, "namespace": run.namespace, "uid": run.uid},
        "root": run.root,
        "corpus": corpus_config(run),
        "teacher": teacher_endpoint(run),
        "datagen": datagen,
        "student": student,
        "eval": {
            "judge": judge_endpoint(run),
            "topK": list(ev["topK"]),
            "withoutRag": ev["withoutRag"],
            "primaryMode": ev["primaryMode"],
            "primaryTopK": ev.get("primaryTopK"),
            "embeddingModel": ev["embeddingModel"],
            "evalFile": f"{run.root}/{ev['evalFile'].lstrip('/')}" if ev.get("evalFile") else None,
            "models": eval_models(run),
            "concurrency": ev.get("concurrency"),
            "maxInFlightPerReplica": ev["maxInFlightPerReplica"],
            "maxTokens": ev["maxTokens"],
            "rubric": ev["rubric"],
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
