"""From a feed entry to an article: the linked page's main text, or the entry's own text when that is fuller.

Title, publication time, outlet and URL come from the entry; the doc id is stable for the article (its link,
else its GUID), so an updated entry replaces its article and an unchanged one keeps it.
"""

from __future__ import annotations

import hashlib
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from urllib.parse import urlsplit

from rag.errors import ArticleUnreadable
from rag.ingest.feeds import Entry
from rag.ingest.fetch import fetch, page_text, url_doc_id
from rag.ingest.guard import AddressGuard
from rag.ingest.loaders import article_from_html, slug
from rag.types import Article


class HostLimit:
    """At most `per_host` requests at once to one host, across threads."""

    def __init__(self, per_host: int) -> None:
        self.per_host = max(1, per_host)
        self.lock = threading.Lock()
        self.slots: dict[str, threading.Semaphore] = defaultdict(lambda: threading.Semaphore(self.per_host))

    @contextmanager
    def slot(self, url: str) -> Iterator[None]:
        with self.lock:
            sem = self.slots[(urlsplit(url).hostname or "").lower()]
        with sem:
            yield


def entry_doc_id(entry: Entry) -> str:
    """The article's doc id: from its link, else from its GUID."""
    if entry.link:
        return url_doc_id(entry.link)
    return slug("entry-" + hashlib.sha1(entry.key.encode("utf-8")).hexdigest()[:16])


def entry_article(
    entry: Entry, *, guard: AddressGuard, timeout: float, limit: HostLimit
) -> Article | ArticleUnreadable:
    """The article an entry announces: the page's text when the page is readable and no thinner than the entry's."""
    doc_id = entry_doc_id(entry)
    page: Article | None = None
    if entry.link:
        try:
            with limit.slot(entry.link):
                fetched = fetch(entry.link, timeout=timeout, guard=guard)
            if "html" in fetched.content_type.lower() or fetched.body[:512].lstrip().lower().startswith(b"<"):
                page = article_from_html(
                    doc_id, page_text(fetched, "html", entry.link), url=entry.link, name=entry.link
                )
        except ArticleUnreadable:
            page = None  # the entry's own text stands in
    text = page.text if page is not None and len(page.text) >= len(entry.text) else entry.text
    if not text.strip():
        return ArticleUnreadable(f"{entry.link or entry.key}: neither the page nor the feed entry has text — skipped")
    published = entry.published or (page.published if page is not None else None)
    return Article(doc_id, entry.title, text, source=entry.source, published=published, url=entry.link)


def prefetched(
    entries: list[tuple[int, Entry]],
    make: Callable[[Entry], Article | ArticleUnreadable],
    *,
    workers: int,
    stop: Callable[[], bool] = lambda: False,
) -> Iterator[tuple[int, Entry, Article | ArticleUnreadable]]:
    """The articles of these entries in order, the next ones' pages downloading while the caller embeds.
    Stops handing out (and fetching) when `stop()` says so; the article in hand is the caller's to finish."""
    window = max(2, workers * 2)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="newsbot-page") as pool:
        futures: list[Future[Article | ArticleUnreadable]] = []
        try:
            for _, entry in entries[:window]:
                futures.append(pool.submit(make, entry))
            for i, (feed_id, entry) in enumerate(entries):
                if stop():
                    return
                article = futures[i].result()
                if i + window < len(entries):
                    futures.append(pool.submit(make, entries[i + window][1]))
                yield feed_id, entry, article
        finally:
            for f in futures:
                f.cancel()
