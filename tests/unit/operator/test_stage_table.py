"""The stage table (raft_operator.stages): each stage's progress key, deadline field and owner are
the ones the programs, the spec and the builders use."""

from __future__ import annotations

from typing import Any

import pytest

from harness import raftrun
from raft_api.progress import encode_report
from raft_operator import stages
from raft_operator.builders import datagen, evaluation, finetune, teacher
from raft_operator.run import Run


@pytest.mark.parametrize("field", ["name", "phase", "condition", "progress_key", "status_path"])
def test_no_two_stages_share_a_name(field: str) -> None:
    values = [getattr(stage, field) for stage in stages.STAGES if getattr(stage, field) is not None]
    assert len(values) == len(set(values))


@pytest.mark.parametrize("stage", [s for s in stages.STAGES if s.progress_key], ids=lambda s: s.name)
def test_each_progress_key_is_a_report_the_programs_send(stage: stages.Stage) -> None:
    assert stage.progress_key is not None
    encode_report(stage.progress_key, {})  # ValueError for a key without a report type


@pytest.mark.parametrize("stage", stages.STAGES, ids=lambda s: s.name)
def test_deadline_field_names_the_field_the_deadline_reads(stage: stages.Stage) -> None:
    body = raftrun(failurePolicy={"datagenDeadlineSeconds": 1001, "finetuneDeadlineSeconds": 1002,
                                  "evalDeadlineSeconds": 1003})
    body["spec"]["teacher"]["vllm"]["startupTimeoutSeconds"] = 1004
    value: Any = Run.from_body(body).spec.to_dict()  # camelCase, defaults applied
    for part in stage.deadline_field.split("."):
        value = value[part]
    assert stage.deadline(Run.from_body(body)) == value


def test_each_stage_owns_its_own_child() -> None:
    """The handlers look Kueue's Workloads up by each stage's owner name: its batch child's, the teacher's server's."""
    run = Run.from_body(raftrun())
    own = {"teacher": teacher.build(run)[0], "datagen": datagen.build(run)[0],
           "finetune": finetune.build(run, kind=finetune.TRAINJOB)[0], "eval": evaluation.job(run)}
    assert {stage.name: stage.owner(run.names) for stage in stages.STAGES} == \
        {name: child["metadata"]["name"] for name, child in own.items()}
