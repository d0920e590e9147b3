"""The datagen stage: the RayJob that has the teacher answer questions about the corpus chunks.

The teacher stays up while it runs; its program reports chunks done under ``datagen`` in the
progress ConfigMap, folded into status.datagen.
"""

from __future__ import annotations

import datetime as dt

from raft_api.status import stage_names

from .. import api, child_kinds
from ..builders import datagen
from ..builders.common import Manifest
from ..child_status import Outcome
from ..run import Run
from . import teacher
from .base import Pass
from .batch import BatchStage, Fraction


class Datagen(BatchStage):
    """Generating the RAFT records with a RayJob that talks to the teacher."""

    def deadline(self, run: Run) -> int:
        return run.spec.failure_policy.datagen_deadline_seconds

    def owner(self, names: api.ChildNames) -> str:
        return names.datagen

    def batch(self, p: Pass) -> Manifest:
        (rayjob,) = datagen.build(p.run)
        return rayjob

    def prepare(self, p: Pass, started: dt.datetime, servers: list[Manifest], child: Manifest) -> Outcome | None:
        if not teacher.serve(p, started).succeeded:
            p.status["progress"] = "waiting for the teacher"
            return Outcome()
        return None

    def succeeded(self, p: Pass, child: Manifest) -> tuple[str, str]:
        return "RayJobSucceeded", f"RayJob {child['metadata']['name']} succeeded"

    def running_message(self, kind: str, outcome: Outcome) -> str:
        return f"RayJob {outcome.message}"

    def addon_kinds(self, p: Pass) -> set[str]:
        return {child_kinds.RAYJOB.kind}


STAGE = Datagen(**stage_names("datagen"), component="datagen",
                deadline_field="failurePolicy.datagenDeadlineSeconds", progress_key="datagen", status_path="datagen",
                progress=Fraction("chunks", "chunksDone", "chunksTotal", "starting Ray"))
