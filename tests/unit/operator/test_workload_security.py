"""What each workload pod may do: tokens, keys, network (issue: security hardening), for both
fine-tuning APIs (the fixture ``training_api``, conftest.py)."""

from __future__ import annotations

import copy
from typing import Any

from raft_operator.builders import datagen, evaluation, finetune, teacher

from test_builders import make_run, pod_specs


def token_mounted(spec: dict[str, Any]) -> bool:
    return spec.get("automountServiceAccountToken", True) is not False


def test_service_account_token_only_where_a_program_writes_progress(training_api: str) -> None:
    run = make_run(student__nodes=3)
    (rayjob,) = datagen.build(run)
    cluster = rayjob["spec"]["rayClusterSpec"]
    assert token_mounted(cluster["headGroupSpec"]["template"]["spec"]), "the datagen driver runs on the head"
    assert not token_mounted(cluster["workerGroupSpecs"][0]["template"]["spec"])
    assert not token_mounted(rayjob["spec"]["submitterPodTemplate"]["spec"])
    (job,) = finetune.build(run, kind=training_api)
    if training_api == "PyTorchJob":
        replicas = job["spec"]["pytorchReplicaSpecs"]
        assert token_mounted(replicas["Master"]["template"]["spec"]), "rank 0 reports progress"
        assert not token_mounted(replicas["Worker"]["template"]["spec"])
    else:
        # Trainer makes every node's pod from one template (the runtime patch), and rank 0 reports
        # progress: every node mounts the token.
        (node,) = pod_specs(job)
        assert token_mounted(node), "rank 0 reports progress"
        assert job["spec"]["trainer"]["numNodes"] == 3
    assert token_mounted(evaluation.job(run)["spec"]["template"]["spec"])
    for server in teacher.build(run) + evaluation.server_manifests(run):
        for spec in pod_specs(server):
            assert not token_mounted(spec), f"{server['metadata']['name']} serves a model and never calls the API"


# ---- NetworkPolicy ----------------------------------------------------------------------------

from harness import FakeCluster, raftrun  # noqa: E402
from raft_operator.builders.network_policy import NetworkPolicyOptions, network_policy  # noqa: E402
from raft_operator.observed import Observed  # noqa: E402
from raft_operator.reconciler import reconcile  # noqa: E402
from raft_operator.settings import Settings  # noqa: E402


def test_every_run_gets_a_network_policy_unless_switched_off() -> None:
    c = FakeCluster(raftrun())
    c.step()
    assert ("NetworkPolicy", "demo-network") in c.objects
    plan = reconcile(raftrun(), Observed.from_summaries([]), c.now, network=NetworkPolicyOptions(enabled=False))
    assert "NetworkPolicy" not in {m["kind"] for m in plan.create}


def test_only_the_run_the_operator_and_kuberay_get_in() -> None:
    run = make_run()
    options = NetworkPolicyOptions(operator_namespace="raft-system", operator_pod_labels={"app": "op"})
    spec = network_policy(run, options)["spec"]
    assert spec["podSelector"] == {"matchLabels": {"raftoperator.io/run": "demo"}}
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    ingress = spec["ingress"]
    assert ingress[0] == {"from": [{"podSelector": {"matchLabels": {"raftoperator.io/run": "demo"}}}]}
    assert ingress[1] == {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "raft-system"}},
                                    "podSelector": {"matchLabels": {"app": "op"}}}],
                          "ports": [{"protocol": "TCP", "port": 8000}]}
    assert ingress[2]["ports"] == [{"protocol": "TCP", "port": 8265}], "KubeRay reaches only the dashboard"
    assert all(rule.get("from") for rule in ingress), "no rule admits every source"


