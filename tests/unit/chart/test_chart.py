"""The Helm chart with the real helm: lint, render over several values files, reject bad values,
and check that what it renders is what the operator reads (command line, env, ports)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from raft_dev.helm import kube_version

sys.path.insert(0, str(Path(__file__).parent))

from chartlib import by_kind, one, operator_container  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[3]
CHART = REPO_ROOT / "charts" / "raft-operator"
VALUES_FILES = sorted(p.name for p in (Path(__file__).parent / "values").glob("*.yaml"))
PEERING_CRDS_FILE = "kopf.dev_peerings.yaml"


# ---- lint and render ------------------------------------------------------------------------


@pytest.mark.parametrize("values", ["(defaults)", *VALUES_FILES])
def test_helm_lint_strict(helm, values: str) -> None:
    args = ["lint", str(CHART), "--strict", "--kube-version", kube_version()]
    if values != "(defaults)":
        args += ["--values", str(Path(__file__).parent / "values" / values)]
    result = helm.run(*args)
    assert "0 chart(s) failed" in result.stdout


EXPECTED_KINDS = {
    "cluster-wide.yaml": {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment", "Service",
                          "PodDisruptionBudget", "ClusterKopfPeering"},
    "namespaced.yaml": {"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "Deployment",
                        "Service", "PodDisruptionBudget", "KopfPeering"},
    "ha.yaml": {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment", "Service", "PodDisruptionBudget",
                "ClusterKopfPeering"},
    "servicemonitor.yaml": {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment", "Service",
                            "PodDisruptionBudget", "ClusterKopfPeering", "ServiceMonitor"},
    "custom-images.yaml": {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment", "Service",
                           "PodDisruptionBudget", "ClusterKopfPeering"},
    "standalone.yaml": {"ServiceAccount", "Role", "RoleBinding", "Deployment", "Service", "PodDisruptionBudget"},
}


@pytest.mark.parametrize("values", VALUES_FILES)
def test_renders_the_expected_objects(render, values: str) -> None:
    docs = render(values)
    assert {d["kind"] for d in docs} == EXPECTED_KINDS[values]
    for doc in docs:
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "raft-operator"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        if doc["kind"] not in ("ClusterRole", "ClusterRoleBinding", "ClusterKopfPeering", "Role", "RoleBinding",
                               "KopfPeering"):
            assert doc["metadata"]["namespace"] == "raft-system"


def test_values_files_cover_every_mode() -> None:
    assert set(VALUES_FILES) == set(EXPECTED_KINDS), "add the new values file to EXPECTED_KINDS"


# ---- CRDs ------------------------------------------------------------------------------------


def test_chart_crds_are_the_same_bytes_as_the_top_level_crds() -> None:
    top = {p.name: p.read_bytes() for p in (REPO_ROOT / "crds").glob("*.yaml")}
    chart = {p.name: p.read_bytes() for p in (CHART / "crds").glob("*.yaml")}
    assert top, "crds/ is empty"
    for name, content in top.items():
        assert chart.get(name) == content, (
            f"charts/raft-operator/crds/{name} differs from crds/{name}: run python hack/crdgen.py, then "
            f"cp crds/*.yaml charts/raft-operator/crds/")
    assert set(chart) - set(top) == {PEERING_CRDS_FILE}, "the chart ships only the RaftRun CRD and Kopf's peering CRDs"


def test_peering_crds_are_the_resources_kopf_uses() -> None:
    from kopf._cogs.structs import references

    crds = {d["spec"]["names"]["plural"]: d for d in yaml.safe_load_all((CHART / "crds" / PEERING_CRDS_FILE).read_text())}
    for selector, scope in [(references.CLUSTER_PEERINGS_K, "Cluster"), (references.NAMESPACED_PEERINGS_K, "Namespaced")]:
        crd = crds[selector.plural or selector.any_name]
        assert crd["spec"]["group"] == selector.group and crd["spec"]["scope"] == scope
        assert crd["metadata"]["name"] == f"{crd['spec']['names']['plural']}.{selector.group}"
        (version,) = crd["spec"]["versions"]
        assert version["name"] == selector.version and version["served"] and version["storage"]
        status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
        assert status["x-kubernetes-preserve-unknown-fields"] is True
        assert "subresources" not in version, "Kopf patches the keep-alives into the object itself"


def test_include_crds_renders_every_crd(render) -> None:
    names = {d["metadata"]["name"] for d in by_kind(render(include_crds=True), "CustomResourceDefinition")}
    assert names == {"raftruns.raftoperator.io", "clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"}


# ---- the Deployment ----------------------------------------------------------------------------


@pytest.mark.parametrize("values", VALUES_FILES)
def test_deployment_is_hardened_and_probed(render, values: str) -> None:
    docs = render(values)
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    container = operator_container(docs)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 1000
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"] and "add" not in sc["capabilities"]
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert int(env["RAFT_METRICS_PORT"]) == ports["metrics"]
    command = " ".join(container["command"] + container["args"])
    assert f"--liveness http://0.0.0.0:{ports['health']}/healthz" in command
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert pod["serviceAccountName"] == one(docs, "ServiceAccount")["metadata"]["name"]
    assert one(docs, "ServiceAccount")["automountServiceAccountToken"] is False
    assert pod["automountServiceAccountToken"] is True, "only the operator pod mounts the token"


def test_the_default_memory_limit_holds_the_measured_peak_of_a_thousand_runs(render) -> None:
    # The limit once was 512Mi, below what the operator needs for 1,000 runs applied at once.
    measured = json.loads((REPO_ROOT / "benchmarks" / "results" / "operator_scale_1000.json").read_text())
    assert measured["settings"]["runs"] == 1000 and measured["scale"]["completed"]
    peak_mib = measured["operator_peak_rss_mib"]
    limit = operator_container(render())["resources"]["limits"]["memory"]
    units = {"Mi": 1, "Gi": 1024}
    limit_mib = float(limit[:-2]) * units[limit[-2:]]
    assert limit_mib >= 1.25 * peak_mib, (limit, peak_mib)


@pytest.mark.parametrize("sets, enabled", [((), True), (("networkPolicy.enabled=false",), False)])
def test_network_policy_settings_reach_the_operator(render, monkeypatch, sets: tuple[str, ...], enabled: bool) -> None:
    from raft_operator.settings import Settings

    docs = render("cluster-wide.yaml", sets=sets + ("networkPolicy.apiServerCIDRs={10.0.0.1/32}",))
    deployment = one(docs, "Deployment")
    for e in operator_container(docs)["env"]:
        if e["name"].startswith("RAFT_"):
            monkeypatch.setenv(e["name"], e["value"])
    options = Settings.from_env().network_policy
    assert options.enabled is enabled
    assert options.operator_namespace == deployment["metadata"]["namespace"]
    assert options.operator_pod_labels == deployment["spec"]["selector"]["matchLabels"], \
        "the policy admits exactly the operator's pods"
    assert options.ray_operator_pod_labels == {"app.kubernetes.io/component": "kuberay-operator"}
    assert options.api_server_cidrs == ("10.0.0.1/32",)


def operator_argv(container: dict[str, Any], pod_name: str) -> list[str]:
    """The argv raft-operator gets in a pod named ``pod_name`` (the shell wrapper run for real)."""
    if container["command"] != ["/bin/sh", "-c"]:
        assert container["command"] == ["raft-operator"]
        return list(container["args"])
    (script,) = container["args"]
    assert script.startswith("exec raft-operator ")
    probe = script.replace("exec raft-operator ", "exec printf '%s\\n' ", 1)
    out = subprocess.run(["/bin/sh", "-c", probe], env={"POD_ID": pod_name, "PATH": os.environ["PATH"]},
                         capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def parse_with_the_operator(argv: list[str], monkeypatch) -> dict[str, Any]:
    """The keyword arguments raft_operator.__main__ passes to kopf.run for ``argv``."""
    import kopf

    from raft_operator.__main__ import main

    seen: dict[str, Any] = {}
    monkeypatch.setattr(kopf, "run", lambda **kwargs: seen.update(kwargs))
    main(argv)
    return seen


@pytest.mark.parametrize("values, clusterwide, namespaces, peering", [
    ("cluster-wide.yaml", True, [], "raft-operator"),
    ("namespaced.yaml", False, ["team-a", "team-b"], "raft-operator"),
    ("standalone.yaml", False, ["ml"], None),
])
def test_command_line_is_understood_by_the_operator(render, monkeypatch, values, clusterwide, namespaces,
                                                    peering) -> None:
    docs = render(values)
    argv = operator_argv(operator_container(docs), "raft-operator-6d4b9c7f5-x2x4q")
    run = parse_with_the_operator(argv, monkeypatch)
    assert run["clusterwide"] is clusterwide and list(run["namespaces"]) == namespaces
    assert run["peering_name"] == peering
    assert run["standalone"] is (None if peering else True)
    assert run["liveness_endpoint"] == "http://0.0.0.0:8081/healthz"
    if peering:
        assert run["priority"] > 0
        peering_objects = by_kind(docs, "ClusterKopfPeering" if clusterwide else "KopfPeering")
        assert {p["metadata"]["name"] for p in peering_objects} == {peering}
        assert sorted(p["metadata"].get("namespace") for p in peering_objects) == (namespaces or [None])


def test_replicas_get_distinct_peering_priorities(render) -> None:
    docs = render("ha.yaml")
    container = operator_container(docs)
    pods = [f"raft-operator-6d4b9c7f5-{suffix}" for suffix in ("x2x4q", "k8s7z", "abcde", "zzzzz")]
    priorities = {int(operator_argv(container, pod)[-1]) for pod in pods}
    assert len(priorities) == len(pods), "Kopf pauses every operator when two live replicas share a priority"
    assert {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"] if "valueFrom" in e} == {
        "POD_ID": "metadata.name"}, "Kopf identifies each replica in the peering object by POD_ID"


def test_ha_spreads_replicas_and_limits_disruption(render) -> None:
    docs = render("ha.yaml")
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    anti = deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    term = anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]


def test_standalone_never_runs_two_operators(render) -> None:
    deployment = one(render("standalone.yaml"), "Deployment")
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_replica_count_zero_installs_everything_but_the_operator(render) -> None:
    docs = render(sets=("replicaCount=0",))
    assert one(docs, "Deployment")["spec"]["replicas"] == 0
    assert by_kind(docs, "ClusterRole") and by_kind(docs, "ServiceAccount") and by_kind(docs, "ClusterKopfPeering")


# ---- metrics, images -----------------------------------------------------------------------


def test_service_monitor_scrapes_the_metrics_service(render) -> None:
    docs = render("servicemonitor.yaml")
    service, monitor = one(docs, "Service"), one(docs, "ServiceMonitor")
    container = operator_container(docs)
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["interval"] == "15s" and endpoint["path"] == "/metrics"
    (port,) = service["spec"]["ports"]
    assert port["port"] == 9090 and port["targetPort"] == "metrics"
    assert {"name": "metrics", "containerPort": 9090, "protocol": "TCP"} in container["ports"]
    assert service["spec"]["selector"].items() <= one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"].items()


def test_custom_operator_image_by_digest_with_pull_secret(render) -> None:
    docs = render("custom-images.yaml")
    container = operator_container(docs)
    assert container["image"] == ("registry.example.com/mirror/raft-operator/operator"
                                  "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
    assert container["imagePullPolicy"] == "Always"
    assert one(docs, "Deployment")["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "mirror-credentials"}]


def test_default_operator_image_is_the_release_of_the_workload_images(render) -> None:
    from raft_api.spec import DEFAULT_IMAGE_TAG, DEFAULT_IMAGES

    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == DEFAULT_IMAGE_TAG
    image = operator_container(render())["image"]
    assert image == f"ghcr.io/raft-operator/operator:{DEFAULT_IMAGE_TAG}"
    registry = image.rsplit("/", 1)[0]
    assert all(DEFAULT_IMAGES[name].startswith(f"{registry}/") for name in ("datagen", "trainer", "eval"))


# ---- values that must be rejected ----------------------------------------------------------------

BAD_VALUES = [
    (("replicaCount=-1",), "/replicaCount"),
    (("replicaCount=two",), "/replicaCount"),
    (("replicaCount=2", "peering.enabled=false"), "replicaCount > 1 needs peering.enabled=true"),
    (("image.tag=latest",), "image.tag=latest is not a pinned version"),
    (("image.digest=sha256:abc",), "/image/digest"),
    (("image.pullPolicy=Sometimes",), "/image/pullPolicy"),
    (("watch.namespaces={Team_A}",), "/watch/namespaces/0"),
    (("metrics.port=80",), "/metrics/port"),
    (("metrics.port=8081",), "metrics.port and health.port must differ"),
    (("metrics.serviceMonitor.enabled=true", "metrics.service.enabled=false"), "needs metrics.service.enabled=true"),
    (("serviceAccount.create=false",), "needs serviceAccount.name"),
    (("securityContext.allowPrivilegeEscalation=true",), "/securityContext/allowPrivilegeEscalation"),
    (("podSecurityContext.runAsNonRoot=false",), "/podSecurityContext/runAsNonRoot"),
    (("replicas=2",), "additional properties 'replicas' not allowed"),
    (("networkPolicy.enabled=maybe",), "/networkPolicy/enabled"),
]


@pytest.mark.parametrize("sets, message", BAD_VALUES, ids=[" ".join(s) for s, _ in BAD_VALUES])
def test_bad_values_are_rejected_with_a_clear_message(helm, sets: tuple[str, ...], message: str) -> None:
    result = helm.template(sets=sets, check=False)
    assert result.returncode != 0, f"{sets} was accepted"
    assert message in result.stderr, result.stderr


# ---- NOTES.txt ----------------------------------------------------------------------------------


NOTES_PROBE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: notes
data:
  notes: {{ tpl (.Files.Get "notes-under-test.txt") . | toJson }}
"""


