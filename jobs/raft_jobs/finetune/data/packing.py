"""Pack tokenized examples into sequences of at most ``contextLength`` tokens.

Packed examples never attend to each other: every example's position ids restart at 0, and
the model turns those restarts into a block-diagonal causal mask (transformers' packed-sequence
path: varlen kernels with flash-attention, a block-diagonal mask with sdpa/eager). Labels are
shifted here, per example, so no position predicts the first token of the next example.

Examples are assigned to sequences by bin packing (:func:`pack`: best-fit decreasing, or a
balanced longest-first assignment when the examples are alike), which fills sequences to 97%+
on RAFT-shaped data; the order of the sequences is then shuffled per epoch. A micro-batch holds ``perDeviceBatchSize``
sequences, padded to the longest of them (rounded up to a multiple of 8), or concatenated into
one row for flash-attention.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
from dataclasses import dataclass, field
from typing import Sequence

import torch

from .chat import IGNORE_INDEX, Example

PAD_MULTIPLE = 8


@dataclass
class DropReport:
    """What :func:`drop_too_long` removed."""

    kept: int
    dropped: int
    longest: int


def drop_too_long(examples: list[Example], max_len: int) -> tuple[list[Example], DropReport]:
    """Keep the examples that fit ``max_len`` tokens; report how many did not."""
    kept = [e for e in examples if len(e) <= max_len]
    longest = max((len(e) for e in examples), default=0)
    return kept, DropReport(kept=len(kept), dropped=len(examples) - len(kept), longest=longest)


def pack_best_fit(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Group example indices into bins of total length <= ``capacity`` (best-fit decreasing).

    Deterministic: ties are broken by index. Every length must be <= ``capacity``.
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    bins: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (room left, bin index), sorted
    for i in order:
        size = lengths[i]
        if size > capacity:
            raise ValueError(f"example {i} has {size} tokens > capacity {capacity}")
        at = bisect.bisect_left(free, (size, -1))
        if at == len(free):
            bins.append([i])
            room, index = capacity - size, len(bins) - 1
        else:
            room, index = free.pop(at)
            bins[index].append(i)
            room -= size
        if room > 0:
            bisect.insort(free, (room, index))
    return bins


def pack_balanced(lengths: Sequence[int], capacity: int, bins: int) -> list[list[int]]:
    """Spread examples over ``bins`` sequences, longest first into the emptiest one (LPT).

    Examples that fit nowhere go to extra sequences (best-fit decreasing). Deterministic.
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    heap = [(0, b) for b in range(bins)]
    out: list[list[int]] = [[] for _ in range(bins)]
    overflow: list[int] = []
    for i in order:
        load, b = heapq.heappop(heap)
        if load + lengths[i] <= capacity:
            out[b].append(i)
            load += lengths[i]
        else:
            overflow.append(i)
        heapq.heappush(heap, (load, b))
    extra = pack_best_fit([lengths[i] for i in overflow], capacity)
    return [b for b in out if b] + [[overflow[j] for j in e] for e in extra]


