"""Process-group setup for torchrun (and plain ``python -m`` as a world of one).

torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``
(in a PyTorchJob it reads ``PET_NNODES``, ``PET_NPROC_PER_NODE`` and ``PET_NODE_RANK``, set by
the training operator). Backend: NCCL on CUDA, Gloo on CPU.
"""

from __future__ import annotations

import os
import random
import socket
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

# Checkpoint writes and the final Hugging Face export of a large model keep the other ranks
# waiting in a barrier for minutes; the default 10-minute collective timeout is too short.
DEFAULT_TIMEOUT = timedelta(minutes=60)


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0 logs, reports progress and writes the files only one process may write."""
        return self.rank == 0

    @property
    def is_cuda(self) -> bool:
        """True when training on GPUs."""
        return self.device.type == "cuda"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def init_distributed(timeout: timedelta = DEFAULT_TIMEOUT) -> DistInfo:
    """Join the process group torchrun describes, or form a world of one without torchrun."""
    if "RANK" not in os.environ:
        os.environ.update(
            {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1"}
        )
        os.environ.setdefault("MASTER_PORT", str(_free_port()))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device = torch.device("cpu")
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=timeout)
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, device)


def shutdown() -> None:
    """Leave the process group (idempotent)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy (when installed) and torch identically on every rank."""
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:
        pass


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """Sum a few scalars over all ranks (one collective)."""
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def barrier(info: DistInfo) -> None:
    """Wait for every rank."""
    if info.is_cuda:
        dist.barrier(device_ids=[info.local_rank])
    else:
        dist.barrier()
