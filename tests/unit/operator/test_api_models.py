"""The typed API (raft_api): the operator's view of a spec and a hand-written run.yaml obey the
same declarations the CRD is rendered from."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from harness import raftrun
from raft_api.runconfig import RunConfigError, run_config_from_dict, run_config_to_dict
from raft_api.spec import view
from raft_operator.builders.configmaps import run_config
from raft_operator.run import Run


def test_the_view_is_read_only() -> None:
    spec = view(raftrun()["spec"])
    with pytest.raises(ValidationError):
        spec.datagen.workers = 3  # type: ignore[misc]


def test_a_hand_written_run_yaml_gets_the_spec_defaults() -> None:
    config = run_config_from_dict({"student": {"baseModel": "s"}})
    assert config.datagen.chunk_size == 1000 and config.eval.top_k == (3, 5, 7)
    assert config.student is not None and config.student.learning_rate == 1e-5


@pytest.mark.parametrize(("body", "field"), [
    ({"datagen": {"chunkSise": 900}}, "datagen.chunkSise"),                          # a typo
    ({"datagen": {"chunkSize": 50}}, "datagen.chunkSize"),                           # below the spec's minimum
    ({"datagen": {"noOracleLabel": "maybe"}}, "datagen.noOracleLabel"),              # not one of the spec's values
    ({"student": {"baseModel": "s", "precision": "fp16"}}, "student.precision"),
    ({"student": {"baseModel": ""}}, "student.baseModel"),                           # empty
    ({"eval": {"topK": [0]}}, "eval.topK.0"),                                        # k must be positive
])
def test_a_hand_written_run_yaml_is_checked_like_the_spec(body: dict, field: str) -> None:
    with pytest.raises(RunConfigError, match=rf"^run\.yaml: {field}: "):
        run_config_from_dict(body)


def test_the_programs_accept_what_only_a_hand_written_run_yaml_asks_for() -> None:
    config = run_config_from_dict({"student": {"baseModel": "s", "contextLength": 64},
                                   "eval": {"topK": [], "withoutRag": True, "primaryMode": "none"}})
    assert config.student is not None and config.student.context_length == 64 and config.eval.top_k == ()


def test_pod_level_fields_never_reach_run_yaml() -> None:
    body = raftrun()
    body["spec"]["student"].update(shmSize="8Gi", resources={"limits": {"cpu": 4}})
    written = run_config(Run.from_body(body))
    assert not set(written["student"]) & {"shmSize", "resources", "trainingApi", "trainingRuntime"}
    assert not set(written["eval"]) & {"baselines", "servingGpus"}
    assert not set(written["datagen"]) & {"resources"}
    assert written["student"]["nodes"] == 2 and written["student"]["baseModel"]


def test_run_yaml_round_trips() -> None:
    written = run_config(Run.from_body(raftrun()))
    assert run_config_to_dict(run_config_from_dict(written)) == written
