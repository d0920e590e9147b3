"""What KubeRay and the training operator add to the pods they create, for pods that really run.

With ``--real-workloads`` the SIMULATED controllers (:mod:`raft_sim.controllers`) create pods
that the real node (``hack/cluster/node.sh``) runs as containers. Those pods need what
the real controllers put into them, and the controllers then read the outcome from the running
workload instead of a timer. These are the facts, per kind:

* **RayJob** (KubeRay, ``K8sJobMode``): a head Service ``<cluster>-head-svc`` (GCS 6379, dashboard
  8265, client 10001); the head container runs ``ray start --head --block`` with the group's
  ``rayStartParams``, each worker ``ray start --address=<head-svc>:6379 --block``, both with the
  pod's address as the node address; a submitter Job (named like the RayJob, from
  ``submitterPodTemplate``) runs ``ray job submit --submission-id <jobId> -- <entrypoint>``
  against the dashboard; the job's state is read from the dashboard's job API
  (``/api/jobs/<jobId>``), as KubeRay does.
* **PyTorchJob** (training operator): a headless Service per replica pod
  (``<job>-master-0``), and in every ``pytorch`` container ``MASTER_ADDR``, ``MASTER_PORT``,
  ``WORLD_SIZE``, ``RANK`` and the torchrun ``PET_*`` variables; the job succeeds when the Master
  pod succeeds.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

Obj = dict[str, Any]

RAY_GCS_PORT, RAY_DASHBOARD_PORT, RAY_CLIENT_PORT, RAY_AGENT_PORT = 6379, 8265, 10001, 52365
PYTORCH_PORT = 23456
POD_IP_ENV = {"name": "MY_POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}


def head_service_name(cluster: str) -> str:
    """KubeRay's name for a RayCluster's head Service."""
    return f"{cluster}-head-svc"


def ray_head_service(cluster: str, namespace: str, owner_ref: Obj) -> Obj:
    """The head Service KubeRay creates for a RayCluster."""
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": head_service_name(cluster), "namespace": namespace,
                     "labels": {"ray.io/cluster": cluster, "ray.io/node-type": "head"},
                     "ownerReferences": [owner_ref]},
        "spec": {"selector": {"ray.io/cluster": cluster, "ray.io/node-type": "head"},
                 "ports": [{"name": "gcs", "port": RAY_GCS_PORT, "targetPort": RAY_GCS_PORT},
                           {"name": "dashboard", "port": RAY_DASHBOARD_PORT, "targetPort": RAY_DASHBOARD_PORT},
                           {"name": "client", "port": RAY_CLIENT_PORT, "targetPort": RAY_CLIENT_PORT}]},
    }


def _start_params(params: Obj) -> str:
    return " ".join(f"--{k}={v}" if v not in ("", None) else f"--{k}" for k, v in sorted((params or {}).items()))


def ray_node_template(template: Obj, *, head: bool, cluster: str, namespace: str, start_params: Obj) -> Obj:
    """A Ray pod template with KubeRay's ``ray start`` command and environment in its first container."""
    out = json.loads(json.dumps(template))
    container = out["spec"]["containers"][0]
    address = f"{head_service_name(cluster)}.{namespace}.svc.cluster.local"
    if head:
        start = f"ray start --head --block --port={RAY_GCS_PORT} --dashboard-port={RAY_DASHBOARD_PORT}"
    else:
        start = f"ray start --block --address={address}:{RAY_GCS_PORT}"
    start += f" --node-ip-address=$(MY_POD_IP) --disable-usage-stats {_start_params(start_params)}".rstrip()
    container["command"] = ["/bin/bash", "-lc", "--"]
    container["args"] = [start]
    container["env"] = [POD_IP_ENV, *(container.get("env") or []),
                        {"name": "RAY_CLUSTER_NAME", "value": cluster},
                        {"name": "RAY_IP", "value": address}, {"name": "RAY_PORT", "value": str(RAY_GCS_PORT)},
                        {"name": "RAY_USAGE_STATS_ENABLED", "value": "0"}]
    return out


