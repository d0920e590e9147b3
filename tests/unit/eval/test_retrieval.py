"""The retriever's index with a stand-in encoder (the real model is exercised in tests/integration/eval:
test_program, and test_embedding_model for how it is found)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from raft_jobs.eval.data import Chunk
from raft_jobs.eval.retrieval import Retriever


class _BagOfLetters:
    """Encodes text as normalised letter counts: enough to make similarity predictable."""

    def encode(self, texts, **_kwargs):
        out = np.zeros((len(texts), 26), dtype=np.float32)
        for row, text in enumerate(texts):
            for ch in text.lower():
                if "a" <= ch <= "z":
                    out[row, ord(ch) - 97] += 1
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def test_top_k_is_exact_cosine_best_first() -> None:
    chunks = [Chunk("a", "aaaa"), Chunk("b", "bbbb"), Chunk("ab", "aabb"), Chunk("c", "cccc")]
    retriever = Retriever(chunks, _BagOfLetters())
    [hits] = retriever.search(["aaab"], 3)
    assert [c.id for c, _ in hits] == ["a", "ab", "b"]
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > 0.9
    # k larger than the corpus returns the whole corpus.
    assert len(retriever.search(["zzz"], 10)[0]) == 4
    assert retriever.index_kind


def test_chunk_vectors_are_cached(tmp_path: Path) -> None:
    chunks = [Chunk("a", "aaaa"), Chunk("b", "bbbb")]
    encoder = _BagOfLetters()
    calls = []
    encoder.encode = lambda texts, _f=encoder.encode, **kw: calls.append(len(texts)) or _f(texts, **kw)
    first = Retriever(chunks, encoder, cache_dir=tmp_path, model_name="m")
    assert not first.from_cache and calls == [2]
    again = Retriever(chunks, encoder, cache_dir=tmp_path, model_name="m")
    assert again.from_cache and calls == [2]
    assert [c.id for c, _ in again.search(["ab"], 1)[0]] == [c.id for c, _ in first.search(["ab"], 1)[0]]
    # Another model or other chunks: embedded afresh.
    assert not Retriever(chunks, encoder, cache_dir=tmp_path, model_name="other").from_cache
    assert not Retriever(chunks[:1], encoder, cache_dir=tmp_path, model_name="m").from_cache

