"""Field declarations for the API models: one call gives a field its description, default, bounds
and admission rules, so the pydantic model validates what the CRD validates.

Bounds that pydantic enforces (``ge``, ``le``, ``min_length``, ``max_length``, ``pattern``) are
also rendered into the CRD by :mod:`raft_api.openapi`; what only the API server can check (CEL
rules, list types, int-or-string quantities) travels in the field's ``json_schema_extra`` under
:data:`K8S`. Each rule repeats a check that the value's consumer (the kubelet, KubeRay, vLLM,
the Hub) would make later, with a message naming the fix.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from .layout import DATA_MOUNT

Schema = dict[str, Any]
K8S = "k8s"  # key of json_schema_extra holding OpenAPI keywords pydantic has no parameter for

DNS_1035_LABEL = "^[a-z]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
LABEL_VALUE = "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
LABEL_KEY = ("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
             "[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
SECRET_KEY = "^[-._a-zA-Z0-9]+$"
PARENT_SEGMENT = "(^|/)\\\\.\\\\.(/|$)"  # a '..' path segment
NON_NEGATIVE_QUANTITY_PATTERN = (r"^\+?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
                                 r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$")


class Desc(str):
    """``Annotated[T, Desc("...")]``: the description of a TypedDict field (the progress reports)."""


def rule(expr: str, message: str, **extra: Any) -> Schema:
    """A CEL validation rule (``x-kubernetes-validations`` entry)."""
    return {"rule": expr, "message": message, **extra}


def immutable(what: str) -> Schema:
    """The pipeline definition cannot change once the RaftRun exists."""
    return rule(
        "self == oldSelf",
        f"{what} is immutable: the pipeline definition cannot change once the RaftRun exists; "
        "create a new RaftRun to run a different pipeline",
    )


def field(desc: str, default: Any = None, *, rules: list[Schema] | tuple[Schema, ...] = (),
          k8s: Schema | None = None, **constraints: Any) -> Any:
    """A model field: ``default`` ``...`` makes it required, ``None`` optional without default; a
    model class or ``dict``/``list`` factory as default gives an object/array default."""
    extra: Schema = dict(k8s or {})
    if rules:
        extra["x-kubernetes-validations"] = list(rules)
    kwargs: dict[str, Any] = {"description": desc, **constraints}
    if extra:
        kwargs["json_schema_extra"] = {K8S: extra}
    if isinstance(default, type):
        return Field(default_factory=default, **kwargs)
    return Field(default, **kwargs)


def string(desc: str, default: Any = None, *, max_length: int = 253, **extra: Any) -> Any:
    """A bounded string."""
    return field(desc, default, max_length=max_length, **extra)


def non_empty(desc: str, default: Any = None, *, max_length: int = 253, **extra: Any) -> Any:
    """A string that must not be empty."""
    return field(desc, default, min_length=1, max_length=max_length, **extra)


def _checked(desc: str, default: Any, max_length: int, rules: list[Schema]) -> Any:
    return field(desc, default, min_length=1, max_length=max_length, rules=rules)


def dns_subdomain(desc: str, what: str, default: Any = None) -> Any:
    """The name of a namespaced object (claim, Secret, class): a DNS-1123 subdomain."""
    return _checked(desc, default, 253, [rule(f"self.matches('{DNS_SUBDOMAIN}')",
                                              f"{what} must be a Kubernetes object name: lowercase letters, digits, '-' "
                                              "and '.', starting and ending with a letter or digit")])


def label_value(desc: str, what: str) -> Any:
    """A value that becomes a label value (at most 63 characters)."""
    return _checked(desc, None, 63, [rule(f"self.matches('{LABEL_VALUE}')",
                                          f"{what} becomes a label value: at most 63 letters, digits, '-', "
                                          "'_' or '.', starting and ending with a letter or digit")])


def secret_key(desc: str, default: str) -> Any:
    """A key in a Secret's data."""
    return _checked(desc, default, 253, [rule(f"self.matches('{SECRET_KEY}')",
                                              "a Secret key consists of letters, digits, '-', '_' or '.'")])


