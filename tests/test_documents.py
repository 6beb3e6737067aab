"""Loaders: the seed's shape, Markdown, HTML, JSONL, directories, URLs, and every kind of bad input."""

from __future__ import annotations

import hashlib
import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from rag.errors import ArticleUnreadable
from rag.ingest.loaders import iter_path, iter_sources, normalise_date, parse_dateline, slug
from rag.types import Article
from tests.conftest import SEED_FILE


def only_article(items: list) -> Article:
    [item] = items
    assert isinstance(item, Article), item
    return item


def only_error(items: list) -> str:
    [item] = items
    assert isinstance(item, ArticleUnreadable), item
    return str(item)


def test_seed_shape() -> None:
    article = only_article(list(iter_path(SEED_FILE)))
    assert article.doc_id == "000_4c519add1ad1325c"
    assert article.title == "Tehran–Moscow partnership will not yield to foreign pressure: Russian envoy"
    assert article.published == "2025-11-01T19:37:00"
    paragraphs = article.paragraphs
    assert paragraphs[0] == "November 1, 2025 - 19:37"  # the dateline is paragraph 1
    assert paragraphs[1].startswith("TEHRAN – Russia has reiterated")  # the dateline lead stays in its paragraph
    assert paragraphs[11].startswith("“Oman’s mediation")
    assert paragraphs[-1].endswith("beginning in 2013.")  # "Leave a Comment" dropped
    assert "Leave a Comment" not in article.text


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("November 1, 2025 - 19:37", "2025-11-01T19:37:00"),  # the seed's dateline
        ("Saturday, March 2, 2024", "2024-03-02T00:00:00"),  # weekday, no time
        ("december 31, 1999 at 23:59", "1999-12-31T23:59:00"),  # lower case, "at"
        ("TEHRAN – Russia has reiterated", None),  # body text
        ("November 41, 2025", None),  # shaped like a dateline, but no such day
    ],
)
def test_parse_dateline(line: str, expected: str | None) -> None:
    assert parse_dateline(line) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2023-11-27T08:45:59Z", "2023-11-27T08:45:59+00:00"),
        ("2023-11-27", "2023-11-27T00:00:00"),
        ("", None),
        (None, None),
        ("not a date", None),
    ],
)
def test_normalise_date(value: str | None, expected: str | None) -> None:
    assert normalise_date(value) == expected


def test_slug() -> None:
    assert slug("my article (final).txt") == "my-article-final-.txt"
    assert slug("///") == "article"


def test_markdown_with_front_matter(tmp_path: Path) -> None:
    path = tmp_path / "note.md"
    path.write_text(
        "---\ntitle: Rates held\nsource: Example Wire\ndate: 2024-05-01\n---\n\n"
        "# Ignored heading becomes a paragraph\n\nThe bank held rates.\nIt said so on Tuesday.\n",
        encoding="utf-8",
    )
    article = only_article(list(iter_path(path)))
    assert (article.doc_id, article.title, article.source, article.published) == (
        "note",
        "Rates held",
        "Example Wire",
        "2024-05-01T00:00:00",
    )
    assert article.paragraphs == ["Ignored heading becomes a paragraph", "The bank held rates. It said so on Tuesday."]


def test_markdown_title_from_heading(tmp_path: Path) -> None:
    path = tmp_path / "plain.md"
    path.write_text("# A title\n\nBody one.\n\nBody two.\n", encoding="utf-8")
    article = only_article(list(iter_path(path)))
    assert (article.title, article.paragraphs) == ("A title", ["Body one.", "Body two."])


ARTICLE_HTML = """<!doctype html><html><head><title>Port reopens after storm | Coast News</title>
<meta property="og:site_name" content="Coast News"></head><body>
<nav><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport</a></nav>
<article><h1>Port reopens after storm</h1>
<p>The harbour of Westhaven reopened on Monday after a storm closed it for three days, officials said.</p>
<p>“We cleared the channel overnight and the first ferries sailed at dawn,” harbour master Ana Ruiz told reporters.</p>
<p>Shipping companies said delays would ease by the end of the week as cargo backlogs are cleared.</p>
</article><footer>Copyright Coast News. All rights reserved. Subscribe to our newsletter.</footer></body></html>"""


def test_html_main_text(tmp_path: Path) -> None:
    path = tmp_path / "port.html"
    path.write_text(ARTICLE_HTML, encoding="utf-8")
    article = only_article(list(iter_path(path)))
    assert article.title == "Port reopens after storm"
    assert "harbour master Ana Ruiz told reporters" in article.text
    assert "Home" not in article.text and "Subscribe" not in article.text