def ray_submitter_job(rayjob: Obj, cluster: str, job_id: str, owner_ref: Obj) -> Obj:
    """KubeRay's submitter Job: ``ray job submit`` of the RayJob's entrypoint, from its template."""
    meta, spec = rayjob["metadata"], rayjob["spec"]
    template = json.loads(json.dumps(spec.get("submitterPodTemplate") or {"spec": {"containers": [{}]}}))
    container = template["spec"]["containers"][0]
    dashboard = f"http://{head_service_name(cluster)}.{meta['namespace']}.svc.cluster.local:{RAY_DASHBOARD_PORT}"
    container["command"] = ["/bin/bash", "-lc", "--"]
    container["args"] = [f"ray job submit --address={dashboard} --submission-id={job_id} -- {spec['entrypoint']}"]
    container["env"] = [*(container.get("env") or []), {"name": "RAY_DASHBOARD_ADDRESS", "value": dashboard},
                        {"name": "RAY_JOB_SUBMISSION_ID", "value": job_id}]
    template["spec"]["restartPolicy"] = "Never"
    labels = {**((template.get("metadata") or {}).get("labels") or {}),
              "ray.io/originated-from-crd": "RayJob", "ray.io/originated-from-cr-name": meta["name"]}
    template.setdefault("metadata", {})["labels"] = labels
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "ownerReferences": [owner_ref],
                     "labels": {"ray.io/originated-from-crd": "RayJob",
                                "ray.io/originated-from-cr-name": meta["name"]}},
        "spec": {"backoffLimit": 2, "template": template},
    }


def ray_job_info(head_ip: str, job_id: str, timeout: float = 3.0) -> Obj | None:
    """The dashboard's record of a submitted job (``status``, ``message``…), or None when unknown."""
    url = f"http://{head_ip}:{RAY_DASHBOARD_PORT}/api/jobs/{job_id}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read())
    except Exception:  # noqa: BLE001 - not submitted yet, or the dashboard is starting
        return None


def ray_head_healthy(head_ip: str, timeout: float = 2.0) -> bool:
    """KubeRay's head readiness check: the raylet (through the dashboard agent) and the GCS are healthy.

    A job submitted before the agent registers is refused ("No available agent to submit job").
    """
    for url in (f"http://{head_ip}:{RAY_AGENT_PORT}/api/local_raylet_healthz",
                f"http://{head_ip}:{RAY_DASHBOARD_PORT}/api/gcs_healthz"):
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                if b"success" not in response.read():
                    return False
        except Exception:  # noqa: BLE001 - not up yet
            return False
    return True


def pytorch_replica_service(job: str, namespace: str, rtype: str, index: int, owner_ref: Obj) -> Obj:
    """The headless Service the training operator creates for each replica pod."""
    name = f"{job}-{rtype.lower()}-{index}"
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "ownerReferences": [owner_ref],
                     "labels": {"training.kubeflow.org/job-name": job}},
        "spec": {"clusterIP": "None", "publishNotReadyAddresses": True,
                 "selector": {"training.kubeflow.org/job-name": job,
                              "training.kubeflow.org/replica-type": rtype.lower(),
                              "training.kubeflow.org/replica-index": str(index)},
                 "ports": [{"name": "pytorchjob-port", "port": PYTORCH_PORT, "targetPort": PYTORCH_PORT}]},
    }


def pytorch_template(template: Obj, *, job: str, rank: int, nodes: int, nproc_per_node: str) -> Obj:
    """A replica template with the training operator's rendezvous environment in ``pytorch``."""
    out = json.loads(json.dumps(template))
    master = f"{job}-master-0"
    env = [{"name": "MASTER_ADDR", "value": master}, {"name": "MASTER_PORT", "value": str(PYTORCH_PORT)},
           {"name": "WORLD_SIZE", "value": str(nodes)}, {"name": "RANK", "value": str(rank)},
           {"name": "PET_MASTER_ADDR", "value": master}, {"name": "PET_MASTER_PORT", "value": str(PYTORCH_PORT)},
           {"name": "PET_NNODES", "value": str(nodes)}, {"name": "PET_NPROC_PER_NODE", "value": nproc_per_node},
           {"name": "PET_NODE_RANK", "value": str(rank)}]
    for container in out["spec"]["containers"]:
        if container.get("name") == "pytorch":
            container["env"] = [*(container.get("env") or []), *env]
    return out
