"""Corpus loaders: a directory (txt, md, pdf, html), a sitemap of URLs, a Hugging Face dataset.

:func:`load_corpus` dispatches on the run config's ``corpus`` section (exactly one source).
Every loader returns :class:`~.documents.Document` objects with cleaned text, in a stable
order, so the same inputs always give the same chunks.
"""

from __future__ import annotations

import fnmatch

import io
import logging
import urllib.error
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from raft_api.layout import CORPUS_MOUNT
from raft_jobs.common.runconfig import CorpusConfig

from .documents import Document, clean_text
from .web import Fetcher, FetchPolicy, FetchRefused

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".text", ".md", ".markdown", ".rst"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
PDF_SUFFIXES = {".pdf"}
MAX_SITEMAPS = 1000  # sitemaps followed through sitemap indexes, at most


class CorpusError(RuntimeError):
    """The corpus cannot be loaded (missing, empty, unreachable, misconfigured)."""


def load_corpus(corpus: CorpusConfig) -> list[Document]:
    """Documents from the one source set in ``corpus``; raises :class:`CorpusError`."""
    sources = {k: v for k, v in (("volume", corpus.volume), ("sitemap", corpus.sitemap),
                                 ("huggingface", corpus.huggingface)) if v}
    if len(sources) != 1:
        raise CorpusError(f"corpus must set exactly one of volume, sitemap, huggingface; got {sorted(sources) or 'none'}")
    kind, spec = next(iter(sources.items()))
    if kind == "volume":
        documents = load_directory(spec.get("path") or CORPUS_MOUNT, include=spec.get("include"))
    elif kind == "sitemap":
        urls = spec.get("urls") or ([spec["url"]] if spec.get("url") else [])
        policy = FetchPolicy(allow_private_addresses=bool(spec.get("allowPrivateAddresses")))
        documents = load_sitemaps(urls, max_pages=int(spec.get("maxPages") or 10_000), policy=policy)
    else:
        documents = load_huggingface(spec)
    documents = [d for d in documents if d.text]
    if not documents:
        raise CorpusError(f"the {kind} corpus {spec} yielded no text")
    return documents


# ---- directory ------------------------------------------------------------------------------


def included(relative_path: str, patterns: Sequence[str] | None) -> bool:
    """Whether a path relative to the corpus root matches one of the ``include`` globs.

    ``*`` also matches ``/``, and a leading ``**/`` also matches files at the top level, so
    ``**/*.md`` selects every Markdown file and ``status.md`` one top-level file.
    """
    if not patterns:
        return True
    return any(fnmatch.fnmatchcase(relative_path, p) or (p.startswith("**/") and fnmatch.fnmatchcase(relative_path, p[3:]))
               for p in patterns)


def load_directory(path: str | Path, include: Sequence[str] | None = None) -> list[Document]:
    """Every txt/md/pdf/html file under ``path`` matching ``include`` (recursive, sorted by relative path)."""
    root = Path(path)
    if not root.exists():
        raise CorpusError(f"corpus directory {root} does not exist")
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    documents, skipped = [], 0
    for file in files:
        rel = file.name if file == root else file.relative_to(root).as_posix()
        if any(part.startswith(".") for part in Path(rel).parts) or not included(rel, include):
            continue
        try:
            doc = load_file(file, source=rel)
        except Exception as exc:  # noqa: BLE001 - one unreadable file must not stop the run
            log.warning("skipping %s: %s", file, exc)
            skipped += 1
            continue
        if doc is None:
            skipped += 1
        elif doc.text:
            documents.append(doc)
    log.info("loaded %d documents from %s (%d files skipped)", len(documents), root, skipped)
    return documents


def load_file(path: Path, *, source: str | None = None) -> Document | None:
    """One file as a document, by suffix; ``None`` for unsupported types."""
    suffix = path.suffix.lower()
    source = source or path.name
    if suffix in TEXT_SUFFIXES:
        return Document(clean_text(path.read_text(encoding="utf-8", errors="replace")), source, path.stem)
    if suffix in HTML_SUFFIXES:
        title, text = html_to_text(path.read_bytes())
        return Document(text, source, title or path.stem)
    if suffix in PDF_SUFFIXES:
        title, text = pdf_to_text(path.read_bytes())
        return Document(text, source, title or path.stem)
    return None


def html_to_text(html: bytes | str) -> tuple[str, str]:
    """``(title, cleaned text)`` of an HTML page, without scripts, styles and navigation."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(["script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form"]):
        tag.decompose()
    body = soup.find("main") or soup.find("article") or soup.body or soup
    return clean_text(title), clean_text(body.get_text("\n"))


def pdf_to_text(data: bytes) -> tuple[str, str]:
    """``(title, cleaned text)`` of a PDF: every page's text, pages separated by blank lines."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    pages = [(page.extract_text() or "") for page in reader.pages]
    title = ""
    if reader.metadata is not None and reader.metadata.title:
        title = str(reader.metadata.title)
    return clean_text(title), clean_text("\n\n".join(pages))


# ---- sitemap --------------------------------------------------------------------------------


