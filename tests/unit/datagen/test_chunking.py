"""Cleaning and chunking."""

from raft_jobs.datagen.chunking import chunk_id, split_documents
from raft_jobs.datagen.documents import Document, clean_text


def test_clean_text_normalises_whitespace_and_controls() -> None:
    raw = "Hello\u00a0\u00a0world\r\n\r\n\r\n\r\nNext\x07 para-\ngraph  \t here"
    assert clean_text(raw) == "Hello world\n\nNext paragraph here"


def test_chunks_respect_size_drop_small_and_duplicates() -> None:
    para = " ".join(f"Sentence number {i} talks about topic {i}." for i in range(40))
    docs = [Document(para, "a.txt"), Document(para, "copy.txt"), Document("tiny", "b.txt")]
    chunks, stats = split_documents(docs, size=300, overlap=90, min_chars=100)
    assert chunks and all(len(c.text) <= 300 for c in chunks)
    assert all(c.source == "a.txt" for c in chunks)  # the copy only adds duplicates
    assert stats["duplicates"] == len(chunks) and stats["tooSmall"] == 1
    assert len({c.id for c in chunks}) == len(chunks)
    # Overlap: consecutive chunks share some text.
    assert any(chunks[i].text[-20:] in chunks[i + 1].text for i in range(len(chunks) - 1))


def test_chunk_ids_are_stable_content_hashes() -> None:
    assert chunk_id("Some  text\nhere") == chunk_id("some text here")
    assert chunk_id("a b c") != chunk_id("a b d")
    assert len(chunk_id("x")) == 16
