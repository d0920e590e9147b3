"""Turn RAFT records into token ids and labels with the student's own chat template.

One record becomes one conversation: a system message, a user message holding the documents
and the question (datagen's ``instruction``), and the assistant message ``cot_answer``. Labels
are ``-100`` everywhere except the assistant answer and its end-of-turn token, so the loss is
on the answer only.

The assistant span comes from the template itself: when it marks the span with
``{% generation %}`` the tokenizer returns an assistant mask; otherwise the prompt rendered
with ``add_generation_prompt=True`` must be a token prefix of the full conversation, and
everything after it is the answer. Templates for which neither holds are rejected rather than
guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

from ...common import conversation
from ..errors import FinetuneError

IGNORE_INDEX = -100
_GENERATION_TAG = re.compile(r"{%-?\s*generation\s*-?%}")
# The system turn under the default datagen.noOracleLabel policy; runs pass their own.
SYSTEM_PROMPT = conversation.system_prompt(conversation.DEFAULT_NO_ORACLE_LABEL)


@dataclass
class Example:
    """One tokenized conversation; ``labels[i]`` is ``input_ids[i]`` where trained, else -100."""

    input_ids: list[int]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def answer_tokens(self) -> int:
        """How many tokens carry a loss."""
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


def chat_messages(
    instruction: str, answer: str | None = None, system: str | None = SYSTEM_PROMPT
) -> list[dict[str, str]]:
    """The conversation the student is trained on (and should be prompted with)."""
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": instruction})
    if answer is not None:
        messages.append({"role": "assistant", "content": answer})
    return messages


def require_chat_template(tokenizer: Any, name: str) -> None:
    """Fail clearly when the student's tokenizer cannot format conversations."""
    if not getattr(tokenizer, "chat_template", None):
        raise FinetuneError(
            f"the tokenizer of {name!r} has no chat template (tokenizer_config.json "
            "'chat_template' or chat_template.jinja); use an instruct/chat model as "
            "student.baseModel, or add a chat template to its tokenizer"
        )


def _render_ids(tokenizer: Any, conversations: list[list[dict[str, str]]], **kwargs: Any) -> Any:
    return tokenizer.apply_chat_template(
        conversations, tokenize=True, return_dict=True, **kwargs
    )


def _supports_system_role(tokenizer: Any) -> bool:
    try:
        tokenizer.apply_chat_template(chat_messages("q", "a"), tokenize=False)
    except Exception as exc:  # noqa: BLE001 - jinja raise_exception surfaces as various types
        if "system" in str(exc).lower():
            return False
        raise FinetuneError(f"the chat template fails on a RAFT conversation: {exc}") from exc
    return True


def _is_blank(tokenizer: Any, token_id: int) -> bool:
    return not tokenizer.decode([token_id]).strip()


def tokenize_records(
    tokenizer: Any, records: Sequence[dict[str, Any]], batch_size: int = 256, system_prompt: str = SYSTEM_PROMPT
) -> list[Example]:
    """Tokenize RAFT records into :class:`Example` s with answer-only labels.

    ``system_prompt`` must be the one of the run's ``datagen.noOracleLabel`` policy
    (:func:`raft_jobs.common.conversation.system_prompt`), so the prompt says what the labels do.
    """
    system: str | None = system_prompt
    if not _supports_system_role(tokenizer):
        system = None  # e.g. templates that reject a system turn: fold it into the user turn
    use_mask = bool(_GENERATION_TAG.search(tokenizer.chat_template))
    examples: list[Example] = []
    for start in range(0, len(records), batch_size):
        batch = records[start : start + batch_size]
        users = [r["instruction"] if system else f"{system_prompt}\n\n{r['instruction']}" for r in batch]
        full = [chat_messages(u, r["cot_answer"], system) for u, r in zip(users, batch)]
        if use_mask:
            rendered = _render_ids(tokenizer, full, return_assistant_tokens_mask=True)
            for ids, mask in zip(rendered["input_ids"], rendered["assistant_masks"]):
                labels = [t if m else IGNORE_INDEX for t, m in zip(ids, mask)]
                examples.append(_finish(tokenizer, list(ids), labels))
            continue
        prompts = [conv[:-1] for conv in full]
        full_ids = _render_ids(tokenizer, full)["input_ids"]
        prompt_ids = _render_ids(tokenizer, prompts, add_generation_prompt=True)["input_ids"]
        for offset, (ids, prefix) in enumerate(zip(full_ids, prompt_ids)):
            ids, prefix = list(ids), list(prefix)
            if ids[: len(prefix)] != prefix:
                raise FinetuneError(
                    "cannot locate the assistant answer: the chat template renders the prompt "
                    "(add_generation_prompt=True) differently from the start of the full "
                    f"conversation (record #{start + offset}); use a template with "
                    "{% generation %} markers"
                )
            labels = [IGNORE_INDEX] * len(prefix) + ids[len(prefix) :]
            examples.append(_finish(tokenizer, ids, labels))
    return examples


def _finish(tokenizer: Any, ids: list[int], labels: list[int]) -> Example:
    # Some templates emit a newline after the end-of-turn token; it is formatting, not answer.
    for i in range(len(labels) - 1, -1, -1):
        if labels[i] == IGNORE_INDEX or not _is_blank(tokenizer, labels[i]):
            break
        labels[i] = IGNORE_INDEX
    example = Example(ids, labels)
    if example.answer_tokens == 0:
        raise FinetuneError("a RAFT record produced no answer tokens with this chat template")
    return example
