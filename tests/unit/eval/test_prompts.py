"""The eval prompt must match what the student was trained on."""

from __future__ import annotations

import pytest
from raft_jobs.eval.prompts import SYSTEM_PROMPT, answer_messages, raft_instruction


def test_raft_prompt_shape() -> None:
    assert raft_instruction("Why?", ["d1", "d2"]) == "<DOCUMENT>d1</DOCUMENT>\n<DOCUMENT>d2</DOCUMENT>\nWhy?"
    assert answer_messages("Why?", None) == [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "Why?"},
    ]
    [folded] = answer_messages("Why?", ["d"], fold_system=True)
    assert folded == {"role": "user", "content": f"{SYSTEM_PROMPT}\n\n<DOCUMENT>d</DOCUMENT>\nWhy?"}


def test_same_conversation_as_finetune() -> None:
    chat = pytest.importorskip("raft_jobs.finetune.data.chat")
    assert SYSTEM_PROMPT == chat.SYSTEM_PROMPT
    instruction = raft_instruction("Why?", ["d1"])
    assert answer_messages("Why?", ["d1"]) == chat.chat_messages(instruction)


def test_same_instruction_as_datagen() -> None:
    prompts = pytest.importorskip("raft_jobs.datagen.prompts")
    docs = ["first chunk", "second\nchunk"]
    assert raft_instruction("What?", docs) == prompts.raft_instruction("What?", docs)
    assert prompts.ANSWER_TAG == "<ANSWER>:"
