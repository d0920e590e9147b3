"""A vLLM server spanning several nodes: a LeaderWorkerSet (leaderworkerset.x-k8s.io/v1).

Each replica is one group of ``pipelineParallelSize`` pods with ``tensorParallelSize`` GPUs each.
The leader (worker index 0) starts the head of a Ray cluster, waits for the group's workers to
join, and runs ``vllm serve`` with ``--pipeline-parallel-size`` over Ray; the workers join the
leader's Ray cluster (LWS sets ``LWS_LEADER_ADDRESS``). LWS restarts a whole group when any of
its pods restarts. The Service selects the leaders only.
"""

from __future__ import annotations

import copy
import shlex
from typing import Any

from .. import child_kinds
from ..run import Run
from .common import Manifest, metadata, pod_template
from .vllm_server import VllmServer, args, deployment

WORKER_INDEX_LABEL = "leaderworkerset.sigs.k8s.io/worker-index"
RAY_PORT = 6379


def _leader_script(server: VllmServer, nodes: int) -> str:
    wait = ("import ray, time; ray.init(address='auto'); "
            f"[time.sleep(5) for _ in iter(lambda: sum(n['Alive'] for n in ray.nodes()) < {nodes}, False)]")
    serve = shlex.join(["vllm", "serve", *args(server), "--pipeline-parallel-size", str(nodes),
                        "--distributed-executor-backend", "ray"])
    return f"ray start --head --port={RAY_PORT} && python3 -c {shlex.quote(wait)} && exec {serve}"


def _worker_script() -> str:
    return f'exec ray start --address="$LWS_LEADER_ADDRESS:{RAY_PORT}" --block'


def leaderworkerset(run: Run, server: VllmServer, nodes: int) -> Manifest:
    """The LeaderWorkerSet: ``server.replicas`` groups of ``nodes`` pods."""
    base = deployment(run, server)
    template = base["spec"]["template"]
    leader = copy.deepcopy(template)
    vllm = leader["spec"]["containers"][0]
    vllm["command"], vllm["args"] = ["/bin/sh", "-c"], [_leader_script(server, nodes)]
    worker = copy.deepcopy(template)
    container = worker["spec"]["containers"][0]
    container["command"], container["args"] = ["/bin/sh", "-c"], [_worker_script()]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        container.pop(probe, None)  # only the leader serves HTTP
    container.pop("ports", None)
    return {
        "apiVersion": child_kinds.LEADER_WORKER_SET.api_version,
        "kind": child_kinds.LEADER_WORKER_SET.kind,
        "metadata": metadata(run, server.name, server.component, queued=True),
        "spec": {
            "replicas": server.replicas,
            "startupPolicy": "LeaderCreated",
            "rolloutStrategy": {"type": "RollingUpdate", "rollingUpdateConfiguration": {"maxUnavailable": 1, "maxSurge": 0}},
            "leaderWorkerTemplate": {
                "size": nodes,
                "restartPolicy": "RecreateGroupOnPodRestart",
                "leaderTemplate": pod_template(run, server.component, leader["spec"]),
                "workerTemplate": pod_template(run, server.component, worker["spec"]),
            },
        },
    }


def leader_selector(service: Manifest) -> Manifest:
    """``service`` narrowed to the groups' leaders."""
    service["spec"]["selector"][WORKER_INDEX_LABEL] = "0"
    return service


def template_labels(manifest: Manifest) -> dict[str, Any]:
    """The pod labels of a LeaderWorkerSet's leaders (for tests and selectors)."""
    return manifest["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["metadata"]["labels"]
