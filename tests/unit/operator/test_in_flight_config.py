"""The in-flight limits travel from the RaftRun spec to run.yaml and on to the programs' clients."""

from __future__ import annotations

from harness import raftrun
from raft_jobs.common.concurrency import in_flight_options
from raft_api.runconfig import run_config_from_dict
from raft_operator.builders import configmaps
from raft_operator.run import Run


def test_defaults_adapt_and_carry_the_spec_cap_into_run_yaml() -> None:
    config = run_config_from_dict(configmaps.run_config(Run.from_body(raftrun())))
    assert config.datagen.concurrency is None and config.datagen.max_in_flight_per_replica == 1024
    assert config.eval.concurrency is None and config.eval.max_in_flight_per_replica == 1024
    # Two datagen workers share one replica's cap.
    options = in_flight_options(config.datagen.concurrency, config.datagen.max_in_flight_per_replica, clients=2)
    assert set(options) == {"adaptive"} and options["adaptive"].maximum == 512


def test_a_fixed_concurrency_and_a_cap_are_kept() -> None:
    body = raftrun(datagen={"concurrency": 48, "maxInFlightPerReplica": 300},
                   eval={"maxInFlightPerReplica": 64})
    config = run_config_from_dict(configmaps.run_config(Run.from_body(body)))
    assert config.datagen.concurrency == 48 and config.datagen.max_in_flight_per_replica == 300
    assert in_flight_options(config.datagen.concurrency, config.datagen.max_in_flight_per_replica) == {"max_in_flight": 48}
    assert config.eval.concurrency is None
    assert in_flight_options(config.eval.concurrency, config.eval.max_in_flight_per_replica)["adaptive"].maximum == 64
