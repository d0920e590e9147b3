"""Throughput and model FLOPs utilisation (MFU) for the progress report."""

from __future__ import annotations

import os

import torch

PEAK_ENV = "RAFT_PEAK_TFLOPS"  # per-GPU dense bf16 peak, overrides the table below

# Dense bf16 tensor-core peaks (no sparsity), FLOP/s per GPU; matched against the device name.
_PEAK_BF16 = [
    ("H100 PCIe", 756e12),
    ("H100", 989e12),
    ("H200", 989e12),
    ("H20", 148e12),
    ("GH200", 989e12),
    ("B200", 2250e12),
    ("A100", 312e12),
    ("L40S", 362e12),
    ("L4", 121e12),
]


def peak_flops(device: torch.device) -> float | None:
    """The device's peak bf16 FLOP/s, or None when unknown (MFU is not reported then)."""
    override = os.environ.get(PEAK_ENV)
    if override:
        return float(override) * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, peak in _PEAK_BF16:
        if key in name:
            return peak
    return None


def mfu(flops: float, seconds: float, world_size: int, peak: float | None) -> float | None:
    """Achieved FLOP/s over the peak of all ``world_size`` devices."""
    if peak is None or seconds <= 0:
        return None
    return flops / seconds / (peak * world_size)
