"""The RaftRun CRD: generated files are fresh, the schema is structural and explains itself,
and the examples are valid. CEL rules run on the real API server in tests/e2e."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from raft_api.spec import view

ROOT = Path(__file__).resolve().parents[3]
CRD = yaml.safe_load((ROOT / "crds" / "raftoperator.io_raftruns.yaml").read_text())
VERSION = CRD["spec"]["versions"][0]
SCHEMA = VERSION["schema"]["openAPIV3Schema"]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def walk(schema: dict, path: str = ""):
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from walk(sub, f"{path}.{name}")
    if "items" in schema:
        yield from walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from walk(schema["additionalProperties"], f"{path}{{}}")


def test_generated_files_are_fresh() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "hack" / "crdgen.py"), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_every_spec_and_status_field_is_described_and_typed() -> None:
    for section in ("spec", "status"):
        for path, node in walk(SCHEMA["properties"][section], section):
            assert "type" in node or "anyOf" in node or node.get("x-kubernetes-int-or-string"), f"{path} has no type"
            if not path.endswith("[]") and not path.endswith("{}"):
                assert node.get("description"), f"{path} has no description (kubectl explain shows it)"


def test_strings_and_lists_in_spec_are_bounded_for_cel_cost() -> None:
    for path, node in walk(SCHEMA["properties"]["spec"], "spec"):
        if node.get("type") == "string" and "enum" not in node:
            assert "maxLength" in node, f"{path} needs maxLength"
        if node.get("type") == "array":
            assert "maxItems" in node, f"{path} needs maxItems"


def test_api_shape() -> None:
    spec = CRD["spec"]
    assert spec["scope"] == "Namespaced" and VERSION["name"] == "v1alpha1"
    assert "raft" in spec["names"]["shortNames"] and "raft" in spec["names"]["categories"]
    assert VERSION["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in VERSION["additionalPrinterColumns"]}
    assert set(columns) == {"Phase", "Stage", "Progress", "Score", "Ready", "Age"}
    assert columns["Ready"] == '.status.conditions[?(@.type=="Ready")].status'
    conditions = SCHEMA["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map" and conditions["x-kubernetes-list-map-keys"] == ["type"]


def test_cel_rules_have_messages_a_user_understands() -> None:
    rules = [(p, r) for p, n in walk(SCHEMA["properties"]["spec"], "spec") for r in n.get("x-kubernetes-validations", [])]
    assert len(rules) >= 10
    for path, rule in rules:
        assert len(rule["message"]) > 20, (path, rule)
    text = " ".join(r["message"] for _, r in rules)
    for phrase in ("exactly one source", "exactly one of vllm", "multiple of tensorParallelSize", "immutable",
                   "between 0 and 1"):
        assert phrase in text


def _validator() -> jsonschema.Draft7Validator:
    def strip(node):
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if not k.startswith("x-kubernetes")}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node
    return jsonschema.Draft7Validator(strip(SCHEMA))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples_are_valid(path: Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        if doc and doc.get("kind") == "RaftRun":
            doc = {**doc, "spec": view(doc["spec"]).to_dict()}
            errors = [f"{'.'.join(map(str, e.path))}: {e.message}" for e in _validator().iter_errors(doc)]
            assert not errors, errors


def test_production_example_is_what_the_issue_asks() -> None:
    doc = yaml.safe_load((ROOT / "examples" / "production.yaml").read_text())
    assert doc["spec"]["teacher"]["vllm"]["tensorParallelSize"] in (4, 8)
    assert doc["spec"]["student"]["nodes"] == 2 and doc["spec"]["student"]["gpusPerNode"] == 8
