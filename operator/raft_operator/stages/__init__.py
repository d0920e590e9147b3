"""The pipeline's stages, one module each, and their order: the one table the reconciler, the
progress fold and the handlers read.

Each module declares its stage (:class:`~raft_operator.stages.base.Stage`): its name in
status.stage and status.stages, its phase, its condition, its progress key and status path, its
deadline in the spec, and the hooks a reconcile pass calls. Adding a stage is one new module here
and its place in :data:`STAGES` (docs/architecture.md, "Adding a stage").
"""

from __future__ import annotations

from .. import api
from . import datagen, eval, finetune, teacher
from .base import Pass, Stage

TEACHER, DATAGEN, FINETUNE, EVAL = teacher.STAGE, datagen.STAGE, finetune.STAGE, eval.STAGE
STAGES: tuple[Stage, ...] = (TEACHER, DATAGEN, FINETUNE, EVAL)  # in the order a run goes through them

NAMES = tuple(stage.name for stage in STAGES)  # status.stage (then "done") and the keys of status.stages
# Every status.phase: Pending, one per stage while it runs, then how the run ended or paused.
PHASES = (api.PENDING, *(stage.phase for stage in STAGES), api.SUCCEEDED, api.FAILED, api.SUSPENDED)
CONDITIONS = tuple(stage.condition for stage in STAGES)  # the stages' condition types, one each
PROGRESS_KEYS = tuple(stage.progress_key for stage in STAGES if stage.progress_key)  # keys of the progress ConfigMap

__all__ = ["CONDITIONS", "DATAGEN", "EVAL", "FINETUNE", "NAMES", "PHASES", "PROGRESS_KEYS", "STAGES", "TEACHER", "Pass",
           "Stage"]
