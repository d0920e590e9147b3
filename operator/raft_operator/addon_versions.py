"""The add-ons whose objects the operator creates or reads, the oldest release of each it works
with, and how to tell an older one from the CRD it installed.

The API server prunes a custom object to the fields its CRD's schema lists, so a field an older
add-on does not know is dropped without an error: a RayJob's ``authOptions`` before KubeRay 1.5.1,
and the Ray cluster runs without authentication. The operator reads each add-on's CRD
(:mod:`raft_operator.discovery`) and looks for the fields it sets in the schema of the version it
uses; a missing field or version names the add-on and its minimum release, and a run that uses
that add-on says so in its ``AddonsCompatible`` condition. docs/compatibility.md is this table in
prose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from . import child_kinds
from .child_kinds import ChildKind

TOO_OLD = "AddonTooOld"  # the condition reason

CRD = dict[str, Any]
Reader = Callable[[str], CRD | None]  # CRD name → the CustomResourceDefinition, None when not installed


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


@dataclass(frozen=True)
class Field:
    """A field the operator sets, by its dotted path from the object's root."""

    path: str
    since: str  # the add-on's first release whose CRD has it
    why: str  # what the operator sets it for


@dataclass(frozen=True)
class Addon:
    """One add-on: the kind the operator uses of it, since when that API version is served, the fields it needs."""

    name: str
    kind: ChildKind
    api_since: str  # first release serving kind.api_version
    fields: tuple[Field, ...] = ()

    @property
    def crd(self) -> str:
        """The name of the kind's CustomResourceDefinition (plural.group)."""
        return f"{self.kind.plural}.{self.kind.group}"

    @property
    def minimum(self) -> str:
        """The oldest release the operator works with."""
        return max((self.api_since, *(f.since for f in self.fields)), key=_release)


ADDONS: tuple[Addon, ...] = (
    Addon("KubeRay", child_kinds.RAYJOB, "1.0.0", (
        Field("spec.submitterPodTemplate", "1.0.0", "the job submitter runs with the run's pod security and volumes"),
        Field("spec.backoffLimit", "1.2.0", "failurePolicy.backoffLimit retries of data generation"),
        Field("spec.rayClusterSpec.authOptions", "1.5.1",
              "Ray token authentication; without it the dashboard, job API and GCS accept any caller"),
        Field("spec.preRunningDeadlineSeconds", "1.6.0", "a Ray cluster that never starts fails in bounded time"),
    )),
    Addon("Kubeflow Trainer", child_kinds.TRAINJOB, "2.0.0", (
        Field("spec.runtimePatches", "2.2.0",
              "the training pods' volumes, security context, ServiceAccount and placement"),
        Field("spec.activeDeadlineSeconds", "2.2.0", "failurePolicy.finetuneDeadlineSeconds"),
    )),
    Addon("Kubeflow training-operator", child_kinds.PYTORCHJOB, "1.3.0", (
        Field("spec.nprocPerNode", "1.7.0", "one training process per GPU"),
        Field("spec.runPolicy.suspend", "1.7.0", "Kueue's queueing and spec.suspend"),
    )),
    Addon("LeaderWorkerSet", child_kinds.LEADER_WORKER_SET, "0.1.0", (
        Field("spec.startupPolicy", "0.3.0", "the workers start once the leader's Ray head runs"),
        Field("spec.rolloutStrategy.rollingUpdateConfiguration.maxSurge", "0.3.0", "a rollout takes no extra GPUs"),
    )),
    # The operator reads Workloads through kueue.x-k8s.io/v1beta2 (and sets nothing in them).
    Addon("Kueue", child_kinds.WORKLOAD, "0.15.0"),
)


def _schema(crd: CRD, version: str) -> dict[str, Any] | None:
    """The openAPIV3Schema of a served ``version`` of ``crd``; None when it is not served."""
    for v in (crd.get("spec") or {}).get("versions") or []:
        if v.get("name") == version and v.get("served"):
            return ((v.get("schema") or {}).get("openAPIV3Schema")) or {}
    return None


def has_field(schema: dict[str, Any], path: str) -> bool:
    """Whether objects of ``schema`` keep the field at dotted ``path`` (listed, or under a node
    that preserves unknown fields), looking through arrays to their items."""
    node = schema
    for key in path.split("."):
        while node.get("type") == "array":
            node = node.get("items") or {}
        properties = node.get("properties") or {}
        if key in properties:
            node = properties[key]
        else:
            return bool(node.get("x-kubernetes-preserve-unknown-fields"))
    return True


def too_old(addon: Addon, crd: CRD) -> str | None:
    """Why the add-on that installed ``crd`` is older than the operator needs, in one line; None when it is not."""
    upgrade = f"upgrade {addon.name} to {addon.minimum} or later"
    schema = _schema(crd, addon.kind.version)
    if schema is None:
        return (f"{addon.name} is older than {addon.minimum}: its CRD {addon.crd} does not serve "
                f"{addon.kind.api_version} (served since {addon.name} {addon.api_since}); {upgrade}")
    missing = [f for f in addon.fields if not has_field(schema, f.path)]
    if not missing:
        return None
    fields = "; ".join(f"{f.path} ({addon.name} {f.since}+: {f.why})" for f in missing)
    return (f"{addon.name} is older than {addon.minimum}: its {addon.kind.kind} CRD ({addon.crd}) has no {fields}; "
            f"the API server drops what its CRD does not list: {upgrade}")


def problems(read: Reader, addons: Iterable[Addon] = ADDONS) -> dict[str, str]:
    """Kind → why its add-on is too old, for every installed add-on older than the operator needs."""
    out = {}
    for addon in addons:
        crd = read(addon.crd)
        message = too_old(addon, crd) if crd is not None else None
        if message:
            out[addon.kind.kind] = message
    return out
