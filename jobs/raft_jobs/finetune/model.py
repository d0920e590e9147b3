"""Load the student and shard it with FSDP2 over every rank of the job.

Only rank 0 reads the weights (local directory or Hugging Face id: ``HF_TOKEN`` and
``HF_HOME`` are honoured by ``huggingface_hub``). Every rank builds the model on the meta
device, applies activation checkpointing and ``fully_shard`` per decoder block, allocates its
shard, and receives the weights broadcast from rank 0. No rank ever holds a second full copy.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

from raft_api.runconfig import StudentConfig
from .data import require_chat_template
from .distributed import DistInfo
from .errors import FinetuneError

log = logging.getLogger(__name__)

ATTN_ENV = "RAFT_ATTN_IMPLEMENTATION"  # override the attention kernel choice


@dataclass(frozen=True)
class ModelShape:
    """What the FLOP count needs to know about the model."""

    matmul_params: int  # weights of every Linear layer, lm_head included
    layers: int
    attention_width: int  # heads x head_dim

    def train_flops(self, tokens: int, squared_lengths: int) -> float:
        """FLOPs of forward+backward for ``tokens`` tokens in examples of the given lengths.

        6 per parameter per token for the matmuls, plus causal attention scores and values:
        forward 2 * n^2 * width per layer for an example of n tokens, times 3 with backward.
        Recomputation by activation checkpointing is not counted (the MFU convention).
        """
        return 6.0 * self.matmul_params * tokens + 6.0 * self.layers * self.attention_width * squared_lengths


def load_tokenizer(base_model: str) -> Any:
    """The student's tokenizer, with a chat template and a pad token."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(base_model)
    except (OSError, ValueError) as exc:
        raise FinetuneError(f"cannot load the tokenizer of student.baseModel {base_model!r}: {exc}") from exc
    require_chat_template(tokenizer, base_model)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token  # padding never carries a loss
    return tokenizer


def attention_implementation(info: DistInfo) -> str:
    """flash-attention 2 on GPUs when installed (varlen packing), else PyTorch SDPA."""
    override = os.environ.get(ATTN_ENV)
    if override:
        return override
    if info.is_cuda:
        from transformers.utils import is_flash_attn_2_available

        if is_flash_attn_2_available():
            return "flash_attention_2"
    return "sdpa"


def isolates_packed_examples(attn_implementation: str) -> bool:
    """Whether this transformers version keeps examples apart given restarting position ids.

    Flash-attention kernels derive varlen boundaries from the position ids; SDPA, eager and
    flex attention get a block-diagonal mask built from them (``masking_utils``, recent
    transformers). Verified by ``tests/finetune`` against the installed version.
    """
    if attn_implementation.startswith("flash_attention") or "flash" in attn_implementation:
        return True
    try:
        from transformers.masking_utils import find_packed_sequence_indices  # noqa: F401
    except ImportError:
        return False
    return attn_implementation in {"sdpa", "eager", "flex_attention"}


def _load_config(base_model: str, attn_implementation: str) -> Any:
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(base_model)
    except (OSError, ValueError) as exc:
        raise FinetuneError(f"cannot load the config of student.baseModel {base_model!r}: {exc}") from exc
    config._attn_implementation = attn_implementation
    config.use_cache = False
    return config


def _block_classes(model: nn.Module) -> tuple[type, ...]:
    names = set(getattr(model, "_no_split_modules", None) or [])
    classes = {type(m) for m in model.modules() if type(m).__name__ in names}
    if not classes:
        raise FinetuneError(
            f"{type(model).__name__} declares no transformer block class (_no_split_modules); "
            "cannot shard it per block"
        )
    return tuple(classes)


def _non_persistent_buffers(model: nn.Module) -> list[str]:
    return [
        f"{prefix}.{name}" if prefix else name
        for prefix, module in model.named_modules()
        for name in getattr(module, "_non_persistent_buffers_set", ())
        if getattr(module, name, None) is not None
    ]


def _enable_activation_checkpointing(model: nn.Module) -> None:
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def build_model(base_model: str, student: StudentConfig, info: DistInfo) -> tuple[nn.Module, ModelShape]:
    """The student as an FSDP2 module on ``info.device``, weights loaded, ready to train."""
    from transformers import AutoModelForCausalLM

    attn = attention_implementation(info)
    full_state: dict[str, torch.Tensor] = {}
    buffers: dict[str, torch.Tensor] = {}
    error: list[tuple[bool, str] | None] = [None]  # (is an input problem, message), from rank 0
    if info.is_main:
        try:
            source = AutoModelForCausalLM.from_pretrained(base_model, attn_implementation=attn, dtype="auto")
            full_state = source.state_dict()
            buffers = {name: source.get_buffer(name).detach().clone() for name in _non_persistent_buffers(source)}
            del source
        except Exception as exc:  # noqa: BLE001 - every rank must learn of it, or they wait forever
            error = [(isinstance(exc, (OSError, ValueError)), f"cannot load student.baseModel {base_model!r}: {exc}")]
    # Also a barrier: the weights are in HF_HOME before the other ranks look at the config.
    dist.broadcast_object_list(error, src=0)
    if error[0]:
        is_input, message = error[0]
        raise FinetuneError(message) if is_input else RuntimeError(message)
    config = _load_config(base_model, attn)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32, attn_implementation=attn)
    shape = ModelShape(
        matmul_params=sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear)),
        layers=config.num_hidden_layers,
        attention_width=config.num_attention_heads
        * (getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads),
    )
    if student.activation_checkpointing:
        _enable_activation_checkpointing(model)

    mp_policy = MixedPrecisionPolicy()
    if info.is_cuda and student.precision == "bf16":
        mp_policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    mesh = init_device_mesh(info.device.type, (info.world_size,))
    blocks = _block_classes(model)
    for module in model.modules():
        if isinstance(module, blocks):
            fully_shard(module, mesh=mesh, mp_policy=mp_policy)
    fully_shard(model, mesh=mesh, mp_policy=mp_policy)

    model.to_empty(device=info.device)
    set_model_state_dict(
        model,
        full_state,
        options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=True),
    )
    holder = [buffers]
    dist.broadcast_object_list(holder, src=0)
    with torch.no_grad():
        for name, value in holder[0].items():
            model.get_buffer(name).copy_(value.to(model.get_buffer(name).dtype))
    del full_state, buffers, holder
    model.train()
    return model, shape
