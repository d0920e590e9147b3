"""One home for the run's paths: raft_api.layout defines them, the operator, the programs and the
simulators take them from there; run.yaml's location reaches the programs one way only, and the
simulators report to the progress ConfigMap that run.yaml names."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import NotFoundError

from raft_api import layout
from raft_api.layout import RunLayout
from raft_api.runconfig import RunConfig
from raft_operator import api
from raft_operator.builders import configmaps as config_builders
from raft_operator.run import Run
from raft_sim.controllers.base import SimApi, SimSettings

REPO_ROOT = Path(__file__).resolve().parents[3]
ALLOWED_THIRD_PARTY = {"pydantic", "pydantic_core", "yaml"}


def test_raft_api_imports_only_the_standard_library_pydantic_and_yaml() -> None:
    for path in sorted((REPO_ROOT / "api" / "raft_api").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY or top == "raft_api", (
                    f"{path.relative_to(REPO_ROOT)}:{node.lineno} imports {name}")


def test_the_layout_of_a_run() -> None:
    run = RunLayout.of_run("demo")
    assert run.root == layout.run_root("demo") == "/data/runs/demo"
    assert (run.dataset, run.checkpoints, run.model, run.eval) == (
        "/data/runs/demo/dataset", "/data/runs/demo/checkpoints", "/data/runs/demo/model", "/data/runs/demo/eval")
    assert run.report_html == "/data/runs/demo/eval/report.html"
    assert run.results == "/data/runs/demo/eval/results.json"
    assert run.huggingface_cache == "/data/runs/demo/cache/huggingface"
    assert layout.RUN_CONFIG_PATH == "/etc/raft/run.yaml"


@pytest.mark.parametrize("root", ["./raft-output", "out", "/tmp/run/", ""])
def test_the_programs_folders_are_the_layouts(root: str) -> None:
    config = RunConfig(root=root)
    folders = (config.dataset_dir, config.checkpoint_dir, config.model_dir, config.eval_dir)
    assert folders == tuple(Path(root) / name for name in ("dataset", "checkpoints", "model", "eval"))


def test_the_operator_names_the_layouts_paths() -> None:
    assert api.run_root is layout.run_root and api.RunLayout is RunLayout
    run = Run(name="demo", namespace="ns", uid="u", spec=None)  # type: ignore[arg-type]
    assert run.root == RunLayout.of_run("demo").root


# ------------------------------------------------------------------ run.yaml's one channel: --config


def _mains() -> list[Any]:
    from raft_jobs.datagen.__main__ import main as datagen
    from raft_jobs.eval.__main__ import main as evaluate
    from raft_jobs.finetune.__main__ import main as finetune

    return [datagen, evaluate, finetune]


@pytest.mark.parametrize("program", range(3), ids=["datagen", "eval", "finetune"])
def test_every_program_needs_config_and_reads_no_environment_variable(
        program: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RAFT_RUN_CONFIG", str(tmp_path / "run.yaml"))
    with pytest.raises(SystemExit) as exited:
        _mains()[program]([])
    assert exited.value.code == 2
    assert "--config" in capsys.readouterr().err


# ------------------------------------------------------------------ the simulators' progress ConfigMap


class _Resource:
    def __init__(self, objects: dict[tuple[str, str], dict[str, Any]]) -> None:
        self.objects = objects
        self.patches: list[tuple[str, str, dict[str, Any]]] = []

    def get(self, name: str, namespace: str | None) -> Any:
        if (namespace or "", name) not in self.objects:
            raise NotFoundError(ApiException(status=404, reason="Not Found"))
        obj = self.objects[(namespace or "", name)]
        return type("Found", (), {"to_dict": lambda self: obj})()

    def patch(self, body: dict[str, Any], name: str, namespace: str, content_type: str) -> None:
        self.patches.append((namespace, name, body))


class _Dynamic:
    def __init__(self, configmaps: _Resource) -> None:
        other = _Resource({})
        self.resources = type("Resources", (), {
            "get": lambda _, api_version, kind: configmaps if kind == "ConfigMap" else other})()


def _sim_api(run_yaml: dict[str, Any]) -> tuple[SimApi, _Resource]:
    config = {"metadata": {"name": "demo-config", "namespace": "ns"},
              "data": {layout.RUN_CONFIG_KEY: yaml.safe_dump(run_yaml)}}
    configmaps = _Resource({("ns", "demo-config"): config})
    return SimApi(_Dynamic(configmaps), SimSettings()), configmaps  # type: ignore[arg-type]


JOB = {"metadata": {"name": "demo-eval", "namespace": "ns", "labels": {api.RUN_LABEL: "demo"}}}


def test_the_simulators_report_to_the_configmap_run_yaml_names() -> None:
    sim, configmaps = _sim_api({"progress": {"configMap": "elsewhere", "namespace": "reports"}})
    sim.report(JOB, "eval", {"phase": "answering", "answersDone": 1, "answersTotal": 2})
    assert [(ns, name) for ns, name, _ in configmaps.patches] == [("reports", "elsewhere")]


def test_the_simulators_report_like_the_operator_configures() -> None:
    run = Run.from_body({"metadata": {"name": "demo", "namespace": "ns", "uid": "u"},
                         "spec": {"corpus": {"volume": {"claimName": "docs"}},
                                  "teacher": {"vllm": {"model": "org/teacher", "tensorParallelSize": 1}},
                                  "student": {"baseModel": "org/student"}, "storage": {"size": "1Gi"}}})
    sim, configmaps = _sim_api(config_builders.run_config(run))
    sim.report(JOB, "eval", {"phase": "answering"})
    assert [(ns, name) for ns, name, _ in configmaps.patches] == [("ns", run.names.progress)]


def test_the_simulators_send_nothing_without_a_progress_configmap() -> None:
    sim, configmaps = _sim_api({"progress": {}})
    sim.report(JOB, "eval", {"phase": "answering"})
    assert configmaps.patches == []
