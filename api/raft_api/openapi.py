"""Render the API models as Kubernetes structural OpenAPI schemas (what the CRD holds).

Pydantic models become objects whose properties are their fields by wire name (camelCase);
progress reports (TypedDicts, :mod:`raft_api.progress`) become objects of their fields. A field's
description, default, bounds, list and map shapes come from its declaration; CEL rules and the
keywords pydantic has no parameter for come from its :data:`~raft_api.k8s.K8S` extra, where a
``schema`` entry gives the whole schema and a ``None`` value removes a keyword.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from .k8s import K8S, Desc, Schema
from .progress import MaxLength

# Constraint attributes of pydantic's field metadata → OpenAPI keywords (strings, then arrays).
_BOUNDS = {"ge": "minimum", "le": "maximum", "pattern": "pattern"}
_LENGTHS = {"min_length": ("minLength", "minItems"), "max_length": ("maxLength", "maxItems")}


def _plain(hint: Any) -> Any:
    """``hint`` without ``None`` (optional) and without ``Annotated``."""
    if get_origin(hint) is typing.Annotated:
        hint = get_args(hint)[0]
    if get_origin(hint) in (Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        hint = args[0] if len(args) == 1 else Union[tuple(args)]  # noqa: UP007 (a runtime union)
    return hint


def _json(value: Any) -> Any:
    """A field's default as JSON: the models' list defaults are tuples."""
    return list(value) if isinstance(value, tuple) else value


def _bounds(metadata: Any, is_array: bool) -> Schema:
    """The OpenAPI keywords of pydantic constraints (``ge``, ``le``, lengths, ``pattern``)."""
    out: Schema = {}
    for meta in metadata:
        for item in getattr(meta, "metadata", [meta]):  # a Field(...) in Annotated carries its own list
            for attr, key in _BOUNDS.items():
                if getattr(item, attr, None) is not None:
                    out[key] = getattr(item, attr)
            for attr, (string_key, array_key) in _LENGTHS.items():
                if getattr(item, attr, None) is not None:
                    out[array_key if is_array else string_key] = getattr(item, attr)
    return out


def type_schema(hint: Any) -> Schema:
    """The shape of a type: ``type`` and its ``enum``, ``items``, ``properties`` or ``additionalProperties``;
    the bounds of an ``Annotated`` type too."""
    if get_origin(hint) is typing.Annotated:
        shape = type_schema(get_args(hint)[0])
        return {**shape, **_bounds(hint.__metadata__, shape["type"] == "array")}
    hint = _plain(hint)
    origin = get_origin(hint)
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer"}
    if hint is float:
        return {"type": "number"}
    if hint is str:
        return {"type": "string"}
    if origin is Literal:
        return {"type": "string", "enum": list(get_args(hint))}
    if origin in (tuple, list):
        return {"type": "array", "items": type_schema(get_args(hint)[0])}
    if origin is dict:
        return {"type": "object", "additionalProperties": type_schema(get_args(hint)[1])}
    if isinstance(hint, type) and issubclass(hint, BaseModel):
        return model_schema(hint)
    if typing.is_typeddict(hint):
        return report_schema(hint)
    raise TypeError(f"no OpenAPI shape for {hint!r}")


def _merge(schema: Schema, extra: Schema) -> Schema:
    for key, value in extra.items():
        if value is None:
            schema.pop(key, None)
        elif isinstance(value, dict) and isinstance(schema.get(key), dict):
            schema[key] = _merge(dict(schema[key]), value)
        else:
            schema[key] = value
    return schema


def field_schema(info: FieldInfo) -> Schema:
    """The schema of one model field."""
    extra = dict((info.json_schema_extra or {}).get(K8S, {})) if isinstance(info.json_schema_extra, dict) else {}
    if "schema" in extra:
        return dict(extra.pop("schema"))
    shape = type_schema(info.annotation)
    schema: Schema = {"type": shape.pop("type"), "description": info.description or ""}
    schema.update(_bounds(info.metadata, schema["type"] == "array"))
    if isinstance(info.default_factory, type) and issubclass(info.default_factory, BaseModel):
        schema["default"] = {}  # the API server fills the section's own defaults inside it
    elif info.default is not PydanticUndefined and info.default is not None:
        schema["default"] = _json(info.default)
    schema.update(shape)
    return _merge(schema, extra)


def model_schema(model: type[BaseModel]) -> Schema:
    """An object with one property per field, by wire name; ``required`` lists the fields without default."""
    properties = {(info.alias or name): field_schema(info) for name, info in model.model_fields.items()}
    required = [(info.alias or name) for name, info in model.model_fields.items() if info.is_required()]
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def report_schema(report: type, *, leave_out: frozenset[str] = frozenset()) -> Schema:
    """An object with one property per TypedDict field (less ``leave_out``), described by its :class:`Desc`."""
    properties = {}
    for name, hint in get_type_hints(report, include_extras=True).items():
        if name in leave_out:
            continue
        meta = getattr(hint, "__metadata__", ())
        desc = next((m for m in meta if isinstance(m, Desc)), None)
        shape = type_schema(hint)
        bound = next((m.value for m in meta if isinstance(m, MaxLength)), None)
        if shape["type"] == "array" and bound is not None:
            shape["maxItems"] = bound
        properties[name] = {"type": shape.pop("type"), **({"description": str(desc)} if desc else {}), **shape}
    return {"type": "object", "properties": properties}


def described(desc: str, schema: Schema, **extra: Any) -> Schema:
    """``schema`` with a description (and more keywords) at its top."""
    return {"type": schema["type"], "description": desc, **{k: v for k, v in schema.items() if k != "type"}, **extra}
