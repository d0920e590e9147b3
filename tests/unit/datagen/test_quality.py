"""Issue 13, items 6 and 8: data you can train on.

A SIMULATED teacher that quotes text absent from the document, is cut off by max_tokens and
says the document lacks the answer, 10% of the time each: none of those answers becomes a
record or an eval reference, and the rejections are counted by reason in the manifest and on
the progress channel. Questions are unique across the corpus, none close to an eval question
is trained on, and every setting that changes the output is in the resume hash.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

from pydantic.alias_generators import to_snake

from datagen_fixtures import sim_servers
from raft_jobs.common.refusal import is_refusal
from raft_jobs.datagen import pipeline, prompts
from raft_jobs.datagen.chunking import split_documents
from raft_jobs.datagen.dedup import NEAR_DUPLICATE_THRESHOLD, question_key
from raft_jobs.datagen.loaders import load_corpus
from raft_jobs.datagen.parsing import QUOTE_BEGIN, QUOTE_END, final_answer, quote_found
from raft_jobs.datagen.pipeline import DatagenOptions, run_datagen
from raft_sim.vllm_server import SimRequest, question_responder

LOCAL = DatagenOptions(executor="local", down_after=30.0, progress_interval=0.2)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class Reports:
    payloads: list[dict[str, Any]] = []

    def __init__(self, stage: str, config: Any) -> None:
        pass

    def report(self, payload: dict[str, Any], *, force: bool = False) -> bool:
        Reports.payloads.append(payload)
        return False


def test_flawed_answers_never_become_records_or_references(config_factory, monkeypatch) -> None:
    monkeypatch.setattr(pipeline, "ProgressReporter", Reports)
    Reports.payloads = []
    flaws = {"bad_quote_rate": 0.1, "cut_off_rate": 0.1, "refusal_rate": 0.1, "seed": 4}
    with sim_servers(1, **flaws) as (teacher,):
        config = config_factory([teacher.url], evalQuestions=12)
        manifest = run_datagen(config, LOCAL)
        injected = dict(teacher.counters.faults)
    rejected = manifest["quality"]["rejected"]
    assert rejected["quoteNotInOracle"] == injected["bad_quote"] > 0
    assert rejected["cutOff"] == injected["cut_off"] > 0
    assert rejected["teacherRefused"] == injected["refusal"] > 0
    assert Reports.payloads[-1]["rejected"] == rejected
    d = config.dataset_dir
    records = _jsonl(d / "train.jsonl") + _jsonl(d / "validation.jsonl")
    labelled = [r for r in records if r["type"] != "refusal"]
    assert labelled
    for record in labelled:
        text = record["cot_answer"]
        quotes = text.split(QUOTE_BEGIN)[1:]
        assert quotes, text
        assert all(quote_found(q.split(QUOTE_END)[0], record["oracle_context"]) for q in quotes)
        assert not is_refusal(final_answer(text))
    chunks = {c["id"]: c["text"] for c in _jsonl(d / "chunks.jsonl")}
    references = _jsonl(d / "eval.jsonl")
    assert references
    for item in references:
        assert not is_refusal(item["answer"])
        assert item["answer"] in chunks[item["oracle_chunk_id"]]  # the simulated answer is a whole sentence


def _repetitive_questions(request: SimRequest) -> str | None:
    """Every chunk gets the same question, a rewording of it, and one question of its own."""
    own = question_responder(request)
    if own is None:
        return None
    first = own.splitlines()[0].split(". ", 1)[1]
    return f"1. Which record mentions the ancient river?\n2. Which records mention the ancient river?\n3. {first}"


def test_questions_are_unique_and_none_is_close_to_an_eval_question(config_factory) -> None:
    with sim_servers(1) as (teacher,):
        teacher.add_responder(_repetitive_questions)
        config = config_factory([teacher.url], evalQuestions=100, questionsPerChunk=3)
        manifest = run_datagen(config, LOCAL)
    d = config.dataset_dir
    records = _jsonl(d / "train.jsonl") + _jsonl(d / "validation.jsonl")
    references = _jsonl(d / "eval.jsonl")
    eval_keys = [question_key(e["question"]) for e in references]
    assert len(eval_keys) == len(set(eval_keys))
    owners: dict[str, set[str]] = {}
    for record in records:
        owners.setdefault(question_key(record["question"]), set()).add(record["oracle_chunk_id"])
        assert not difflib.get_close_matches(question_key(record["question"]), eval_keys, cutoff=NEAR_DUPLICATE_THRESHOLD)
    assert all(len(chunks) == 1 for chunks in owners.values())  # one chunk per question over the corpus
    assert "which record mentions ancient river" in eval_keys
    quality = manifest["quality"]
    assert quality["nearEvalQuestions"] > 0
    assert records and manifest["counts"]["train"] + manifest["counts"]["validation"] == len(records)


def test_every_output_setting_is_in_the_resume_hash(corpus_dir, config_factory) -> None:
    config = config_factory(["http://unused/v1"])
    chunks, _ = split_documents(load_corpus(config.corpus), size=600, overlap=50, min_chars=200)
    base = pipeline.input_hash(chunks, config)
    for name, value in {"evalQuestions": 11, "validationFraction": 0.2, "noOracleLabel": "answer",
                        "refusalProbability": 0.2, "maxTokens": 77}.items():
        changed = config.model_copy(update={"datagen": config.datagen.model_copy(update={to_snake(name): value})})
        assert pipeline.input_hash(chunks, changed) != base, name
    for name, value in {"workers": 5, "concurrency": 3, "requestTimeoutSeconds": 9.0, "maxRetries": 1}.items():
        same = config.model_copy(update={"datagen": config.datagen.model_copy(update={to_snake(name): value})})
        assert pipeline.input_hash(chunks, same) == base, name


def test_the_question_prompt_asks_for_search_box_questions() -> None:
    messages = prompts.question_messages("Some document text.", 4)
    text = " ".join(m["content"] for m in messages).lower()
    assert "search box" in text
    assert "according to" not in text and "answerable from the given document" not in text
