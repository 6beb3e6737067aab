"""Following feeds, against a real HTTP server on 127.0.0.1: RSS, Atom and JSON Feed fixtures, article pages,
304s, redirects and failing endpoints; a real Chroma and SQLite index with the fake embedder."""

from __future__ import annotations

import contextlib
import gzip
import http.server
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rag.config import FeedConfig
from rag.index.feedtable import FeedTable, also_at
from rag.ingest.feeds import FeedError, advertised_feeds, fetch_feed, parse_feed
from rag.ingest.guard import AddressGuard
from rag.refresh import refresh

Handler = http.server.BaseHTTPRequestHandler
Route = Callable[[Handler], None]
NOW = datetime(2025, 11, 3, 12, 0, tzinfo=UTC)

PARAS = [
    "The harbour of Westhaven reopened on Monday after a storm closed it for three days, officials said.",
    "Ferries sailed at dawn and shipping companies expect the backlog of containers to clear by Friday.",
    "The port authority said the breakwater held, but two cranes need repairs that will take a month.",
    "Fishermen, who lost a week of catches, asked the council for help with fuel costs this winter.",
]


def article_page(title: str, paras: list[str]) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paras)
    return (
        f"<html><head><title>{title}</title></head><body><nav>Home | World</nav><article><h1>{title}</h1>"
        f"{body}</article><footer>© Example News</footer></body></html>"
    ).encode()


RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>
<title>Example News</title><link>http://example/</link><description>News</description>
<item><title>Harbour reopens</title><link>/news/harbour</link><guid>harbour-1</guid>
<pubDate>Mon, 03 Nov 2025 09:00:00 GMT</pubDate>
<description><![CDATA[<p>The harbour <b>reopened</b>.</p>]]></description>
<media:content url="http://example/img.jpg" type="image/jpeg"/><enclosure url="/a.mp3" type="audio/mpeg" length="1"/>
</item>
<item><title>Council budget</title><link>/news/missing</link><guid>budget-1</guid>
<pubDate>Sun, 02 Nov 2025 09:00:00 GMT</pubDate>
<description>&lt;p&gt;The council agreed a budget of 40 million for roads, schools and the new library on
Sunday, after a long debate in which the mayor defended the plan against opposition.&lt;/p&gt;</description>
</item>
<item><guid>no-title-no-link</guid><description>A wire note without a link or title: storms are expected
along the coast on Tuesday, forecasters said, and ferries may be cancelled.</description></item>
<item><title>From the future</title><link>/news/future</link><pubDate>Sat, 01 Jan 2099 00:00:00 GMT</pubDate>
<description>Time travel is not yet possible, scientists said again at a conference on physics.</description></item>
</channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom Times</title><id>urn:atom</id>
<updated>2025-11-02T10:00:00Z</updated>
<entry><title>Rail strike ends</title><id>urn:rail</id><link href="http://{host}/news/rail"/>
<updated>2025-11-02T10:00:00Z</updated>
<summary type="html">&lt;p&gt;Train drivers returned to work.&lt;/p&gt;</summary></entry>
</feed>"""

JSON_FEED = """{"version": "https://jsonfeed.org/version/1.1", "title": "Json Daily",
 "items": [{"id": "j1", "url": "http://{host}/news/json", "title": "Museum opens",
            "content_html": "<p>The museum opened its new wing on Saturday to large crowds.</p>",
            "date_published": "2025-11-01T08:00:00Z"}]}"""

PAGE_WITH_FEED = b'<html><head><link rel="alternate" type="application/atom+xml" href="/atom"></head><body>home</body>'
LATIN1 = (
    '<?xml version="1.0" encoding="iso-8859-1"?><rss version="2.0"><channel><title>Café Noticias</title>'
    "<item><title>Señor Ibáñez</title><guid>l1</guid><description>El café de Ibáñez abrió.</description>"
    "</item></channel></rss>"
)
BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">]>
<rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;</title></item></channel></rss>"""


