"""Asking the teacher about one chunk: questions, then one chain-of-thought answer per question."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from raft_jobs.common.llm import ChatResult, LLMPool
from raft_api.runconfig import DatagenConfig

from .assemble import PoolTexts, assemble_records, derive_seed, eval_items
from .chunking import Chunk
from .parsing import REJECTION_REASONS, check_cot, parse_questions
from .prompts import cot_messages, question_messages


@dataclass
class ChunkStats:
    """Counters for one chunk (summed over chunks for the manifest and progress)."""

    requests: int = 0
    retries: int = 0  # HTTP-level retries (timeouts, 429, 5xx) of successful requests
    malformed: int = 0  # outputs that failed validation
    reasked: int = 0  # requests repeated because the output was malformed
    questions: int = 0  # questions kept after parsing
    skipped_questions: int = 0  # questions whose answer stayed malformed
    answered: int = 0
    no_questions: int = 0  # 1 when the chunk yielded no questions at all
    quotes: int = 0
    quotes_not_in_context: int = 0
    # Chain-of-thought answers rejected, by reason (parsing.REJECTION_REASONS), re-asked once.
    rejected_cutOff: int = 0
    rejected_noAnswer: int = 0
    rejected_teacherRefused: int = 0
    rejected_noQuote: int = 0
    rejected_quoteNotInOracle: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, other: ChunkStats | dict[str, int]) -> None:
        """Add another chunk's counters."""
        values = other if isinstance(other, dict) else asdict(other)
        for key, value in values.items():
            if hasattr(self, key):
                setattr(self, key, getattr(self, key) + int(value))

    def as_dict(self) -> dict[str, int]:
        """A JSON-ready copy."""
        return asdict(self)

    def count_rejection(self, reason: str) -> None:
        """Count one answer rejected for ``reason`` (one of parsing.REJECTION_REASONS)."""
        name = f"rejected_{reason}"
        setattr(self, name, getattr(self, name) + 1)

    def rejected(self) -> dict[str, int]:
        """Rejected chain-of-thought answers by reason (every reason, zeros included)."""
        return {reason: getattr(self, f"rejected_{reason}") for reason in REJECTION_REASONS}


class ChunkProcessor:
    """Generates one chunk's shard line (records for training chunks, eval items for eval ones)."""

    def __init__(
        self, llm: LLMPool, config: DatagenConfig, pool_ids: Sequence[str], pool_texts: PoolTexts
    ) -> None:
        self.llm = llm
        self.config = config
        self.pool_ids = pool_ids
        self.pool_texts = pool_texts

    async def process(self, chunk: Chunk, role: str) -> dict[str, Any]:
        """The shard line for ``chunk``: ``chunk_id, role, records, eval, stats``.

        Raises what :class:`LLMPool` raises when a request fails for good.
        """
        stats = ChunkStats()
        questions = await self._questions(chunk, stats)
        answers = await asyncio.gather(*(self._answer(chunk, i, q, stats) for i, q in enumerate(questions)))
        qa = [(i, q, a) for i, (q, a) in enumerate(zip(questions, answers)) if a is not None]
        line: dict[str, Any] = {"chunk_id": chunk.id, "role": role, "records": [], "eval": []}
        if role == "eval":
            line["eval"] = eval_items(chunk, qa)
        else:
            line["records"] = assemble_records(chunk, qa, self.pool_ids, self.pool_texts, self.config)
        line["stats"] = stats.as_dict()
        return line

    async def _ask(self, messages: list[dict[str, str]], seed: int, stats: ChunkStats, priority: int) -> ChatResult:
        result = await self.llm.chat_completion(
            messages,
            max_tokens=self.config.max_tokens,
            temperature=self.config.temperature,
            seed=seed,
            priority=priority,
        )
        stats.requests += 1
        stats.retries += result.attempts - 1
        stats.prompt_tokens += result.prompt_tokens
        stats.completion_tokens += result.completion_tokens
        return result

    async def _questions(self, chunk: Chunk, stats: ChunkStats) -> list[str]:
        n = max(1, self.config.questions_per_chunk)
        for attempt in range(2):  # a malformed list is asked for once more
            seed = derive_seed(self.config.seed, "questions", chunk.id, attempt) % 2**31
            # Question requests go first: each one unlocks several answer requests, which keeps
            # the teacher's batch full until the very end of the run.
            result = await self._ask(question_messages(chunk.text, n), seed, stats, priority=0)
            questions = parse_questions(result.text, limit=n)
            if questions:
                stats.questions += len(questions)
                return questions
            stats.malformed += 1
            if attempt == 0:
                stats.reasked += 1
        stats.no_questions += 1
        return []

    async def _answer(self, chunk: Chunk, index: int, question: str, stats: ChunkStats) -> str | None:
        for attempt in range(2):  # a rejected answer (parsing.check_cot) is asked for once more
            seed = derive_seed(self.config.seed, "answer", chunk.id, index, attempt) % 2**31
            result = await self._ask(cot_messages(question, chunk.text), seed, stats, priority=1)
            check = check_cot(result.text, chunk.text, result.finish_reason)
            stats.quotes += check.quotes
            stats.quotes_not_in_context += check.quotes_not_in_context
            if check.valid:
                stats.answered += 1
                return result.text.strip()
            stats.count_rejection(check.rejection)
            stats.malformed += 1
            if attempt == 0:
                stats.reasked += 1
        stats.skipped_questions += 1
        return None
