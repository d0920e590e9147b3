"""Splitting documents into chunks with stable ids."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from .documents import Document


@dataclass(frozen=True)
class Chunk:
    """One piece of the corpus; ``id`` is a hash of its whitespace-normalised text."""

    id: str
    text: str
    source: str
    title: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The ``chunks.jsonl`` row."""
        return asdict(self)


def chunk_id(text: str) -> str:
    """Stable id of a chunk: the first 16 hex digits of the SHA-256 of its normalised text."""
    normalised = " ".join(text.split()).lower()
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()[:16]


def split_documents(
    documents: Iterable[Document], *, size: int, overlap: int, min_chars: int
) -> tuple[list[Chunk], dict[str, int]]:
    """Chunks of at most ``size`` characters (paragraphs, then lines, words…), ``overlap`` shared.

    Chunks shorter than ``min_chars`` and repeated chunks are dropped. Returns the chunks in
    document order and counts of what was dropped.
    """
    from semantic_text_splitter import TextSplitter

    if size <= 0:
        raise ValueError(f"chunkSize must be positive, got {size}")
    overlap = max(0, min(overlap, size - 1))
    splitter = TextSplitter(size, overlap=overlap, trim=True)
    chunks: list[Chunk] = []
    seen: set[str] = set()
    stats = {"pieces": 0, "tooSmall": 0, "duplicates": 0}
    for doc in documents:
        for piece in splitter.chunks(doc.text):
            stats["pieces"] += 1
            piece = piece.strip()
            if len(piece) < min_chars:
                stats["tooSmall"] += 1
                continue
            cid = chunk_id(piece)
            if cid in seen:
                stats["duplicates"] += 1
                continue
            seen.add(cid)
            chunks.append(Chunk(cid, piece, doc.source, doc.title))
    return chunks, stats

