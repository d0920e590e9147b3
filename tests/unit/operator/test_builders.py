"""Manifest builders over representative specs: what production receives, field by field.

Tests of what every workload shares take the fixture ``training_api`` (conftest.py) and run for
both fine-tuning APIs: TrainJob, whose pods Kubeflow Trainer makes from ``spec.trainer`` and the
runtime patch, and the legacy PyTorchJob."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import raft_sim
import yaml

from harness import raftrun
from raft_api.runconfig import run_config_from_dict
from raft_operator.builders import configmaps, datagen, evaluation, finetune, storage, teacher, workload_rbac
from raft_operator.run import Run
from raft_sim.controllers import trainjob as trainer

# Kubeflow Trainer's torch-distributed ClusterTrainingRuntime, the runtime every TrainJob names by default.
TORCH_RUNTIME = yaml.safe_load((Path(raft_sim.__file__).parent / "crds" / "trainer" / "torch-distributed.yaml").read_text())


def make_run(**overrides) -> Run:
    body = raftrun()
    for path, value in overrides.items():
        target = body["spec"]
        keys = path.split("__")
        for k in keys[:-1]:
            target = target.setdefault(k, {})
        target[keys[-1]] = value
    return Run.from_body(body)


def container(manifest: dict, path: tuple = ("spec", "template", "spec")) -> dict:
    spec = manifest
    for k in path:
        spec = spec[k]
    return spec["containers"][0]


def pod_specs(manifest: dict) -> list[dict]:
    """Every pod spec of a workload manifest, as its controller makes the pods. A TrainJob's is the
    node pod Kubeflow Trainer makes from the runtime, ``spec.trainer`` (image, command, env,
    resources) and the runtime patch (pod settings): the SIMULATED Trainer's
    :func:`raft_sim.controllers.trainjob.pod_template`."""
    if manifest["kind"] == "TrainJob":
        return [trainer.pod_template(manifest, TORCH_RUNTIME, manifest["spec"]["trainer"]["numNodes"])["spec"]]
    found = []

    def walk(node):
        if isinstance(node, dict):
            if "containers" in node:
                found.append(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(manifest)
    return found


def finetune_job(run: Run) -> dict:
    """The run's fine-tuning child, of the kind its ``student.trainingApi`` names (the legacy
    PyTorchJob for ``auto`` when what the cluster serves is not known)."""
    kind, _ = finetune.choose_kind(run.spec.student.training_api, None, None)
    (job,) = finetune.build(run, kind=kind)
    return job


def all_workloads(run: Run) -> list[dict]:
    return (teacher.build(run) + datagen.build(run) + [finetune_job(run)]
            + evaluation.server_manifests(run) + [evaluation.job(run)])


def test_teacher_tp8() -> None:
    run = make_run(teacher__vllm={"model": "meta-llama/Meta-Llama-3-70B-Instruct", "tensorParallelSize": 8, "replicas": 2,
                                  "maxModelLen": 16384, "extraArgs": ["--enable-prefix-caching"]})
    deploy, svc = teacher.build(run)
    c = container(deploy)
    args = c["args"]
    assert args[args.index("--tensor-parallel-size") + 1] == "8"
    assert args[args.index("--max-model-len") + 1] == "16384"
    assert "--enable-prefix-caching" in args
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 8 and c["resources"]["requests"]["nvidia.com/gpu"] == 8
    assert deploy["spec"]["replicas"] == 2 and deploy["spec"]["strategy"]["type"] == "Recreate"
    assert c["startupProbe"]["httpGet"]["path"] == "/health"
    assert c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"] >= 3600
    assert {"readinessProbe", "livenessProbe"} <= set(c)
    shm = next(v for v in deploy["spec"]["template"]["spec"]["volumes"] if v["name"] == "dshm")
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": "16Gi"}
    env = {e["name"]: e for e in c["env"]}
    assert env["HF_HOME"]["value"].startswith("/data/runs/demo/")
    assert svc["spec"]["ports"][0]["port"] == 8000
    assert svc["spec"]["selector"] == deploy["spec"]["selector"]["matchLabels"]


def test_teacher_gpus_per_replica_overrides_tp() -> None:
    run = make_run(teacher__vllm={"model": "m", "tensorParallelSize": 4, "gpusPerReplica": 8})
    assert container(teacher.build(run)[0])["resources"]["limits"]["nvidia.com/gpu"] == 8


def test_hf_token_comes_from_secret_reference(training_api: str) -> None:
    run = make_run(scheduling={"huggingFaceTokenSecretRef": {"name": "hf"}}, student__trainingApi=training_api)
    for manifest in all_workloads(run):
        if manifest["kind"] == "Service":
            continue
        for spec in pod_specs(manifest):
            env = {e["name"]: e for e in spec["containers"][0]["env"]}
            assert env["HF_TOKEN"] == {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}}


def test_external_teacher_has_no_server_and_key_by_reference() -> None:
    run = make_run(teacher={"external": {"url": "https://api.example.com/v1/", "model": "gpt-x",
                                         "apiKeySecretRef": {"name": "openai", "key": "key"}}})
    assert teacher.build(run) == []
    cfg = configmaps.run_config(run)
    assert cfg["teacher"] == {"endpoints": ["https://api.example.com/v1"], "model": "gpt-x", "apiKeyEnv": "TEACHER_API_KEY",
                              "resolveReplicas": False}
    assert teacher.replicas_service(run) is None
    (rayjob,) = datagen.build(run)
    for spec in pod_specs(rayjob):
        env = {e["name"]: e for e in spec["containers"][0]["env"]}
        assert env["TEACHER_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "openai", "key": "key"}
    assert "openai" not in yaml.safe_dump(cfg), "run.yaml names no Secret: the key reaches pods only by reference"


def test_rayjob_with_four_workers() -> None:
    run = make_run(datagen={"workers": 4, "concurrency": 64})
    (rj,) = datagen.build(run)
    spec = rj["spec"]
    assert rj["apiVersion"] == "ray.io/v1"
    assert spec["shutdownAfterJobFinishes"] is True
    assert 0 < spec["ttlSecondsAfterFinished"] <= 60, "the Ray cluster's pods are released soon after the job ends"
    assert spec["activeDeadlineSeconds"] == 86400 and spec["backoffLimit"] == 2
    assert spec["entrypoint"] == "python -m raft_jobs.datagen --config /etc/raft/run.yaml"
    group = spec["rayClusterSpec"]["workerGroupSpecs"][0]
    assert group["replicas"] == group["minReplicas"] == group["maxReplicas"] == 4
    assert spec["rayClusterSpec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    corpus = [m for m in container(group["template"], ("spec",))["volumeMounts"] if m["name"] == "corpus"]
    assert corpus == [{"name": "corpus", "mountPath": "/corpus", "readOnly": True}]
    assert configmaps.run_config(run)["datagen"]["workers"] == 4


def test_pytorchjob_two_nodes_by_eight_gpus() -> None:
    run = make_run(student={"baseModel": "meta-llama/Meta-Llama-3-8B-Instruct", "nodes": 2, "gpusPerNode": 8})
    (job,) = finetune.build(run)
    spec = job["spec"]
    assert job["apiVersion"] == "kubeflow.org/v1" and spec["nprocPerNode"] == "8"
    assert spec["pytorchReplicaSpecs"]["Master"]["replicas"] == 1
    assert spec["pytorchReplicaSpecs"]["Worker"]["replicas"] == 1
    policy = spec["runPolicy"]
    assert policy["cleanPodPolicy"] == "All" and policy["backoffLimit"] == 2 and policy["activeDeadlineSeconds"] == 259200
    c = container(spec["pytorchReplicaSpecs"]["Master"]["template"], ("spec",))
    assert c["name"] == "pytorch"
    assert "torchrun" in c["command"][-1] and "-m raft_jobs.finetune" in c["command"][-1]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 8
    assert any(m["mountPath"] == "/dev/shm" for m in c["volumeMounts"])


def test_single_node_training_has_no_workers(training_api: str) -> None:
    run = make_run(student={"baseModel": "m", "nodes": 1, "gpusPerNode": 4, "trainingApi": training_api})
    job = finetune_job(run)
    if training_api == "TrainJob":
        assert job["spec"]["trainer"]["numNodes"] == 1 and job["spec"]["trainer"]["numProcPerNode"] == 4
    else:
        assert set(job["spec"]["pytorchReplicaSpecs"]) == {"Master"}


def test_kueue_queue_labels_and_suspends_batch_jobs() -> None:
    run = make_run(scheduling={"queueName": "gpu-queue"})
    (rj,), (pj,), ej = datagen.build(run), finetune.build(run), evaluation.job(run)
    for manifest in (rj, pj, ej):
        assert manifest["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "gpu-queue"
    assert rj["spec"]["suspend"] is True and ej["spec"]["suspend"] is True
    assert pj["spec"]["runPolicy"]["suspend"] is True
    assert "schedulingPolicy" not in pj["spec"]["runPolicy"], "schedulingPolicy.queue is Volcano's, not Kueue's"
    (tj,) = finetune.build(run, kind="TrainJob")
    assert tj["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "gpu-queue" and tj["spec"]["suspend"] is True


def test_tolerations_node_selector_priority_pull_secrets_everywhere(training_api: str) -> None:
    scheduling = {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                  "nodeSelector": {"pool": "a100"}, "priorityClassName": "training",
                  "imagePullSecrets": [{"name": "regcred"}]}
    run = make_run(scheduling=scheduling, student__trainingApi=training_api)
    for manifest in all_workloads(run):
        for spec in pod_specs(manifest):
            assert spec["tolerations"] == scheduling["tolerations"]
            assert spec["nodeSelector"] == {"pool": "a100"}
            # Trainer's pod patch has no priorityClassName (builders/trainjob.py: use a WorkloadPriorityClass).
            assert spec.get("priorityClassName") == (None if manifest["kind"] == "TrainJob" else "training")
            assert spec["imagePullSecrets"] == [{"name": "regcred"}]


def test_custom_images(training_api: str) -> None:
    images = {"vllm": "registry.example.com/vllm:1", "datagen": "registry.example.com/datagen:2",
              "trainer": "registry.example.com/trainer:3", "eval": "registry.example.com/eval:4"}
    run = make_run(scheduling={"images": images}, student__trainingApi=training_api)
    assert container(teacher.build(run)[0])["image"] == images["vllm"]
    assert all(s["containers"][0]["image"] == images["datagen"] for s in pod_specs(datagen.build(run)[0]))
    assert all(s["containers"][0]["image"] == images["trainer"] for s in pod_specs(finetune_job(run)))
    assert container(evaluation.job(run))["image"] == images["eval"]
    assert container(evaluation.server_manifests(run)[0])["image"] == images["vllm"]


def test_default_images_from_schema() -> None:
    run = make_run()
    assert container(evaluation.job(run))["image"].endswith("/eval:0.1.0")


def test_every_workload_runs_non_root_with_seccomp_and_no_escalation(training_api: str) -> None:
    run = make_run(student__trainingApi=training_api)
    workloads = all_workloads(run)
    assert training_api in {m["kind"] for m in workloads}
    for manifest in workloads:
        for spec in pod_specs(manifest):
            assert spec["securityContext"]["runAsNonRoot"] is True
            assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
            assert spec["serviceAccountName"] == "demo-workload"
            for c in spec["containers"]:
                sc = c["securityContext"]
                assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}, c["name"]
                assert sc["runAsNonRoot"] is True, c["name"]


def test_every_child_is_owned_and_labelled(training_api: str) -> None:
    run = make_run(storage={"size": "1Ti", "retentionPolicy": "Delete"}, student__trainingApi=training_api)
    children = (workload_rbac.build(run) + configmaps.build(run) + [storage.build(run)] + all_workloads(run))
    for m in children:
        meta = m["metadata"]
        assert meta["name"].startswith("demo-") and meta["namespace"] == "team"
        assert meta["ownerReferences"][0]["uid"] == "uid-demo" and meta["ownerReferences"][0]["controller"] is True
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "raft-operator"
        assert meta["labels"]["raftoperator.io/run"] == "demo"
        assert meta["labels"]["app.kubernetes.io/instance"] == "demo"
    assert len({(m["kind"], m["metadata"]["name"]) for m in children}) == len(children), "names are unique"


def test_retained_pvc_has_no_owner() -> None:
    pvc = storage.build(make_run())
    assert "ownerReferences" not in pvc["metadata"]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"] and pvc["spec"]["resources"]["requests"]["storage"] == "500Gi"


def test_progress_role_is_limited_to_one_configmap() -> None:
    sa, role, binding = workload_rbac.build(make_run())
    assert role["rules"] == [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["demo-progress"],
                              "verbs": ["get", "patch"]}]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "demo-workload", "namespace": "team"}]


def test_run_config_round_trips_through_the_programs_schema() -> None:
    run = make_run(eval={"topK": [1, 4], "evalFile": "qa/eval.json", "baselines": {"teacher": False}})
    cm = configmaps.run_config_map(run)
    cfg = run_config_from_dict(yaml.safe_load(cm["data"]["run.yaml"]))
    assert cfg.root == "/data/runs/demo"
    assert cfg.corpus.volume is not None and cfg.corpus.volume.path == "/corpus"
    assert cfg.corpus.volume.include == ("**/*.txt", "**/*.md", "**/*.pdf", "**/*.html")
    assert cfg.teacher.endpoints == ["http://demo-teacher-replicas.team.svc:8000/v1"] and cfg.teacher.resolve_replicas
    assert cfg.eval.judge.endpoints == cfg.teacher.endpoints, "the judge defaults to the teacher"
    assert [m.name for m in cfg.eval.models] == ["student", "base"]
    assert cfg.eval.models[0].endpoints == ["http://demo-serve-student.team.svc:8000/v1"]
    assert cfg.eval.eval_file == "/data/runs/demo/qa/eval.json"
    assert cfg.eval.top_k == (1, 4)
    assert cfg.progress.config_map == "demo-progress"


def test_student_servers_select_only_their_own_pods() -> None:
    run = make_run()
    manifests = evaluation.server_manifests(run)
    deployments = [m for m in manifests if m["kind"] == "Deployment"]
    selectors = [d["spec"]["selector"]["matchLabels"] for d in deployments]
    assert selectors[0] != selectors[1]
    student_args = container(deployments[0])["args"]
    assert student_args[0] == "/data/runs/demo/model"
    for d in deployments:
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert all(labels[k] == v for k, v in d["spec"]["selector"]["matchLabels"].items())


def test_builders_do_not_mutate_the_spec(training_api: str) -> None:
    body = raftrun()
    body["spec"]["student"]["trainingApi"] = training_api
    before = copy.deepcopy(body)
    run = Run.from_body(body)
    all_workloads(run)
    configmaps.build(run)
    assert body == before


def test_vllm_servers_start_with_vllm_serve_and_the_student_checks_its_export() -> None:
    from raft_operator.builders import vllm_server
    from raft_jobs.common import model_fingerprint

    run = make_run()
    teacher_dep = teacher.build(run)[0]
    c = container(teacher_dep)
    assert c["command"] == ["vllm", "serve"] and c["args"][0] == "meta-llama/Meta-Llama-3-70B-Instruct"
    assert "initContainers" not in teacher_dep["spec"]["template"]["spec"]
    student, base = [m for m in evaluation.server_manifests(run) if m["kind"] == "Deployment"]
    (check,) = student["spec"]["template"]["spec"]["initContainers"]
    assert check["name"] == vllm_server.CHECK_CONTAINER and check["image"] == container(student)["image"]
    assert check["command"][:2] == ["python3", "-c"] and check["args"] == ["/data/runs/demo/model"]
    assert check["command"][2] == Path(model_fingerprint.__file__).read_text()
    assert "initContainers" not in base["spec"]["template"]["spec"], "the base model is not an export"


def test_trainjob_runs_torchrun_on_the_torch_runtime_with_the_runs_pod_settings() -> None:
    scheduling = {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                  "nodeSelector": {"pool": "a100"}, "imagePullSecrets": [{"name": "regcred"}]}
    run = make_run(student={"baseModel": "m", "nodes": 4, "gpusPerNode": 8, "resources": {"limits": {"memory": "900Gi"}}},
                   scheduling=scheduling)
    (tj,) = finetune.build(run, kind="TrainJob")
    assert tj["apiVersion"] == "trainer.kubeflow.org/v1alpha1" and tj["kind"] == "TrainJob"
    assert tj["metadata"]["name"] == "demo-finetune" and tj["metadata"]["ownerReferences"][0]["kind"] == "RaftRun"
    spec = tj["spec"]
    assert spec["runtimeRef"] == {"name": "torch-distributed", "apiGroup": "trainer.kubeflow.org",
                                  "kind": "ClusterTrainingRuntime"}
    trainer = spec["trainer"]
    assert trainer["numNodes"] == 4 and trainer["numProcPerNode"] == 8
    assert trainer["command"][:3] == ["torchrun", "-m", "raft_jobs.finetune"], "torchrun reads Trainer's PET_* env"
    assert trainer["resourcesPerNode"]["limits"] == {"memory": "900Gi", "nvidia.com/gpu": 8}
    assert trainer["image"] == run.image.trainer and spec["suspend"] is False
    assert spec["activeDeadlineSeconds"] == run.spec.failure_policy.finetune_deadline_seconds
    (patch,) = spec["runtimePatches"]
    (node,) = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    assert patch["manager"] == "raftoperator.io/operator" and node["name"] == "node"
    pod = node["template"]["spec"]["template"]
    assert pod["metadata"]["labels"]["raftoperator.io/run"] == "demo"
    assert pod["spec"]["serviceAccountName"] == "demo-workload"
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["spec"]["tolerations"] == scheduling["tolerations"] and pod["spec"]["nodeSelector"] == {"pool": "a100"}
    assert {v["name"] for v in pod["spec"]["volumes"]} == {"data", "run-config", "tmp", "dshm"}
    (container,) = pod["spec"]["containers"]
    assert container["name"] == "node" and {m["mountPath"] for m in container["volumeMounts"]} >= {"/data", "/dev/shm"}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert "priorityClassName" not in pod["spec"], "Trainer's pod patch has no priorityClassName"


@pytest.mark.parametrize("requested,served,existing,expect", [
    ("auto", frozenset({"TrainJob", "PyTorchJob"}), None, ("TrainJob", False)),
    ("auto", frozenset({"PyTorchJob"}), None, ("PyTorchJob", False)),
    ("auto", frozenset({"TrainJob"}), None, ("TrainJob", False)),
    ("auto", frozenset(), None, ("TrainJob", True)),
    ("auto", None, None, ("PyTorchJob", False)),
    ("PyTorchJob", frozenset({"TrainJob", "PyTorchJob"}), None, ("PyTorchJob", False)),
    ("TrainJob", frozenset({"PyTorchJob"}), None, ("TrainJob", True)),
    ("auto", frozenset({"TrainJob", "PyTorchJob"}), "PyTorchJob", ("PyTorchJob", False)),
])
def test_training_api_choice(requested, served, existing, expect) -> None:
    kind, problem = finetune.choose_kind(requested, served, existing)
    assert (kind, problem is not None) == expect


def test_teacher_headless_service_selects_every_teacher_pod() -> None:
    run = make_run(teacher__vllm={"model": "m", "tensorParallelSize": 8, "replicas": 3})
    deploy, svc = teacher.build(run)
    headless = teacher.replicas_service(run)
    assert headless["metadata"]["name"] == "demo-teacher-replicas" and headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["selector"] == svc["spec"]["selector"] == deploy["spec"]["selector"]["matchLabels"]
    assert headless["spec"]["ports"] == svc["spec"]["ports"]
    assert headless["metadata"]["ownerReferences"][0]["kind"] == "RaftRun"


def test_rayjob_has_a_pre_running_deadline() -> None:
    (rj,) = datagen.build(make_run())
    assert rj["spec"]["preRunningDeadlineSeconds"] == datagen.PRE_RUNNING_DEADLINE_SECONDS > 0


def test_model_cache_fetches_once_then_serves_read_only_offline() -> None:
    from raft_jobs.common import model_fetch
    from raft_operator.builders import model_cache

    run = make_run(storage={"size": "1Ti", "modelCache": {"claimName": "models"}},
                   teacher__vllm={"model": "meta-llama/Meta-Llama-3-70B-Instruct", "revision": "abc123"})
    deploy = teacher.build(run)[0]
    spec = deploy["spec"]["template"]["spec"]
    assert {"name": "model-cache", "persistentVolumeClaim": {"claimName": "models"}} in spec["volumes"]
    (fetch,) = spec["initContainers"]
    assert fetch["name"] == "fetch-model" and fetch["image"] == container(deploy)["image"]
    assert fetch["command"][:2] == ["python3", "-c"] and fetch["command"][2] == Path(model_fetch.__file__).read_text()
    assert fetch["args"] == ["meta-llama/Meta-Llama-3-70B-Instruct", "abc123"]
    assert {"name": "model-cache", "mountPath": "/models"} in fetch["volumeMounts"]
    env = {e["name"]: e.get("value") for e in fetch["env"]}
    assert env["HF_HOME"] == model_cache.HF_HOME
    server = container(deploy)
    assert {"name": "model-cache", "mountPath": "/models", "readOnly": True} in server["volumeMounts"]
    env = {e["name"]: e.get("value") for e in server["env"]}
    assert env["HF_HOME"] == model_cache.HF_HOME and env["HF_HUB_OFFLINE"] == "1"
    assert server["args"][server["args"].index("--revision") + 1] == "abc123"
    student, base = [m for m in evaluation.server_manifests(run) if m["kind"] == "Deployment"]
    assert [c["name"] for c in base["spec"]["template"]["spec"]["initContainers"]] == ["fetch-model"]
    assert [c["name"] for c in student["spec"]["template"]["spec"]["initContainers"]] == ["check-model"], \
        "the fine-tuned student is on the run's volume, not in the cache"
    plain = teacher.build(make_run())[0]["spec"]["template"]["spec"]
    assert "initContainers" not in plain and all(v["name"] != "model-cache" for v in plain["volumes"])


def test_pipeline_parallel_teacher_is_a_leaderworkerset_of_tp_gpu_pods() -> None:
    from raft_operator.builders import leaderworkerset

    run = make_run(teacher__vllm={"model": "meta-llama/Llama-3.1-405B-Instruct", "tensorParallelSize": 8,
                                  "pipelineParallelSize": 2, "replicas": 2})
    lws, svc = teacher.build(run)
    assert lws["apiVersion"] == "leaderworkerset.x-k8s.io/v1" and lws["kind"] == "LeaderWorkerSet"
    assert lws["metadata"]["name"] == "demo-teacher" and lws["metadata"]["ownerReferences"][0]["kind"] == "RaftRun"
    assert lws["spec"]["replicas"] == 2
    template = lws["spec"]["leaderWorkerTemplate"]
    assert template["size"] == 2 and template["restartPolicy"] == "RecreateGroupOnPodRestart"
    leader, worker = (template[k]["spec"]["containers"][0] for k in ("leaderTemplate", "workerTemplate"))
    for c in (leader, worker):
        assert c["resources"]["limits"]["nvidia.com/gpu"] == 8
    script = leader["args"][0]
    assert script.startswith("ray start --head") and "exec vllm serve meta-llama/Llama-3.1-405B-Instruct" in script
    assert "--pipeline-parallel-size 2" in script and "--tensor-parallel-size 8" in script
    assert "--distributed-executor-backend ray" in script and "readinessProbe" in leader
    assert "$LWS_LEADER_ADDRESS" in worker["args"][0] and "readinessProbe" not in worker
    assert svc["spec"]["selector"][leaderworkerset.WORKER_INDEX_LABEL] == "0"
    assert teacher.replicas_service(run)["spec"]["selector"][leaderworkerset.WORKER_INDEX_LABEL] == "0"
    assert leaderworkerset.template_labels(lws)["app.kubernetes.io/component"] == "teacher"


@pytest.mark.parametrize("kind", ["PyTorchJob", "TrainJob"])
def test_trainer_fetches_its_base_model_into_the_model_cache(kind: str) -> None:
    from raft_jobs.common import model_fetch
    from raft_operator.builders import model_cache

    run = make_run(storage={"size": "1Ti", "modelCache": {"claimName": "models"}},
                   student__baseModel="meta-llama/Meta-Llama-3-8B-Instruct")
    (job,) = finetune.build(run, kind=kind)
    if kind == "TrainJob":
        pod = job["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0][
            "template"]["spec"]["template"]["spec"]
        env, mounts = job["spec"]["trainer"]["env"], pod["containers"][0]["volumeMounts"]
    else:
        pod = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
        env, mounts = pod["containers"][0]["env"], pod["containers"][0]["volumeMounts"]
    assert {"name": "model-cache", "persistentVolumeClaim": {"claimName": "models"}} in pod["volumes"]
    assert {"name": "model-cache", "mountPath": "/models"} in mounts  # read-write: the trainer downloads
    values = {e["name"]: e.get("value") for e in env}
    assert values["HF_HOME"] == model_cache.HF_HOME and values[model_fetch.FETCH_ENV] == "1"
    assert [e["name"] for e in env].count("HF_HOME") == 1
    # no cache claim, or a base model on the run's volume: nothing to fetch
    for plain in (make_run(), make_run(storage={"size": "1Ti", "modelCache": {"claimName": "models"}},
                                      student__baseModel="/data/models/base")):
        text = yaml.safe_dump(finetune.build(plain, kind=kind))
        assert "model-cache" not in text and model_fetch.FETCH_ENV not in text
