"""examples/gitops/: valid YAML of the right kinds, paths that exist in this repository, and a
RaftRun the CRD accepts."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
GITOPS = REPO_ROOT / "examples" / "gitops"
FILES = sorted(GITOPS.rglob("*.yaml"))


def docs_of(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def all_docs() -> list[dict]:
    return [d for path in FILES for d in docs_of(path)]


def find(kind: str, name: str) -> dict:
    return next(d for d in all_docs() if d["kind"] == kind and d["metadata"]["name"] == name)


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(GITOPS)) for p in FILES])
def test_yaml_parses_and_has_kinds(path: Path) -> None:
    for doc in docs_of(path):
        assert doc["apiVersion"] and doc["kind"]


def test_argocd_applications_point_at_this_repository() -> None:
    apps = [d for d in all_docs() if d["kind"] == "Application"]
    assert {a["metadata"]["name"] for a in apps} == {"raft-operator", "raft-runs"}
    for app in apps:
        assert app["apiVersion"] == "argoproj.io/v1alpha1"
        assert (REPO_ROOT / app["spec"]["source"]["path"]).is_dir()
        assert "ServerSideApply=true" in app["spec"]["syncPolicy"]["syncOptions"]
    operator = find("Application", "raft-operator")
    assert int(operator["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) < 0


def test_argocd_chart_values_are_valid(render_values) -> None:
    render_values(find("Application", "raft-operator")["spec"]["source"]["helm"]["valuesObject"])


def test_flux_objects_point_at_this_repository() -> None:
    kustomizations = {d["metadata"]["name"]: d for d in all_docs()
                      if d["apiVersion"].startswith("kustomize.toolkit.fluxcd.io/")}
    assert set(kustomizations) == {"raft-operator", "raft-runs", "raft-runs-finished"}
    for k in kustomizations.values():
        assert k["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1"
        assert (REPO_ROOT / k["spec"]["path"]).is_dir()
        assert k["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "raft-operator"}
        for dep in k["spec"].get("dependsOn", []):
            assert dep["name"] in kustomizations, "dependsOn names a Kustomization"
    release = find("HelmRelease", "raft-operator")
    assert release["apiVersion"] == "helm.toolkit.fluxcd.io/v2"
    assert (REPO_ROOT / release["spec"]["chart"]["spec"]["chart"] / "Chart.yaml").exists()
    assert release["spec"]["upgrade"]["crds"] == "CreateReplace", "Helm alone never upgrades CRDs"


def test_kustomize_directories_list_existing_files() -> None:
    for path in GITOPS.rglob("kustomization.yaml"):
        for resource in yaml.safe_load(path.read_text())["resources"]:
            assert (path.parent / resource).exists(), f"{path}: {resource}"


def test_raftrun_is_valid_for_the_crd() -> None:
    from raft_api.spec import view

    crd = yaml.safe_load((REPO_ROOT / "crds" / "raftoperator.io_raftruns.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]

    def strip(node):
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if not k.startswith("x-kubernetes")}
        return [strip(v) for v in node] if isinstance(node, list) else node

    (run,) = [d for d in all_docs() if d["kind"] == "RaftRun"]
    run = {**run, "spec": view(run["spec"]).to_dict()}
    errors = [f"{'.'.join(map(str, e.path))}: {e.message}" for e in jsonschema.Draft7Validator(strip(schema)).iter_errors(run)]
    assert not errors, errors
