"""The typed spec view (raft_operator.run_spec) matches the CRD's schema field for field, and the
programs' run-config defaults (raft_jobs.common.runconfig) are the CRD's."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from harness import raftrun
from raft_jobs.common import runconfig
from raft_operator import run_spec, schema

NONE = type(None)


def _walk(model: type[BaseModel], node: dict[str, Any], path: str) -> list[tuple[str, type[BaseModel], dict[str, Any]]]:
    """(path, model, schema) of every object of the spec, depth first."""
    out = [(path, model, node)]
    for name, field in model.model_fields.items():
        inner = _inner(field.annotation)
        sub = node["properties"][field.alias]
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            out += _walk(inner, sub, f"{path}.{field.alias}")
        elif typing.get_origin(inner) is tuple and isinstance(typing.get_args(inner)[0], type) \
                and issubclass(typing.get_args(inner)[0], BaseModel):
            out += _walk(typing.get_args(inner)[0], sub["items"], f"{path}.{field.alias}[]")
    return out


def _inner(annotation: Any) -> Any:
    """``X`` of ``X | None``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not NONE]
        return args[0] if len(args) == 1 else typing.Union[tuple(args)]
    return annotation


def _optional(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType) and NONE in typing.get_args(annotation)


def _python_type(node: dict[str, Any]) -> Any:
    """The view's type for a schema leaf."""
    if "anyOf" in node:
        return int | str
    if "enum" in node:
        return Literal[tuple(node["enum"])]
    kind = node["type"]
    if kind == "array":
        return tuple[_python_type(node["items"]), ...]
    if kind == "object":
        return dict
    return {"string": str, "integer": int, "number": float, "boolean": bool}[kind]


OBJECTS = _walk(run_spec.RaftRunSpec, schema.spec_schema(), "spec")


@pytest.mark.parametrize(("path", "model", "node"), OBJECTS, ids=[p for p, _, _ in OBJECTS])
def test_every_field_of_the_view_is_the_schemas_with_its_type(path: str, model: type[BaseModel], node: dict) -> None:
    fields = {f.alias: f for f in model.model_fields.values()}
    assert set(fields) == set(node["properties"]), f"{path}: the view and the schema have different fields"
    required = set(node.get("required", []))
    for key, field in fields.items():
        sub = node["properties"][key]
        # Optional exactly when the schema neither defaults nor requires it; the view writes no default.
        assert _optional(field.annotation) == ("default" not in sub and key not in required), f"{path}.{key}"
        if _optional(field.annotation):
            assert field.default is None, f"{path}.{key}: only absence (None) may be the view's default"
        else:
            assert field.is_required(), f"{path}.{key}: the view must not repeat the schema's default"
        inner = _inner(field.annotation)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            assert sub["type"] == "object" and "properties" in sub, f"{path}.{key}"
            continue
        if typing.get_origin(inner) is tuple and isinstance(typing.get_args(inner)[0], type) \
                and issubclass(typing.get_args(inner)[0], BaseModel):
            assert sub["type"] == "array", f"{path}.{key}"
            continue
        expected = _python_type(sub)
        if expected is dict:
            assert typing.get_origin(inner) is dict, f"{path}.{key}"
        else:
            assert inner == expected, f"{path}.{key}: {inner} is not {expected}"


def _defaults(node: dict[str, Any], path: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Every leaf default of the schema, by path of camelCase keys, under objects that are defaulted too."""
    out = {}
    for key, sub in node.get("properties", {}).items():
        if "default" in sub and sub.get("type") != "object":
            out[path + (key,)] = sub["default"]
        if sub.get("type") == "object" and "properties" in sub:
            out |= _defaults(sub, path + (key,))
    return out


def test_the_view_of_a_minimal_spec_holds_the_schemas_defaults() -> None:
    minimal = {"corpus": {"volume": {"claimName": "docs"}}, "teacher": {"vllm": {"model": "t"}},
               "student": {"baseModel": "s"}, "storage": {"size": "1Gi"}}
    wire = run_spec.view(minimal).model_dump(mode="json", by_alias=True)
    checked = 0
    for path, default in _defaults(schema.spec_schema()).items():
        value: Any = wire
        for key in path[:-1]:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, dict):  # a section the minimal spec has (not sitemap, external, ...)
            assert value[path[-1]] == default, path
            checked += 1
    assert checked >= 55


def test_the_view_is_read_only() -> None:
    spec = run_spec.view(raftrun()["spec"])
    with pytest.raises(Exception):
        spec.datagen.workers = 3  # type: ignore[misc]


# ---- the programs' run config ------------------------------------------------------------------

SECTIONS = {"datagen": runconfig.DatagenConfig, "student": runconfig.StudentConfig, "eval": runconfig.EvalConfig}


def _dataclass_default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return field.default_factory()  # type: ignore[misc]
    return dataclasses.MISSING


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_run_config_defaults_are_the_crds(section: str) -> None:
    """A run.yaml written by hand behaves like a RaftRun that leaves the same fields unset."""
    props = schema.spec_schema()["properties"][section]["properties"]
    compared = 0
    for field in dataclasses.fields(SECTIONS[section]):
        if field.name not in props or props[field.name].get("type") == "object":
            continue  # the program's own setting, or one the operator fills (the judge)
        crd = props[field.name].get("default")
        ours = _dataclass_default(field)
        assert ours == crd or (crd is None and ours in (None, "")), \
            f"{section}.{field.name}: run config default {ours!r}, CRD default {crd!r}"
        compared += 1
    assert compared >= 8
