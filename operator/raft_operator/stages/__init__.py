"""The pipeline's stages, one module each, and their order: the one table the reconciler, the
progress fold and the handlers read.

Each module declares its stage (:class:`~raft_operator.stages.base.Stage`): its API names
(name, phase, condition: :data:`raft_api.status.STAGE_NAMES`, which also orders them), its
progress key and status path, its deadline in the spec, and the hooks a reconcile pass calls.
Adding a stage is one new module here and its names in the API (docs/architecture.md, "Adding a
stage").
"""

from __future__ import annotations

from raft_api.status import PHASES, STAGES as NAMES

from . import datagen, eval, finetune, teacher
from .base import Pass, Stage

_BY_NAME = {module.STAGE.name: module.STAGE for module in (teacher, datagen, finetune, eval)}
STAGES: tuple[Stage, ...] = tuple(_BY_NAME[name] for name in NAMES)  # in the API's order, one module each
TEACHER, DATAGEN, FINETUNE, EVAL = STAGES
CONDITIONS = tuple(stage.condition for stage in STAGES)  # the stages' condition types, one each
PROGRESS_KEYS = tuple(stage.progress_key for stage in STAGES if stage.progress_key)  # keys of the progress ConfigMap

__all__ = ["CONDITIONS", "DATAGEN", "EVAL", "FINETUNE", "NAMES", "PHASES", "PROGRESS_KEYS", "STAGES", "TEACHER", "Pass",
           "Stage"]
