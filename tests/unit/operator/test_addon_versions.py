"""Add-on minimum versions: told from the fields of each add-on's CRD, one table for all, and a
condition on the runs that use a too-old add-on."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness import FakeCluster, raftrun
from raft_operator import addon_versions, discovery
from raft_operator.addon_versions import ADDONS, Addon
from raft_operator.builders import datagen, finetune, teacher
from raft_operator.run import Run
from raft_operator.observed import Observed
from raft_operator.settled import fingerprint

from kmock_support import cluster_with_operator, wait_for
from test_handlers_kmock import RUN, SPEC
from test_reconciler import PTJOB, to_finetune

ADDON = {a.kind.kind: a for a in ADDONS}


def schema_with(paths: list[str]) -> dict[str, Any]:
    """An openAPIV3Schema listing exactly ``paths`` (dotted), as a CRD's structural schema would."""
    root: dict[str, Any] = {"type": "object", "properties": {}}
    for path in paths:
        node = root
        for key in path.split("."):
            node = node.setdefault("properties", {}).setdefault(key, {"type": "object"})
    return root


def fake_crd(addon: Addon, *, drop: tuple[str, ...] = (), versions: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The add-on's CRD as a release that has every field the operator sets but ``drop`` would serve it."""
    schema = schema_with([f.path for f in addon.fields if f.path not in drop] + ["spec.other", "status.conditions"])
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": addon.crd},
            "spec": {"group": addon.kind.group, "names": {"plural": addon.kind.plural, "kind": addon.kind.kind},
                     "versions": [{"name": v, "served": True, "storage": v == addon.kind.version,
                                   "schema": {"openAPIV3Schema": schema}}
                                  for v in (versions or (addon.kind.version,))]}}


def test_one_table_covers_every_add_on_kind_and_names_its_crd() -> None:
    assert set(ADDON) == set(discovery.OPTIONAL_APIS) | {"RayJob"}
    assert ADDON["RayJob"].crd == "rayjobs.ray.io"
    assert ADDON["TrainJob"].crd == "trainjobs.trainer.kubeflow.org"
    assert ADDON["PyTorchJob"].crd == "pytorchjobs.kubeflow.org"
    assert ADDON["LeaderWorkerSet"].crd == "leaderworkersets.leaderworkerset.x-k8s.io"
    assert ADDON["Workload"].crd == "workloads.kueue.x-k8s.io"
    assert {k: a.minimum for k, a in ADDON.items()} == {
        "RayJob": "1.6.0", "TrainJob": "2.2.0", "PyTorchJob": "1.7.0", "LeaderWorkerSet": "0.3.0", "Workload": "0.15.0"}


def test_the_table_lists_fields_the_builders_really_set() -> None:
    run = Run.from_body(raftrun())
    multi = raftrun()
    multi["spec"]["teacher"]["vllm"].update(tensorParallelSize=8, pipelineParallelSize=2)
    manifests = {"RayJob": datagen.rayjob(run, suspend=False),
                 "TrainJob": finetune.build(run, kind="TrainJob")[0],
                 "PyTorchJob": finetune.build(run, kind="PyTorchJob")[0],
                 "LeaderWorkerSet": teacher.build(Run.from_body(multi))[0]}
    for kind, manifest in manifests.items():
        assert manifest["apiVersion"] == ADDON[kind].kind.api_version
        for f in ADDON[kind].fields:
            node: Any = manifest
            for key in f.path.split("."):
                assert isinstance(node, dict) and key in node, f"{kind} sets no {f.path}"
                node = node[key]


@pytest.mark.parametrize("kind", ["RayJob", "TrainJob", "PyTorchJob", "LeaderWorkerSet", "Workload"])
def test_a_crd_with_every_field_is_recent_enough(kind: str) -> None:
    assert addon_versions.too_old(ADDON[kind], fake_crd(ADDON[kind])) is None


