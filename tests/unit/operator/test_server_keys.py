"""The run's server key: a Secret created once, owned by the run, never adopted from someone else."""

from __future__ import annotations

import base64
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from harness import raftrun
from raft_operator.builders import server_auth
from raft_operator.run import Run
from raft_operator.server_keys import ForeignSecret, ensure_server_key


class FakeCore:
    """CoreV1Api's two Secret calls over a dict."""

    def __init__(self) -> None:
        self.secrets: dict[str, Any] = {}
        self.calls: list[str] = []

    def read_namespaced_secret(self, name: str, namespace: str) -> Any:
        self.calls.append(f"get {name}")
        if name not in self.secrets:
            raise ApiException(status=404)
        body = self.secrets[name]
        owners = [SimpleNamespace(controller=o.get("controller"), uid=o["uid"])
                  for o in body["metadata"].get("ownerReferences", [])]
        return SimpleNamespace(metadata=SimpleNamespace(owner_references=owners), data=body.get("data"))

    def create_namespaced_secret(self, namespace: str, body: dict[str, Any]) -> None:
        self.calls.append(f"create {body['metadata']['name']}")
        if body["metadata"]["name"] in self.secrets:
            raise ApiException(status=409)
        self.secrets[body["metadata"]["name"]] = body


def run() -> Run:
    return Run.from_body(raftrun())


def test_the_key_is_generated_once_and_read_back() -> None:
    core = FakeCore()
    key = ensure_server_key(core, run())
    secret = core.secrets["demo-server-key"]
    assert secret["metadata"]["ownerReferences"][0]["uid"] == "uid-demo"
    assert base64.b64decode(secret["data"]["api-key"]).decode() == key and len(key) >= 32
    assert ensure_server_key(core, run()) == key, "an operator restart reads the same key"
    assert core.calls == ["get demo-server-key", "create demo-server-key", "get demo-server-key"]
    assert ensure_server_key(FakeCore(), run()) != key, "every run has its own key"


def test_a_secret_the_run_does_not_control_is_refused() -> None:
    core = FakeCore()
    planted = server_auth.secret(run(), "known-to-someone-else")
    planted["metadata"]["ownerReferences"] = []
    core.secrets["demo-server-key"] = planted
    with pytest.raises(ForeignSecret, match="not controlled by this RaftRun"):
        ensure_server_key(core, run())


def test_servers_take_the_key_from_the_secret_in_their_environment_only() -> None:
    from raft_operator.builders import evaluation, teacher
    from test_builders import make_run, pod_specs

    r = make_run()
    for manifest in teacher.build(r) + evaluation.server_manifests(r):
        for spec in pod_specs(manifest):
            container = spec["containers"][0]
            assert {"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {"name": "demo-server-key", "key": "api-key"}}} \
                in container["env"]
            assert not any("api-key" in a for a in container.get("args", []) + container.get("command", []))


def test_programs_send_the_key_the_simulated_server_requires(monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    import urllib.error
    import urllib.request

    from raft_api.runconfig import run_config_from_dict
    from raft_operator.builders import configmaps
    from raft_sim.vllm_server import SimSettings, SimulatedVLLMServer

    config = run_config_from_dict(configmaps.run_config(run()))
    monkeypatch.setenv(server_auth.CLIENT_ENV, "k-run")
    assert config.teacher.api_key() == "k-run"
    assert {m.name: m.api_key_env for m in config.eval.models} == {n: server_auth.CLIENT_ENV for n in ("student", "base", "teacher")}

    with SimulatedVLLMServer(SimSettings(models=["m"], api_key="k-run")).running_in_thread() as server:
        def post(key: str | None) -> int:
            headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
            body = json.dumps({"model": "m", "prompt": "Hi", "max_tokens": 1}).encode()
            try:
                with urllib.request.urlopen(urllib.request.Request(f"{server.url}/completions", body, headers), timeout=10) as r:
                    return r.status
            except urllib.error.HTTPError as exc:
                return exc.code

        assert post(None) == 401 and post("wrong") == 401
        assert post(config.teacher.api_key()) == 200
        with urllib.request.urlopen(server.url.removesuffix("/v1") + "/health", timeout=10) as r:
            assert r.status == 200, "the kubelet's probes need no key"
