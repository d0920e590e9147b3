"""Documents: what the corpus loaders return, and the text cleaning applied to all of them."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u3000]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_HYPHEN_BREAK = re.compile(r"(\w)-\n(\w)")  # "infor-\nmation" from PDFs


@dataclass(frozen=True)
class Document:
    """One corpus document: cleaned text, where it came from, and a title for the records."""

    text: str
    source: str
    title: str = ""


def clean_text(text: str) -> str:
    """Normalise Unicode (NFKC), line endings and whitespace; drop control characters.

    Paragraph breaks (blank lines) are kept since the splitter uses them.
    """
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = _HYPHEN_BREAK.sub(r"\1\2", text)
    text = "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()
