"""Chat formatting and the answer-only label mask."""

from __future__ import annotations

import copy

import pytest
from raft_sim import tiny_model

from raft_jobs.finetune.data import IGNORE_INDEX, SYSTEM_PROMPT, tokenize_records
from raft_jobs.finetune.data.chat import require_chat_template
from raft_jobs.finetune.errors import FinetuneError


def _expected_span(tokenizer, ids: list[int]) -> tuple[int, int]:
    """[start, end) of the assistant answer + its <|eot_id|>, located from the header tokens."""
    header_end = tokenizer.convert_tokens_to_ids(tiny_model.HEADER_END)
    eot = tokenizer.convert_tokens_to_ids(tiny_model.EOT)
    last_header = max(i for i, t in enumerate(ids) if t == header_end)
    start = last_header + 1
    while not tokenizer.decode([ids[start]]).strip():  # the "\n\n" after the header
        start += 1
    end = max(i for i, t in enumerate(ids) if t == eot) + 1
    return start, end


def test_label_mask_is_exactly_the_assistant_span(tokenizer) -> None:
    records = tiny_model.raft_records(4, seed=3, answer_sentences=2)
    examples = tokenize_records(tokenizer, records)
    for record, example in zip(records, examples):
        ids, labels = example.input_ids, example.labels
        assert len(ids) == len(labels)
        start, end = _expected_span(tokenizer, ids)
        for i, (token, label) in enumerate(zip(ids, labels)):
            if start <= i < end:
                assert label == token, f"position {i} should be trained"
            else:
                assert label == IGNORE_INDEX, f"position {i} ({tokenizer.decode([token])!r}) leaks into the loss"
        trained = [t for t in labels if t != IGNORE_INDEX]
        assert tokenizer.decode(trained) == record["cot_answer"] + tiny_model.EOT
        text = tokenizer.decode(ids)
        assert SYSTEM_PROMPT in text and record["instruction"] in text


def test_generation_markers_give_the_same_mask(tokenizer) -> None:
    """A template with {% generation %} uses the tokenizer's assistant mask instead."""
    marked = copy.deepcopy(tokenizer)
    marked.chat_template = (
        "{{ bos_token }}{% for message in messages %}"
        "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}"
        "{% if message['role'] == 'assistant' %}{% generation %}{{ message['content'] | trim + '<|eot_id|>' }}{% endgeneration %}"
        "{% else %}{{ message['content'] | trim + '<|eot_id|>' }}{% endif %}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
    )
    records = tiny_model.raft_records(3, seed=4)
    plain = tokenize_records(tokenizer, records)
    masked = tokenize_records(marked, records)
    assert [e.input_ids for e in plain] == [e.input_ids for e in masked]
    assert [e.labels for e in plain] == [e.labels for e in masked]


def test_trailing_newline_after_end_of_turn_is_not_trained(tokenizer) -> None:
    """ChatML-like templates put a newline after the end-of-turn token; it is formatting."""
    chatml = copy.deepcopy(tokenizer)
    chatml.chat_template = tiny_model.CHAT_TEMPLATE.replace("+ '<|eot_id|>' }}", "+ '<|eot_id|>\n' }}")
    (example,) = tokenize_records(chatml, tiny_model.raft_records(1, seed=5))
    trained = [t for t in example.labels if t != IGNORE_INDEX]
    assert tokenizer.decode(trained).endswith(tiny_model.EOT)
    assert not tokenizer.decode([example.input_ids[-1]]).strip()  # the newline is there, untrained


def test_template_without_system_role_folds_the_system_prompt(tokenizer) -> None:
    strict = copy.deepcopy(tokenizer)
    strict.chat_template = (
        "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
        + tiny_model.CHAT_TEMPLATE
    )
    (example,) = tokenize_records(strict, tiny_model.raft_records(1, seed=6))
    text = tokenizer.decode(example.input_ids)
    assert "<|start_header_id|>system" not in text and SYSTEM_PROMPT in text
    assert example.answer_tokens > 0


def test_tokenizer_without_chat_template_is_rejected(tokenizer) -> None:
    bare = copy.deepcopy(tokenizer)
    bare.chat_template = None
    with pytest.raises(FinetuneError, match="no chat template"):
        require_chat_template(bare, "some/base-model")


def test_template_whose_prompt_is_not_a_prefix_is_rejected(tokenizer) -> None:
    odd = copy.deepcopy(tokenizer)
    odd.chat_template = tiny_model.CHAT_TEMPLATE.replace(
        "'<|start_header_id|>assistant<|end_header_id|>", "'<|start_header_id|>model<|end_header_id|>"
    )
    with pytest.raises(FinetuneError, match="cannot locate the assistant answer"):
        tokenize_records(odd, tiny_model.raft_records(1))