@dataclass
class Server:
    routes: dict[str, Route]
    base: str = ""
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def hits(self, path: str) -> list[dict[str, str]]:
        return [h for p, h in self.requests if p == path]


def send(body: bytes, ctype: str = "application/rss+xml", status: int = 200, **headers: str) -> Route:
    def route(h: Handler) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            h.send_header(k.replace("_", "-"), v)
        h.end_headers()
        h.wfile.write(body)

    return route


def conditional(body: bytes, etag: str, ctype: str = "application/rss+xml") -> Route:
    """200 with an ETag and Last-Modified, or 304 when the request carries them back."""
    modified = "Mon, 03 Nov 2025 10:00:00 GMT"

    def route(h: Handler) -> None:
        if h.headers.get("If-None-Match") == etag or h.headers.get("If-Modified-Since") == modified:
            h.send_response(304)
            h.send_header("ETag", etag)
            h.end_headers()
            return
        send(body, ctype, ETag=etag, Last_Modified=modified)(h)

    return route


def redirect(location: str, status: int = 301) -> Route:
    def route(h: Handler) -> None:
        h.send_response(status)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return route


def slow(h: Handler) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "application/rss+xml")
    h.end_headers()
    for _ in range(50):  # 10 s at most, past the 1 s deadline given
        try:
            h.wfile.write(b" ")
            h.wfile.flush()
        except OSError:
            return
        time.sleep(0.2)


@contextlib.contextmanager
def serve(routes: dict[str, Route]) -> Iterator[Server]:
    server_state = Server(routes)

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server_state.requests.append((self.path, dict(self.headers)))
            server_state.routes.get(self.path, send(b"not here", "text/plain", 404))(self)

        def log_message(self, *args: object) -> None:
            pass

    class S(http.server.ThreadingHTTPServer):
        daemon_threads = True

    server = S(("127.0.0.1", 0), H)
    server_state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server_state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def site() -> Iterator[Server]:
    with serve({}) as s:
        host = s.base.removeprefix("http://")
        s.routes.update(
            {
                "/rss": conditional(RSS, '"v1"'),
                "/atom": send(ATOM.replace("{host}", host).encode(), "application/atom+xml"),
                "/json": send(JSON_FEED.replace("{host}", host).encode(), "application/feed+json"),
                "/news/harbour": send(article_page("Harbour reopens", PARAS), "text/html"),
                "/news/rail": send(article_page("Rail strike ends", [*PARAS[:1], "Trains ran on time."]), "text/html"),
                "/news/json": send(article_page("Museum opens", ["The museum opened a new wing."]), "text/html"),
                "/news/future": send(article_page("Future", ["Time travel is not yet possible."]), "text/html"),
                "/page": send(PAGE_WITH_FEED, "text/html"),
                "/plain-page": send(b"<html><body>no feeds here</body></html>", "text/html"),
                "/error-200": send(b"<html><body><h1>Service unavailable</h1></body></html>", "text/html"),
                "/bomb": send(BOMB),
                "/loop": redirect("/loop2", 302),
                "/loop2": redirect("/loop", 302),
                "/moved": redirect("/atom", 301),
                "/slow": slow,
                "/gz": send(gzip.compress(RSS), Content_Encoding="gzip"),
                "/latin1": send(
                    LATIN1.encode("latin-1"),
                    "application/rss+xml; charset=iso-8859-1",
                ),
            }
        )
        yield s


CONFIG = FeedConfig(allow_private=True, timeout=5.0, every=900.0)


def follow(pipeline, *urls: str) -> FeedTable:  # type: ignore[no-untyped-def]
    table = FeedTable(pipeline.registry.path)
    for url in urls:
        table.add(url)
    return table


