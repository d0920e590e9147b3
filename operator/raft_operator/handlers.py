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
from kubernetes import client as kube_client
from kubernetes import config as kube_config

from . import api, child_kinds, discovery, metrics, preflight, probes, server_keys
from .apply import Applier, status_patch
from .backoff import Backoff
from .conditions import set_condition
from .errors import PermanentError, describe
from .observed import Observed, run_key, summarize
from .reconciler import Plan, fail_run, needs_preflight, reconcile
from .run import Run
from .settings import Settings
from .settled import SettledRuns, fingerprint, needs_timer, wrote_nothing
from .stages import STAGES

SETTINGS = Settings.from_env()
MANAGED = {"app.kubernetes.io/managed-by": api.MANAGER, api.RUN_LABEL: kopf.PRESENT}
# MANAGED as the API server reads it: "key=value" for a value, the bare key for "present".
CHILD_SELECTOR = ",".join(k if v is kopf.PRESENT else f"{k}={v}" for k, v in MANAGED.items())
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
    # Our Events are explicit (kopf.event, which no posting level filters). Log lines are not posted
    # as Events, so Kopf's logged retries of throttled requests add no Event writes to a throttled API server.
    settings.posting.loggers = False
    settings.watching.server_timeout = 300
    settings.execution.max_workers = SETTINGS.reconcile_workers
    select_children_on_the_server(settings)
    try:
        kube_config.load_incluster_config()
    except kube_config.ConfigException:
        kube_config.load_kube_config()
    client_config = kube_client.Configuration.get_default_copy()
    client_config.connection_pool_maxsize = SETTINGS.reconcile_workers  # one connection per worker
    kube_client.Configuration.set_default(client_config)
    memo.applier = Applier()
    memo.core = kube_client.CoreV1Api()
    memo.server_keys = {}  # uid -> the run's server API key (its Secret is read once per operator start)
    memo.served = discovery.ServedApis()
    memo.addons = discovery.AddonChecks()
    memo.written_status = {}  # uid -> (resourceVersion patched from, status written)
    memo.backoff = Backoff(base=SETTINGS.reconcile_interval)  # per run, for errors a retry may fix
    memo.settled = SettledRuns()  # runs skipped until their spec, children or a deadline change
    metrics.serve(SETTINGS.metrics_port)


def select_children_on_the_server(settings: kopf.OperatorSettings) -> None:
    """Watch the child kinds through a server-side label selector.

    Kopf filters ``labels=`` on the client: without this, the API server streams every Pod,
    ConfigMap and ServiceAccount of the cluster to the operator, and Kopf keeps a worker and a
    memory per object.
    """
    for kind in child_kinds.INDEXED:
        settings.watching.label_selectors[(kind.api_version, kind.plural)] = CHILD_SELECTOR


# The index and event handlers are coroutines on purpose: Kopf runs a sync handler in its thread
# pool, where each child event would queue, body and all, behind the reconcile passes. With
# 300 runs applied at once, that queue raised the operator's peak RSS (340–399 MiB in three runs, 306 without).
async def index_child(body: kopf.Body, namespace: str | None, labels: kopf.Labels, **_: Any) -> dict | None:
    """Index entry of a child: its summary under the (namespace, run) it belongs to."""
    key = run_key(namespace, dict(labels))
    return {key: summarize(dict(body))} if key else None


# One index per child kind (child_kinds.INDEXED), keyed by (namespace, run).
for _kind in child_kinds.INDEXED:
    kopf.index(_kind.api_version, _kind.plural, id=f"{INDEX_PREFIX}{_kind.index}", labels=MANAGED)(index_child)


# Kueue makes one Workload per queued job (per pod of a queued server Deployment, per group of a
# LeaderWorkerSet), owned by it and without its labels: they are indexed by (namespace, owner
# name), and looked up by the names of a run's batch children, teacher and pods.
@kopf.index(child_kinds.WORKLOAD.api_version, child_kinds.WORKLOAD.plural, id="workloads",
            when=lambda body, **_: any(o.get("kind") in child_kinds.QUEUED
                                       for o in body.metadata.get("ownerReferences") or []))
async def workloads(body: kopf.Body, namespace: str | None, **_: Any) -> dict:
    """Index entry of a Kueue Workload: its summary under each (namespace, owner name)."""
    return {(namespace, o["name"]): summarize(dict(body)) for o in body.metadata.get("ownerReferences") or []
            if o.get("kind") in child_kinds.QUEUED}


