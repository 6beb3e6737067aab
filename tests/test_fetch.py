"""The guarded fetch, against real HTTP servers on loopback addresses.

Inside: servers on 127.0.0.1 and [::1] that nothing may reach unless private addresses are allowed; each
counts the requests it gets, so "refused" means never connected to. Outside: a server on 127.0.0.2 that the
guard is told to treat as public (`also_public`), standing in for a site on the internet.
"""

from __future__ import annotations

import contextlib
import gzip
import http.server
import ipaddress
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rag.errors import ArticleUnreadable
from rag.ingest.fetch import fetch, iter_url, url_doc_id
from rag.ingest.guard import AddressGuard, is_public
from rag.ingest.loaders import iter_sources
from rag.types import Article
from tests.conftest import ROOT

REFUSED = "cannot fetch — check the address (newsbot fetches public http and https pages only)"
OUTSIDE_NET = (ipaddress.ip_network("127.0.0.2/32"),)
ARTICLE = (
    b"<html><head><title>Harbour reopens</title></head><body><article><h1>Harbour reopens</h1>"
    b"<p>The harbour of Westhaven reopened on Monday after a storm closed it for three days, officials said.</p>"
    b"<p>Ferries sailed at dawn and shipping companies expect the backlog to clear by Friday.</p>"
    b"</article></body></html>"
)
SECRET = (
    b"<html><body><p>internal: the admin password is hunter2, do not share it with anyone outside</p></body></html>"
)

Route = Callable[[http.server.BaseHTTPRequestHandler], None]
BOMB_MB = 50