def test_egress_reaches_no_private_address_on_every_port() -> None:
    run = make_run(corpus={"sitemap": {"urls": ["https://docs.example.com:8443/sitemap.xml"]}})
    egress = network_policy(run, NetworkPolicyOptions(api_server_cidrs=("10.0.0.1/32",)))["spec"]["egress"]
    for rule in egress:
        if "ports" in rule:
            continue
        for peer in rule["to"]:
            block = peer.get("ipBlock")
            if block:
                assert "169.254.0.0/16" in block["except"] or "fe80::/10" in block["except"], "cloud metadata stays out"
                assert "10.0.0.0/8" in block["except"] or "fc00::/7" in block["except"]
            else:
                assert peer == {"podSelector": {"matchLabels": {"raftoperator.io/run": "demo"}}}
    api_rule = next(r for r in egress if r.get("ports") == [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}])
    assert api_rule["to"] == [{"ipBlock": {"cidr": "10.0.0.1/32"}}]
    assert {"ports": [{"protocol": "TCP", "port": 8443}]} in egress, "the sitemap's port"


def test_settings_from_the_chart_environment(monkeypatch) -> None:
    monkeypatch.setenv("RAFT_NETWORK_POLICY", "false")
    monkeypatch.setenv("RAFT_OPERATOR_NAMESPACE", "raft-system")
    monkeypatch.setenv("RAFT_OPERATOR_POD_LABELS", "app.kubernetes.io/name=raft-operator,app.kubernetes.io/instance=r")
    monkeypatch.setenv("RAFT_API_SERVER_CIDRS", "10.0.0.1/32, 10.0.0.2/32")
    options = Settings.from_env().network_policy
    assert options == NetworkPolicyOptions(
        enabled=False, operator_namespace="raft-system",
        operator_pod_labels={"app.kubernetes.io/name": "raft-operator", "app.kubernetes.io/instance": "r"},
        api_server_cidrs=("10.0.0.1/32", "10.0.0.2/32"))


def test_the_ray_cluster_requires_ray_token_authentication() -> None:
    (rayjob,) = datagen.build(make_run())
    cluster = rayjob["spec"]["rayClusterSpec"]
    assert cluster["authOptions"] == {"mode": "token"}
    major, minor, _ = (int(p) for p in cluster["rayVersion"].split("."))
    assert (major, minor) >= (2, 52), "Ray token authentication needs Ray 2.52 or newer"


def test_the_simulated_rayjob_crd_accepts_what_the_operator_sends() -> None:
    import jsonschema
    import yaml
    from pathlib import Path

    crd = yaml.safe_load((Path(__file__).resolve().parents[3] / "sim/raft_sim/crds/ray.io_rayjobs.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    auth = schema["properties"]["spec"]["properties"]["rayClusterSpec"]["properties"]["authOptions"]
    (rayjob,) = datagen.build(make_run())
    jsonschema.validate(rayjob["spec"]["rayClusterSpec"]["authOptions"], auth)


# ---- both fine-tuning APIs through the reconciler ------------------------------------------------

from test_reconciler import drive_to_success  # noqa: E402


class Recording(FakeCluster):
    """A FakeCluster that keeps every manifest the reconciler created (deleted ones included)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.created: list[dict[str, Any]] = []

    def step(self, seconds: float = 10):
        plan = super().step(seconds)
        self.created += [copy.deepcopy(m) for m in plan.create]
        return plan


WORKLOAD_KINDS = {"Deployment", "LeaderWorkerSet", "RayJob", "TrainJob", "PyTorchJob", "Job"}


def test_every_pod_of_a_whole_run_is_hardened_on_the_api_the_cluster_serves(training_api: str, served) -> None:
    """The reconciler, not the builders: a run driven to Succeeded on a cluster where ``auto``
    picks ``training_api``; every pod of every workload it created runs hardened."""
    c = Recording(raftrun(), served=served)
    drive_to_success(c)
    assert c.phase == "Succeeded"
    workloads = [m for m in c.created if m["kind"] in WORKLOAD_KINDS]
    kinds = {m["kind"] for m in workloads}
    assert training_api in kinds and not kinds & ({"TrainJob", "PyTorchJob"} - {training_api}), kinds
    for manifest in workloads:
        for spec in pod_specs(manifest):
            name = f"{manifest['kind']} {manifest['metadata']['name']}"
            assert spec["serviceAccountName"] == "demo-workload", name
            assert spec["securityContext"]["runAsNonRoot"] is True, name
            assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
            for container in spec["containers"] + spec.get("initContainers", []):
                sc = container["securityContext"]
                assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}, name
