"""Articles from http(s) URLs, fetched with httpx."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx

from rag.config import FETCH_TIMEOUT
from rag.errors import ArticleUnreadable
from rag.ingest.loaders import SUFFIXES, Loaded, decode, parse, slug

log = logging.getLogger(__name__)
MAX_BYTES = 20 * 1024 * 1024


def url_doc_id(url: str) -> str:
    """A stable doc id for a URL: host and last path part, plus a short digest of the whole URL."""
    parts = urlsplit(url)
    tail = parts.path.rstrip("/").rsplit("/", 1)[-1] or "index"
    digest = hashlib.sha1(url.encode("utf-8")).hexdigest()[:8]
    return slug(f"{parts.hostname}-{tail.rsplit('.', 1)[0]}-{digest}")


def _kind(url: str, content_type: str) -> str | None:
    ctype = content_type.split(";")[0].strip().lower()
    if ctype in ("text/html", "application/xhtml+xml"):
        return "html"
    if ctype in ("text/markdown", "text/x-markdown"):
        return "md"
    suffix = "." + urlsplit(url).path.rsplit(".", 1)[-1].lower() if "." in urlsplit(url).path else ""
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    if ctype == "text/plain":
        return "txt"
    return None


def fetch(url: str, *, timeout: float = FETCH_TIMEOUT) -> httpx.Response:
    """GET a URL (redirects followed), or ArticleUnreadable saying what went wrong."""
    try:
        response = httpx.get(url, timeout=timeout, follow_redirects=True, headers={"User-Agent": "newsbot"})
    except httpx.TimeoutException:
        raise ArticleUnreadable(f"{url}: timed out after {timeout:g} s — try again later") from None
    except httpx.HTTPError as exc:
        raise ArticleUnreadable(f"{url}: cannot fetch ({type(exc).__name__}) — check the address") from None
    if response.status_code >= 400:
        raise ArticleUnreadable(f"{url}: the server answered HTTP {response.status_code} — check the address")
    if len(response.content) > MAX_BYTES:
        raise ArticleUnreadable(f"{url}: larger than {MAX_BYTES // 2**20} MB — is it an article?")
    return response


def iter_url(url: str, *, timeout: float = FETCH_TIMEOUT) -> Iterator[Loaded]:
    """Articles of one URL: an HTML page, plain text, Markdown or a JSONL corpus."""
    try:
        response = fetch(url, timeout=timeout)
        kind = _kind(str(response.url), response.headers.get("content-type", ""))
        if kind is None:
            raise ArticleUnreadable(
                f"{url}: unsupported content type {response.headers.get('content-type')!r} — "
                "newsbot reads HTML, text, Markdown and JSONL"
            )
        text = decode(response.content, url)
    except ArticleUnreadable as exc:
        yield exc
        return
    yield from parse(kind, url_doc_id(url), text, name=url, url=url)
