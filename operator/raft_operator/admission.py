"""Admission rules of the RaftRun CRD: the checks each child's own API would make, made earlier.

Every value that ends up in a child object gets the rule that the child's API (or its
controller, or the server it runs) enforces, as a CEL rule with a message naming the fix, so a
bad manifest is refused by ``kubectl apply`` instead of failing minutes later. ``schema.py``
builds fields from these helpers; ``hack/crdgen.py`` renders them into the CRD.
"""

from __future__ import annotations

from typing import Any

from . import api

Schema = dict[str, Any]

# KubeRay refuses a RayJob whose name is over 47 characters (its RayCluster and Service names
# are derived from it) or not a DNS-1035 label.
KUBERAY_MAX_RAYJOB_NAME = 47
LONGEST_RAYJOB_SUFFIX = len(api.ChildNames("").datagen)
MAX_RUN_NAME = KUBERAY_MAX_RAYJOB_NAME - LONGEST_RAYJOB_SUFFIX
# Every other child name (the longest suffix is -serve-student) must still be a DNS-1035 label
# of at most 63 characters, the limit of Service names and label values.
assert MAX_RUN_NAME + max(len(v) for v in vars(api.ChildNames("")).values()) <= 63

DNS_1035_LABEL = "^[a-z]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
LABEL_VALUE = "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
LABEL_KEY = ("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
             "[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
SECRET_KEY = "^[-._a-zA-Z0-9]+$"
PARENT_SEGMENT = "(^|/)\\\\.\\\\.(/|$)"  # a '..' path segment
CHARS_PER_TOKEN = 4  # typical for English prose with Llama-style tokenizers


def rule(expr: str, message: str, **extra: Any) -> Schema:
    """A CEL validation rule."""
    return {"rule": expr, "message": message, **extra}


def _string(desc: str, max_length: int, rules: list[Schema], **extra: Any) -> Schema:
    return {"type": "string", "description": desc, "minLength": 1, "maxLength": max_length,
            "x-kubernetes-validations": rules, **extra}


def dns_subdomain(desc: str, what: str, **extra: Any) -> Schema:
    """The name of a namespaced object (claim, Secret, class): a DNS-1123 subdomain."""
    return _string(desc, 253, [rule(f"self.matches('{DNS_SUBDOMAIN}')",
                                    f"{what} must be a Kubernetes object name: lowercase letters, digits, '-' "
                                    "and '.', starting and ending with a letter or digit")], **extra)


def label_value(desc: str, what: str, *, max_length: int = 63) -> Schema:
    """A value that becomes a label value (at most 63 characters)."""
    return _string(desc, min(max_length, 63), [rule(f"self.matches('{LABEL_VALUE}')",
                                                    f"{what} becomes a label value: at most 63 letters, digits, '-', "
                                                    "'_' or '.', starting and ending with a letter or digit")])


def label_map(desc: str, what: str, *, max_properties: int = 64) -> Schema:
    """Labels (a node selector): keys are qualified names, values label values."""
    return {
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
    }


def secret_key(desc: str, default: str) -> Schema:
    """A key in a Secret's data."""
    return _string(desc, 253, [rule(f"self.matches('{SECRET_KEY}')",
                                     "a Secret key consists of letters, digits, '-', '_' or '.'")], default=default)


def relative_path(desc: str, what: str, *, max_length: int = 1024) -> Schema:
    """A path inside a directory it must not escape: relative, no '..' segment."""
    return _string(desc, max_length, [rule(f"!self.startsWith('/') && !self.matches('{PARENT_SEGMENT}')",
                                           f"{what} must be a relative path that stays inside its directory: "
                                           "no leading '/' and no '..' segment")])


def model_ref(desc: str, what: str) -> Schema:
    """A Hugging Face id or a path on the run's volume (under /data), never climbing out with '..'."""
    return _string(desc, 512, [rule(f"!self.matches('{PARENT_SEGMENT}') && "
                                    f"(!self.startsWith('/') || self.startsWith('{api.DATA_MOUNT}/'))",
                                    f"{what} is a Hugging Face id or a path on the run's volume (under "
                                    f"{api.DATA_MOUNT}/); it may not contain a '..' segment")])


def non_empty(desc: str, *, max_length: int = 253, **extra: Any) -> Schema:
    """A string that must not be empty."""
    return {"type": "string", "description": desc, "minLength": 1, "maxLength": max_length, **extra}


NON_NEGATIVE_QUANTITY_PATTERN = (r"^\+?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
                    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$")


def quantity(desc: str, what: str, *, positive: bool = False) -> Schema:
    """A resource quantity (integer or string such as 16Gi) that is never negative (the pattern
    has no '-'); ``positive`` also refuses zero. (A CEL rule per map value would exceed the API
    server's cost budget, so resource maps get the pattern alone.)"""
    schema: Schema = {
        "description": desc,
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "pattern": NON_NEGATIVE_QUANTITY_PATTERN,
        "minimum": 0,
        "x-kubernetes-int-or-string": True,
    }
    if positive:
        schema["x-kubernetes-validations"] = [rule("!isQuantity(string(self)) || "
                                                   "quantity(string(self)).isGreaterThan(quantity('0'))",
                                                   f"{what} must be a quantity greater than zero, e.g. 100Gi")]
    return schema


def size_string(desc: str, what: str, default: str) -> Schema:
    """A memory size held as a string (emptyDir sizeLimit): a quantity greater than zero."""
    return _string(desc, 32, [rule("isQuantity(self) && quantity(self).isGreaterThan(quantity('0'))",
                                   f"{what} must be a size greater than zero, e.g. 16Gi")], default=default)


TOLERATION_RULES = [
    rule("!has(self.operator) || self.operator != 'Exists' || !has(self.value) || self.value == ''",
         "a toleration with operator Exists matches any value: leave value empty"),
    rule("has(self.key) && self.key != '' || has(self.operator) && self.operator == 'Exists'",
         "a toleration without a key matches every taint and needs operator Exists"),
    rule("!has(self.tolerationSeconds) || has(self.effect) && self.effect == 'NoExecute'",
         "tolerationSeconds applies only to effect NoExecute"),
    rule(f"!has(self.key) || self.key == '' || self.key.matches('{LABEL_KEY}')",
         "a toleration key must be a label key: an optional DNS prefix and '/', then letters, digits, '-', '_' or '.'"),
    rule(f"!has(self.value) || self.value.matches('{LABEL_VALUE}')",
         "a toleration value must be a label value: at most 63 letters, digits, '-', '_' or '.'"),
]


RUN_METADATA: Schema = {
    "type": "object",
    # Only name and generateName may carry restrictions; the bound keeps the rules' cost estimate low.
    "properties": {"name": {"type": "string", "maxLength": 253}},
}


def run_name_rules() -> list[Schema]:
    """metadata.name: a DNS-1035 label short enough for every derived child name and label."""
    return [
        rule(f"self.metadata.name.size() <= {MAX_RUN_NAME}",
             f"metadata.name must be at most {MAX_RUN_NAME} characters: the data generation RayJob is named "
             f"<name>-datagen and KubeRay refuses RayJob names over {KUBERAY_MAX_RAYJOB_NAME} characters"),
        rule(f"self.metadata.name.matches('{DNS_1035_LABEL}')",
             "metadata.name must be a DNS-1035 label (lowercase letters, digits and '-', starting with a letter "
             "and ending with a letter or digit): KubeRay and Services require it of the names derived from it"),
    ]


def spec_rules() -> list[Schema]:
    """Limits across sections that a model server would otherwise refuse at run time."""
    return [
        rule(f"!has(self.teacher.vllm) || self.datagen.maxTokens + self.datagen.chunkSize / {CHARS_PER_TOKEN} "
             "< self.teacher.vllm.maxModelLen",
             f"datagen.maxTokens plus a chunk (datagen.chunkSize / {CHARS_PER_TOKEN} tokens) must be below "
             "teacher.vllm.maxModelLen: vLLM refuses requests longer than its context; lower datagen.maxTokens "
             "or raise teacher.vllm.maxModelLen", fieldPath=".datagen.maxTokens"),
        rule(f"self.student.contextLength >= self.eval.maxTokens + self.eval.topK.max() * self.datagen.chunkSize "
             f"/ {CHARS_PER_TOKEN}",
             "student.contextLength is the student server's context and must hold the eval answer (eval.maxTokens) "
             f"plus max(eval.topK) chunks of datagen.chunkSize characters (~{CHARS_PER_TOKEN} characters per token): "
             "raise student.contextLength, or lower eval.maxTokens or eval.topK",
             fieldPath=".student.contextLength"),
    ]
