"""The SIMULATED controllers' package: one module per controller on the shared base, and the
command line ``python -m raft_sim.controllers`` with its flags (no cluster needed)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from raft_sim.controllers import manager
from raft_sim.controllers.base import Controller, SimSettings

FLAGS = ("--kubeconfig", "--duration", "--progress-interval", "--no-pods", "--pv-root", "--real-workloads",
         "--log-level")


def test_every_simulated_controller_is_a_controller_of_its_own_kind() -> None:
    kinds = [c.kind for c in manager.CONTROLLERS]
    assert len(kinds) == len(set(kinds)), f"two controllers for one kind: {kinds}"
    assert set(kinds) >= {"RayJob", "PyTorchJob", "TrainJob", "LeaderWorkerSet", "Job", "PersistentVolumeClaim"}
    for controller in manager.CONTROLLERS:
        assert issubclass(controller, Controller) and controller.reconcile is not Controller.reconcile
        assert controller.__module__.startswith("raft_sim.controllers.")
    optional = {c.kind for c in manager.CONTROLLERS if c.optional}
    assert optional == {"TrainJob", "LeaderWorkerSet"}, "only add-on kinds may be missing from the cluster"


def test_the_module_runs_with_its_flags() -> None:
    out = subprocess.run([sys.executable, "-m", "raft_sim.controllers", "--help"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    for flag in FLAGS:
        assert flag in out


def test_flags_become_the_simulation_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    class Stopped:
        stop = None

        def run(self) -> None:
            seen["ran"] = True

    def connect(client: Any, settings: SimSettings, workers: int, skip: frozenset[str]) -> Stopped:
        seen["settings"], seen["workers"], seen["skip"] = settings, workers, skip
        return Stopped()

    monkeypatch.setattr(manager.kube_config, "new_client_from_config", lambda config_file: object())
    monkeypatch.setattr(manager, "_connect", connect)
    monkeypatch.setattr(manager.signal, "signal", lambda *_: None)
    assert manager.main(["--kubeconfig", "k", "--duration", "7", "--progress-interval", "0.5", "--no-pods",
                         "--pv-root", "/x", "--real-workloads", "--workers", "4", "--skip", "RayJob,TrainJob"]) == 0
    assert seen["ran"] and seen["workers"] == 4 and seen["skip"] == {"RayJob", "TrainJob"}
    assert seen["settings"] == SimSettings(duration=7.0, progress_interval=0.5, create_pods=False, pv_root="/x",
                                           real_workloads=True)


def test_the_queue_never_hands_one_object_to_two_workers() -> None:
    import threading

    from raft_sim.controllers.manager import DelayQueue

    queue, stop, key = DelayQueue(), threading.Event(), ("RayJob", "ns", "a")
    queue.add(key)
    assert queue.get(stop) == key
    queue.add(key)  # a watch event while a worker holds it
    queue.add(("RayJob", "ns", "b"))
    assert queue.get(stop) == ("RayJob", "ns", "b"), "the busy key waits"
    queue.done(key)
    assert queue.get(stop) == key, "handed out again once its worker is done"
    queue.done(key)
    stop.set()
    assert queue.get(stop) is None