def observe(namespace: str, name: str, indexes: dict[str, Any]) -> Observed:
    """The run's children from every index, and the Kueue Workloads of each stage's own child
    (its batch job, the LeaderWorkerSet teacher) and of its pods."""
    key = (namespace, name)
    summaries = [s for idx_name, index in indexes.items() if idx_name.startswith(INDEX_PREFIX)
                 for s in index.get(key, [])]
    names = api.ChildNames(name)
    by_owner = indexes.get("workloads") or {}
    owners = [stage.owner(names) for stage in STAGES] + [s["name"] for s in summaries if s["kind"] == "Pod"]
    summaries += [s for owner in owners for s in by_owner.get((namespace, owner), [])]
    return Observed.from_summaries(summaries)


def release(namespace: str, name: str, plan: Plan, memo: kopf.Memo) -> None:
    """Apply a failed run's plan (servers released); an error is left to the next tick."""
    try:
        memo.applier.apply(namespace, plan)
    except Exception as exc:  # noqa: BLE001 - the next tick releases again
        log.warning("releasing %s/%s: %s", namespace, name, describe(exc))


@kopf.timer(api.GROUP, api.VERSION, api.PLURAL, interval=SETTINGS.reconcile_interval, when=needs_timer)
def reconcile_run(body: kopf.Body, namespace: str, name: str, uid: str, status: kopf.Status,
                  patch: kopf.Patch, memo: kopf.Memo, **kwargs: Any) -> None:
    """Reconcile one RaftRun: plan from what the indexes saw, apply, patch status, post Events."""
    observed = observe(namespace, name, kwargs)
    now = dt.datetime.now(dt.timezone.utc)
    served, addons = memo.served.get(), memo.addons.get()
    inputs = fingerprint(body.metadata.get("generation"), observed, served, addons)
    if memo.settled.skip(uid, inputs, now):
        return
    old_status = dict(status)
    current = dict(body)
    written = memo.written_status.get(uid)
    if written and written[0] == body.metadata.get("resourceVersion"):
        # The watch has not yet delivered our last status patch: build on what we wrote, not on
        # the stale copy, so a fast timer never repeats an Event or a transition.
        old_status = written[1]
        current = {**current, "status": written[1]}
    if not memo.backoff.ready(uid):
        return  # backing off after an error a retry may fix
    plan = None
    with metrics.RECONCILE_SECONDS.time():
        try:
            run = Run.from_body(current)
            missing = preflight.missing(run, memo.applier.read) if needs_preflight(current) else None
            key = memo.server_keys.get(uid)
            if key is None and not missing and old_status.get("phase") not in api.TERMINAL_PHASES:
                key = memo.server_keys[uid] = server_keys.ensure_server_key(memo.core, run)
            plan = reconcile(current, observed, now, probe=lambda: probes.teacher_completion(run, SETTINGS, api_key=key),
                             missing=missing, network=SETTINGS.network_policy, served=served, addons=addons,
                             kueue_pods_ready_seconds=SETTINGS.kueue_wait_for_pods_ready_seconds)
            memo.applier.apply(namespace, plan)
            new_status = plan.status
            memo.backoff.succeeded(uid)
        except Exception as exc:  # noqa: BLE001 - a run's error never escapes to Kopf (no traceback per tick)
            if isinstance(exc, PermanentError) and old_status.get("phase") not in api.TERMINAL_PHASES:
                # The API server refused a write for good: fail the run with its cause, in one line.
                attempted = {**current, "status": plan.status} if plan is not None else current
                plan = fail_run(attempted, observed, now, exc.reason, exc.message)
                new_status = plan.status
                log.warning("RaftRun %s/%s failed: %s", namespace, name, exc.message)
                release(namespace, name, plan, memo)
            else:  # a retry may fix it (an ended run's release is retried too, its message kept)
                metrics.RECONCILE_ERRORS.inc()
                delay = memo.backoff.failed(uid)
                log.warning("reconcile of %s/%s failed (retry in %.1fs): %s", namespace, name, delay, describe(exc))
                log.debug("reconcile of %s/%s failed", namespace, name, exc_info=True)
                new_status = {**old_status, "conditions": [dict(c) for c in old_status.get("conditions", [])]}
                set_condition(new_status["conditions"], api.READY, False, "ReconcileError", describe(exc),
                              generation=body.metadata.get("generation"), now=now.strftime("%Y-%m-%dT%H:%M:%SZ"))
                plan = None
    changes = status_patch(old_status, new_status)
    memo.settled.record(uid, inputs, new_status.get("phase"), plan,
                        plan is None or not wrote_nothing(plan, changes), now)
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
async def forget_run(type: str | None, uid: str, status: kopf.Status, memo: kopf.Memo, **_: Any) -> None:
    """Children go with the run by garbage collection; the metrics forget it here. The phase
    metric follows every run, also those at rest, whose timer does not run."""
    if type != "DELETED":
        metrics.record_phase(uid, status.get("phase"))
    else:
        metrics.record_phase(uid, None)
        memo.written_status.pop(uid, None)
        memo.backoff.succeeded(uid)
        memo.server_keys.pop(uid, None)
        memo.settled.forget(uid)
