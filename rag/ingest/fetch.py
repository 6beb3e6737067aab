"""Articles from http(s) URLs: the one fetch behind `newsbot ingest URL` and the Telegram bot's /ingest.

A fetch
- reads http and https only, and connects only to addresses the `AddressGuard` allows, checked as each
  connection opens: the first one and every redirect hop (redirects are followed here, at most MAX_REDIRECTS);
- words every refusal and every failure to connect alike (`unreachable`), so its answers tell nothing about
  what listens inside a network;
- has one deadline for the whole URL — connecting, redirects and reading — however slowly a server trickles;
- counts its size limit on the decompressed body while reading it, so a small gzip body cannot inflate past it;
- decodes a page by its declared charset or, when none is declared, a detected one.
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import re
import ssl
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from rag.config import FETCH_TIMEOUT
from rag.errors import ArticleUnreadable
from rag.ingest.guard import AddressGuard, Refused
from rag.ingest.loaders import SUFFIXES, Loaded, parse, slug
from rag.types import Article

MAX_BYTES = 20 * 1024 * 1024  # decompressed
MAX_REDIRECTS = 5
PIECE = 64 * 1024  # the most a body grows by at once: one socket read, or one piece of inflated output
_HEADERS = {"User-Agent": "newsbot", "Accept-Encoding": "gzip, deflate"}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)


@dataclass(frozen=True)
class Page:
    """A fetched page: its final URL (after redirects), its content type and its body, decompressed."""

    url: str
    content_type: str
    body: bytes


def url_doc_id(url: str) -> str:
    """A stable doc id for a URL: host and last path part, plus a short digest of the URL (without #fragment)."""
    parts = urlsplit(url)
    tail = parts.path.rstrip("/").rsplit("/", 1)[-1] or "index"
    digest = hashlib.sha1(url.split("#", 1)[0].encode("utf-8")).hexdigest()[:8]
    return slug(f"{parts.hostname}-{tail.rsplit('.', 1)[0]}-{digest}")


def unreachable(url: str, guard: AddressGuard) -> ArticleUnreadable:
    """The one message for a refused address and for any failure to connect: the same whatever lies behind."""
    scope = "" if guard.allow_private else " (newsbot fetches public http and https pages only)"
    return ArticleUnreadable(f"{url}: cannot fetch — check the address{scope}")


# --- connections: only to checked addresses, never past the deadline ------------------------------------------
# The guard sits in an httpcore network backend rather than in a rewritten URL (the IP with a Host header and
# the `sni_hostname` extension) because every connection httpx opens passes through it: the first one, each
# redirect hop and any reconnection, so none can skip the check. The host is resolved once per connection and
# the socket goes to an address of that same answer, so DNS rebinding cannot switch it between the check and
# the connect; TLS still verifies the certificate against the host name. And each socket operation gets only
# the time left before the deadline, which a per-request timeout cannot give.


class _Backend(httpcore.NetworkBackend):
    def __init__(self, guard: AddressGuard, deadline: float) -> None:
        self.guard, self.deadline, self.inner = guard, deadline, httpcore.SyncBackend()

    def left(self, timeout: float | None) -> float:
        """Seconds an operation may take: its own timeout, cut to the time left before the deadline."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout("the deadline passed")
        return left if timeout is None else min(timeout, left)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        failure: Exception = Refused(host)
        for address in self.guard.addresses(host, port):  # every one checked; tried in the resolver's order
            try:
                stream = self.inner.connect_tcp(address, port, self.left(timeout), local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
                continue
            return _DeadlineStream(stream, self)
        raise failure

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        raise Refused("unix socket")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, backend: _Backend) -> None:
        self.inner, self.backend = inner, backend

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, self.backend.left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, self.backend.left(timeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> Any:
        tls = self.inner.start_tls(ssl_context, server_hostname, self.backend.left(timeout))
        return _DeadlineStream(tls, self.backend)

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One TLS context for every fetch: loading the CA certificates takes ~20 ms, more than a 304 on loopback."""
    return httpx.create_ssl_context()


class _Transport(httpx.BaseTransport):
    """httpx over an httpcore pool with the guarded backend; the body comes back as sent (still compressed)."""

    def __init__(self, backend: _Backend) -> None:
        self.pool = httpcore.ConnectionPool(ssl_context=_ssl_context(), network_backend=backend)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        response = self.pool.handle_request(
            httpcore.Request(
                request.method,
                httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
                headers=request.headers.raw,
                content=request.stream,
                extensions=request.extensions,
            )
        )
        return httpx.Response(
            response.status, headers=response.headers, stream=_Body(response), extensions=response.extensions
        )

    def close(self) -> None:
        self.pool.close()


class _Body(httpx.SyncByteStream):
    def __init__(self, response: httpcore.Response) -> None:
        self.response = response

    def __iter__(self) -> Iterator[bytes]:
        yield from self.response.iter_stream()

    def close(self) -> None:
        self.response.close()


# --- the fetch ---------------------------------------------------------------------------------------------------
class TooManyRedirects(Exception):
    """More than MAX_REDIRECTS hops (a loop?); each caller says so in its own words."""


def guarded_client(guard: AddressGuard, timeout: float, headers: Mapping[str, str]) -> httpx.Client:
    """An httpx client whose every connection goes through `guard`, with one deadline, `timeout` seconds from now,
    for everything it does (connecting, redirects, reading)."""
    transport = _Transport(_Backend(guard, time.monotonic() + timeout))
    return httpx.Client(transport=transport, headers=headers, timeout=timeout, trust_env=False)


@contextmanager
def final_response(client: httpx.Client, url: str) -> Iterator[tuple[str, httpx.Response, str | None]]:
    """GET `url` and follow its redirects: (the final URL, its response, still streaming, and where the
    redirects led when every one was permanent — 301/308 — else None). Each hop's scheme is checked here (Refused)
    and its address by the client's guard; TooManyRedirects past MAX_REDIRECTS."""
    current = httpx.URL(url)
    hops, permanent = 0, True
    for _ in range(MAX_REDIRECTS + 1):
        if current.scheme not in ("http", "https"):
            raise Refused(current.scheme)
        with client.stream("GET", current) as response:
            location = response.headers.get("location")
            if response.is_redirect and location:
                current = current.join(location)
                hops, permanent = hops + 1, permanent and response.status_code in (301, 308)
                continue
            yield str(current), response, str(current) if hops and permanent else None
            return
    raise TooManyRedirects


def fetch(
    url: str, *, timeout: float = FETCH_TIMEOUT, guard: AddressGuard | None = None, max_bytes: int = MAX_BYTES
) -> Page:
    """GET a URL within `timeout` seconds in all, following redirects (each hop checked), its body at most
    `max_bytes` decompressed; ArticleUnreadable saying what went wrong."""
    guard = guard or AddressGuard()
    try:
        with guarded_client(guard, timeout, _HEADERS) as client, final_response(client, url) as (final, response, _):
            if response.status_code >= 400:
                raise ArticleUnreadable(f"{url}: the server answered HTTP {response.status_code} — check the address")
            return Page(final, response.headers.get("content-type", ""), read_body(response, max_bytes, url))
    except TooManyRedirects:
        raise ArticleUnreadable(f"{url}: more than {MAX_REDIRECTS} redirects — check the address") from None
    except (Refused, httpx.InvalidURL, httpx.UnsupportedProtocol, httpcore.ConnectError, httpcore.ConnectTimeout):
        raise unreachable(url, guard) from None
    except httpcore.TimeoutException:
        raise ArticleUnreadable(f"{url}: timed out after {timeout:g} s — try again later") from None
    except (httpcore.NetworkError, httpcore.ProtocolError, httpx.HTTPError) as exc:
        raise ArticleUnreadable(f"{url}: the transfer failed ({type(exc).__name__}) — try again later") from None


def read_body(response: httpx.Response, max_bytes: int, url: str) -> bytes:
    """The body, decompressed as it arrives and stopped as soon as it passes `max_bytes`."""
    too_large = ArticleUnreadable(f"{url}: larger than {max_bytes / 2**20:g} MB — is it an article?")
    inflate = _Inflate.for_encoding(response.headers.get("content-encoding", ""), url)
    declared = response.headers.get("content-length", "")
    if inflate is None and declared.isdigit() and int(declared) > max_bytes:
        raise too_large  # said so before sending it
    body = bytearray()
    for raw in response.iter_raw():
        for piece in inflate(raw) if inflate else (raw,):
            body += piece
            if len(body) > max_bytes:
                raise too_large
    return bytes(body)


class _Inflate:
    """gzip or deflate, inflated in pieces of at most PIECE bytes: a few KB of zeros can inflate a
    thousandfold, and the reader stops at its limit before holding more."""

    def __init__(self, coding: str, url: str) -> None:
        self.coding, self.url = coding, url
        self.z = zlib.decompressobj(zlib.MAX_WBITS | 32 if coding != "deflate" else zlib.MAX_WBITS)
        self.started = False

    @classmethod
    def for_encoding(cls, header: str, url: str) -> _Inflate | None:
        """The inflater a Content-Encoding header asks for; None for none; ArticleUnreadable for others."""
        codings = [c.strip().lower() for c in header.split(",") if c.strip().lower() not in ("", "identity")]
        if not codings:
            return None
        if len(codings) > 1 or codings[0] not in ("gzip", "x-gzip", "deflate"):
            raise ArticleUnreadable(f"{url}: the server sent {header!r}-encoded content, which newsbot cannot read")
        return cls(codings[0], url)

    def __call__(self, data: bytes) -> Iterator[bytes]:
        try:
            while True:
                out = self.z.decompress(data, PIECE)
                self.started = self.started or bool(out)
                if out:
                    yield out
                data = self.z.unconsumed_tail
                if (not data and len(out) < PIECE) or self.z.eof:
                    return
        except zlib.error:
            if self.coding == "deflate" and not self.started:  # raw deflate, without the zlib header
                self.z, self.coding = zlib.decompressobj(-zlib.MAX_WBITS), "raw"
                yield from self(data)
                return
            raise ArticleUnreadable(f"{self.url}: the page's compressed body is corrupt — try again later") from None


# --- bytes → text → articles -------------------------------------------------------------------------------------
def declared_charset(page: Page, kind: str) -> str | None:
    """The charset the Content-Type header names or, for HTML, a <meta> tag near the top."""
    m = re.search(r"charset\s*=\s*[\"']?([^\"';\s]+)", page.content_type, re.IGNORECASE)
    if m:
        return m.group(1)
    if kind == "html":
        meta = _META_CHARSET.search(page.body[:4096])
        return meta.group(1).decode("ascii") if meta else None
    return None


def _codecs_for(label: str) -> list[str]:
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return []
    if name in ("latin-1", "iso8859-1", "ascii"):  # as browsers do: these labels mean windows-1252
        return ["cp1252", name]
    return ["utf-8-sig"] if name == "utf-8" else [name]


def page_text(page: Page, kind: str, url: str) -> str:
    """The text of a page: by its declared charset, else UTF-8, else the charset charset-normalizer detects."""
    declared = declared_charset(page, kind)
    for codec in _codecs_for(declared) if declared else []:
        try:
            return page.body.decode(codec)
        except UnicodeDecodeError:
            continue  # a wrong label: detect instead
    if b"\x00" in page.body[:8192]:
        raise ArticleUnreadable(f"{url}: looks like a binary file — newsbot reads HTML, text, Markdown and JSONL")
    try:
        return page.body.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(page.body).best()
    if best is None:
        raise ArticleUnreadable(f"{url}: cannot tell the page's character encoding — is it a text page?")
    return str(best)


def _kind(url: str, content_type: str) -> str | None:
    ctype = content_type.split(";")[0].strip().lower()
    if ctype in ("text/html", "application/xhtml+xml"):
        return "html"
    if ctype in ("text/markdown", "text/x-markdown"):
        return "md"
    path = urlsplit(url).path
    suffix = "." + path.rsplit(".", 1)[-1].lower() if "." in path else ""
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    if ctype == "text/plain":
        return "txt"
    return None


def iter_url(
    url: str, *, timeout: float = FETCH_TIMEOUT, guard: AddressGuard | None = None, max_bytes: int = MAX_BYTES
) -> Iterator[Loaded]:
    """Articles of one URL: an HTML page, plain text, Markdown or a JSONL corpus. A page's doc id comes from
    its final URL after redirects, or from its canonical URL when it names one on the same host."""
    try:
        page = fetch(url, timeout=timeout, guard=guard, max_bytes=max_bytes)
        kind = _kind(page.url, page.content_type)
        if kind is None:
            raise ArticleUnreadable(
                f"{url}: unsupported content type {page.content_type!r} — newsbot reads HTML, text, Markdown and JSONL"
            )
        text = page_text(page, kind, url)
    except ArticleUnreadable as exc:
        yield exc
        return
    for item in parse(kind, url_doc_id(page.url), text, name=url, url=page.url):
        if isinstance(item, Article) and item.url and item.url != page.url:  # the page's canonical URL
            item = replace(item, doc_id=url_doc_id(item.url))
        yield item
