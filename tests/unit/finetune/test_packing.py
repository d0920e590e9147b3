"""Packing: bin assignment, the per-rank plan, and that packed examples stay independent."""

from __future__ import annotations

import random

import pytest
from raft_sim import tiny_model
import torch

from raft_jobs.finetune.data import (
    IGNORE_INDEX,
    collate,
    fill_ratio,
    one_per_bin,
    pack_best_fit,
    plan_epoch,
    tokenize_records,
    utilization,
)
from raft_jobs.finetune.recipe import token_loss_sum


def test_best_fit_respects_capacity_and_uses_every_example_once() -> None:
    rng = random.Random(0)
    lengths = [rng.randint(200, 2000) for _ in range(500)]
    bins = pack_best_fit(lengths, 8192)
    assert sorted(i for b in bins for i in b) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in b) <= 8192 for b in bins)
    assert fill_ratio(lengths, bins, 8192) > 0.97
    assert bins == pack_best_fit(lengths, 8192)  # deterministic on every rank
    with pytest.raises(ValueError):
        pack_best_fit([10, 9000], 8192)


def test_epoch_plan_deals_every_sequence_once_with_equal_steps_per_rank() -> None:
    bins = [[i] for i in range(23)]
    plans = [
        plan_epoch(bins, batch_size=2, grad_accum=3, rank=r, world_size=3, seed=7, epoch=0) for r in range(3)
    ]
    seen = [i for p in plans for mb in p.micro_batches for b in mb for i in b]
    assert sorted(seen) == list(range(23))
    assert len({len(p.micro_batches) for p in plans}) == 1
    assert len({p.steps for p in plans}) == 1 and plans[0].steps == 2
    again = plan_epoch(bins, batch_size=2, grad_accum=3, rank=0, world_size=3, seed=7, epoch=0)
    other = plan_epoch(bins, batch_size=2, grad_accum=3, rank=0, world_size=3, seed=7, epoch=1)
    assert again.micro_batches == plans[0].micro_batches
    assert other.micro_batches != plans[0].micro_batches


def test_collate_restarts_positions_and_shifts_labels_per_example(tokenizer) -> None:
    examples = tokenize_records(tokenizer, tiny_model.raft_records(3, seed=1))
    batch = collate(examples, [[0, 1, 2]], tokenizer.pad_token_id)
    lengths = [len(e) for e in examples]
    ids, pos, labels = batch.input_ids[0], batch.position_ids[0], batch.labels[0]
    offset = 0
    for example, n in zip(examples, lengths):
        assert pos[offset : offset + n].tolist() == list(range(n))
        assert ids[offset : offset + n].tolist() == example.input_ids
        assert labels[offset : offset + n].tolist() == example.labels[1:] + [IGNORE_INDEX]
        offset += n
    assert (labels[offset:] == IGNORE_INDEX).all() and batch.input_ids.shape[1] % 8 == 0
    assert batch.real_tokens == sum(lengths)
    assert batch.label_tokens == sum(e.answer_tokens for e in examples)
    empty = collate(examples, [], tokenizer.pad_token_id)
    assert empty.label_tokens == 0 and empty.real_tokens == 0 and empty.input_ids.shape[0] == 1


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_loss_equals_unpacked_loss(student_dir, tokenizer, attn: str) -> None:
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(student_dir), attn_implementation=attn)
    model.train()  # the training path (no KV cache, same mask construction)
    examples = tokenize_records(tokenizer, tiny_model.raft_records(6, seed=2, chunk_chars=60))
    lengths = [len(e) for e in examples]
    # Capacity for a few examples per sequence (each carries the RAFT system prompt).
    bins = pack_best_fit(lengths, 2048)
    assert any(len(b) > 1 for b in bins), "the test needs sequences holding several examples"
    pad = tokenizer.pad_token_id

    def loss_and_logits(layout: list[list[int]], flatten: bool = False):
        batch = collate(examples, layout, pad, flatten=flatten)
        logits = model(input_ids=batch.input_ids, position_ids=batch.position_ids, use_cache=False).logits
        return token_loss_sum(logits, batch.labels), batch, logits

    unpacked = sum(loss_and_logits([[i]])[0] for i in range(len(examples)))
    packed, _, _ = loss_and_logits(bins)  # one row per sequence, padded
    flat, _, _ = loss_and_logits(bins, flatten=True)  # all sequences in one row
    torch.testing.assert_close(packed, unpacked, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(flat, unpacked, rtol=1e-5, atol=1e-4)

    # Logits, not just the loss: every example sees only itself inside a packed row.
    row = next(b for b in bins if len(b) > 1)
    _, _, packed_logits = loss_and_logits([row])
    offset = 0
    for i in row:
        _, _, alone = loss_and_logits([[i]])
        n = lengths[i]
        torch.testing.assert_close(packed_logits[0, offset : offset + n], alone[0, :n], rtol=1e-4, atol=1e-4)
        offset += n

    # And the gradients agree too (the loss is what is optimised).
    model.zero_grad()
    loss_and_logits(bins)[0].backward()
    packed_grad = model.model.layers[0].self_attn.q_proj.weight.grad.clone()
    model.zero_grad()
    sum(loss_and_logits([[i]])[0] for i in range(len(examples))).backward()
    torch.testing.assert_close(packed_grad, model.model.layers[0].self_attn.q_proj.weight.grad, rtol=1e-4, atol=1e-5)


def test_utilization_counts_padding() -> None:
    lengths = [100, 60, 40, 30]
    assert utilization(lengths, one_per_bin(lengths), 4) == pytest.approx(230 / (4 * 104))
    assert utilization(lengths, [[0], [1, 2], [3]], 1) == pytest.approx(230 / (104 + 104 + 32))
