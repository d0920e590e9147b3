"""The kinds table (raft_operator.child_kinds) is what the builders, indexes and suspend patches use."""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from harness import merge, raftrun
from raft_operator import child_kinds, discovery, kueue, permissions
from raft_operator.builders import (configmaps, datagen, evaluation, finetune, network_policy, storage, teacher,
                                    workload_rbac)
from raft_operator.run import Run
from raft_operator.builders.network_policy import NetworkPolicyOptions
from raft_operator.child_status import Outcome
from raft_operator.observed import summarize


def every_manifest() -> list[dict]:
    """Every child the builders make, over a one-node and a multi-node teacher and both training kinds."""
    single = Run.from_body(raftrun())
    body = raftrun()
    body["spec"]["teacher"]["vllm"].update(tensorParallelSize=8, pipelineParallelSize=2)
    multi = Run.from_body(body)
    out = []
    for run in (single, multi):
        out += workload_rbac.build(run) + configmaps.build(run) + network_policy.build(run, NetworkPolicyOptions())
        out += [storage.build(run)]
        out += teacher.build(run) + [teacher.replicas_service(run)] + datagen.build(run)
        out += finetune.build(run, kind=finetune.TRAINJOB) + finetune.build(run, kind=finetune.PYTORCHJOB)
        out += evaluation.server_manifests(run) + [evaluation.job(run)]
    return out


def test_every_built_child_has_its_kinds_api_version_and_an_index() -> None:
    built = every_manifest()
    assert {m["kind"] for m in built} == {k.kind for k in child_kinds.INDEXED if k.writes}
    for manifest in built:
        kind = child_kinds.of(manifest["kind"])
        assert manifest["apiVersion"] == kind.api_version, manifest["kind"]
        assert kind.writes >= {permissions.CREATE}


@pytest.mark.parametrize("manifest", [m for m in every_manifest() if child_kinds.of(m["kind"]).suspend_path],
                         ids=lambda m: m["kind"])
def test_the_suspend_patch_sets_the_flag_the_summary_reads(manifest: dict) -> None:
    kind = child_kinds.of(manifest["kind"])
    assert summarize(manifest)["suspend"] is False  # the builder writes the flag where the table says
    for flag in (True, False):
        patched = copy.deepcopy(manifest)
        merge(patched, kind.suspend_patch(flag))
        assert summarize(patched)["suspend"] is flag


def test_batch_kinds_read_their_outcome_and_are_queued_by_kueue() -> None:
    batch = {k.kind for k in child_kinds.KINDS.values() if k.outcome}
    assert batch == {k.kind for k in child_kinds.KINDS.values() if k.suspend_path}
    # Kueue queues the batch kinds by suspending them, and the servers by gating their pods: a
    # queued Deployment's Workloads are its pods', a LeaderWorkerSet's its groups'.
    assert set(child_kinds.QUEUED) == batch | {"Pod", "LeaderWorkerSet"}
    assert child_kinds.outcome({"kind": "Job", "status": {"conditions": [{"type": "Complete", "status": "True"}]}}) \
        == Outcome(succeeded=True, reason="JobComplete")
    with pytest.raises(ValueError):
        child_kinds.outcome({"kind": "Deployment", "status": {}})
    with pytest.raises(ValueError):
        child_kinds.DEPLOYMENT.suspend_patch(True)


def test_one_handler_index_per_indexed_kind_and_discovery_reads_the_optional_ones() -> None:
    import raft_operator.handlers  # noqa: F401  (registers the indexes)
    from kopf._core.intents import registries

    ids = {h.id for h in registries.get_default_registry()._indexing.get_all_handlers()}
    assert {f"children_{k.index}" for k in child_kinds.INDEXED} | {"workloads"} <= ids
    assert set(discovery.OPTIONAL_APIS) == {"TrainJob", "PyTorchJob", "Workload", "LeaderWorkerSet"}
    assert discovery.OPTIONAL_APIS["Workload"] == ("kueue.x-k8s.io", "v1beta2", "workloads")


def test_paths_and_kueue_integrations_come_from_the_table() -> None:
    assert child_kinds.DEPLOYMENT.collection_path("ns") == "/apis/apps/v1/namespaces/ns/deployments"
    assert child_kinds.CONFIG_MAP.collection_path("ns") == "/api/v1/namespaces/ns/configmaps"
    assert permissions.UNWATCHED == {"Secret": ("", "secrets")}
    summary = {"kind": "PyTorchJob", "name": "r-finetune", "suspend": True, "created": "2026-01-01T00:00:00Z"}
    message = kueue.unmanaged(summary, [], dt.datetime(2026, 1, 1, 1, tzinfo=dt.timezone.utc))
    assert message and "kubeflow.org/pytorchjob" in message
