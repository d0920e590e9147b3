"""Admission rules on a RaftRun's name, which only the operator's child names decide: every
name derived from it must still be one its child's API accepts (the spec's own rules are
declared with its fields, :mod:`raft_api.spec`)."""

from __future__ import annotations

from raft_api.k8s import DNS_1035_LABEL, Schema, rule

from . import api

# KubeRay refuses a RayJob whose name is over 47 characters (its RayCluster and Service names
# are derived from it) or not a DNS-1035 label.
KUBERAY_MAX_RAYJOB_NAME = 47
LONGEST_RAYJOB_SUFFIX = len(api.ChildNames("").datagen)
MAX_RUN_NAME = KUBERAY_MAX_RAYJOB_NAME - LONGEST_RAYJOB_SUFFIX
# Every other child name (the longest suffix is -serve-student) must still be a DNS-1035 label
# of at most 63 characters, the limit of Service names and label values.
assert MAX_RUN_NAME + max(len(v) for v in vars(api.ChildNames("")).values()) <= 63

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
