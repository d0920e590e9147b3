"""A RaftRun as the builders, the stages and the reconciler read it: its identity and typed spec."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from raft_api.spec import Images, RaftRunSpec, VllmTeacher, view

from . import api


@dataclass
class Run:
    """The parts of a RaftRun the operator reads, with schema defaults applied."""

    name: str
    namespace: str
    uid: str
    spec: RaftRunSpec
    generation: int = 1

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> "Run":
        """Build from a RaftRun object as the API server returns it."""
        meta = body.get("metadata", {})
        return cls(
            name=meta["name"],
            namespace=meta.get("namespace", "default"),
            uid=meta.get("uid", ""),
            spec=view(body.get("spec", {})),
            generation=int(meta.get("generation") or 1),
        )

    @property
    def names(self) -> api.ChildNames:
        """Names of this run's children."""
        return api.ChildNames(self.name)

    @property
    def root(self) -> str:
        """This run's directory on its volume, as mounted in workloads."""
        return api.run_root(self.name)

    @property
    def claim_name(self) -> str:
        """The PersistentVolumeClaim every workload mounts."""
        return self.spec.storage.existing_claim or self.names.pvc

    @property
    def image(self) -> Images:
        """Images per workload."""
        return self.spec.scheduling.images

    @property
    def queue_name(self) -> str | None:
        """Kueue LocalQueue, if any."""
        return self.spec.scheduling.queue_name

    @property
    def teacher_in_cluster(self) -> bool:
        """Whether the teacher is served by the run (vLLM) rather than external."""
        return self.spec.teacher.vllm is not None

    @property
    def vllm_teacher(self) -> VllmTeacher:
        """The in-cluster teacher's settings; ValueError for an external teacher."""
        if self.spec.teacher.vllm is None:
            raise ValueError(f"RaftRun {self.name} has an external teacher")
        return self.spec.teacher.vllm
