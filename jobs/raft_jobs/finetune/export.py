"""Save the trained student as a plain Hugging Face checkpoint under ``<root>/model``.

The shards are gathered into a full state dict on rank 0 (in CPU memory), loaded into a
fresh model of the same config, cast to the base model's dtype and written with
``save_pretrained`` (safetensors, sharded with an index when large), next to the tokenizer and
the base model's generation config. ``transformers`` and vLLM load the directory as is; keys
that older ``transformers`` need are added (:mod:`.compat`), and ``raft-export.json`` records
what any reader must get from it (:mod:`raft_jobs.common.model_fingerprint`), checked before a
student server starts. The directory is replaced atomically (written next to it, then renamed).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

from ..common.model_fingerprint import FINGERPRINT_FILE, describe
from .compat import add_older_reader_keys
from .distributed import DistInfo, barrier

log = logging.getLogger(__name__)


def _save_dtype(config: Any, fallback: torch.dtype) -> torch.dtype:
    dtype = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype, None)
    return dtype if isinstance(dtype, torch.dtype) else fallback


def _generation_config(base_model: str, config: Any) -> Any:
    from transformers import GenerationConfig

    try:
        return GenerationConfig.from_pretrained(base_model)
    except OSError:
        return GenerationConfig.from_model_config(config)


EXPORT_RECORD = FINGERPRINT_FILE  # raft-export.json: one record, read by the student server's check too


def weights_sha256(folder: str | Path) -> dict[str, str]:
    """SHA-256 of every ``*.safetensors`` file in a checkpoint folder, by file name."""
    out = {}
    for path in sorted(Path(folder).glob("*.safetensors")):
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        out[path.name] = digest.hexdigest()
    return out


def write_export_record(folder: Path, *, base_model: str, step: int | None,
                        fingerprint: dict[str, Any] | None = None,
                        losses: list[tuple[int, float]] | None = None) -> None:
    """``raft-export.json``: what was exported (base model, training step, weights hashes) and
    the fingerprint every reader must get from it (:func:`raft_jobs.common.model_fingerprint.describe`)."""
    record = {**(fingerprint or {}), "baseModel": base_model, "step": step, "weightsSha256": weights_sha256(folder),
              "trainingLoss": [[s, v] for s, v in losses or []]}
    (folder / EXPORT_RECORD).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def export_hf_model(
    model: nn.Module,
    tokenizer: Any,
    base_model: str,
    dest: str | Path,
    info: DistInfo,
    *,
    fallback_dtype: torch.dtype = torch.bfloat16,
    step: int | None = None,
    losses: list[tuple[int, float]] | None = None,
) -> Path:
    """Write ``model`` (FSDP-sharded) as a Hugging Face checkpoint in ``dest`` (collective).

    Beside the checkpoint, ``raft-export.json`` records the training step and the SHA-256 of each
    weights file, so that whoever serves the model can show it serves exactly this export, and
    the fingerprint the student server's ``check-model`` init container compares with.
    """
    from transformers import AutoModelForCausalLM

    dest = Path(dest)
    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if info.is_main:
        config = model.config
        dtype = _save_dtype(config, fallback_dtype)
        with torch.device("meta"):
            export = AutoModelForCausalLM.from_config(config, dtype=dtype)
        tied = bool(getattr(config, "tie_word_embeddings", False))
        if tied:
            state = {k: v for k, v in state.items() if k != "lm_head.weight"}
        export.load_state_dict({k: v.to(dtype) for k, v in state.items()}, strict=not tied, assign=True)
        if tied:
            export.tie_weights()
        export.config.use_cache = True  # training turned it off; inference wants it
        export.generation_config = _generation_config(base_model, config)
        tmp = dest.with_name(f".tmp-{dest.name}")
        shutil.rmtree(tmp, ignore_errors=True)
        export.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
        add_older_reader_keys(tmp)
        write_export_record(tmp, base_model=base_model, step=step, fingerprint=describe(export.config, tokenizer),
                            losses=losses)
        old = dest.with_name(f".old-{dest.name}")
        shutil.rmtree(old, ignore_errors=True)
        if dest.exists():
            dest.rename(old)
        tmp.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
        log.info("Hugging Face model saved: %s (%s)", dest, dtype)
    del state
    barrier(info)
    return dest
