"""SIMULATED stand-in for the LeaderWorkerSet controller (leaderworkerset.x-k8s.io/v1).

Local test cluster only; runs beside the other simulated controllers when the simulated CRD is
served. Like LWS, each of ``spec.replicas`` groups is a leader pod
``<name>-<group>`` and ``size - 1`` worker pods ``<name>-<group>-<index>``, labelled
``leaderworkerset.sigs.k8s.io/name``, ``group-index`` and ``worker-index`` and given
``LWS_LEADER_ADDRESS``, ``LWS_GROUP_SIZE`` and ``LWS_WORKER_INDEX``. ``status.readyReplicas``
counts groups whose pods all run; ``Progressing`` (``GroupsProgressing``) is True while some are
not, then ``Available`` (``AllGroupsReady``) turns True and ``Progressing`` False, as LWS writes them. Scaling down deletes whole groups.
"""

from __future__ import annotations

import logging

from .base import Controller, Obj, meta, pod_running, set_condition

log = logging.getLogger(__name__)

API_VERSION = "leaderworkerset.x-k8s.io/v1"
PREFIX = "leaderworkerset.sigs.k8s.io/"


def _pod(template: Obj, lws: Obj, group: int, index: int, size: int) -> Obj:
    name = meta(lws)["name"]
    leader = f"{name}-{group}"
    spec = dict(template.get("spec") or {})
    env = [{"name": "LWS_LEADER_ADDRESS", "value": f"{leader}.{name}.{meta(lws)['namespace']}"},
           {"name": "LWS_GROUP_SIZE", "value": str(size)}, {"name": "LWS_WORKER_INDEX", "value": str(index)}]
    spec["containers"] = [{**c, "env": list(c.get("env") or []) + env} for c in spec.get("containers") or []]
    spec["hostname"], spec["subdomain"] = (leader if index == 0 else f"{leader}-{index}"), name
    return {"metadata": template.get("metadata") or {}, "spec": spec}


class LeaderWorkerSetController(Controller):
    """Creates and deletes LeaderWorkerSets' groups of pods (see the module docstring); only where LWS is served."""

    api_version = API_VERSION
    kind = "LeaderWorkerSet"
    optional = True

    def reconcile(self, namespace: str, name: str) -> float | None:
        """Create and delete the groups' pods; report ready groups (SIMULATED)."""
        lws = self.get(namespace, name)
        if lws is None:
            return None
        spec = lws.get("spec") or {}
        tmpl = spec.get("leaderWorkerTemplate") or {}
        replicas, size = int(spec.get("replicas", 1)), int(tmpl.get("size") or 1)
        pods = self.api.pods_of(lws)
        by_group: dict[int, list[Obj]] = {}
        for pod in pods:
            group = int((meta(pod).get("labels") or {}).get(PREFIX + "group-index", -1))
            by_group.setdefault(group, []).append(pod)
        self.api.delete_pods([p for g, ps in by_group.items() if g >= replicas for p in ps])
        if self.settings.create_pods:
            for group in range(replicas):
                existing = {meta(p)["name"] for p in by_group.get(group, [])}
                for index in range(size):
                    pod_name = f"{name}-{group}" if index == 0 else f"{name}-{group}-{index}"
                    if pod_name in existing:
                        continue
                    template = tmpl.get("leaderTemplate") if index == 0 and tmpl.get("leaderTemplate") else tmpl["workerTemplate"]
                    labels = {PREFIX + "name": name, PREFIX + "group-index": str(group),
                              PREFIX + "worker-index": str(index), PREFIX + "group-size": str(size)}
                    error = self.api.create_pod(lws, pod_name, _pod(template, lws, group, index, size), labels)
                    if error:
                        log.warning("%s/%s: %s", namespace, name, error)
        ready = sum(1 for g in range(replicas)
                    if len([p for p in by_group.get(g, []) if pod_running(p)]) >= size) if self.settings.create_pods else replicas
        conditions = [dict(c) for c in (lws.get("status") or {}).get("conditions") or []]
        generation = meta(lws).get("generation")
        all_ready = ready >= replicas
        # As LWS writes them: one condition set True at a time, its exclusive partner (if present)
        # turned False keeping its reason; at first only Progressing exists (recorded from LWS v0.9.0).
        if all_ready and replicas > 0:
            _set_exclusive(conditions, "Available", "AllGroupsReady", "All replicas are ready", "Progressing", generation)
        else:
            _set_exclusive(conditions, "Progressing", "GroupsProgressing", "Replicas are progressing", "Available",
                           generation)
        status = {"replicas": replicas, "readyReplicas": ready, "updatedReplicas": replicas, "conditions": conditions,
                  "hpaPodSelector": f"{PREFIX}name={name},{PREFIX}worker-index=0"}
        if status != {k: (lws.get("status") or {}).get(k) for k in status}:
            self.patch_status(lws, status)
        return None if all_ready else self.settings.progress_interval


def _set_exclusive(conditions: list[Obj], ctype: str, reason: str, message: str, partner: str,
                   generation: int | None) -> None:
    """Set ``ctype`` True and, where it exists, its exclusive ``partner`` False (reason kept)."""
    set_condition(conditions, ctype, "True", reason, message, generation)
    old = next((c for c in conditions if c.get("type") == partner), None)
    if old is not None and old.get("status") != "False":
        set_condition(conditions, partner, "False", old.get("reason", ""), old.get("message", ""), generation)
