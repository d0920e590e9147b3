"""Optional APIs come from discovery, per resource (a group such as kubeflow.org serves others too)."""

from __future__ import annotations

from raft_operator import discovery


def test_served_kinds_by_resource_not_by_group() -> None:
    served = {("kubeflow.org", "v1"): {"profiles", "notebooks"},  # the Kubeflow platform, no training operator
              ("trainer.kubeflow.org", "v1alpha1"): {"trainjobs", "trainjobs/status", "clustertrainingruntimes"}}
    kinds = discovery.served_kinds(lambda g, v: served.get((g, v), set()))
    assert kinds == frozenset({"TrainJob"})


def test_cache_refreshes_and_survives_a_failed_discovery() -> None:
    answers = [{"pytorchjobs"}, RuntimeError("API down"), {"pytorchjobs", "trainjobs"}]
    calls = []

    def lister(group: str, version: str) -> set[str]:
        answer = answers[0]
        calls.append(group)
        if isinstance(answer, Exception):
            raise answer
        return answer

    cache = discovery.ServedApis(lister, refresh_seconds=0.0)
    assert cache.get() == frozenset({"PyTorchJob"})
    answers.pop(0)
    assert cache.get() == frozenset({"PyTorchJob"}), "a failed discovery keeps the last answer"
    answers.pop(0)
    assert cache.get() == frozenset({"PyTorchJob", "TrainJob"})
    assert discovery.ServedApis(lambda g, v: set()).get() == frozenset()
