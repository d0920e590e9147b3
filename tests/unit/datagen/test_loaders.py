"""Corpus loaders: directory (txt, md, pdf, html), sitemap over local HTTP, Hugging Face datasets."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from raft_api.runconfig import CorpusConfig
from raft_jobs.datagen.loaders import CorpusError, load_corpus, load_sitemaps
from raft_jobs.datagen.web import Fetcher, FetchPolicy, FetchRefused, check_address


def minimal_pdf(lines: list[str], title: str = "Pdf Title") -> bytes:
    """A one-page PDF with ``lines`` of Helvetica text (hand-built, offsets computed)."""
    text = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(f"({line}) '" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(text)} >>\nstream\n{text}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Title ({title}) >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 6 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


HTML = """<html><head><title>Harbour Page</title><style>.x{color:red}</style>
<script>var secret = 1;</script></head><body><nav>Home | About</nav>
<main><h1>The Harbour</h1><p>The coastal harbour of Avalon shelters salmon boats.</p>
<p>Its lighthouse dates from 1622.</p></main><footer>Copyright</footer></body></html>"""


def test_directory_with_every_file_type(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("Plain text about the river.\n\nSecond paragraph.")
    (tmp_path / "sub" / "b.md").write_text("# Heading\n\nMarkdown about the *tower*.")
    (tmp_path / "c.html").write_text(HTML)
    (tmp_path / "d.pdf").write_bytes(minimal_pdf(["The glacier of Farrow feeds the canal.", "It melts every spring."]))
    (tmp_path / "e.bin").write_bytes(b"\x00\x01")
    (tmp_path / ".hidden.txt").write_text("hidden")
    docs = load_corpus(CorpusConfig(volume={"path": str(tmp_path)}))
    by_source = {d.source: d for d in docs}
    assert sorted(by_source) == ["a.txt", "c.html", "d.pdf", "sub/b.md"]
    assert by_source["a.txt"].text == "Plain text about the river.\n\nSecond paragraph."
    assert "Markdown about the *tower*." in by_source["sub/b.md"].text
    html = by_source["c.html"]
    assert html.title == "Harbour Page" and "shelters salmon boats" in html.text
    assert "secret" not in html.text and "Home | About" not in html.text and "Copyright" not in html.text
    pdf = by_source["d.pdf"]
    assert "The glacier of Farrow feeds the canal." in pdf.text and "It melts every spring." in pdf.text
    assert pdf.title == "Pdf Title"


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(CorpusConfig(volume={"path": str(tmp_path / "nope")}))
    with pytest.raises(CorpusError, match="exactly one"):
        load_corpus(CorpusConfig())


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    """A local HTTP server over ``tmp_path``; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def test_sitemap_index_urlset_and_pages(tmp_path: Path, site: str) -> None:
    ns = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
    (tmp_path / "sitemap.xml").write_text(
        f'<?xml version="1.0" encoding="UTF-8"?><sitemapindex {ns}>'
        f"<sitemap><loc>{site}/pages.xml</loc></sitemap></sitemapindex>"
    )
    (tmp_path / "pages.xml").write_text(
        f'<?xml version="1.0"?><urlset {ns}>'
        f"<url><loc>{site}/one.html</loc></url><url><loc>{site}/two.txt</loc></url>"
        f"<url><loc>{site}/three.pdf</loc></url><url><loc>{site}/missing.html</loc></url></urlset>"
    )
    (tmp_path / "one.html").write_text(HTML)
    (tmp_path / "two.txt").write_text("Text page about the orchard of Elstow.")
    (tmp_path / "three.pdf").write_bytes(minimal_pdf(["The railway of Ivell carries timber."]))
    docs = load_corpus(CorpusConfig(sitemap={"urls": [f"{site}/sitemap.xml"], "allowPrivateAddresses": True}))
    by_source = {d.source: d for d in docs}
    assert sorted(by_source) == sorted(f"{site}/{p}" for p in ("one.html", "two.txt", "three.pdf"))
    assert "lighthouse dates from 1622" in by_source[f"{site}/one.html"].text
    assert by_source[f"{site}/two.txt"].text == "Text page about the orchard of Elstow."
    assert "railway of Ivell" in by_source[f"{site}/three.pdf"].text


def test_unreachable_sitemap_is_a_clear_error() -> None:
    with pytest.raises(CorpusError, match="cannot fetch sitemap"):
        load_corpus(CorpusConfig(sitemap={"urls": ["http://127.0.0.1:9/sitemap.xml"]}))