def page(body: bytes, ctype: str = "text/html; charset=utf-8", **headers: str) -> Route:
    def send(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            h.send_header(name.replace("_", "-"), value)
        h.end_headers()
        h.wfile.write(body)

    return send


def redirect(location: str, status: int = 302) -> Route:
    def send(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return send


def trickle(h: http.server.BaseHTTPRequestHandler) -> None:
    """Headers, then a byte every 0.2 s; 200 bytes at most (40 s), far past any deadline here."""
    h.send_response(200)
    h.send_header("Content-Type", "text/plain")
    h.end_headers()
    for _ in range(200):
        try:
            h.wfile.write(b"x")
            h.wfile.flush()
        except OSError:  # the client went away: so does this loop
            return
        time.sleep(0.2)


def endless(h: http.server.BaseHTTPRequestHandler) -> None:
    """50 MB of text with no Content-Length, sent until the client stops reading."""
    h.send_response(200)
    h.send_header("Content-Type", "text/plain")
    h.end_headers()
    piece = b"a" * 2**16
    for _ in range(BOMB_MB * 16):
        try:
            h.wfile.write(piece)
        except OSError:
            return


@dataclass
class Site:
    """A real HTTP server on one loopback address, and the paths it was asked for."""

    host: str
    port: int
    requests: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://{'[' + self.host + ']' if ':' in self.host else self.host}:{self.port}"


@contextlib.contextmanager
def serve(routes: dict[str, Route], host: str = "127.0.0.1", port: int = 0) -> Iterator[Site]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            routes.get(self.path, page(b"not here", "text/plain"))(self)

        def log_message(self, *args: object) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        address_family = family
        daemon_threads = True

    server = Server((host, port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Site(host, server.server_address[1], requests)
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Inside:
    v4: Site
    v6: Site

    def requests(self) -> list[str]:
        return self.v4.requests + self.v6.requests


@pytest.fixture(scope="module")
def inside() -> Iterator[Inside]:
    routes = {"/secret": page(SECRET), "/": page(SECRET)}
    with serve(routes) as v4, serve(routes, "::1") as v6:
        yield Inside(v4, v6)


def only_error(items: list) -> str:
    [item] = items
    assert isinstance(item, ArticleUnreadable), item
    return str(item)


# --- every address form of the inside, refused in one line, never connected to ---------------------------------
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


FORMS = [
    "http://127.0.0.1:{p}/secret",
    "http://localhost:{p}/secret",
    "http://2130706433:{p}/secret",  # decimal
    "http://0x7f000001:{p}/secret",  # hex
    "http://017700000001:{p}/secret",  # octal
    "http://127.1:{p}/secret",  # short form
    "http://0x7f.1:{p}/secret",  # hex and short
    "http://127.000.000.001:{p}/secret",  # zero-padded (httpx will not even parse it)
    "http://[::1]:{p6}/secret",
    "http://[::ffff:127.0.0.1]:{p}/secret",  # IPv4-mapped
    "http://[::ffff:7f00:1]:{p}/secret",  # IPv4-mapped, in hex
    "http://[::127.0.0.1]:{p}/secret",  # IPv4-compatible
    "http://[64:ff9b::7f00:1]:{p}/secret",  # NAT64
    "http://[2002:7f00:1::1]:{p}/secret",  # 6to4
    "http://0.0.0.0:{p}/secret",
    "http://0:{p}/secret",
    "http://[::]:{p6}/secret",
    "http://169.254.169.254:{p}/latest/meta-data/",  # cloud metadata
    "http://[fe80::1]:{p}/secret",  # link-local
    "http://10.0.0.1:{p}/secret",
    "http://172.16.0.1:{p}/secret",
    "http://192.168.1.1:{p}/secret",
    "http://100.64.0.1:{p}/secret",  # shared address space (CGNAT)
    "http://[fc00::1]:{p}/secret",  # unique local
    "http://224.0.0.1:{p}/secret",  # multicast
    "http://240.0.0.1:{p}/secret",  # reserved
    "http://outsider@127.0.0.1:{p}/secret",  # userinfo that looks like a host
    "http://127.0.0.1:{closed}/secret",  # a closed port: the same words as an open one
    "https://127.0.0.1:{p}/secret",
    "file:///etc/passwd",
    "ftp://127.0.0.1:{p}/secret",
    "gopher://127.0.0.1:{p}/_secret",
]


def test_every_inside_address_form_is_refused_in_one_line(inside: Inside) -> None:
    attempts = 0
    for form in FORMS:
        url = form.format(p=inside.v4.port, p6=inside.v6.port, closed=closed_port())
        started = time.monotonic()
        assert only_error(list(iter_sources([url]))) == f"{url}: {REFUSED}"
        assert time.monotonic() - started < 2  # refused at once, not after a connection attempt timed out
        attempts += 1
    assert (attempts, inside.requests()) == (len(FORMS), [])  # fetched: 0 of N


@pytest.mark.parametrize(
    ("answers", "why"),
    [
        (["10.1.2.3"], "a name on the intranet"),
        (["93.184.215.14", "127.0.0.1"], "one public address and one inside: every address is checked"),
        ([], "a name that does not resolve: the same words"),
    ],
)
def test_names_are_judged_by_every_address_they_resolve_to(inside: Inside, answers: list[str], why: str) -> None:
    guard = AddressGuard(resolve=lambda host, port: answers)
    url = f"http://intranet.example:{inside.v4.port}/secret"
    assert only_error(list(iter_url(url, guard=guard))) == f"{url}: {REFUSED}", why
    assert inside.requests() == []


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("64:ff9b::808:808", False),  # NAT64, even of a public address: inside ::/8, reserved
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.31.255.255", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),  # shared address space
        ("0.0.0.0", False),
        ("192.0.2.1", False),  # documentation
        ("224.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::127.0.0.1", False),
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("64:ff9b:1::1", False),  # local-use NAT64
        ("2002:a00:1::1", False),  # 6to4 of 10.0.0.1
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", False),  # Teredo
    ],
)
def test_is_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


def test_allowing_private_addresses_fetches_them() -> None:
    with serve({"/harbour.html": page(ARTICLE)}) as intranet:
        [item] = list(iter_sources([f"http://2130706433:{intranet.port}/harbour.html"], allow_private_urls=True))
    assert isinstance(item, Article) and item.title == "Harbour reopens"
    assert intranet.requests == ["/harbour.html"]


# --- redirects: every hop checked ------------------------------------------------------------------------------------
def canonical(html: bytes, href: str) -> bytes:
    return html.replace(b"</head>", f'<link rel="canonical" href="{href}"></head>'.encode())


@pytest.fixture(scope="module")
def outside(inside: Inside) -> Iterator[Site]:
    p, p6 = inside.v4.port, inside.v6.port
    routes = {
        "/to-inside": redirect(f"http://127.0.0.1:{p}/secret"),
        "/to-localhost": redirect(f"http://localhost:{p}/secret", 301),
        "/to-decimal": redirect(f"http://2130706433:{p}/secret", 307),
        "/to-v6": redirect(f"http://[::1]:{p6}/secret", 308),
        "/to-metadata": redirect(f"http://169.254.169.254:{p}/latest/meta-data/"),
        "/to-file": redirect("file:///etc/passwd"),
        "/chain": redirect("/hop"),  # relative, then on to the inside
        "/hop": redirect("/to-inside"),
        "/loop": redirect("/loop"),
        "/old-address": redirect("/harbour.html", 301),
        "/harbour.html": page(ARTICLE),
        "/harbour.html?utm=feed": page(canonical(ARTICLE, "/harbour.html")),
        "/print/harbour": page(canonical(ARTICLE, "https://other.example/harbour.html")),
    }
    with serve(routes, "127.0.0.2") as site:
        yield site


OUTSIDE = AddressGuard(also_public=OUTSIDE_NET)


@pytest.mark.parametrize(
    "path", ["/to-inside", "/to-localhost", "/to-decimal", "/to-v6", "/to-metadata", "/to-file", "/chain"]
)
def test_a_redirect_to_the_inside_is_refused(inside: Inside, outside: Site, path: str) -> None:
    url = outside.base + path
    assert only_error(list(iter_url(url, guard=OUTSIDE))) == f"{url}: {REFUSED}"
    assert inside.requests() == []


def test_redirects_are_bounded(outside: Site) -> None:
    url = outside.base + "/loop"
    assert only_error(list(iter_url(url, guard=OUTSIDE))) == f"{url}: more than 5 redirects — check the address"


def test_a_redirect_outside_is_followed_and_names_the_article(outside: Site) -> None:
    [via_redirect] = list(iter_url(outside.base + "/old-address", guard=OUTSIDE))
    [direct] = list(iter_url(outside.base + "/harbour.html", guard=OUTSIDE))
    assert isinstance(via_redirect, Article) and isinstance(direct, Article)
    assert via_redirect.url == direct.url == outside.base + "/harbour.html"  # the final address
    assert via_redirect.doc_id == direct.doc_id == url_doc_id(outside.base + "/harbour.html")  # so: one article
    assert via_redirect.title == "Harbour reopens"


def test_a_canonical_link_on_the_same_host_names_the_article(outside: Site) -> None:
    [direct] = list(iter_url(outside.base + "/harbour.html", guard=OUTSIDE))
    [tracked] = list(iter_url(outside.base + "/harbour.html?utm=feed", guard=OUTSIDE))
    [elsewhere] = list(iter_url(outside.base + "/print/harbour", guard=OUTSIDE))
    assert isinstance(direct, Article) and isinstance(tracked, Article) and isinstance(elsewhere, Article)
    assert (tracked.doc_id, tracked.url) == (direct.doc_id, direct.url)  # the canonical link, relative here
    assert (elsewhere.doc_id, elsewhere.url) == (
        url_doc_id(outside.base + "/print/harbour"),
        outside.base + "/print/harbour",
    )
    # a canonical link to another host is ignored: a page must not take another site's article's place


# --- DNS rebinding: the connection goes to the address that was checked ----------------------------------------------
@pytest.fixture
def same_port_inside_and_outside() -> Iterator[tuple[Site, Site]]:
    """An outside server on 127.0.0.2 and an inside one on 127.0.0.1, on one port: a name can point at either."""
    for _ in range(20):
        with serve({"/page": page(ARTICLE), "/again": redirect("/page")}, "127.0.0.2") as out:
            try:
                with serve({"/page": page(SECRET), "/again": page(SECRET)}, "127.0.0.1", out.port) as ins:
                    yield out, ins
                    return
            except OSError:  # that port is taken on 127.0.0.1: try another
                continue
    pytest.fail("no port free on both 127.0.0.1 and 127.0.0.2")


def rebinding(first: str, then: str) -> tuple[AddressGuard, list[str]]:
    """A guard whose resolver answers `first` once, then `then`, and the names it was asked for."""
    asked: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return [first if len(asked) == 1 else then]

    return AddressGuard(also_public=OUTSIDE_NET, resolve=resolve), asked


def test_rebinding_cannot_switch_the_address_after_the_check(same_port_inside_and_outside: tuple[Site, Site]) -> None:
    out, ins = same_port_inside_and_outside
    guard, asked = rebinding("127.0.0.2", "127.0.0.1")
    [article] = list(iter_url(f"http://news.example:{out.port}/page", guard=guard))
    assert isinstance(article, Article) and article.title == "Harbour reopens"
    assert asked == ["news.example"]  # resolved once: the checked answer is the one connected to
    assert (out.requests, ins.requests) == (["/page"], [])


def test_every_new_connection_is_checked_again(same_port_inside_and_outside: tuple[Site, Site]) -> None:
    out, ins = same_port_inside_and_outside
    guard, asked = rebinding("127.0.0.2", "127.0.0.1")
    url = f"http://news.example:{out.port}/again"  # redirects to /page on the same name, on a new connection
    assert only_error(list(iter_url(url, guard=guard))) == f"{url}: {REFUSED}"
    assert asked == ["news.example", "news.example"]
    assert (out.requests, ins.requests) == (["/again"], [])


# --- size, time and charset --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bombs() -> Iterator[Site]:
    zeros = bytes(BOMB_MB * 2**20)
    routes = {
        "/small": page(ARTICLE),
        "/bomb.gz": page(gzip.compress(zeros, 9), "text/plain", content_encoding="gzip"),
        "/plain-huge": page(zeros.replace(b"\x00", b"a"), "text/plain"),  # refused on its Content-Length
        "/plain-endless": endless,  # no length given: cut off while read
    }
    with serve(routes) as site:
        yield site


# Peak memory of a fetch, in a fresh process. Linux: the high-water mark is reset after the warm-up and read from
# /proc (getrusage's ru_maxrss keeps the start-up peak, which the imports alone can push past a 20 MB body).
MEASURE = """
import json, sys
from rag.errors import ArticleUnreadable
from rag.ingest.fetch import fetch
from rag.ingest.guard import AddressGuard

def peak_kb():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))

guard = AddressGuard(allow_private=True)
fetch(sys.argv[1] + "/small", guard=guard)  # imports, TLS context, a first connection: paid before measuring
with open("/proc/self/clear_refs", "w") as fh:  # the peak so far becomes the current size
    fh.write("5")
before = peak_kb()
try:
    fetch(sys.argv[1] + sys.argv[2], guard=guard)
    message = None
except ArticleUnreadable as exc:
    message = str(exc)
print(json.dumps({"growth_mb": (peak_kb() - before) / 1024, "message": message}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the peak memory from /proc")
@pytest.mark.parametrize("path", ["/bomb.gz", "/plain-huge", "/plain-endless"])
def test_a_body_is_stopped_at_the_limit_while_it_is_read(bombs: Site, path: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, bombs.base, path], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["message"] == f"{bombs.base}{path}: larger than 20 MB — is it an article?"
    assert result["growth_mb"] < 30, result  # the 20 MB kept before the limit, never the 50 MB


def test_a_trickling_server_is_stopped_at_the_deadline() -> None:
    with serve({"/trickle": trickle}) as site:
        url = site.base + "/trickle"
        started = time.monotonic()
        with pytest.raises(ArticleUnreadable) as caught:
            fetch(url, timeout=1.0, guard=AddressGuard(allow_private=True))
        elapsed = time.monotonic() - started
    assert str(caught.value) == f"{url}: timed out after 1 s — try again later"
    assert 0.9 < elapsed < 1.5  # one deadline for the URL, not one per read


LATIN_TEXT = "Título del artículo\n\nLa cafetería abrió el lunes; el señor Núñez habló con la prensa sobre el año.\n"
CYRILLIC = (
    "Гавань открылась в понедельник после шторма, который закрыл её на три дня, сообщили официальные лица города."
)
CP1252_TEXT = (
    "Café reopens\n\n“Nous avons rouvert le café à l’aube,” a déclaré la propriétaire, Hélène Dupré. "
    "Les clients étaient nombreux dès l’ouverture, et la terrasse était pleine à midi — une première depuis l’été.\n"
)


@pytest.fixture(scope="module")
def charsets() -> Iterator[Site]:
    html = f"<html><head><meta charset='windows-1251'><title>Гавань</title></head><body><p>{CYRILLIC}</p></body></html>"
    routes = {
        "/latin.txt": page(LATIN_TEXT.encode("latin-1"), "text/plain; charset=iso-8859-1"),
        "/meta.html": page(html.encode("cp1251"), "text/html"),
        "/undeclared.txt": page(CP1252_TEXT.encode("cp1252"), "text/plain"),
    }
    with serve(routes) as site:
        yield site


def fetched_article(url: str) -> Article:
    [item] = list(iter_sources([url], allow_private_urls=True))
    assert isinstance(item, Article), item
    return item


def test_a_declared_latin1_page_is_read(charsets: Site) -> None:
    article = fetched_article(charsets.base + "/latin.txt")
    assert (article.title, article.text) == (
        "Título del artículo",
        "La cafetería abrió el lunes; el señor Núñez habló con la prensa sobre el año.",
    )


def test_a_meta_charset_is_honoured(charsets: Site) -> None:
    assert fetched_article(charsets.base + "/meta.html").text == CYRILLIC


def test_an_undeclared_charset_is_detected(charsets: Site) -> None:
    article = fetched_article(charsets.base + "/undeclared.txt")
    assert article.text == CP1252_TEXT.split("\n\n", 1)[1].strip()


# --- the Telegram bot's /ingest goes through the same fetch, with the same setting ------------------------------
@pytest.mark.asyncio
@pytest.mark.parametrize("allow", [False, True])
async def test_telegram_ingest_uses_the_guard(tmp_path: Path, allow: bool) -> None:
    from tests.test_telegram_handlers import ADMIN, Harness, sent, typing

    with serve({"/harbour.html": page(ARTICLE)}) as intranet:
        url = f"http://2130706433:{intranet.port}/harbour.html"
        async with Harness(tmp_path, allow_private_urls=allow) as bot:
            calls = await bot.run(bot.message(f"/ingest {url}", chat_id=ADMIN, user_id=ADMIN))
    if allow:
        assert [a.title for a in bot.pipeline.indexed] == ["Harbour reopens"]
        assert intranet.requests == ["/harbour.html"]
    else:
        assert calls == [typing(ADMIN), sent(f"Could not index {url}: {url}: {REFUSED}", chat_id=ADMIN)]
        assert (bot.pipeline.indexed, intranet.requests) == ([], [])