def test_html_keeps_its_paragraphs_and_the_headline_apart(tmp_path: Path) -> None:
    path = tmp_path / "port.html"
    path.write_text(ARTICLE_HTML.replace("<p>The harbour", "<h2>Ferries back</h2><p>The <b>harbour</b>"), "utf-8")
    article = only_article(list(iter_path(path)))
    assert (article.title, article.paragraphs) == (
        "Port reopens after storm",
        [
            "Ferries back",
            "The harbour of Westhaven reopened on Monday after a storm closed it for three days, officials said.",
            "“We cleared the channel overnight and the first ferries sailed at dawn,” harbour master Ana Ruiz told "
            "reporters.",
            "Shipping companies said delays would ease by the end of the week as cargo backlogs are cleared.",
        ],
    )


MARKDOWN = """---
title: Rates held
---

# Rates held for a third month

The **central bank** held its _main rate_ at 4.5 percent, [the statement](https://example.com/s) said on
Tuesday, and it *expects* inflation to ease.

## What comes next

- Governor `Ana Ruiz` will speak on **Friday**.
* Markets had priced in a hold.
1. A cut is expected in ![chart](c.png) June.

> “We are patient,” the governor said.
"""


def test_markdown_is_stored_as_plain_prose(tmp_path: Path) -> None:
    path = tmp_path / "rates.md"
    path.write_text(MARKDOWN, encoding="utf-8")
    article = only_article(list(iter_path(path)))
    assert article.title == "Rates held"
    assert article.paragraphs == [
        "Rates held for a third month",
        "The central bank held its main rate at 4.5 percent, the statement said on Tuesday, and it expects inflation "
        "to ease.",
        "What comes next",
        "Governor Ana Ruiz will speak on Friday.",
        "Markets had priced in a hold.",
        "A cut is expected in chart June.",
        "“We are patient,” the governor said.",
    ]
    assert article.text == "\n\n".join(article.paragraphs)


def test_html_without_article_text(tmp_path: Path) -> None:
    path = tmp_path / "empty.html"
    path.write_text("<html><body><nav><a href='/'>Home</a></nav></body></html>", encoding="utf-8")
    assert only_error(list(iter_path(path))) == f"{path}: no article text found in the HTML — is this an article page?"


def test_jsonl_corpus_with_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    records = [
        {"id": "a-1", "title": "One", "source": "Wire", "published": "2023-10-07T10:00:00Z", "text": "First.\n\nMore."},
        {"id": "a-2", "title": "Two", "source": "Wire", "published": None, "text": "Second text."},
    ]
    lines = [json.dumps(records[0]), "{not json", json.dumps({"title": "no id or text"}), json.dumps(records[1])]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    items = list(iter_path(path))
    assert [type(i).__name__ for i in items] == ["Article", "ArticleUnreadable", "ArticleUnreadable", "Article"]
    assert str(items[1]).startswith(f"{path}:2: not valid JSON")
    assert str(items[2]) == f"{path}:3: missing id, text — every record needs an id and a text"
    first = items[0]
    assert isinstance(first, Article)
    assert (first.doc_id, first.published, first.paragraphs) == (
        "a-1",
        "2023-10-07T10:00:00+00:00",
        ["First.", "More."],
    )


def test_jsonl_text_is_kept_as_supplied(tmp_path: Path) -> None:
    text = "\nFirst paragraph.\r\n\r\n\r\nSecond,\nwrapped.\n\n\nLeave a Comment\n"
    path = tmp_path / "corpus.jsonl"
    path.write_text(json.dumps({"id": "r", "title": " A\ttitle ", "text": text}) + "\n", encoding="utf-8")
    article = only_article(list(iter_path(path)))
    assert (article.title, article.text) == ("A title", "\nFirst paragraph.\r\n\r\n\r\nSecond,\nwrapped.")
    assert article.paragraphs == ["First paragraph.", "Second,\nwrapped."]