def relative_path(desc: str, what: str, *, max_length: int = 1024) -> Any:
    """A path inside a directory it must not escape: relative, no '..' segment."""
    return _checked(desc, None, max_length, [rule(f"!self.startsWith('/') && !self.matches('{PARENT_SEGMENT}')",
                                                  f"{what} must be a relative path that stays inside its directory: "
                                                  "no leading '/' and no '..' segment")])


def model_ref(desc: str, what: str, default: Any = None) -> Any:
    """A Hugging Face id or a path on the run's volume, never climbing out with '..'."""
    return _checked(desc, default, 512, [rule(f"!self.matches('{PARENT_SEGMENT}') && "
                                              f"(!self.startsWith('/') || self.startsWith('{DATA_MOUNT}/'))",
                                              f"{what} is a Hugging Face id or a path on the run's volume (under "
                                              f"{DATA_MOUNT}/); it may not contain a '..' segment")])


def size_string(desc: str, what: str, default: str) -> Any:
    """A memory size held as a string (emptyDir sizeLimit): a quantity greater than zero."""
    return _checked(desc, default, 32, [rule("isQuantity(self) && quantity(self).isGreaterThan(quantity('0'))",
                                             f"{what} must be a size greater than zero, e.g. 16Gi")])


def probability(desc: str, default: float, name: str) -> Any:
    """A number between 0 and 1."""
    return field(desc, default, rules=[rule("self >= 0.0 && self <= 1.0", f"{name} is a probability and must be between 0 and 1")])


def quantity_schema(desc: str | None, what: str, *, positive: bool = False) -> Schema:
    """A resource quantity (integer or string such as 16Gi) that is never negative (the pattern
    has no '-'); ``positive`` also refuses zero. (A CEL rule per map value would exceed the API
    server's cost budget, so resource maps get the pattern alone.)"""
    schema: Schema = {
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "pattern": NON_NEGATIVE_QUANTITY_PATTERN,
        "minimum": 0,
        "x-kubernetes-int-or-string": True,
    }
    if desc is not None:
        schema = {"description": desc, **schema}
    if positive:
        schema["x-kubernetes-validations"] = [rule("!isQuantity(string(self)) || "
                                                   "quantity(string(self)).isGreaterThan(quantity('0'))",
                                                   f"{what} must be a quantity greater than zero, e.g. 100Gi")]
    return schema


def quantity(desc: str, what: str, *, positive: bool = False) -> Any:
    """A field holding a quantity; its whole schema is given (pydantic sees ``int | str``)."""
    return field(desc, k8s={"schema": quantity_schema(desc, what, positive=positive)})


def label_map(desc: str, what: str, *, max_properties: int = 64) -> Any:
    """Labels (a node selector): keys are qualified names, values label values."""
    return field(desc, k8s={"schema": {
        "type": "object",
        "description": desc,
        "additionalProperties": {"type": "string", "maxLength": 63},
        "maxProperties": max_properties,
        "x-kubernetes-validations": [
            rule(f"self.all(k, k.size() <= 317 && k.matches('{LABEL_KEY}'))",
                 f"{what} keys must be label keys: an optional DNS prefix and '/', then at most 63 letters, digits, "
                 "'-', '_' or '.', starting and ending with a letter or digit"),
            rule(f"self.all(k, self[k].matches('{LABEL_VALUE}'))",
                 f"{what} values must be label values: at most 63 letters, digits, '-', '_' or '.', starting and "
                 "ending with a letter or digit, or empty"),
        ],
    }})


def resources(desc: str) -> Any:
    """Requests and limits of a container, passed on as written."""
    amounts = {
        "type": "object",
        "additionalProperties": quantity_schema("A resource quantity.", "a resource amount"),
        "maxProperties": 16,
    }
    return field(desc, k8s={"schema": {"type": "object", "description": desc, "properties": {
        "requests": {**amounts, "description": "Minimum resources, e.g. cpu, memory."},
        "limits": {**amounts, "description": "Maximum resources. GPUs are set by the operator from the GPU fields."},
    }}})
