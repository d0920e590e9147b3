"""``status`` of a RaftRun, as declared for the CRD: phases, stages, conditions, and the sections
folded from the programs' progress reports (their fields are the reports', :mod:`raft_api.progress`).

The operator writes status as plain dicts (:mod:`raft_operator.reconciler`); these models are
what ``hack/crdgen.py`` renders into the status schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, create_model
from pydantic.alias_generators import to_camel

from .k8s import field
from .openapi import described, report_schema
from .progress import NOT_IN_STATUS, DatagenReport, EvalResult, EvalSummary, FinetuneReport



@dataclass(frozen=True)
class StageNames:
    """What the API shows of one stage: status.stage (and its key under status.stages), the phase
    while it runs, its condition type. The operator's stage modules (raft_operator.stages) take theirs
    from here."""

    name: str
    phase: str
    condition: str


# The stages in pipeline order; status.stage is "done" after the last.
STAGE_NAMES = (
    StageNames("teacher", "ServingTeacher", "TeacherReady"),
    StageNames("datagen", "GeneratingData", "DataGenerated"),
    StageNames("finetune", "FineTuning", "ModelTrained"),
    StageNames("eval", "Evaluating", "Evaluated"),
)
STAGES = tuple(stage.name for stage in STAGE_NAMES)
DONE = "done"
PENDING, SUCCEEDED, FAILED, SUSPENDED = "Pending", "Succeeded", "Failed", "Suspended"
PHASES = (PENDING, *(stage.phase for stage in STAGE_NAMES), SUCCEEDED, FAILED, SUSPENDED)
RUN_CONDITIONS = ("Ready", "Succeeded", "Stalled", "Reconciling")  # of the whole run; one more per stage
CONDITION_TYPES = ", ".join((*RUN_CONDITIONS, *(stage.condition for stage in STAGE_NAMES)))


def stage_names(name: str) -> dict[str, str]:
    """The API names of stage ``name`` as keyword arguments (name, phase, condition)."""
    names = next(stage for stage in STAGE_NAMES if stage.name == name)
    return {"name": names.name, "phase": names.phase, "condition": names.condition}
DATE_TIME = {"format": "date-time"}


class StatusModel(BaseModel):
    """camelCase on the wire."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


def timestamp(desc: str) -> Any:
    return field(desc, k8s={"schema": {"type": "string", "format": "date-time", "description": desc}})


def report_section(desc: str, report: type, **extra: Any) -> Any:
    """A status section whose fields are a progress report's (less what only status.progress shows)."""
    return field(desc, k8s={"schema": described(desc, report_schema(report, leave_out=NOT_IN_STATUS), **extra)})


class Condition(StatusModel):
    """A metav1.Condition."""

    type: str = field(f"Condition type: {CONDITION_TYPES}.", ..., max_length=316)
    status: Literal["True", "False", "Unknown"] = field("True, False or Unknown.", ..., k8s={"maxLength": 253})
    reason: str = field("CamelCase reason.", ..., max_length=1024)
    message: str = field("Human-readable detail.", ..., max_length=32768)
    last_transition_time: str = field("When status last changed.", ...,
                                      k8s={"schema": {"type": "string", "format": "date-time",
                                                      "description": "When status last changed."}})
    observed_generation: int | None = field("The spec generation this condition was computed from.", ge=0,
                                            k8s={"format": "int64"})


class StageStatus(StatusModel):
    """One stage's timing and children."""

    start_time: str | None = timestamp("When the stage started.")
    completion_time: str | None = timestamp("When the stage finished.")
    children: tuple[str, ...] | None = field("Child objects of this stage, as Kind/name.", max_length=32,
                                             k8s={"description": "Child objects of this stage, as Kind/name."})


Stages = create_model("Stages", __base__=StatusModel,
                      **{stage: (StageStatus | None, field("One stage's timing and children.")) for stage in STAGES})


class Results(StatusModel):
    """Eval results."""

    models: Any = field("Scores per model, mode and top_k.", k8s={"schema": {
        "type": "array", "description": "Scores per model, mode and top_k.",
        "items": described("Scores of one model in one mode.", report_schema(EvalResult)), "maxItems": 256}})
    summary: Any = report_section("Headline numbers, in the primary mode (spec.eval.primaryMode).", EvalSummary)
    report_path: str | None = field("Path of report.html on the run's volume.",
                                    k8s={"schema": {"type": "string",
                                                    "description": "Path of report.html on the run's volume."}})


class RaftRunStatus(StatusModel):
    """Observed state. Written by the operator only."""

    observed_generation: int | None = field("The spec generation the operator last reconciled.",
                                            k8s={"format": "int64"})
    phase: Literal[PHASES] | None = field(f"{', '.join(PHASES[:-1])} or {PHASES[-1]}.", k8s={"maxLength": 253})
    stage: str | None = field(f"Current (or last) stage: {', '.join(STAGES)}, {DONE}.", max_length=253)
    progress: str | None = field("Progress of the current stage, for people.", max_length=256)
    score: str | None = field("Summary score of the fine-tuned student once evaluated.", max_length=256)
    message: str | None = field("What the run is doing or why it failed.", max_length=32768)
    start_time: str | None = timestamp("When the run started.")
    completion_time: str | None = timestamp("When the run succeeded or failed.")
    conditions: tuple[Condition, ...] | None = field(
        "Conditions: Ready (reconciled without error, not failed), Succeeded (pipeline finished), Stalled (failed; "
        "needs a person), Reconciling (a stage runs, or an ended run releases its servers), and one per stage.",
        max_length=16, k8s={"items": {"description": "A metav1.Condition."}, "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["type"]})
    stages: Stages | None = field("Per-stage timing and children.")  # type: ignore[valid-type]
    datagen: Any = report_section("Data generation progress.", DatagenReport)
    training: Any = report_section("Fine-tuning progress.", FinetuneReport)
    results: Results | None = field("Eval results.")