def test_a_rayjob_crd_without_auth_options_names_kuberay_the_field_and_the_minimum() -> None:
    message = addon_versions.too_old(ADDON["RayJob"], fake_crd(ADDON["RayJob"], drop=("spec.rayClusterSpec.authOptions",)))
    assert message is not None and "\n" not in message
    assert message.startswith("KubeRay is older than 1.6.0")
    assert "spec.rayClusterSpec.authOptions (KubeRay 1.5.1+" in message and "rayjobs.ray.io" in message
    assert "upgrade KubeRay to 1.6.0 or later" in message
    assert "preRunningDeadlineSeconds" not in message, "only the missing fields"


def test_a_kueue_without_workload_v1beta2_is_too_old() -> None:
    message = addon_versions.too_old(ADDON["Workload"], fake_crd(ADDON["Workload"], versions=("v1beta1",)))
    assert message and "does not serve kueue.x-k8s.io/v1beta2" in message and "Kueue to 0.15.0" in message
    not_served = fake_crd(ADDON["Workload"], versions=("v1beta1", "v1beta2"))
    not_served["spec"]["versions"][1]["served"] = False
    assert addon_versions.too_old(ADDON["Workload"], not_served) is not None


def test_fields_are_found_through_arrays_and_under_nodes_that_keep_unknown_fields() -> None:
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "groups": {"type": "array", "items": {"type": "object", "properties": {"size": {"type": "integer"}}}},
        "template": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}
    assert addon_versions.has_field(schema, "spec.groups.size")
    assert not addon_versions.has_field(schema, "spec.groups.name")
    assert addon_versions.has_field(schema, "spec.template.spec.containers")
    assert not addon_versions.has_field(schema, "spec.authOptions")


def test_problems_read_each_crd_by_name_and_skip_add_ons_not_installed() -> None:
    installed = {ADDON["RayJob"].crd: fake_crd(ADDON["RayJob"], drop=("spec.preRunningDeadlineSeconds",)),
                 ADDON["LeaderWorkerSet"].crd: fake_crd(ADDON["LeaderWorkerSet"])}
    read: list[str] = []

    def reader(name: str) -> dict[str, Any] | None:
        read.append(name)
        return installed.get(name)
    found = addon_versions.problems(reader)
    assert set(found) == {"RayJob"} and "spec.preRunningDeadlineSeconds" in found["RayJob"]
    assert sorted(read) == sorted(a.crd for a in ADDONS)


# ---- the cache and the CRD read ------------------------------------------------------------------


def test_the_check_is_cached_and_a_failure_waits_for_the_next_refresh() -> None:
    answers: list[Any] = [PermissionError("403 Forbidden: customresourcedefinitions"), None]
    calls: list[str] = []

    def reader(name: str) -> dict[str, Any] | None:
        calls.append(name)
        if isinstance(answers[0], Exception):
            raise answers[0]
        return answers[0]
    checks = discovery.AddonChecks(reader, refresh_seconds=3600)
    assert checks.get() is None and checks.get() is None, "not known without the CRDs"
    assert len(calls) == 1, "no read on every pass while forbidden"
    answers.pop(0)
    fresh = discovery.AddonChecks(reader, refresh_seconds=0.0)
    assert fresh.get() == {} and fresh.get() == {}


class FakeApiextensions:
    """The one call read_crd makes: a list of CRDs by a name field selector (answered with every CRD,
    as a fake server that ignores selectors would)."""

    crds: list[dict[str, Any]] = []

    class Response:
        def __init__(self, data: bytes) -> None:
            self.data = data

    def list_custom_resource_definition(self, field_selector: str, _preload_content: bool) -> "FakeApiextensions.Response":
        assert field_selector.startswith("metadata.name=") and _preload_content is False
        return self.Response(json.dumps({"items": self.crds}).encode())


def test_read_crd_lists_by_name_and_takes_only_that_crd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(discovery.client, "ApiextensionsV1Api", FakeApiextensions)
    FakeApiextensions.crds = [{"metadata": {"name": "raftruns.raftoperator.io"}}]
    assert discovery.read_crd("rayjobs.ray.io") is None
    FakeApiextensions.crds.append(fake_crd(ADDON["RayJob"]))
    assert discovery.read_crd("rayjobs.ray.io")["metadata"]["name"] == "rayjobs.ray.io"