def test_a_repeated_jsonl_id_is_reported_not_swallowed(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    lines = [{"id": "a-1", "text": "First."}, {"id": "a-2", "text": "Second."}, {"id": "a-1", "text": "Third."}]
    path.write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    items = list(iter_path(path))
    assert [i.doc_id for i in items[:2]] == ["a-1", "a-2"]
    assert str(items[2]) == f"{path}:3: id 'a-1' is also on line 1 — give every record its own id"


def test_file_doc_ids_follow_the_path_below_the_ingested_folder(tmp_path: Path) -> None:
    for name in ("a/report.txt", "b/report.txt", "quake.txt", "quake.md", "seed.txt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(f"{name}\n\nThe body of {name}.\n", encoding="utf-8")
    items = list(iter_path(tmp_path))
    digest = hashlib.sha1(b"quake.txt").hexdigest()[:6]
    assert [i.doc_id if isinstance(i, Article) else str(i) for i in items] == [
        "a-report",  # nested: its folder in front
        "b-report",
        "quake",  # directly in the folder: its stem, as before (quake.md comes first in name order)
        f"{tmp_path / 'quake.txt'}: doc id 'quake' is taken by {tmp_path / 'quake.md'} — indexed as 'quake-{digest}'",
        f"quake-{digest}",
        "seed",
    ]
    assert [i.doc_id for i in items if isinstance(i, Article)] == [
        i.doc_id for i in iter_path(tmp_path) if isinstance(i, Article)
    ]  # the same ids every run


def test_two_files_named_on_the_command_line_keep_apart(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "report.txt").write_text(f"Report {folder}\n\nBody {folder}.\n", encoding="utf-8")
    items = list(iter_sources([str(tmp_path / "a" / "report.txt"), str(tmp_path / "b" / "report.txt")]))
    articles = [i for i in items if isinstance(i, Article)]
    assert [a.title for a in articles] == ["Report a", "Report b"]
    assert articles[0].doc_id == "report" and articles[1].doc_id.startswith("report-")


def test_directory_is_recursive_and_ordered(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "two.txt").write_text("Two\n\nBody two.\n", encoding="utf-8")
    (tmp_path / "one.txt").write_text("One\n\nBody one.\n", encoding="utf-8")
    (tmp_path / "skip.pdf").write_bytes(b"%PDF")
    assert [a.doc_id for a in iter_path(tmp_path)] == ["b-two", "one"]  # sorted by path: b/two.txt < one.txt


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bin.txt", b"\x00\x01\x02binary", "looks like a binary file"),
        ("latin.txt", "Título\n\nCafé olé\n".encode("latin-1"), "not UTF-8 text"),
        ("short.txt", b"Only a title\n", "too little text for an article"),
        ("doc.pdf", b"%PDF-1.4", "unsupported file type"),
    ],
)
def test_bad_files_name_the_problem(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert message in only_error(list(iter_path(path)))


def test_missing_path() -> None:
    assert only_error(list(iter_sources(["/no/such/place"]))) == (
        "/no/such/place: no such file or directory — check the path"
    )


# --- URLs, against a real HTTP server on 127.0.0.1 ------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, str, bytes]]] = {
        "/port.html": (200, "text/html; charset=utf-8", ARTICLE_HTML.encode()),
        "/seed.txt": (200, "text/plain; charset=utf-8", SEED_FILE.read_bytes()),
        "/gone": (404, "text/plain", b"not here"),
        "/image.png": (200, "image/png", b"\x89PNG\r\n"),
    }

    def do_GET(self) -> None:
        if self.path == "/slow":
            time.sleep(1.5)
        status, ctype, body = self.routes.get(self.path, (200, "text/plain", b"slow\n\nbody"))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def http_base() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def fetched(*urls: str, timeout: float = 15.0) -> list:
    """What the loaders make of URLs on this test's server (on 127.0.0.1, so private addresses are allowed)."""
    return list(iter_sources(list(urls), timeout=timeout, allow_private_urls=True))


def test_url_html(http_base: str) -> None:
    article = only_article(fetched(f"{http_base}/port.html"))
    assert article.url == f"{http_base}/port.html"
    assert article.doc_id.startswith("127.0.0.1-port-")
    assert "first ferries sailed at dawn" in article.text


def test_url_text_in_seed_shape(http_base: str) -> None:
    article = only_article(fetched(f"{http_base}/seed.txt"))
    assert article.published == "2025-11-01T19:37:00"
    assert article.text == only_article(list(iter_path(SEED_FILE))).text


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/gone", "the server answered HTTP 404 — check the address"),
        ("/image.png", "unsupported content type 'image/png'"),
    ],
)
def test_url_errors(http_base: str, path: str, message: str) -> None:
    assert message in only_error(fetched(http_base + path))


def test_url_timeout(http_base: str) -> None:
    assert only_error(fetched(f"{http_base}/slow", timeout=0.3)) == (
        f"{http_base}/slow: timed out after 0.3 s — try again later"
    )


def test_url_refused() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/x"
    assert only_error(fetched(url)) == f"{url}: cannot fetch — check the address"
