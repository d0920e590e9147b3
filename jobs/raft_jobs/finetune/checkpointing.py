"""Resumable training snapshots under ``<root>/checkpoints``.

A snapshot ``step-00000200/`` holds:

* the sharded model and optimizer (``torch.distributed.checkpoint``: every rank writes its own
  shards; a restart with another world size reshards on load),
* ``rng/rank-<r>.pt``: each rank's Python / NumPy / torch (and CUDA) generator states,
* ``meta.json``: step, epoch, the data position, the LR scheduler state and a fingerprint of
  the data plan, written last.

Snapshots are written to ``.tmp-step-…`` and renamed once every rank has finished, so a
directory named ``step-…`` is always complete: a job killed mid-write resumes from the
previous one. The directory must be shared by all nodes (the run's RWX volume).
"""

from __future__ import annotations

import json
import logging
import random
import re
import shutil
from pathlib import Path
from typing import Any

import torch
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict
from torch.distributed.checkpoint.stateful import Stateful

from .distributed import DistInfo, barrier

log = logging.getLogger(__name__)

_NAME = re.compile(r"^step-(\d+)$")
META_FILE = "meta.json"


class ModelAndOptimizer(Stateful):
    """The sharded model and optimizer as one DCP state (converted by the state_dict API)."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.model = model
        self.optimizer = optimizer

    def state_dict(self) -> dict[str, Any]:
        """Sharded (DTensor) model and optimizer state."""
        model_state, optimizer_state = get_state_dict(self.model, self.optimizer)
        return {"model": model_state, "optimizer": optimizer_state}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load what :meth:`state_dict` produced (possibly resharded)."""
        set_state_dict(
            self.model,
            self.optimizer,
            model_state_dict=state_dict["model"],
            optim_state_dict=state_dict["optimizer"],
        )


def _rng_state(info: DistInfo) -> dict[str, Any]:
    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if info.is_cuda:
        state["cuda"] = torch.cuda.get_rng_state(info.device)
    try:
        import numpy as np

        state["numpy"] = np.random.get_state()
    except ImportError:
        pass
    return state


def _set_rng_state(state: dict[str, Any], info: DistInfo) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if info.is_cuda and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], info.device)
    if "numpy" in state:
        import numpy as np

        np.random.set_state(state["numpy"])


class Checkpointer:
    """Writes, finds and loads snapshots; keeps the newest ``keep`` of them."""

    def __init__(self, directory: str | Path, info: DistInfo, keep: int = 2) -> None:
        self.directory = Path(directory)
        self.info = info
        self.keep = max(1, keep)

    def _complete(self) -> list[tuple[int, Path]]:
        if not self.directory.is_dir():
            return []
        found = []
        for path in self.directory.iterdir():
            match = _NAME.match(path.name)
            if match and (path / META_FILE).is_file():
                found.append((int(match.group(1)), path))
        return sorted(found)

    def latest(self) -> Path | None:
        """The newest complete snapshot, if any."""
        found = self._complete()
        return found[-1][1] if found else None

    def clear_incomplete(self) -> None:
        """Remove leftovers of writes interrupted by a kill (rank 0; a barrier follows)."""
        if self.info.is_main and self.directory.is_dir():
            for path in self.directory.glob(".tmp-step-*"):
                log.info("removing incomplete checkpoint %s", path)
                shutil.rmtree(path, ignore_errors=True)
        barrier(self.info)

    def save(self, step: int, state: ModelAndOptimizer, meta: dict[str, Any]) -> Path:
        """Write snapshot ``step`` atomically (collective: every rank calls it)."""
        final = self.directory / f"step-{step:08d}"
        tmp = self.directory / f".tmp-step-{step:08d}"
        if self.info.is_main:
            shutil.rmtree(tmp, ignore_errors=True)
            (tmp / "rng").mkdir(parents=True)
        barrier(self.info)
        dcp.save({"train": state}, checkpoint_id=str(tmp))
        torch.save(_rng_state(self.info), tmp / "rng" / f"rank-{self.info.rank}.pt")
        barrier(self.info)
        if self.info.is_main:
            (tmp / META_FILE).write_text(json.dumps({**meta, "step": step}, indent=2, sort_keys=True))
            if final.exists():  # a re-save of the same step after a resume
                shutil.rmtree(final)
            tmp.rename(final)
            for _, old in self._complete()[: -self.keep]:
                shutil.rmtree(old, ignore_errors=True)
            log.info("checkpoint saved: %s", final)
        barrier(self.info)
        return final

    def load(self, path: Path, state: ModelAndOptimizer) -> dict[str, Any]:
        """Load snapshot ``path`` into ``state`` and the RNGs; return its meta (collective)."""
        dcp.load({"train": state}, checkpoint_id=str(path))
        rng_file = path / "rng" / f"rank-{self.info.rank}.pt"
        if rng_file.is_file():
            _set_rng_state(torch.load(rng_file, weights_only=False), self.info)
        else:
            log.warning("%s has no RNG state for rank %d (world size changed?)", path, self.info.rank)
        return json.loads((path / META_FILE).read_text())
