"""Runs cost no reconcile work and no API requests while their spec, children and deadlines stay as they were.

Against KMock's API server with the real Kopf operator (see test_handlers_kmock.py): the run is
driven to Succeeded, then the test counts the reconciler's passes while the timer keeps ticking.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, Iterator

import pytest

from kmock_support import Cluster, cluster_with_operator, wait_for
from raft_operator import handlers
from raft_operator.observed import Observed
from raft_operator.reconciler import Plan
from raft_operator.settled import MAX_QUIET_SECONDS, SettledRuns, at_rest, fingerprint, wrote_nothing
from test_handlers_kmock import RUN, run_to_success, start_run, teacher_up

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def passes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The runs the reconciler was asked to plan, one entry per pass."""
    calls: list[str] = []
    real = handlers.reconcile

    def counting(body: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        calls.append(body["metadata"]["name"])
        return real(body, *args, **kwargs)

    monkeypatch.setattr(handlers, "reconcile", counting)
    return calls


@pytest.fixture
def cluster(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, passes: list[str]) -> Iterator[Cluster]:
    with cluster_with_operator(tmp_path, monkeypatch) as c:
        yield c


def assert_settles(c: Cluster, passes: list[str], what: str) -> None:
    """After at most one more pass, ``what`` costs no reconcile passes and no API requests."""
    c.settle()
    assert quiet_passes(c, passes) <= 1, f"{what} kept being reconciled"
    since = c.mark()
    assert quiet_passes(c, passes) == 0
    assert c.operator_requests(since) == [], f"{what} cost API requests"


def quiet_passes(c: Cluster, passes: list[str], intervals: int = 10) -> int:
    """Reconcile passes over ``intervals`` timer intervals with nothing changing."""
    before = len(passes)
    time.sleep(intervals * c.interval)
    return len(passes) - before


def test_a_finished_run_rests_without_a_timer_until_its_spec_changes(cluster: Cluster, passes: list[str]) -> None:
    c = cluster
    start_run(c)
    run_to_success(c, "teacher")
    assert_settles(c, passes, "a finished run")
    wait_for(lambda: at_rest(c.get("RaftRun", RUN)), what="the finished run at rest (Reconciling=False)")
    c.settle()
    assert quiet_passes(c, passes) == 0, "a run at rest has no timer"

    # A child changes (deleted by someone): an ended run creates nothing again and has no timer,
    # so nothing happens at all.
    c.http("DELETE", c.path("ConfigMap", f"{RUN}-config"))
    assert quiet_passes(c, passes) == 0

    # A new spec generation starts the timer again: reconciled, observedGeneration follows, and
    # the run rests again.
    generation = c.patch("RaftRun", RUN, {"spec": {"suspend": True}})["metadata"]["generation"]
    wait_for(lambda: c.status(RUN).get("observedGeneration") == generation, what="observedGeneration")
    wait_for(lambda: at_rest(c.get("RaftRun", RUN)), what="the run at rest again")
    c.settle()
    assert quiet_passes(c, passes) == 0
    assert c.status(RUN)["phase"] == "Succeeded"


def test_which_passes_settle_and_for_how_long() -> None:
    settled = SettledRuns()
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    later = lambda seconds: now + dt.timedelta(seconds=seconds)  # noqa: E731
    observed = Observed.from_summaries([{"kind": "ConfigMap", "name": "a", "resourceVersion": "7"}])
    inputs = fingerprint(3, observed)
    assert wrote_nothing(Plan(), {}) and not wrote_nothing(Plan(), {"phase": "Succeeded"})

    settled.record("u", inputs, "Failed", Plan(), False, now)
    assert settled.skip("u", inputs, later(10**6)), "a finished run waits for its inputs, not for the clock"
    assert not settled.skip("u", fingerprint(4, observed), now)
    changed = Observed.from_summaries([{"kind": "ConfigMap", "name": "a", "resourceVersion": "8"}])
    assert not settled.skip("u", fingerprint(3, changed), now)
    assert not settled.skip("u", fingerprint(3, observed, frozenset({"TrainJob"})), now)
    settled.record("u", inputs, "Failed", Plan(), True, now)
    assert not settled.skip("u", inputs, now) and len(settled) == 0
    settled.record("u", inputs, "Suspended", Plan(), False, now)
    assert settled.skip("u", inputs, later(10**6)), "a suspended run waits for a new generation, not for the clock"

    # A running run: skipped until the deadline its pass checked, and never past the safety net.
    deadline = Plan()
    deadline.recheck(later(120))
    deadline.recheck(later(90))
    settled.record("u", inputs, "GeneratingData", deadline, False, now)
    assert settled.skip("u", inputs, later(89)) and not settled.skip("u", inputs, later(90))
    settled.record("u", inputs, "GeneratingData", Plan(), False, now)
    assert settled.skip("u", inputs, later(MAX_QUIET_SECONDS - 1))
    assert not settled.skip("u", inputs, later(MAX_QUIET_SECONDS))
    # A pass that read outside its inputs (the teacher probe, the preflight) never settles.
    settled.record("u", inputs, "ServingTeacher", Plan(external=True), False, now)
    assert not settled.skip("u", inputs, now)
    settled.record("u", inputs, "Failed", None, False, now)  # the pass failed: no plan
    assert not settled.skip("u", inputs, now)


def test_a_running_run_is_skipped_while_nothing_changes(cluster: Cluster, passes: list[str]) -> None:
    c = cluster
    start_run(c)
    teacher_up(c)
    c.wait_phase(RUN, "GeneratingData")
    assert_settles(c, passes, "a running run with nothing new")
    # A progress report (the program patches its ConfigMap) is seen at the next tick.
    before = len(passes)
    c.progress(RUN, "datagen", {"chunksDone": 3, "chunksTotal": 10, "records": 12})
    wait_for(lambda: len(passes) > before, what="a pass after a progress report")
    wait_for(lambda: "datagen" in c.status(RUN), what="the report folded into status")


def test_a_suspended_run_is_skipped_until_it_is_resumed(cluster: Cluster, passes: list[str]) -> None:
    c = cluster
    start_run(c)
    c.patch("RaftRun", RUN, {"spec": {"suspend": True}})
    c.wait_phase(RUN, "Suspended")
    assert_settles(c, passes, "a suspended run")
    c.patch("RaftRun", RUN, {"spec": {"suspend": False}})
    c.wait_phase(RUN, "ServingTeacher")
