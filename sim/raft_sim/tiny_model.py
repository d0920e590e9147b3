"""SIMULATED tiny stand-ins for a student model, built in code: no hub download anywhere.

* :func:`build_tokenizer`: a byte-level BPE trained on the fly, wrapped as a
  ``PreTrainedTokenizerFast`` with a Llama-3-like chat template (header tokens, ``<|eot_id|>``).
* :func:`build_student`: that tokenizer plus a randomly initialised few-layer Llama, saved to a
  directory, so tests load it with ``from_pretrained`` exactly as production loads a real model.
* :func:`raft_records` / :func:`write_dataset`: synthetic records in datagen's RAFT format.

Shared by the tests (tests/unit/finetune, tests/integration/finetune) and the benchmarks (benchmarks/finetune_packing.py).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from raft_api.layout import HF_DATASET_DIR, SPLIT_FILES, RunLayout

BOS = "<|begin_of_text|>"
EOS = "<|end_of_text|>"
EOT = "<|eot_id|>"
PAD = "<|pad|>"
HEADER_START = "<|start_header_id|>"
HEADER_END = "<|end_header_id|>"
SPECIAL_TOKENS = [BOS, EOS, PAD, HEADER_START, HEADER_END, EOT]

# Llama-3-like: every turn is "<header>role<end header>\n\ncontent<eot>".
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

_SYLLABLES = [
    "ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "do", "gi", "fu", "be", "ha",
    "ri", "no", "te", "ya", "wu", "qui", "xan", "mor", "del", "ark", "ven", "sol", "tor",
]
_COMMON = (
    "the of and to in is was for on that with as by at from this which are be it an has have "
    "not or were its also their more than most one two three city river year people state "
    "company known first new after during between under about when where who what how"
).split()
COLORS = ["red", "blue", "green", "amber", "violet", "silver", "black", "white"]


def _lexicon(rng: random.Random, size: int = 600) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 3))))
    return sorted(words)


def _sentence(rng: random.Random, lexicon: list[str]) -> str:
    n = rng.randint(6, 16)
    words = [rng.choice(_COMMON) if rng.random() < 0.45 else rng.choice(lexicon) for _ in range(n)]
    return (" ".join(words)).capitalize() + "."


def _chunk(rng: random.Random, lexicon: list[str], chars: int) -> str:
    parts: list[str] = []
    while sum(len(p) + 1 for p in parts) < chars:
        parts.append(_sentence(rng, lexicon))
    return " ".join(parts)[:chars].rstrip()


def corpus_text(n_sentences: int = 3000, seed: int = 0) -> list[str]:
    """Pseudo-English sentences, the same distribution the synthetic records use."""
    rng = random.Random(seed)
    lexicon = _lexicon(random.Random(1234))
    return [_sentence(rng, lexicon) for _ in range(n_sentences)]


def build_tokenizer(save_dir: str | Path | None = None, vocab_size: int = 1024) -> Any:
    """Train a byte-level BPE on :func:`corpus_text` and wrap it with a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    texts = corpus_text() + [" ".join(COLORS), "##Reason: ##begin_quote## ##end_quote## ##Answer:"] * 50
    tok.train_from_iterator(texts, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOT,  # generation stops at the end of the assistant turn, as in Llama-3 instruct
        pad_token=PAD,
    )
    wrapped.chat_template = CHAT_TEMPLATE
    if save_dir is not None:
        wrapped.save_pretrained(str(save_dir))
    return wrapped


def build_student(
    save_dir: str | Path,
    *,
    layers: int = 2,
    hidden: int = 64,
    heads: int = 4,
    kv_heads: int = 2,
    tie_word_embeddings: bool = False,
    seed: int = 0,
    max_position_embeddings: int = 4096,
    rope_parameters: dict[str, Any] | None = None,
) -> Path:
    """Save a tiny random Llama and its tokenizer under ``save_dir`` (a ``from_pretrained`` dir)."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    save_dir = Path(save_dir)
    tokenizer = build_tokenizer(save_dir)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=tie_word_embeddings,
        **({"rope_parameters": rope_parameters} if rope_parameters else {}),
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(str(save_dir))
    return save_dir


def raft_records(
    n: int,
    *,
    seed: int = 0,
    documents: int = 5,
    chunk_chars: int | tuple[int, int] = 200,
    answer_sentences: int | tuple[int, int] = 1,
) -> list[dict[str, Any]]:
    """``n`` synthetic records in datagen's RAFT format.

    Each question asks for an entity's colour stated in one (oracle) document, so the answer is
    learnable from the context; ``instruction`` holds the documents then the question, as
    datagen writes it. ``chunk_chars`` and ``answer_sentences`` may be (low, high) ranges.
    """

    def draw(value: int | tuple[int, int]) -> int:
        return rng.randint(*value) if isinstance(value, tuple) else value

    rng = random.Random(seed)
    lexicon = _lexicon(random.Random(1234))
    records = []
    for i in range(n):
        entity = rng.choice(lexicon).capitalize()
        color = rng.choice(COLORS)
        fact = f"The {entity} is {color}."
        docs = [_chunk(rng, lexicon, draw(chunk_chars)) for _ in range(documents)]
        oracle_at = rng.randrange(documents)
        docs[oracle_at] = f"{fact} {docs[oracle_at]}"
        question = f"What colour is the {entity}?"
        reasoning = " ".join(_sentence(rng, lexicon) for _ in range(draw(answer_sentences)))
        cot = (
            f"##Reason: The document says ##begin_quote## {fact} ##end_quote## {reasoning} "
            f"##Answer: {color}"
        )
        instruction = "".join(f"<DOCUMENT>{d}</DOCUMENT>\n" for d in docs) + question
        records.append(
            {
                "id": f"rec-{i}",
                "type": "general",
                "question": question,
                "context": {"sentences": [docs], "title": [["placeholder"] * documents]},
                "oracle_context": docs[oracle_at],
                "cot_answer": cot,
                "instruction": instruction,
            }
        )
    return records


def write_dataset(
    root: str | Path,
    train: list[dict[str, Any]],
    validation: list[dict[str, Any]],
    fmt: str = "jsonl",
) -> Path:
    """Write records where datagen does: ``root/dataset/{train,validation}.jsonl`` or ``hf/``."""
    dataset_dir = Path(RunLayout(str(root)).dataset)
    dataset_dir.mkdir(parents=True, exist_ok=True)
    if fmt == "hf":
        from datasets import Dataset, DatasetDict

        DatasetDict(
            {"train": Dataset.from_list(train), "validation": Dataset.from_list(validation)}
        ).save_to_disk(str(dataset_dir / HF_DATASET_DIR))
    else:
        for name, rows in (("train", train), ("validation", validation)):
            with open(dataset_dir / SPLIT_FILES[name], "w", encoding="utf-8") as fh:
                for row in rows:
                    fh.write(json.dumps(row) + "\n")
    return dataset_dir
