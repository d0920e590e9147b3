"""The RaftRun CustomResourceDefinition: the API models (:mod:`raft_api.spec`,
:mod:`raft_api.status`) rendered as its schema, with the names, printer columns and the rules on
``metadata.name`` that only the operator's child names decide. ``hack/crdgen.py`` writes it to
crds/raftoperator.io_raftruns.yaml, the chart and docs/api.md."""

from __future__ import annotations

from raft_api.k8s import Schema
from raft_api.openapi import described, model_schema
from raft_api.spec import SPEC_RULES, RaftRunSpec
from raft_api.status import RaftRunStatus

from . import admission
from .api import GROUP, KIND, PLURAL, VERSION

PRINTER_COLUMNS = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Stage", "type": "string", "jsonPath": ".status.stage"},
    {"name": "Progress", "type": "string", "jsonPath": ".status.progress"},
    {"name": "Score", "type": "string", "jsonPath": ".status.score"},
    {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def open_api_schema() -> Schema:
    """The openAPIV3Schema of a RaftRun."""
    return {
        "type": "object",
        "description": "RaftRun: Retrieval Augmented Fine Tuning from documents to an evaluated student model. "
                       "A teacher model writes a RAFT dataset from the corpus, the student is fully fine-tuned on it, "
                       "and eval scores it against baselines.",
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion of this object."},
            "kind": {"type": "string", "description": "Kind of this object."},
            "metadata": admission.RUN_METADATA,
            "spec": described(RaftRunSpec.__doc__ or "", model_schema(RaftRunSpec), **{"x-kubernetes-validations": SPEC_RULES}),
            "status": described(RaftRunStatus.__doc__ or "", model_schema(RaftRunStatus)),
        },
        "required": ["spec"],
        "x-kubernetes-validations": admission.run_name_rules(),
    }


def crd() -> Schema:
    """The CustomResourceDefinition object."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}", "labels": {"app.kubernetes.io/part-of": "raft-operator"}},
        "spec": {
            "group": GROUP,
            "names": {"kind": KIND, "listKind": f"{KIND}List", "plural": PLURAL, "singular": KIND.lower(),
                      "shortNames": ["raft", "rr"], "categories": ["raft", "ml"]},
            "scope": "Namespaced",
            "versions": [{
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": PRINTER_COLUMNS,
                "schema": {"openAPIV3Schema": open_api_schema()},
            }],
        },
    }
