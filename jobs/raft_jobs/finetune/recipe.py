"""The full fine-tuning recipe: setup, train, save.

setup
    read the RAFT dataset, tokenize it with the student's chat template (loss on the answer
    only), pack it, load and shard the student (FSDP2), build AdamW and the warmup + cosine
    schedule, and resume from the newest complete checkpoint if there is one.
train
    optimizer steps of ``gradientAccumulationSteps`` micro-batches per rank, the loss
    normalised by the answer tokens of the whole step across all ranks; gradient clipping;
    validation loss every ``validationEverySteps``; a checkpoint every ``checkpointEverySteps``
    and at the end; progress to the run's ConfigMap (rank 0).
save
    the final Hugging Face checkpoint under ``<root>/model``.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from ..common import model_fetch
from ..common.progress import ProgressReporter
from raft_api.progress import FinetuneReport
from ..common.run_root import ForeignRunDirectory, claim_root
from ..common.conversation import system_prompt
from raft_api.runconfig import RunConfig
from .checkpointing import Checkpointer, ModelAndOptimizer
from .data import (
    IGNORE_INDEX,
    EpochPlan,
    Example,
    MicroBatch,
    collate,
    drop_too_long,
    fill_ratio,
    load_raft_splits,
    one_per_bin,
    pack,
    plan_epoch,
    tokenize_records,
    utilization,
)
from .distributed import DistInfo, all_reduce_sum, seed_everything
from .errors import FinetuneError
from .export import export_hf_model
from .metrics import mfu, peak_flops
from .model import attention_implementation, build_model, isolates_packed_examples, load_tokenizer

log = logging.getLogger(__name__)


def token_loss_sum(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Summed cross-entropy over the positions with a label (labels already shifted)."""
    return F.cross_entropy(
        logits.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX, reduction="sum"
    )


@dataclass
class SplitData:
    """One split, tokenized and laid out in sequences."""

    examples: list[Example]
    bins: list[list[int]]
    dropped: int = 0


@dataclass
class Progress:
    """Where training stands; saved in every checkpoint's meta."""

    step: int = 0
    validation_loss: float | None = None
    losses: list[tuple[int, float]] = field(default_factory=list)  # (step, training loss), every step


