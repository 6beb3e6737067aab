"""Feeds over HTTP: a conditional GET through the address guard, and RSS, Atom or JSON Feed parsed into entries.

A feed fetch
- goes through the same guarded connections as `rag.ingest.fetch` (public addresses only unless allowed, every
  redirect hop checked, one deadline, the size cap counted on the decompressed body);
- sends If-None-Match / If-Modified-Since from the last answer, so an unchanged feed costs one 304 and nothing else;
- says where a chain of permanent redirects (301/308) led, so the stored URL can follow the feed;
- names newsbot and its version in the User-Agent.

Parsing uses feedparser for RSS 0.9x/1.0/2.0 and Atom (a malformed feed yields what parses, and a note says so)
and `json` for JSON Feed. A document that declares XML entities is refused before parsing: no billion laughs.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import httpcore
import httpx

from rag.config import FETCH_TIMEOUT
from rag.errors import ArticleUnreadable
from rag.ingest.fetch import MAX_REDIRECTS, TooManyRedirects, final_response, guarded_client, read_body, unreachable
from rag.ingest.guard import AddressGuard, Refused
from rag.ingest.loaders import one_line

FEED_MAX_BYTES = 50 * 1024 * 1024  # decompressed
FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json", "application/json")
OLDEST = datetime(1990, 1, 1, tzinfo=UTC)  # a date before this is a feed's placeholder (1970), not a publication
_ENTITY = re.compile(rb"<!ENTITY", re.IGNORECASE)


@functools.cache
def user_agent() -> str:
    """The User-Agent of every feed and page request: newsbot and its version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"newsbot/{version('newsbot')} (+feed reader)"
    except PackageNotFoundError:
        return "newsbot (+feed reader)"


class FeedError(ArticleUnreadable):
    """A feed that cannot be read: the message names the feed and what to do."""


@dataclass(frozen=True)
class FeedResponse:
    """One answer to a feed request: 200 with a body, or 304 (unchanged) without one."""

    url: str  # the final URL, after redirects
    status: int
    body: bytes = b""
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None
    moved_to: str | None = None  # where permanent redirects (only) led: the feed's new address


def fetch_feed(
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    timeout: float = FETCH_TIMEOUT,
    guard: AddressGuard | None = None,
    max_bytes: int = FEED_MAX_BYTES,
) -> FeedResponse:
    """GET a feed conditionally; FeedError naming the feed and the fix when it cannot be had."""
    guard = guard or AddressGuard()
    headers = {"User-Agent": user_agent(), "Accept-Encoding": "gzip, deflate"}
    headers["Accept"] = (
        "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, */*;q=0.8"
    )
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        with guarded_client(guard, timeout, headers) as client, final_response(client, url) as (final, response, moved):
            common = {
                "url": final,
                "etag": response.headers.get("etag"),
                "last_modified": response.headers.get("last-modified"),
                "moved_to": moved,
            }
            if response.status_code == 304:
                return FeedResponse(status=304, **common)
            if response.status_code >= 400:
                raise FeedError(f"{url}: the server answered HTTP {response.status_code} — check the feed's address")
            body = read_body(response, max_bytes, url)
            ctype = response.headers.get("content-type", "")
            return FeedResponse(status=response.status_code, body=body, content_type=ctype, **common)
    except TooManyRedirects:
        raise FeedError(f"{url}: more than {MAX_REDIRECTS} redirects (a loop?) — check the feed's address") from None
    except (Refused, httpx.InvalidURL, httpx.UnsupportedProtocol, httpcore.ConnectError, httpcore.ConnectTimeout):
        raise FeedError(str(unreachable(url, guard))) from None
    except httpcore.TimeoutException:
        raise FeedError(f"{url}: the feed timed out after {timeout:g} s — newsbot tries again later") from None
    except FeedError:
        raise
    except ArticleUnreadable as exc:
        raise FeedError(str(exc).replace("is it an article?", "is it a feed?")) from None
    except (httpcore.NetworkError, httpcore.ProtocolError, httpx.HTTPError) as exc:
        raise FeedError(f"{url}: the transfer failed ({type(exc).__name__}) — newsbot tries again later") from None