@pytest.mark.timeout(60)
def test_the_running_operator_reads_the_installed_crd_and_warns_the_run(tmp_path: Any,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    with cluster_with_operator(tmp_path, monkeypatch, start=False) as c:
        old_kuberay = fake_crd(ADDON["RayJob"], drop=("spec.rayClusterSpec.authOptions",))
        c.http("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", old_kuberay)
        c.start_operator()
        c.create_run(RUN, SPEC)

        def condition() -> dict[str, Any] | None:
            return next((x for x in c.status(RUN).get("conditions") or [] if x["type"] == "AddonsCompatible"), None)
        cond = wait_for(condition, what="the AddonsCompatible condition")
        assert cond["status"] == "False" and cond["reason"] == "AddonTooOld"
        assert "KubeRay is older than 1.6.0" in cond["message"] and "authOptions" in cond["message"]


def test_a_changed_check_changes_the_runs_fingerprint() -> None:
    assert fingerprint(1, Observed(), None, {}) != fingerprint(1, Observed(), None, {"RayJob": "too old"})


# ---- the condition on the runs that use the add-on -------------------------------------------------


def test_a_run_says_which_add_on_it_uses_is_too_old_and_when_it_is_fixed() -> None:
    trainer_old = addon_versions.too_old(ADDON["TrainJob"], fake_crd(ADDON["TrainJob"], drop=("spec.runtimePatches",)))
    c = FakeCluster(raftrun(), served=frozenset({"TrainJob"}))
    c.addons = {"TrainJob": trainer_old, "LeaderWorkerSet": "LeaderWorkerSet is older than 0.3.0"}
    c.step()
    cond = c.condition("AddonsCompatible")
    assert cond["status"] == "False" and cond["reason"] == "AddonTooOld"
    assert "Kubeflow Trainer is older than 2.2.0" in cond["message"] and "spec.runtimePatches" in cond["message"]
    assert "LeaderWorkerSet" not in cond["message"], "a one-node teacher uses no LeaderWorkerSet"
    assert any(kind == "Warning" and reason == "AddonTooOld" for kind, reason, _ in c.events)
    assert c.phase == "ServingTeacher", "a warning, not a failure"
    c.addons = {}
    c.step()
    assert c.condition("AddonsCompatible")["status"] == "True"


def test_no_condition_for_an_add_on_the_run_does_not_use_or_when_unknown() -> None:
    c = FakeCluster(raftrun(), served=frozenset({"PyTorchJob"}))
    c.addons = {"TrainJob": "Kubeflow Trainer is older than 2.2.0", "Workload": "Kueue is older than 0.15.0"}
    to_finetune(c)
    assert ("PyTorchJob", PTJOB) in c.objects
    assert not [x for x in c.run["status"]["conditions"] if x["type"] == "AddonsCompatible"]
    unknown = FakeCluster(raftrun(), served=frozenset({"TrainJob"}))  # addons None: the CRDs could not be read
    unknown.step()
    assert not [x for x in unknown.run["status"]["conditions"] if x["type"] == "AddonsCompatible"]


def test_a_queue_name_with_a_kueue_too_old_for_workload_v1beta2_fails_saying_so() -> None:
    body = raftrun()
    body["spec"]["scheduling"] = {"queueName": "gpus"}
    c = FakeCluster(body, served=frozenset({"PyTorchJob"}))  # discovery finds no Workload v1beta2
    c.addons = {"Workload": addon_versions.too_old(ADDON["Workload"], fake_crd(ADDON["Workload"], versions=("v1beta1",)))}
    c.step()
    assert c.phase == "Failed" and c.condition("TeacherReady")["reason"] == "AddonTooOld"
    assert "Kueue is older than 0.15.0" in c.run["status"]["message"]


def test_the_kueue_minimum_applies_to_runs_kueue_queues() -> None:
    body = raftrun()
    body["spec"]["scheduling"] = {"queueName": "gpus"}
    c = FakeCluster(body, served=frozenset({"PyTorchJob", "Workload"}))
    c.addons = {"Workload": "Kueue is older than 0.15.0: x"}
    c.step()
    assert c.condition("AddonsCompatible")["message"] == "Kueue is older than 0.15.0: x"
