"""Flux: the status the reconciler writes is kstatus-compatible (Reconciling, Stalled,
observedGeneration), and the documented healthCheckExprs say Current only for a finished run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))

from run_states import condition, run_states  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[3]
FLUX = REPO_ROOT / "examples" / "gitops" / "flux"
STATES = run_states()
RUNNING = ("serving-teacher", "generating-data", "fine-tuning", "evaluating")
FAILED = tuple(s for s in STATES if s.startswith("failed-in-"))


def kstatus(run: dict[str, Any]) -> str:
    """kstatus's verdict on a custom resource with standard conditions (Current/InProgress/Failed).

    kstatus reads observedGeneration, Reconciling and Stalled; it does not read Ready.
    """
    status = run.get("status")
    if not status:
        return "InProgress"
    if status.get("observedGeneration") != run["metadata"]["generation"]:
        return "InProgress"
    for ctype, verdict in (("Reconciling", "InProgress"), ("Stalled", "Failed")):
        cond = condition(run, ctype)
        if cond and cond["status"] == "True":
            return verdict
    return "Current"


@pytest.mark.parametrize("state", sorted(STATES))
def test_kstatus_sees_running_pipelines_in_progress_and_fails_failed_ones(state: str) -> None:
    verdict = kstatus(STATES[state])
    if state in ("succeeded", "suspended"):
        assert verdict == "Current"
    elif state in RUNNING:
        assert verdict == "InProgress", "Reconciling=True while a stage runs"
    elif state in FAILED:
        assert verdict == "Failed"
    else:
        assert verdict == "InProgress"


@pytest.mark.parametrize("state", sorted(set(STATES) - {"new", "new-generation"}))
def test_conditions_carry_the_observed_generation(state: str) -> None:
    run = STATES[state]
    generation = run["metadata"]["generation"]
    assert run["status"]["observedGeneration"] == generation
    for ctype in ("Ready", "Stalled", "Reconciling"):
        cond = condition(run, ctype)
        assert cond is not None and cond["observedGeneration"] == generation and cond["reason"]


def health_check_exprs() -> dict[str, str]:
    doc = yaml.safe_load((FLUX / "wait-for-completion.yaml").read_text())
    (entry,) = doc["spec"]["healthCheckExprs"]
    assert (entry["apiVersion"], entry["kind"]) == ("raftoperator.io/v1alpha1", "RaftRun")
    return {key: entry[key] for key in ("inProgress", "failed", "current")}


def flux_cel_health(run: dict[str, Any], exprs: dict[str, str]) -> str:
    """kustomize-controller's CEL status reader: observedGeneration first, then inProgress, failed,
    current in order, the first true wins; none true means in progress."""
    import celpy

    status = run.get("status") or {}
    if "observedGeneration" in status and status["observedGeneration"] != run["metadata"]["generation"]:
        return "InProgress"
    env = celpy.Environment()
    activation = {key: celpy.json_to_cel(run.get(key, {})) for key in ("apiVersion", "kind", "metadata", "spec", "status")}
    for key, verdict in (("inProgress", "InProgress"), ("failed", "Failed"), ("current", "Current")):
        if env.program(env.compile(exprs[key])).evaluate(activation):
            return verdict
    return "InProgress"


@pytest.mark.parametrize("state", sorted(STATES))
def test_health_check_exprs_wait_for_the_end_of_the_pipeline(state: str) -> None:
    verdict = flux_cel_health(STATES[state], health_check_exprs())
    if state == "succeeded":
        assert verdict == "Current"
    elif state in FAILED:
        assert verdict == "Failed"
    else:
        assert verdict == "InProgress"


def test_health_check_exprs_are_documented_as_shipped() -> None:
    docs = (REPO_ROOT / "docs" / "gitops.md").read_text()
    for key, expr in health_check_exprs().items():
        assert f'{key}: "{expr}"' in docs, f"docs/gitops.md shows another {key} expression"
