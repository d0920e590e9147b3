"""A small synthetic corpus for the datagen tests (distinct, sentence-rich paragraphs)."""

from __future__ import annotations

import random
from pathlib import Path

_ADJ = "ancient northern crimson silent rapid coastal hidden golden frozen humid royal wooden".split()
_NOUN = "river library bridge harbour orchard glacier tower market canal forest monastery railway".split()
_PLACE = "Avalon Brenmark Cordova Dunmere Elstow Farrow Glenholm Harwick Ivell Jarrow Kestrel Lindqvist".split()
_VERB = "supplies protects connects feeds shelters records attracts divides drains guards".split()
_OBJ = "grain merchants pilgrims salmon scholars sheep timber travellers copper wool".split()


def paragraph(rng: random.Random, topic: int, sentences: int = 6) -> str:
    """A paragraph of unique factual-sounding sentences about one topic."""
    place = f"{_PLACE[topic % len(_PLACE)]}{topic}"
    out = []
    for s in range(sentences):
        year = 1500 + rng.randrange(500)
        out.append(
            f"The {rng.choice(_ADJ)} {rng.choice(_NOUN)} of {place} {rng.choice(_VERB)} "
            f"{rng.choice(_OBJ)} since {year} according to record {topic}-{s}."
        )
    return " ".join(out)


def write_corpus(root: Path, *, files: int = 6, paragraphs: int = 4, seed: int = 0) -> Path:
    """``files`` text files of ``paragraphs`` paragraphs each under ``root``; returns ``root``."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    topic = 0
    for f in range(files):
        paras = []
        for _ in range(paragraphs):
            paras.append(paragraph(rng, topic))
            topic += 1
        (root / f"doc{f:02d}.txt").write_text("\n\n".join(paras) + "\n", encoding="utf-8")
    return root