# --- parsing -------------------------------------------------------------------------------------------------
def test_rss_entries_take_title_date_link_and_text_from_the_feed(site: Server) -> None:
    parsed = parse_feed(RSS, site.base + "/rss", now=NOW)
    by_title = {e.title: e for e in parsed.entries}
    harbour = by_title["Harbour reopens"]
    assert harbour.link == site.base + "/news/harbour"  # relative link resolved against the feed
    assert harbour.published == "2025-11-03T09:00:00"
    assert harbour.text == "The harbour reopened."  # CDATA and HTML reduced to text
    assert harbour.source == "Example News"
    untitled = next(e for e in parsed.entries if e.key == "no-title-no-link")
    assert untitled.link is None and untitled.title.startswith("A wire note without a link")
    assert by_title["From the future"].published is None
    assert any("2099-01-01" in n and "cannot be its publication date" in n for n in parsed.notes)


def test_atom_json_feed_and_latin1_parse(site: Server) -> None:
    host = site.base.removeprefix("http://")
    atom = parse_feed(ATOM.replace("{host}", host).encode(), "u", "application/atom+xml", now=NOW)
    assert [(e.title, e.text, e.source) for e in atom.entries] == [
        ("Rail strike ends", "Train drivers returned to work.", "Atom Times")
    ]
    js = parse_feed(JSON_FEED.replace("{host}", host).encode(), "u", "application/feed+json", now=NOW)
    assert [(e.title, e.published, e.link) for e in js.entries] == [
        ("Museum opens", "2025-11-01T08:00:00", f"http://{host}/news/json")
    ]
    latin = fetch_feed(site.base + "/latin1", guard=AddressGuard(allow_private=True))
    parsed = parse_feed(latin.body, "u", latin.content_type, now=NOW)
    assert parsed.title == "Café Noticias" and parsed.entries[0].title == "Señor Ibáñez"


def test_a_billion_laughs_is_refused_unexpanded() -> None:
    with pytest.raises(FeedError, match="XML entities"):
        parse_feed(BOMB, "http://x/bomb")


def test_a_page_that_is_no_feed_says_so() -> None:
    with pytest.raises(FeedError, match="advertises no feed"):
        parse_feed(b"<html><body>hello</body></html>", "http://x/")


def test_feed_links_advertised_by_a_page_are_found() -> None:
    html = (
        b'<html><head><link rel="alternate" type="application/rss+xml" href="/feed.xml">'
        b'<link rel="stylesheet" href="/s.css"><link rel="alternate" type="application/feed+json" href="j.json">'
    )
    assert advertised_feeds(html, "http://x/dir/") == ["http://x/feed.xml", "http://x/dir/j.json"]


# --- fetching ------------------------------------------------------------------------------------------------
def test_conditional_get_sends_the_validators_back_and_304_parses_nothing(site: Server, fake_pipeline) -> None:  # type: ignore[no-untyped-def]
    table = follow(fake_pipeline, site.base + "/rss")
    first = refresh(fake_pipeline, config=CONFIG, now=NOW.timestamp())
    assert first.outcomes[0].status == "ok" and first.outcomes[0].added == 4
    embedded = fake_pipeline.registry.chunk_count()
    second = refresh(fake_pipeline, config=CONFIG, all=True, now=NOW.timestamp())
    assert [o.status for o in second.outcomes] == ["unchanged"] and second.new_doc_ids == ()
    headers = site.hits("/rss")[-1]
    assert headers["If-None-Match"] == '"v1"'
    assert headers["If-Modified-Since"] == "Mon, 03 Nov 2025 10:00:00 GMT"
    assert headers["User-Agent"].startswith("newsbot")
    assert fake_pipeline.registry.chunk_count() == embedded
    assert len(site.hits("/news/harbour")) == 1  # the page was not fetched again
    table.close()