def pack(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """The fewest sequences found by best-fit decreasing or balanced (LPT) packing.

    Best-fit decreasing is near optimal when examples are small or varied; RAFT examples are
    often alike (k documents of similar size), where it leaves the last slot of many sequences
    empty. Balanced packing then does better: it binary-searches the smallest number of
    sequences into which LPT places every example (typically 97%+ full on RAFT data).
    """
    best = pack_best_fit(lengths, capacity)
    low = max(1, math.ceil(sum(lengths) / capacity))
    high = len(best) - 1
    while low <= high:
        middle = (low + high) // 2
        candidate = pack_balanced(lengths, capacity, middle)
        if len(candidate) < len(best):
            best = candidate
        if len(candidate) <= middle:  # everything fitted: try fewer sequences
            high = middle - 1
        else:
            low = middle + 1
    return best


def one_per_bin(lengths: Sequence[int]) -> list[list[int]]:
    """The no-packing layout: every example alone in its sequence."""
    return [[i] for i in range(len(lengths))]


@dataclass
class MicroBatch:
    """The tensors one forward pass consumes, plus token counts for the metrics."""

    input_ids: torch.Tensor  # [B, T]
    position_ids: torch.Tensor  # [B, T], restarting at 0 for every example
    labels: torch.Tensor  # [B, T], already shifted: labels[t] is the target of position t
    real_tokens: int  # non-padding tokens
    label_tokens: int  # tokens carrying a loss
    squared_lengths: int  # sum over examples of length**2 (attention FLOPs)

    @property
    def processed_tokens(self) -> int:
        """Positions the model computes, padding included."""
        return self.input_ids.numel()

    def to(self, device: torch.device) -> "MicroBatch":
        """A copy with the tensors on ``device``."""
        return MicroBatch(
            self.input_ids.to(device, non_blocking=True),
            self.position_ids.to(device, non_blocking=True),
            self.labels.to(device, non_blocking=True),
            self.real_tokens,
            self.label_tokens,
            self.squared_lengths,
        )


def collate(
    examples: Sequence[Example],
    bins: Sequence[Sequence[int]],
    pad_id: int,
    *,
    flatten: bool = False,
) -> MicroBatch:
    """Build one micro-batch from ``bins`` (each a list of example indices), one row per bin.

    ``flatten`` puts all bins in a single row instead: flash-attention's varlen path isolates
    packed examples only in a batch of one row (it is also padding-free). An empty ``bins``
    gives a one-token dummy batch with no loss: ranks that ran out of data still take part in
    every collective of the step.
    """
    if flatten and bins:
        bins = [[index for bin_ in bins for index in bin_]]
    rows: list[tuple[list[int], list[int], list[int]]] = []
    real = squared = 0
    for bin_ in bins:
        ids: list[int] = []
        pos: list[int] = []
        tgt: list[int] = []
        for index in bin_:
            ex = examples[index]
            ids.extend(ex.input_ids)
            pos.extend(range(len(ex)))
            tgt.extend(ex.labels[1:] + [IGNORE_INDEX])
            real += len(ex)
            squared += len(ex) ** 2
        rows.append((ids, pos, tgt))
    if not rows:
        rows.append(([pad_id], [0], [IGNORE_INDEX]))
    width = max(len(r[0]) for r in rows)
    width = PAD_MULTIPLE * math.ceil(width / PAD_MULTIPLE)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    position_ids = torch.zeros((len(rows), width), dtype=torch.long)
    for row, (ids, pos, tgt) in enumerate(rows):
        n = len(ids)
        input_ids[row, :n] = torch.tensor(ids)
        labels[row, :n] = torch.tensor(tgt)
        position_ids[row, :n] = torch.tensor(pos)
        position_ids[row, n:] = torch.arange(width - n)  # padding is a sequence of its own
    label_tokens = int((labels != IGNORE_INDEX).sum())
    return MicroBatch(input_ids, position_ids, labels, real, label_tokens, squared)


@dataclass
class EpochPlan:
    """Which bins each micro-batch of this rank holds in one epoch, step by step.

    The shuffled bins are cut into micro-batches of ``batch_size`` bins and dealt round-robin
    to the ranks. Every rank gets the same number of micro-batches (short ranks get empty ones)
    so that every step runs the same collectives everywhere.
    """

    micro_batches: list[list[list[int]]]
    grad_accum: int
    steps: int = field(init=False)

    def __post_init__(self) -> None:
        self.steps = math.ceil(len(self.micro_batches) / self.grad_accum)

    def step(self, index: int) -> list[list[list[int]]]:
        """The micro-batches of step ``index`` (0-based, within the epoch)."""
        return self.micro_batches[index * self.grad_accum : (index + 1) * self.grad_accum]


def plan_epoch(
    bins: Sequence[Sequence[int]],
    *,
    batch_size: int,
    grad_accum: int,
    rank: int,
    world_size: int,
    seed: int,
    epoch: int,
    shuffle: bool = True,
) -> EpochPlan:
    """The deterministic plan of one epoch for ``rank`` (identical inputs on every rank)."""
    order = list(range(len(bins)))
    if shuffle:
        random.Random(f"raft-finetune-{seed}-{epoch}").shuffle(order)
    batches = [
        [list(bins[j]) for j in order[i : i + batch_size]] for i in range(0, len(order), batch_size)
    ]
    per_rank = math.ceil(len(batches) / world_size)
    mine = batches[rank::world_size]
    mine += [[] for _ in range(per_rank - len(mine))]
    return EpochPlan(mine, grad_accum)


def utilization(lengths: Sequence[int], bins: Sequence[Sequence[int]], batch_size: int) -> float:
    """Real tokens / processed tokens for ``bins`` in order, as :func:`collate` pads them."""
    real = sum(lengths)
    processed = 0
    for i in range(0, len(bins), batch_size):
        group = bins[i : i + batch_size]
        width = max(sum(lengths[j] for j in b) for b in group)
        processed += len(group) * PAD_MULTIPLE * math.ceil(width / PAD_MULTIPLE)
    return real / processed if processed else 0.0


def fill_ratio(lengths: Sequence[int], bins: Sequence[Sequence[int]], capacity: int) -> float:
    """Real tokens / (bins x capacity): how full the sequences are."""
    return sum(lengths) / (len(bins) * capacity) if bins else 0.0
