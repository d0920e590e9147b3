"""Data for fine-tuning: read RAFT records, format them as chats, pack them."""

from .chat import IGNORE_INDEX, SYSTEM_PROMPT, Example, chat_messages, require_chat_template, tokenize_records
from .packing import (
    DropReport,
    EpochPlan,
    MicroBatch,
    collate,
    drop_too_long,
    fill_ratio,
    one_per_bin,
    pack,
    pack_balanced,
    pack_best_fit,
    plan_epoch,
    utilization,
)
from .records import REQUIRED_FIELDS, load_raft_splits

__all__ = [
    "IGNORE_INDEX",
    "REQUIRED_FIELDS",
    "SYSTEM_PROMPT",
    "DropReport",
    "EpochPlan",
    "Example",
    "MicroBatch",
    "chat_messages",
    "collate",
    "drop_too_long",
    "fill_ratio",
    "load_raft_splits",
    "one_per_bin",
    "pack",
    "pack_balanced",
    "pack_best_fit",
    "plan_epoch",
    "require_chat_template",
    "tokenize_records",
    "utilization",
]
