"""Kopf handlers: indexes of the children, one reconcile timer per RaftRun, start-up settings.

Handlers stay short: the timer gathers what the indexes saw, asks the reconciler for a plan,
applies it and patches status. The indexes (one watch per child kind) mean an idle run costs
no API requests: writes happen only when something changes.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import kopf
from kubernetes import config as kube_config

from . import api, metrics, probes
from .apply import Applier, status_patch
from .builders.common import Run
from .conditions import set_condition
from .observed import Observed, run_key, summarize
from .reconciler import reconcile
from .settings import Settings
from .settled import SettledRuns, fingerprint, wrote_nothing

SETTINGS = Settings.from_env()
MANAGED = {"app.kubernetes.io/managed-by": api.MANAGER, api.RUN_LABEL: kopf.PRESENT}
INDEX_PREFIX = "children_"
log = logging.getLogger(__name__)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Kopf's bookkeeping under our own prefix, events only for what we post, metrics, API client."""
    settings.persistence.finalizer = f"{api.GROUP}/finalizer"
    # Only the reconcile timer runs on RaftRuns: Kopf keeps no per-handler progress for a timer
    # that succeeds, so these annotations appear only while a handler is retrying, then go away.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=api.GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=api.GROUP, key="last-handled-configuration")
    settings.posting.level = logging.WARNING  # our Events are explicit; Kopf posts only warnings from logs
    settings.watching.server_timeout = 300
    try:
        kube_config.load_incluster_config()
    except kube_config.ConfigException:
        kube_config.load_kube_config()
    memo.applier = Applier()
    memo.written_status = {}  # uid -> (resourceVersion patched from, status written)
    memo.settled = SettledRuns()  # finished runs skipped until their spec or children change
    metrics.serve(SETTINGS.metrics_port)


# One index per child kind, keyed by (namespace, run): (index id, Kopf resource, extra filters).
# Pods are indexed only for the servers, whose scheduling or crash problems surface in conditions.
CHILD_RESOURCES: list[tuple[str, tuple[str, ...], dict[str, Any]]] = [
    ("serviceaccounts", ("v1", "serviceaccounts"), {}),
    ("configmaps", ("v1", "configmaps"), {}),
    ("pvcs", ("v1", "persistentvolumeclaims"), {}),
    ("services", ("v1", "services"), {}),
    ("roles", ("rbac.authorization.k8s.io", "v1", "roles"), {}),
    ("rolebindings", ("rbac.authorization.k8s.io", "v1", "rolebindings"), {}),
    ("deployments", ("apps", "v1", "deployments"), {}),
    ("jobs", ("batch", "v1", "jobs"), {}),
    ("rayjobs", ("ray.io", "v1", "rayjobs"), {}),
    ("pytorchjobs", ("kubeflow.org", "v1", "pytorchjobs"), {}),
    ("pods", ("v1", "pods"), {"when": lambda labels, **_: labels.get("app.kubernetes.io/component")
                              in ("teacher", "student-server")}),
]


def index_child(body: kopf.Body, namespace: str | None, labels: kopf.Labels, **_: Any) -> dict | None:
    """Index entry of a child: its summary under the (namespace, run) it belongs to."""
    key = run_key(namespace, dict(labels))
    return {key: summarize(dict(body))} if key else None


for _name, _resource, _filters in CHILD_RESOURCES:
    kopf.index(*_resource, id=f"{INDEX_PREFIX}{_name}", labels=MANAGED, **_filters)(index_child)


def observe(namespace: str, name: str, indexes: dict[str, Any]) -> Observed:
    """The run's children from every index."""
    key = (namespace, name)
    summaries = [s for idx_name, index in indexes.items() if idx_name.startswith(INDEX_PREFIX)
                 for s in index.get(key, [])]
    return Observed.from_summaries(summaries)


@kopf.timer(api.GROUP, api.VERSION, api.PLURAL, interval=SETTINGS.reconcile_interval)
def reconcile_run(body: kopf.Body, namespace: str, name: str, uid: str, status: kopf.Status,
                  patch: kopf.Patch, memo: kopf.Memo, **kwargs: Any) -> None:
    """Reconcile one RaftRun: plan from what the indexes saw, apply, patch status, post Events."""
    observed = observe(namespace, name, kwargs)
    inputs = fingerprint(body.metadata.get("generation"), observed)
    if memo.settled.skip(uid, inputs):
        return
    old_status = dict(status)
    current = dict(body)
    written = memo.written_status.get(uid)
    if written and written[0] == body.metadata.get("resourceVersion"):
        # The watch has not yet delivered our last status patch: build on what we wrote, not on
        # the stale copy, so a fast timer never repeats an Event or a transition.
        old_status = written[1]
        current = {**current, "status": written[1]}
    with metrics.RECONCILE_SECONDS.time():
        try:
            run = Run.from_body(current)
            plan = reconcile(current, observed, dt.datetime.now(dt.timezone.utc),
                             probe=lambda: probes.teacher_completion(run, SETTINGS))
            memo.applier.apply(namespace, plan)
            new_status = plan.status
        except Exception as exc:  # noqa: BLE001 - reported in status, retried on the next tick
            metrics.RECONCILE_ERRORS.inc()
            log.exception("reconcile of %s/%s failed", namespace, name)
            new_status = {**old_status, "conditions": [dict(c) for c in old_status.get("conditions", [])]}
            set_condition(new_status["conditions"], api.READY, False, "ReconcileError", f"{type(exc).__name__}: {exc}",
                          generation=body.metadata.get("generation"),
                          now=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
            plan = None
    changes = status_patch(old_status, new_status)
    memo.settled.record(uid, inputs, new_status.get("phase"), plan is not None and wrote_nothing(plan, changes))
    for key, value in changes.items():
        patch.status[key] = value
    if changes:
        memo.written_status[uid] = (body.metadata.get("resourceVersion"), new_status)
    elif written and written[0] != body.metadata.get("resourceVersion"):
        memo.written_status.pop(uid, None)
    if plan is not None:
        for event in plan.events:
            kopf.event(body, type=event.type, reason=event.reason, message=event.message)
        for stage, seconds in plan.finished_stages:
            metrics.STAGE_DURATION.labels(stage).observe(seconds)
    metrics.record_phase(uid, new_status.get("phase"))


@kopf.on.event(api.GROUP, api.VERSION, api.PLURAL)
def forget_run(type: str | None, uid: str, memo: kopf.Memo, **_: Any) -> None:
    """Children go with the run by garbage collection; the metrics forget it here."""
    if type == "DELETED":
        metrics.record_phase(uid, None)
        memo.written_status.pop(uid, None)
        memo.settled.forget(uid)