class FinetuneRecipe:
    """Full fine-tuning of ``config.student.base_model`` on the run's RAFT dataset."""

    def __init__(self, config: RunConfig, info: DistInfo) -> None:
        self.config = config
        if config.student is None:
            raise ValueError("run.yaml has no student section: finetune needs student.baseModel")
        self.student = config.student
        self.info = info
        self.progress = Progress()
        self.reporter = ProgressReporter("finetune", config.progress) if info.is_main else None

    # ------------------------------------------------------------------ setup
    def setup(self) -> None:
        """Data, model, optimizer, schedule, and resume state."""
        s = self.student
        seed_everything(s.seed)
        model_fetch.ensure_requested(s.base_model)  # into the shared model cache, once across runs
        self.tokenizer = load_tokenizer(s.base_model)
        splits = load_raft_splits(self.config.dataset_dir)

        self.attn = attention_implementation(self.info)
        self.packing = isolates_packed_examples(self.attn)
        # flash-attention keeps packed examples apart only within a single row
        self.flatten = self.attn.startswith("flash")
        if not self.packing:
            log.warning("this transformers/attention combination cannot isolate packed examples: one example per sequence")
        self.train_data = self._prepare_split(splits["train"], "train")
        self.val_data = (
            self._prepare_split(splits["validation"], "validation", allow_empty=True)
            if splits["validation"]
            else None
        )
        if self.val_data is None or not self.val_data.examples:
            self.val_data = None
            if self.info.is_main:
                log.warning("no validation examples: validationLoss will not be reported")

        self.model, self.shape = build_model(s.base_model, s, self.info)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=s.learning_rate, weight_decay=s.weight_decay)
        self.steps_per_epoch = self._plan(0).steps
        self.total_steps = self.steps_per_epoch * s.epochs
        warmup = math.ceil(s.warmup_ratio * self.total_steps)
        from transformers import get_cosine_schedule_with_warmup

        self.scheduler = get_cosine_schedule_with_warmup(self.optimizer, warmup, self.total_steps)
        self.state = ModelAndOptimizer(self.model, self.optimizer)
        self.checkpointer = Checkpointer(self.config.checkpoint_dir, self.info)
        self.checkpointer.clear_incomplete()
        self.peak = peak_flops(self.info.device)
        if self.info.is_main:
            log.info(
                "training: %d examples in %d sequences (fill %.3f, utilization %.3f), %d steps/epoch x %d "
                "epochs = %d steps, warmup %d, world size %d, attention %s",
                len(self.train_data.examples),
                len(self.train_data.bins),
                fill_ratio([len(e) for e in self.train_data.examples], self.train_data.bins, s.context_length),
                utilization([len(e) for e in self.train_data.examples], self.train_data.bins, s.per_device_batch_size),
                self.steps_per_epoch,
                s.epochs,
                self.total_steps,
                warmup,
                self.info.world_size,
                self.attn,
            )
        self._resume()

    def _prepare_split(self, records: list[dict[str, Any]], name: str, allow_empty: bool = False) -> SplitData:
        examples = tokenize_records(
            self.tokenizer, records, system_prompt=system_prompt(self.config.datagen.no_oracle_label)
        )
        kept, report = drop_too_long(examples, self.student.context_length)
        if report.dropped:
            message = (
                f"{report.dropped} of {len(examples)} {name} examples are longer than "
                f"student.contextLength={self.student.context_length} tokens (longest: {report.longest})"
            )
            if not kept and not allow_empty:
                raise FinetuneError(f"{message}: none left to train on; raise student.contextLength")
            if self.info.is_main:
                log.warning("%s: dropped them, %d left", message, len(kept))
        lengths = [len(e) for e in kept]
        bins = pack(lengths, self.student.context_length) if self.packing else one_per_bin(lengths)
        return SplitData(kept, bins, report.dropped)

    def _plan(self, epoch: int, data: SplitData | None = None, shuffle: bool = True) -> EpochPlan:
        data = data or self.train_data
        cached = getattr(self, "_cached_plan", None)
        if data is self.train_data and cached and cached[0] == epoch:
            return cached[1]
        plan = plan_epoch(
            data.bins,
            batch_size=self.student.per_device_batch_size,
            grad_accum=self.student.gradient_accumulation_steps if shuffle else 1,
            rank=self.info.rank,
            world_size=self.info.world_size,
            seed=self.student.seed,
            epoch=epoch,
            shuffle=shuffle,
        )
        if data is self.train_data:
            self._cached_plan = (epoch, plan)
        return plan

    def _meta(self) -> dict[str, Any]:
        epoch, index = divmod(self.progress.step, self.steps_per_epoch)
        return {
            "epoch": epoch,
            "stepInEpoch": index,
            "totalSteps": self.total_steps,
            "stepsPerEpoch": self.steps_per_epoch,
            "worldSize": self.info.world_size,
            "trainExamples": len(self.train_data.examples),
            "trainSequences": len(self.train_data.bins),
            "baseModel": self.student.base_model,
            "scheduler": self.scheduler.state_dict(),
            "validationLoss": self.progress.validation_loss,
            "losses": self.progress.losses,
        }

    def _resume(self) -> None:
        path = self.checkpointer.latest()
        if path is None:
            return
        meta = self.checkpointer.load(path, self.state)
        expected = {"stepsPerEpoch": self.steps_per_epoch, "worldSize": self.info.world_size,
                    "trainSequences": len(self.train_data.bins)}
        changed = {k: (meta.get(k), v) for k, v in expected.items() if meta.get(k) != v}
        if changed and self.info.is_main:
            log.warning("resuming with a different data plan (saved, now): %s; data position is approximate", changed)
        self.scheduler.load_state_dict(meta["scheduler"])
        self.progress.step = int(meta["step"])
        self.progress.validation_loss = meta.get("validationLoss")
        self.progress.losses = [(int(s), float(v)) for s, v in meta.get("losses") or []]
        if self.info.is_main:
            log.info(
                "resuming from checkpoint %s at step %d (epoch %d, step %d of the epoch)",
                path.name, self.progress.step, meta["epoch"], meta["stepInEpoch"],
            )

    # ------------------------------------------------------------------ train
    def train(self) -> None:
        """Run the remaining optimizer steps."""
        s = self.student
        last_saved = self.progress.step if self.checkpointer.latest() else -1
        while self.progress.step < self.total_steps:
            epoch, index = divmod(self.progress.step, self.steps_per_epoch)
            metrics = self._train_step(self._plan(epoch).step(index))
            self.progress.step += 1
            self.progress.losses.append((self.progress.step, round(float(metrics["loss"]), 5)))
            step = self.progress.step
            done = step == self.total_steps
            if self.val_data and (done or step % s.validation_every_steps == 0):
                self.progress.validation_loss = self.validate()
                metrics["validationLoss"] = self.progress.validation_loss
            self._report(metrics, epoch_progress=step / self.steps_per_epoch, force=done)
            if done or step % s.checkpoint_every_steps == 0:
                self.checkpointer.save(step, self.state, self._meta())
                last_saved = step
        if last_saved != self.progress.step:  # resumed from a final checkpoint with nothing left
            self.checkpointer.save(self.progress.step, self.state, self._meta())

    def _train_step(self, micro_batches: list[list[list[int]]]) -> dict[str, Any]:
        started = time.perf_counter()
        data = self.train_data
        pad = self.tokenizer.pad_token_id
        batches = [collate(data.examples, bins, pad, flatten=self.flatten) for bins in micro_batches]
        label_tokens, real_tokens, processed, squared = all_reduce_sum(
            [sum(b.label_tokens for b in batches), sum(b.real_tokens for b in batches),
             sum(b.processed_tokens for b in batches), sum(b.squared_lengths for b in batches)],
            self.info.device,
        )
        # FSDP averages gradients over ranks; scaling by the world size turns that into a sum,
        # so the gradient is that of the mean loss over every answer token of the step.
        scale = self.info.world_size / max(label_tokens, 1.0)
        self.model.train()
        loss_sum = torch.zeros((), device=self.info.device)
        for batch in batches:
            loss = self._forward_loss(batch)
            (loss * scale).backward()
            loss_sum += loss.detach()
        grad_norm = None
        if self.student.max_grad_norm and self.student.max_grad_norm > 0:
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.student.max_grad_norm)
            grad_norm = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)
        lr = self.scheduler.get_last_lr()[0]
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        (total_loss,) = all_reduce_sum([float(loss_sum)], self.info.device)
        seconds = time.perf_counter() - started
        flops = self.shape.train_flops(int(real_tokens), int(squared))
        metrics: dict[str, Any] = {
            "loss": total_loss / max(label_tokens, 1.0),
            "lr": lr,
            "gradNorm": grad_norm,
            "tokensPerSecond": real_tokens / seconds,
            "utilization": real_tokens / max(processed, 1.0),
            "mfu": mfu(flops, seconds, self.info.world_size, self.peak),
        }
        return metrics

    def _forward_loss(self, batch: MicroBatch) -> torch.Tensor:
        batch = batch.to(self.info.device)
        logits = self.model(input_ids=batch.input_ids, position_ids=batch.position_ids, use_cache=False).logits
        return token_loss_sum(logits, batch.labels)

    @torch.no_grad()
    def validate(self) -> float:
        """Mean answer-token loss over the validation split (all ranks)."""
        assert self.val_data is not None
        plan = self._plan(0, self.val_data, shuffle=False)
        self.model.eval()
        loss_sum, tokens = 0.0, 0
        pad = self.tokenizer.pad_token_id
        for bins in plan.micro_batches:
            batch = collate(self.val_data.examples, bins, pad, flatten=self.flatten)
            loss_sum += float(self._forward_loss(batch))
            tokens += batch.label_tokens
        self.model.reshard()  # a forward without backward leaves the root's params gathered
        self.model.train()
        total, count = all_reduce_sum([loss_sum, tokens], self.info.device)
        return total / max(count, 1.0)

    def _report(self, metrics: dict[str, Any], *, epoch_progress: float, force: bool) -> None:
        if not self.info.is_main:
            return
        step = self.progress.step
        log.info(
            "step %d/%d epoch %.3f loss %.4f lr %.3e grad_norm %s tokens/s %.0f utilization %.3f%s%s",
            step, self.total_steps, epoch_progress, metrics["loss"], metrics["lr"],
            "n/a" if metrics["gradNorm"] is None else f"{metrics['gradNorm']:.3f}",
            metrics["tokensPerSecond"], metrics["utilization"],
            f" validation_loss {metrics['validationLoss']:.4f}" if "validationLoss" in metrics else "",
            f" mfu {metrics['mfu']:.3f}" if metrics["mfu"] is not None else "",
        )
        payload: FinetuneReport = {
            "step": step,
            "totalSteps": self.total_steps,
            "epoch": round(epoch_progress, 3),
            "loss": round(metrics["loss"], 5),
            "firstLoss": self.progress.losses[0][1] if self.progress.losses else round(metrics["loss"], 5),
            "tokensPerSecond": round(metrics["tokensPerSecond"], 1),
        }
        if self.progress.validation_loss is not None:
            payload["validationLoss"] = round(self.progress.validation_loss, 5)
        if metrics["mfu"] is not None:
            payload["mfu"] = round(metrics["mfu"], 4)
        assert self.reporter is not None
        self.reporter.report(payload, force=force)

    # ------------------------------------------------------------------ save
    def save(self) -> None:
        """Export the final Hugging Face checkpoint to ``<root>/model``."""
        fallback = torch.bfloat16 if self.student.precision == "bf16" else torch.float32
        export_hf_model(
            self.model, self.tokenizer, self.student.base_model, self.config.model_dir, self.info,
            fallback_dtype=fallback, step=self.progress.step, losses=self.progress.losses,
        )


def run(config: RunConfig, info: DistInfo) -> None:
    """setup, train, save."""
    try:
        claim_root(config)
    except ForeignRunDirectory as exc:
        raise FinetuneError(str(exc)) from exc
    recipe = FinetuneRecipe(config, info)
    recipe.setup()
    recipe.train()
    recipe.save()