def test_huggingface_saved_dataset_dict_and_data_file(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict

    rows = {"body": ["First row about the canal.", "Second row about the forest.", ""], "title": ["A", "B", "C"]}
    DatasetDict({"train": Dataset.from_dict(rows), "test": Dataset.from_dict({"body": ["x"], "title": ["T"]})}).save_to_disk(
        str(tmp_path / "saved")
    )
    docs = load_corpus(CorpusConfig(huggingface={"name": str(tmp_path / "saved"), "split": "train", "textField": "body"}))
    assert [(d.text, d.title) for d in docs] == [("First row about the canal.", "A"), ("Second row about the forest.", "B")]
    assert docs[0].source.endswith("#0")

    Dataset.from_dict({"text": ["Single dataset row."]}).save_to_disk(str(tmp_path / "single"))
    assert [d.text for d in load_corpus(CorpusConfig(huggingface={"name": str(tmp_path / "single")}))] == ["Single dataset row."]

    (tmp_path / "rows.jsonl").write_text('{"text": "From a JSONL file."}\n{"text": "Another line."}\n')
    docs = load_corpus(CorpusConfig(huggingface={"name": str(tmp_path / "rows.jsonl")}))
    assert [d.text for d in docs] == ["From a JSONL file.", "Another line."]

    with pytest.raises(CorpusError, match="no column 'content'"):
        load_corpus(CorpusConfig(huggingface={"name": str(tmp_path / "single"), "textField": "content"}))


def test_directory_include_globs_select_files(tmp_path):
    """spec.corpus.volume.include reaches the loader: only matching files become documents."""
    from raft_jobs.datagen.loaders import load_directory

    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("# Readme\n\n" + "readme text " * 30)
    (tmp_path / "docs" / "guide.md").write_text("# Guide\n\n" + "guide text " * 30)
    (tmp_path / "notes.txt").write_text("notes " * 40)
    every_md = {d.source for d in load_directory(tmp_path, include=["**/*.md"])}
    assert every_md == {"README.md", "docs/guide.md"}
    assert {d.source for d in load_directory(tmp_path, include=["README.md"])} == {"README.md"}
    assert len(load_directory(tmp_path)) == 3
# ---- sitemap fetch restrictions (untrusted URLs) ---------------------------------------------


def urlset(*locs: str) -> str:
    ns = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
    return f'<?xml version="1.0"?><urlset {ns}>' + "".join(f"<url><loc>{loc}</loc></url>" for loc in locs) + "</urlset>"


def sitemap_corpus(site: str, **extra: object) -> CorpusConfig:
    return CorpusConfig(sitemap={"urls": [f"{site}/sitemap.xml"], "allowPrivateAddresses": True, **extra})


def test_sitemap_entries_other_than_http_are_never_read(tmp_path: Path, site: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOKEN=hunter2 from the pod's environment")
    (tmp_path / "sitemap.xml").write_text(urlset(f"file://{secret}", "file:///proc/self/environ", f"{site}/ok.txt",
                                                 f"ftp://127.0.0.1/{secret.name}"))
    (tmp_path / "ok.txt").write_text("The orchard of Elstow grows pears.")
    docs = load_corpus(sitemap_corpus(site))
    assert [d.source for d in docs] == [f"{site}/ok.txt"]
    with pytest.raises(CorpusError, match="only http and https"):
        load_corpus(CorpusConfig(sitemap={"urls": [f"file://{secret}"]}))


def test_private_addresses_need_the_spec_to_allow_them(tmp_path: Path, site: str) -> None:
    (tmp_path / "sitemap.xml").write_text(urlset(f"{site}/ok.txt"))
    (tmp_path / "ok.txt").write_text("The orchard of Elstow grows pears.")
    with pytest.raises(CorpusError, match="allowPrivateAddresses"):
        load_corpus(CorpusConfig(sitemap={"urls": [f"{site}/sitemap.xml"]}))
    assert load_corpus(sitemap_corpus(site))


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "192.168.0.9", "172.16.0.1", "169.254.169.254",
                                     "100.64.0.1", "::1", "fe80::1", "fd00::1", "::ffff:127.0.0.1", "0.0.0.0", "224.0.0.1"])
def test_non_public_addresses_are_refused(address: str) -> None:
    with pytest.raises(FetchRefused):
        check_address(address, FetchPolicy())


def test_public_addresses_are_allowed() -> None:
    for address in ("8.8.8.8", "2606:4700:4700::1111"):
        check_address(address, FetchPolicy())


def test_redirect_to_another_scheme_is_refused(tmp_path: Path) -> None:
    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", "ftp://127.0.0.1/etc/passwd")  # urllib alone would follow ftp
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        fetcher = Fetcher(FetchPolicy(allow_private_addresses=True), timeout=5)
        with pytest.raises(FetchRefused, match="only http and https"):
            fetcher.get(f"http://127.0.0.1:{server.server_address[1]}/page")
    finally:
        server.shutdown()
        server.server_close()


def test_sizes_and_page_counts_are_capped(tmp_path: Path, site: str) -> None:
    (tmp_path / "sitemap.xml").write_text(urlset(*(f"{site}/p{i}.txt" for i in range(5)), f"{site}/big.txt"))
    for i in range(5):
        (tmp_path / f"p{i}.txt").write_text(f"Page {i} tells of the harbour.")
    (tmp_path / "big.txt").write_text("x" * 4096)
    docs = load_sitemaps([f"{site}/sitemap.xml"], max_pages=3, policy=FetchPolicy(allow_private_addresses=True))
    assert [d.source for d in docs] == [f"{site}/p{i}.txt" for i in range(3)]
    small = FetchPolicy(allow_private_addresses=True, max_bytes=1024)
    docs = load_sitemaps([f"{site}/sitemap.xml"], policy=small)
    assert f"{site}/big.txt" not in {d.source for d in docs} and len(docs) == 5
    with pytest.raises(CorpusError, match="larger than"):
        load_sitemaps([f"{site}/sitemap.xml"], policy=FetchPolicy(allow_private_addresses=True, max_sitemap_bytes=100))


def test_robots_txt_is_honoured(tmp_path: Path, site: str) -> None:
    (tmp_path / "sitemap.xml").write_text(urlset(f"{site}/public/a.txt", f"{site}/private/b.txt"))
    (tmp_path / "public").mkdir()
    (tmp_path / "private").mkdir()
    (tmp_path / "public" / "a.txt").write_text("Public page about the lighthouse.")
    (tmp_path / "private" / "b.txt").write_text("Private page the owner keeps from crawlers.")
    (tmp_path / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n")
    docs = load_corpus(sitemap_corpus(site))
    assert [d.source for d in docs] == [f"{site}/public/a.txt"]