# --- parsing ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    """One feed entry, as the feed tells it."""

    key: str  # the entry's identity in its feed: GUID/id, else link, else a digest of title and text
    link: str | None
    title: str
    published: str | None  # ISO 8601, None when absent or implausible
    text: str  # the entry's own content or summary, as plain text
    source: str  # the outlet: the entry's source, else the feed's title
    digest: str  # changes when the entry changes


@dataclass
class ParsedFeed:
    """A parsed feed: its title, its entries and notes on what did not parse."""

    title: str
    entries: list[Entry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class _Text(HTMLParser):
    """Plain text of an HTML fragment: paragraphs kept apart, scripts and styles left out."""

    BLOCKS = frozenset(
        {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "tr", "section", "article"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skip += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def html_text(fragment: str) -> str:
    """Plain text of an HTML fragment (a feed's description), paragraphs separated by blank lines."""
    if "<" not in fragment and "&" not in fragment:
        return "\n\n".join(" ".join(p.split()) for p in re.split(r"\n\s*\n", fragment) if p.strip())
    parser = _Text()
    parser.feed(fragment)
    parser.close()
    paragraphs = (" ".join(p.split()) for p in "".join(parser.parts).split("\n\n"))
    return "\n\n".join(p for p in paragraphs if p)


def plausible_date(value: datetime | None, now: datetime) -> str | None:
    """An ISO date, or None for a date in the future (past a day's clock skew) or before 1990 (a placeholder)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if value < OLDEST or value > now + timedelta(days=1):
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat()


def _digest(*parts: str | None) -> str:
    return hashlib.sha1("\x1f".join(p or "" for p in parts).encode("utf-8")).hexdigest()[:16]


def _entry(
    key: str | None,
    link: str | None,
    title: str,
    when: datetime | None,
    text: str,
    source: str,
    feed_url: str,
    now: datetime,
    notes: list[str],
) -> Entry | None:
    link = urljoin(feed_url, link.strip()) if link and link.strip() else None
    if link and not link.startswith(("http://", "https://")):
        link = None
    published = plausible_date(when, now)
    title = one_line(title)
    if when is not None and published is None:
        notes.append(
            f"{feed_url}: the entry “{title or link}” is dated {when.date().isoformat()}, which cannot be its "
            "publication date — indexed without a date (the publisher should fix the feed)"
        )
    if not title:
        title = one_line(text)[:80] or (link or "")
    if not link and not text:
        notes.append(f"{feed_url}: an entry with neither link nor text was skipped (nothing to index)")
        return None
    key = (key or "").strip() or link or _digest(title, text)
    return Entry(key, link, title, published, text, source, _digest(title, link, published, text))


def _struct_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        y, mo, d, h, mi, sec = (int(v) for v in value[:6])
        return datetime(y, mo, d, h, mi, sec, tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def looks_like_json(body: bytes, content_type: str) -> bool:
    return "json" in content_type.lower() or body.lstrip()[:1] == b"{"


def parse_feed(body: bytes, url: str, content_type: str = "", *, now: datetime | None = None) -> ParsedFeed:
    """Entries of an RSS, Atom or JSON Feed document; FeedError when it is none (the message names the fix)."""
    now = now or datetime.now(UTC)
    if looks_like_json(body, content_type):
        return _parse_json_feed(body, url, now)
    if _ENTITY.search(body):
        raise FeedError(f"{url}: the feed declares XML entities (a possible XML bomb) — not parsed; ask its publisher")
    import feedparser

    parsed = feedparser.parse(body, response_headers={"content-type": content_type or "application/xml"})
    feed = parsed.get("feed", {})
    notes: list[str] = []
    if not parsed.get("version") and not parsed.entries:
        head = body[:2048].lower()
        what = "an HTML page" if b"<html" in head or b"<!doctype html" in head else "not a feed"
        raise FeedError(f"{url}: {what}, and it advertises no feed — give the feed's own URL (RSS, Atom or JSON Feed)")
    if parsed.get("bozo"):
        reason = parsed.get("bozo_exception")
        notes.append(
            f"{url}: the feed is malformed ({type(reason).__name__ if reason else 'unknown'}); "
            f"{len(parsed.entries)} entries parsed — the publisher should fix it"
        )
    title = one_line(feed.get("title", "")) or url
    out = ParsedFeed(title, notes=notes)
    for e in parsed.entries:
        content = e.get("content") or []
        html = max((c.get("value", "") for c in content), key=len, default="") or e.get("summary", "")
        source = one_line((e.get("source") or {}).get("title", "")) or title
        when = _struct_time(e.get("published_parsed")) or _struct_time(e.get("updated_parsed"))
        link = e.get("link")
        if e.get("guidislink") and not str(link).startswith(("http://", "https://")):
            link = None  # a GUID that is no URL (RSS makes it the link by default)
        entry = _entry(e.get("id"), link, e.get("title", ""), when, html_text(html or ""), source, url, now, notes)
        if entry is not None:
            out.entries.append(entry)
    return out


def _iso(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _parse_json_feed(body: bytes, url: str, now: datetime) -> ParsedFeed:
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        raise FeedError(f"{url}: not a feed (bad JSON) — give the feed's own URL (RSS, Atom or JSON Feed)") from None
    if not isinstance(doc, dict) or not str(doc.get("version", "")).startswith("https://jsonfeed.org/version/"):
        raise FeedError(f"{url}: JSON but not a JSON Feed — give the feed's own URL (RSS, Atom or JSON Feed)")
    title = one_line(str(doc.get("title", ""))) or url
    out = ParsedFeed(title)
    items = doc.get("items")
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            out.notes.append(f"{url}: an item that is not an object was skipped — the publisher should fix the feed")
            continue
        html = item.get("content_html") or ""
        text = html_text(str(html)) if html else html_text(str(item.get("content_text") or item.get("summary") or ""))
        when = _iso(item.get("date_published")) or _iso(item.get("date_modified"))
        link = item.get("url") or item.get("external_url")
        entry = _entry(
            str(item.get("id", "")),
            link if isinstance(link, str) else None,
            str(item.get("title") or ""),
            when,
            text,
            title,
            url,
            now,
            out.notes,
        )
        if entry is not None:
            out.entries.append(entry)
    return out


# --- discovery -------------------------------------------------------------------------------------------------
class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        rels = a.get("rel", "").lower().split()
        if tag == "link" and "alternate" in rels and a.get("type", "").lower() in FEED_TYPES and a.get("href"):
            self.found.append(a["href"])


def advertised_feeds(html: bytes, url: str) -> list[str]:
    """The feeds an HTML page advertises with <link rel="alternate" type="application/rss+xml|atom+xml|feed+json">."""
    parser = _Links()
    parser.feed(html[: 512 * 1024].decode("utf-8", "replace"))
    return list(dict.fromkeys(urljoin(url, href) for href in parser.found))


def is_html(response: FeedResponse) -> bool:
    ctype = response.content_type.split(";")[0].strip().lower()
    head = response.body[:1024].lstrip().lower()
    return ctype in ("text/html", "application/xhtml+xml") or head.startswith((b"<!doctype html", b"<html"))


def iter_entries(parsed: ParsedFeed) -> Iterator[Entry]:
    """The entries, newest first where dated (a refresh cut short has the latest news)."""
    yield from sorted(parsed.entries, key=lambda e: e.published or "", reverse=True)


def resolve_feed(url: str, *, guard: AddressGuard, timeout: float = FETCH_TIMEOUT) -> tuple[str, str]:
    """The feed a URL names: (feed URL, title). A web page that advertises feeds gives its first one; FeedError
    when the URL is neither a feed nor a page advertising one."""
    response = fetch_feed(url, timeout=timeout, guard=guard)
    if is_html(response):
        for candidate in advertised_feeds(response.body, response.url):
            found = fetch_feed(candidate, timeout=timeout, guard=guard)
            return candidate, parse_feed(found.body, candidate, found.content_type).title
        raise FeedError(f"{url}: a web page that advertises no feed — give the feed's own URL (RSS, Atom or JSON Feed)")
    return response.moved_to or url, parse_feed(response.body, url, response.content_type).title
