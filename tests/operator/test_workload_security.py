"""What each workload pod may do: tokens, keys, network (issue: security hardening)."""

from __future__ import annotations

from typing import Any

from raft_operator.builders import datagen, evaluation, finetune, teacher

from test_builders import make_run, pod_specs


def token_mounted(spec: dict[str, Any]) -> bool:
    return spec.get("automountServiceAccountToken", True) is not False


def test_service_account_token_only_where_a_program_writes_progress() -> None:
    run = make_run(student__nodes=3)
    (rayjob,) = datagen.build(run)
    cluster = rayjob["spec"]["rayClusterSpec"]
    assert token_mounted(cluster["headGroupSpec"]["template"]["spec"]), "the datagen driver runs on the head"
    assert not token_mounted(cluster["workerGroupSpecs"][0]["template"]["spec"])
    assert not token_mounted(rayjob["spec"]["submitterPodTemplate"]["spec"])
    (ptjob,) = finetune.build(run)
    replicas = ptjob["spec"]["pytorchReplicaSpecs"]
    assert token_mounted(replicas["Master"]["template"]["spec"]), "rank 0 reports progress"
    assert not token_mounted(replicas["Worker"]["template"]["spec"])
    assert token_mounted(evaluation.job(run)["spec"]["template"]["spec"])
    for server in teacher.build(run) + evaluation.server_manifests(run):
        for spec in pod_specs(server):
            assert not token_mounted(spec), f"{server['metadata']['name']} serves a model and never calls the API"
