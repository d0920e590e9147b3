"""The finetune stage: the TrainJob (Kubeflow Trainer) or PyTorchJob (training operator) that
fine-tunes the student on the generated records.

The teacher is scaled to zero meanwhile. The training program reports its steps under
``finetune`` in the progress ConfigMap, folded into status.training.
"""

from __future__ import annotations

import datetime as dt

from raft_api.status import stage_names

from .. import api
from ..builders import finetune
from ..builders.common import Manifest
from ..child_status import Outcome
from ..run import Run
from . import teacher
from .base import Pass
from .batch import BatchStage, Fraction


class Finetune(BatchStage):
    """Fine-tuning the student; the pass's training kind says which API runs it."""

    def deadline(self, run: Run) -> int:
        return run.spec.failure_policy.finetune_deadline_seconds

    def owner(self, names: api.ChildNames) -> str:
        return names.finetune

    def batch(self, p: Pass) -> Manifest:
        (job,) = finetune.build(p.run, kind=p.training_kind)
        return job

    def prepare(self, p: Pass, started: dt.datetime, servers: list[Manifest], child: Manifest) -> Outcome | None:
        teacher.scale_down(p)
        return None

    def succeeded(self, p: Pass, child: Manifest) -> tuple[str, str]:
        return f"{child['kind']}Succeeded", f"checkpoint saved to {api.RunLayout(p.run.root).model}"

    def running_message(self, kind: str, outcome: Outcome) -> str:
        return outcome.message or "training"

    def addon_kinds(self, p: Pass) -> set[str]:
        return {p.training_kind}


STAGE = Finetune(**stage_names("finetune"), component="finetune",
                 deadline_field="failurePolicy.finetuneDeadlineSeconds", progress_key="finetune",
                 status_path="training", progress=Fraction("step", "step", "totalSteps", "starting training"))