def load_sitemaps(urls: Iterable[str], *, timeout: float = 30.0, threads: int = 8, max_pages: int = 10_000,
                  policy: FetchPolicy | None = None) -> list[Document]:
    """Pages listed by the sitemaps at ``urls`` (sitemap indexes are followed).

    A URL that is not a sitemap is taken as a page itself. Every fetch follows ``policy``
    (:mod:`.web`): http(s) only, no private addresses unless allowed, bounded sizes, and
    robots.txt for listed pages; at most ``max_pages`` pages and :data:`MAX_SITEMAPS` sitemaps.
    """
    fetcher = Fetcher(policy or FetchPolicy(), timeout=timeout)
    pages: list[str] = []
    seen_maps: set[str] = set()
    queue = [str(u) for u in urls]
    if not queue:
        raise CorpusError("corpus.sitemap.urls is empty")
    while queue:
        url = queue.pop(0)
        if url in seen_maps:
            continue
        if len(seen_maps) >= MAX_SITEMAPS:
            log.warning("more than %d sitemaps: the rest are not read", MAX_SITEMAPS)
            break
        seen_maps.add(url)
        try:
            body, content_type = fetch(fetcher, url, max_bytes=fetcher.policy.max_sitemap_bytes)
        except OSError as exc:
            raise CorpusError(f"cannot fetch sitemap {url}: {exc}") from exc
        parsed = parse_sitemap(body)
        if parsed is None:
            pages.append(url)
            continue
        kind, locations = parsed
        (queue if kind == "sitemapindex" else pages).extend(locations)
    listed = list(dict.fromkeys(pages))
    pages = listed[:max_pages]
    log.info("sitemap lists %d pages%s", len(listed), f"; fetching the first {max_pages}" if len(listed) > max_pages else "")
    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(lambda u: _load_page(fetcher, u), pages))
    return [doc for doc in results if doc is not None]


def parse_sitemap(body: bytes) -> tuple[str, list[str]] | None:
    """``("urlset" | "sitemapindex", [loc, ...])``, or ``None`` when ``body`` is not a sitemap."""
    head = body[:2048].lstrip().lower()
    if not (head.startswith(b"<?xml") or head.startswith(b"<urlset") or head.startswith(b"<sitemapindex")):
        return None
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    kind = root.tag.rsplit("}", 1)[-1]
    if kind not in ("urlset", "sitemapindex"):
        return None
    locs = [el.text.strip() for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "loc" and el.text and el.text.strip()]
    return kind, locs


def fetch(fetcher: Fetcher, url: str, *, max_bytes: int | None = None, attempts: int = 3) -> tuple[bytes, str]:
    """``(body, content type)`` of ``url``; retries transient failures, never a refusal."""
    last: OSError | None = None
    for _ in range(attempts):
        try:
            return fetcher.get(url, max_bytes=max_bytes)
        except FetchRefused:
            raise
        except urllib.error.HTTPError as exc:
            if exc.code < 500 and exc.code != 429:
                raise
            last = exc
        except OSError as exc:
            last = exc
    assert last is not None
    raise last


def _load_page(fetcher: Fetcher, url: str) -> Document | None:
    try:
        if not fetcher.allowed_by_robots(url):
            raise FetchRefused("robots.txt disallows it")
        body, content_type = fetch(fetcher, url)
    except OSError as exc:
        log.warning("skipping page %s: %s", url, exc)
        return None
    path = urllib.parse.urlparse(url).path.lower()
    if "pdf" in content_type or path.endswith(".pdf"):
        title, text = pdf_to_text(body)
    elif "html" in content_type or path.endswith(tuple(HTML_SUFFIXES)) or b"<html" in body[:4096].lower():
        title, text = html_to_text(body)
    else:
        title, text = "", clean_text(body.decode("utf-8", errors="replace"))
    return Document(text, url, title or url)


# ---- Hugging Face ---------------------------------------------------------------------------


def load_huggingface(spec: dict[str, Any]) -> list[Document]:
    """Rows of a Hugging Face dataset: ``{name, config, split, textField}``.

    ``name`` may be a hub dataset, a directory written by ``save_to_disk`` (loaded with
    ``load_from_disk``), or a local data file (json/jsonl/csv/parquet/txt).
    """
    import datasets

    name = spec.get("name")
    if not name:
        raise CorpusError("corpus.huggingface.name is required")
    split = spec.get("split") or "train"
    field = spec.get("textField") or "text"
    path = Path(name)
    if path.is_dir() and any((path / f).exists() for f in ("dataset_info.json", "state.json", "dataset_dict.json")):
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise CorpusError(f"{name} has splits {list(loaded)}, not {split!r}")
            loaded = loaded[split]
        dataset = loaded
    elif path.is_file():
        builder = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet", ".txt": "text"}.get(path.suffix.lower())
        if builder is None:
            raise CorpusError(f"{name}: unsupported data file type {path.suffix}")
        dataset = datasets.load_dataset(builder, data_files=str(path), split="train")
    else:
        dataset = datasets.load_dataset(name, spec.get("config"), split=split)
    if field not in dataset.column_names:
        raise CorpusError(f"dataset {name} has no column {field!r}; columns: {dataset.column_names}")
    titles = dataset["title"] if "title" in dataset.column_names else None
    documents = []
    for i, text in enumerate(dataset[field]):
        if not isinstance(text, str):
            continue
        title = str(titles[i]) if titles is not None and titles[i] is not None else ""
        documents.append(Document(clean_text(text), f"hf:{name}#{i}", title))
    log.info("loaded %d rows from dataset %s", len(documents), name)
    return documents