def test_gzip_and_permanent_redirect_update_the_stored_url(site: Server, fake_pipeline) -> None:  # type: ignore[no-untyped-def]
    table = follow(fake_pipeline, site.base + "/moved", site.base + "/gz")
    report = refresh(fake_pipeline, config=CONFIG, now=NOW.timestamp())
    assert {o.status for o in report.outcomes} == {"ok"}
    assert [f.url for f in table.feeds()] == [site.base + "/atom", site.base + "/gz"]
    table.close()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/error-200", "HTML page, not the feed"),
        ("/bomb", "XML entities"),
        ("/loop", "redirects"),
        ("/slow", "timed out"),
        ("/nothing", "HTTP 404"),
    ],
)
def test_a_failing_feed_backs_off_says_why_and_changes_nothing(  # type: ignore[no-untyped-def]
    site: Server, fake_pipeline, path: str, message: str
) -> None:
    table = follow(fake_pipeline, site.base + path, site.base + "/json")
    config = FeedConfig(allow_private=True, timeout=1.0, every=600.0)
    report = refresh(fake_pipeline, config=config, now=NOW.timestamp())
    failed = next(o for o in report.outcomes if o.url.endswith(path))
    assert failed.status == "failed" and message in (failed.error or "")
    assert (failed.error or "").startswith(site.base + path)  # names the feed
    assert next(o for o in report.outcomes if o.url.endswith("/json")).added == 1  # the others go on
    feed = table.find(site.base + path)
    assert feed is not None and feed.failures == 1 and feed.next_due == NOW.timestamp() + 600.0
    refresh(fake_pipeline, config=config, now=feed.next_due)
    again = table.find(site.base + path)
    assert again is not None and again.failures == 2 and again.next_due == feed.next_due + 1200.0  # doubled
    assert [a.doc_id for a in fake_pipeline.articles()] == list(report.new_doc_ids)
    table.close()


def test_private_addresses_and_other_schemes_are_refused(site: Server, fake_pipeline) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FeedError, match="public http and https"):
        fetch_feed(site.base + "/rss", guard=AddressGuard(allow_private=False))
    with pytest.raises(FeedError, match="check the address"):
        fetch_feed("file:///etc/passwd", guard=AddressGuard(allow_private=True))
    assert site.hits("/rss") == []


# --- the articles ----------------------------------------------------------------------------------------------
def test_entries_become_articles_page_text_or_entry_text(site: Server, fake_pipeline) -> None:  # type: ignore[no-untyped-def]
    follow(fake_pipeline, site.base + "/rss", site.base + "/atom", site.base + "/json")
    report = refresh(fake_pipeline, config=CONFIG, now=NOW.timestamp())
    assert report.failed == ()
    articles = {a.title: a for a in fake_pipeline.articles()}
    harbour = fake_pipeline.registry.article(articles["Harbour reopens"].doc_id)
    assert harbour.text.startswith(PARAS[0]) and "© Example News" not in harbour.text  # the page, not the teaser
    assert harbour.url == site.base + "/news/harbour" and harbour.source == "Example News"
    assert harbour.published.startswith("2025-11-03")
    budget = fake_pipeline.registry.article(articles["Council budget"].doc_id)  # page 404: the entry's text
    assert budget.text.startswith("The council agreed a budget")
    assert articles["Rail strike ends"].source == "Atom Times"
    assert len(report.new_doc_ids) == len(articles) == 6


def test_an_updated_entry_replaces_its_article(site: Server, fake_pipeline) -> None:  # type: ignore[no-untyped-def]
    follow(fake_pipeline, site.base + "/json")
    first = refresh(fake_pipeline, config=CONFIG, now=NOW.timestamp())
    host = site.base.removeprefix("http://")
    site.routes["/json"] = send(
        JSON_FEED.replace("{host}", host).replace("Museum opens", "Museum opens, crowds queue").encode(),
        "application/feed+json",
    )
    updated = "The museum opened its new wing on Saturday; crowds queued around the block all afternoon to see it."
    site.routes["/news/json"] = send(article_page("Museum", [updated]), "text/html")
    second = refresh(fake_pipeline, config=CONFIG, all=True, now=NOW.timestamp())
    assert second.new_doc_ids == first.new_doc_ids  # same doc id, replaced
    assert fake_pipeline.registry.article(first.new_doc_ids[0]).text == updated
    assert len(fake_pipeline.articles()) == 1


