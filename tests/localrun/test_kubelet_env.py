"""The local kubelet resolves a container's environment the way a kubelet does."""

from __future__ import annotations

from pathlib import Path

import pytest

from raft_sim.localrun.kubelet import ContainerConfigError, LocalKubelet, PodRun


@pytest.fixture
def kubelet() -> LocalKubelet:
    k = LocalKubelet.__new__(LocalKubelet)  # no API server: Secrets and ConfigMaps come from the fakes below
    k.api_host, k.api_port, k.node_name = "127.0.0.1", "6443", "local-node"
    k._secret_data = lambda ns, name, optional: {"api-key": "s3"} if name == "sec" else {}
    k._configmap_data = lambda ns, name, optional: {"a": "cm"}
    return k


POD = {"metadata": {"name": "p", "namespace": "d", "uid": "u"}, "spec": {}}
RUN = PodRun(uid="u", namespace="d", name="p", ip="127.0.1.2", directory=Path("."))


def test_key_references_fields_and_expansion(kubelet):
    env = kubelet.environment(POD, RUN, {"env": [
        {"name": "K", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "api-key"}}},
        {"name": "C", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "a"}}},
        {"name": "O", "valueFrom": {"secretKeyRef": {"name": "x", "key": "k", "optional": True}}},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "URL", "value": "http://$(IP):8000"},
    ]})
    assert (env["K"], env["C"], env["IP"], env["URL"]) == ("s3", "cm", "127.0.1.2", "http://127.0.1.2:8000")
    assert "O" not in env and env["KUBERNETES_SERVICE_HOST"] == "127.0.0.1"


def test_a_missing_key_is_a_container_config_error(kubelet):
    with pytest.raises(ContainerConfigError, match="couldn't find key k in Secret d/x"):
        kubelet.environment(POD, RUN, {"env": [{"name": "M", "valueFrom": {"secretKeyRef": {"name": "x", "key": "k"}}}]})
