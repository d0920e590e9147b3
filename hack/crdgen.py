"""Render the RaftRun CRD (crds/raftoperator.io_raftruns.yaml), its API reference (docs/api.md)
and the contract tables of docs/architecture.md (run.yaml, progress reports).

The API is typed once, in ``raft_api`` (spec, status, progress reports); ``raft_operator.crd``
assembles the CRD from it. This script writes the YAML the API server, the chart and the docs use.

    python hack/crdgen.py          # rewrite every file
    python hack/crdgen.py --check  # exit 1 if they are stale (a test runs this)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import re
import types
import typing
from typing import Any, get_args, get_origin, get_type_hints

import yaml
from pydantic import BaseModel

from raft_api import progress, runconfig
from raft_api.k8s import Schema
from raft_operator.crd import crd

ROOT = Path(__file__).resolve().parent.parent
CRD_PATH = ROOT / "crds" / "raftoperator.io_raftruns.yaml"
API_DOC_PATH = ROOT / "docs" / "api.md"
ARCHITECTURE_PATH = ROOT / "docs" / "architecture.md"
CHART_CRD_PATH = ROOT / "charts" / "raft-operator" / "crds" / CRD_PATH.name  # the same bytes, for Helm


# ---- API reference ------------------------------------------------------------------------


def _type_of(schema: Schema) -> str:
    if "anyOf" in schema:
        return "quantity"
    t = schema.get("type", "object")
    if t == "array":
        return f"[]{_type_of(schema['items'])}"
    if t == "object" and "additionalProperties" in schema:
        return "map"
    return t


def _rows(schema: Schema, path: str, required: set[str]) -> list[str]:
    rows = []
    for name, sub in schema.get("properties", {}).items():
        full = f"{path}.{name}"
        default = sub.get("default")
        enum = sub.get("enum")
        notes = []
        if name in required:
            notes.append("required")
        if default is not None:
            notes.append(f"default `{yaml.safe_dump(default, default_flow_style=True).strip().removesuffix('...').strip()}`")
        if enum:
            notes.append("one of " + ", ".join(f"`{e}`" for e in enum if e))
        for key in ("minimum", "maximum", "minItems", "maxItems"):
            if key in sub and key not in ("maxItems",):
                notes.append(f"{key} {sub[key]}")
        desc = sub.get("description", "").replace("|", "\\|")
        rows.append(f"| `{full}` | {_type_of(sub)} | {desc} | {'; '.join(notes)} |")
        items = sub.get("items", {})
        if sub.get("properties"):
            rows.extend(_rows(sub, full, set(sub.get("required", []))))
        elif items.get("properties"):
            rows.extend(_rows(items, full + "[]", set(items.get("required", []))))
    return rows


def _rules(schema: Schema, path: str) -> list[str]:
    out = [f"| `{path}` | `{r['rule']}` | {r['message']} |" for r in schema.get("x-kubernetes-validations", [])]
    for name, sub in schema.get("properties", {}).items():
        out.extend(_rules(sub, f"{path}.{name}"))
    return out


def api_doc(crd_body: Schema) -> str:
    root = crd_body["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spec_schema, status_schema = root["properties"]["spec"], root["properties"]["status"]
    lines = [
        "# RaftRun API reference (raftoperator.io/v1alpha1)",
        "",
        "Generated from `crds/raftoperator.io_raftruns.yaml` by `hack/crdgen.py`; do not edit by hand.",
        "`kubectl explain raftrun.spec --recursive` shows the same descriptions.",
        "",
        "## spec",
        "",
        "| field | type | description | notes |",
        "|---|---|---|---|",
        *_rows(spec_schema, "spec", set(spec_schema.get("required", []))),
        "",
        "## Validation rules (CEL)",
        "",
        "The API server rejects a RaftRun that breaks one of these, with the message shown.",
        "",
        "| where | rule | message |",
        "|---|---|---|",
        *_rules(spec_schema, "spec"),
        "",
        "## status",
        "",
        "| field | type | description | notes |",
        "|---|---|---|---|",
        *_rows(status_schema, "status", set()),
        "",
    ]
    return "\n".join(lines)


# ---- contract tables of docs/architecture.md ------------------------------------------------


def _shape(hint: Any) -> str:
    """A type's fields as a compact outline: ``{a, b: [{c}]}``."""
    if get_origin(hint) is typing.Annotated:
        hint = get_args(hint)[0]
    args = [a for a in get_args(hint) if a is not type(None)]
    if get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1:
        return _shape(args[0])
    if get_origin(hint) in (list, tuple) and args and (isinstance(args[0], type) or typing.is_typeddict(args[0])):
        inner = _shape(args[0])
        return f"[{inner}]" if inner else ""
    if get_origin(hint) is dict:
        return "{name: value}"
    if isinstance(hint, type) and issubclass(hint, BaseModel):
        leave_out = getattr(hint, "pod_fields", frozenset())
        parts = [f"{info.alias or name}" + (f": {_shape(info.annotation)}" if _shape(info.annotation) else "")
                 for name, info in hint.model_fields.items() if name not in leave_out]
        return "{" + ", ".join(parts) + "}"
    if typing.is_typeddict(hint):
        parts = [name + (f": {_shape(h)}" if _shape(h) else "") for name, h in get_type_hints(hint, include_extras=True).items()]
        return "{" + ", ".join(parts) + "}"
    return ""


def run_config_table() -> str:
    rows = ["| key | what | fields |", "|---|---|---|"]
    for name, info in runconfig.RunConfig.model_fields.items():
        rows.append(f"| `{info.alias or name}` | {info.description} | `{_shape(info.annotation) or '-'}` |")
    return "\n".join(rows)


def progress_table() -> str:
    rows = ["| key | fields |", "|---|---|"]
    for key, report in progress.REPORTS.items():
        rows.append(f"| `{key}` | `{_shape(report)}` |")
    return "\n".join(rows)


GENERATED = {"run-config": run_config_table, "progress-reports": progress_table}


def architecture_doc(text: str) -> str:
    """``text`` with every generated table (between its BEGIN/END markers) rendered anew."""
    for name, render_table in GENERATED.items():
        pattern = re.compile(rf"(<!-- BEGIN GENERATED {name} \(hack/crdgen.py\) -->).*?(<!-- END GENERATED {name} -->)",
                             re.S)
        if not pattern.search(text):
            raise SystemExit(f"docs/architecture.md has no generated block {name!r}")
        text = pattern.sub(lambda m: f"{m.group(1)}\n{render_table()}\n{m.group(2)}", text)
    return text


def render() -> tuple[str, str, str]:
    body = crd()
    header = "# Generated by hack/crdgen.py from its schema definition; do not edit by hand.\n"
    crd_text = header + yaml.safe_dump(body, sort_keys=False, width=120, allow_unicode=True)
    return crd_text, api_doc(body), architecture_doc(ARCHITECTURE_PATH.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed files are stale")
    args = parser.parse_args(argv)
    crd_text, doc_text, architecture_text = render()
    outputs = [(CRD_PATH, crd_text), (CHART_CRD_PATH, crd_text), (API_DOC_PATH, doc_text),
               (ARCHITECTURE_PATH, architecture_text)]
    if args.check:
        stale = [str(p.relative_to(ROOT)) for p, text in outputs if not p.exists() or p.read_text() != text]
        if stale:
            print(f"stale: {', '.join(stale)}; run python hack/crdgen.py", file=sys.stderr)
            return 1
        return 0
    for path, text in outputs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