def test_syndicated_copy_is_indexed_once_and_listed_where_it_appeared(site: Server, fake_pipeline) -> None:  # type: ignore[no-untyped-def]
    long = PARAS * 3
    wire = {"/w1": "Wire One", "/w2": "Wire Two"}
    for path, outlet in wire.items():
        item = (
            f"<item><title>{outlet}: harbour</title><link>{site.base}{path}/story</link><guid>{path}</guid>"
            "<description>x</description></item>"
        )
        site.routes[path] = send(f'<rss version="2.0"><channel><title>{outlet}</title>{item}</channel></rss>'.encode())
        extra = [f"Copyright {outlet}. All rights reserved."]
        site.routes[f"{path}/story"] = send(article_page(f"{outlet} headline", long + extra), "text/html")
    table = follow(fake_pipeline, site.base + "/w1", site.base + "/w2")
    report = refresh(fake_pipeline, config=CONFIG, now=NOW.timestamp())
    assert len(report.new_doc_ids) == 1 and len(fake_pipeline.articles()) == 1
    assert sorted(o.skipped for o in report.outcomes) == [0, 1]
    also = table.also_at()
    assert list(also) == list(report.new_doc_ids) and "/story" in also[report.new_doc_ids[0]][0]
    table.close()
    assert also_at(fake_pipeline.registry.path) == also  # what `newsbot list` shows, read without writing
    missing = fake_pipeline.registry.path.parent / "nowhere" / "index.sqlite3"
    assert also_at(missing) == {} and not missing.parent.exists()


def test_retention_removes_old_articles_through_removal(site: Server, fake_pipeline) -> None:  # type: ignore[no-untyped-def]
    follow(fake_pipeline, site.base + "/rss", site.base + "/json")
    report = refresh(fake_pipeline, config=CONFIG, now=NOW.timestamp(), keep_days=1)
    kept = {a.title for a in fake_pipeline.articles()}
    assert "Museum opens" not in kept and "Harbour reopens" in kept
    assert report.removed and all(fake_pipeline.was_removed(d) for d in report.removed)


def test_a_stop_ends_the_pass_after_the_article_in_hand(site: Server, fake_pipeline) -> None:  # type: ignore[no-untyped-def]
    follow(fake_pipeline, site.base + "/rss")
    calls = iter([False, True])
    report = refresh(fake_pipeline, config=CONFIG, now=NOW.timestamp(), stop=lambda: next(calls, True))
    assert len(report.new_doc_ids) == 1 and len(fake_pipeline.articles()) == 1
    rest = refresh(fake_pipeline, config=CONFIG, all=True, now=NOW.timestamp())  # the whole feed, not a 304
    assert rest.outcomes[0].status == "ok" and len(rest.new_doc_ids) == 3
    assert "If-None-Match" not in site.hits("/rss")[-1]


def test_opml_round_trip(tmp_path: Path, fake_pipeline) -> None:  # type: ignore[no-untyped-def]
    from rag.ingest.opml import read_opml, write_opml

    table = follow(fake_pipeline, "http://a.example/rss", "http://b.example/atom?x=1&y=2")
    path = tmp_path / "feeds.opml"
    path.write_text(write_opml(table.feeds()))
    assert read_opml(path) == ["http://a.example/rss", "http://b.example/atom?x=1&y=2"]
    table.close()


def endless(h: Handler) -> None:
    """A feed that never ends: 60 MB with no Content-Length, sent until the client stops reading."""
    h.send_response(200)
    h.send_header("Content-Type", "application/rss+xml")
    h.end_headers()
    piece = b"<!-- padding -->" * 4096
    for _ in range(60 * 2**20 // len(piece)):
        try:
            h.wfile.write(piece)
        except OSError:
            return


def test_a_feed_past_50_mb_is_cut_off(fake_pipeline) -> None:  # type: ignore[no-untyped-def]
    with serve({"/huge": endless}) as s:
        table = follow(fake_pipeline, s.base + "/huge")
        report = refresh(fake_pipeline, config=CONFIG, now=NOW.timestamp())
        table.close()
    assert report.outcomes[0].status == "failed"
    assert report.outcomes[0].error == f"{s.base}/huge: larger than 50 MB — is it a feed?"
    assert fake_pipeline.articles() == []