@pytest.mark.parametrize("values", ["cluster-wide.yaml", "namespaced.yaml"])
def test_notes_tell_what_to_apply_next(helm, tmp_path: Path, values: str) -> None:
    # helm renders NOTES.txt only on install; render it as a template of a copy of the chart.
    chart = tmp_path / "raft-operator"
    shutil.copytree(CHART, chart)
    (chart / "notes-under-test.txt").write_text((CHART / "templates" / "NOTES.txt").read_text())
    (chart / "templates" / "zz-notes.yaml").write_text(NOTES_PROBE)
    out = helm.run("template", "raft-operator", str(chart), "--namespace", "raft-system", "--kube-version",
                   kube_version(), "--values", str(Path(__file__).parent / "values" / values),
                   "--show-only", "templates/zz-notes.yaml").stdout
    notes = yaml.safe_load(out)["data"]["notes"]
    assert "kubectl apply --server-side -f charts/raft-operator/crds/" in notes
    assert "kubectl apply -n <namespace> -f examples/" in notes
    assert "rollout status deployment/raft-operator" in notes
    assert "spec.scheduling.images" in notes
    assert ("every namespace" in notes) == (values == "cluster-wide.yaml")
    if values == "namespaced.yaml":
        assert "team-a, team-b" in notes


def test_json_logs_reach_the_operator_and_print_one_object_per_line(render, monkeypatch, capsys) -> None:
    import json
    import logging

    docs = render("cluster-wide.yaml", sets=("operator.logFormat=json",))
    argv = operator_argv(operator_container(docs), "raft-operator-6d4b9c7f5-x2x4q")
    assert argv[argv.index("--log-format") + 1] == "json"
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        parse_with_the_operator(argv, monkeypatch)
        logging.getLogger("raft_operator.test").warning("hello %s", "json")
        line = capsys.readouterr()
        text = (line.out + line.err).strip().splitlines()[-1]
        record = json.loads(text)
        assert record["message"] == "hello json" and record["severity"] == "warn"
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    assert "--log-format" not in operator_argv(operator_container(render("cluster-wide.yaml")), "p")


def test_model_cache_claim_in_each_watched_namespace_and_kept_on_uninstall(render) -> None:
    assert not by_kind(render("namespaced.yaml"), "PersistentVolumeClaim"), "off by default"
    docs = render("namespaced.yaml", sets=("modelCache.create=true", "modelCache.storageClassName=nfs"))
    claims = by_kind(docs, "PersistentVolumeClaim")
    assert sorted(c["metadata"]["namespace"] for c in claims) == ["team-a", "team-b"]
    for claim in claims:
        assert claim["metadata"]["name"] == "raft-model-cache"
        assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        assert claim["spec"]["accessModes"] == ["ReadWriteMany"] and claim["spec"]["storageClassName"] == "nfs"
        assert claim["spec"]["resources"]["requests"]["storage"] == "2Ti"
    (claim,) = by_kind(render("cluster-wide.yaml", sets=("modelCache.create=true",)), "PersistentVolumeClaim")
    assert "storageClassName" not in claim["spec"]
