"""One refresh: fetch the feeds that are due, index their new and updated entries, drop what is past retention.

An unchanged feed costs one conditional request (304) and nothing else; an entry already seen unchanged is skipped
without fetching its page; a story the index already holds under another URL (near-duplicate) is recorded where it
appeared and not indexed again. One feed failing never stops the others: it backs off, and `feeds list` shows why.
Everything indexed goes through `Pipeline.ingest` (the writer lock, the re-ingest rules), everything removed through
`Pipeline.remove_all`, as `newsbot remove` does.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from rag.config import FeedConfig
from rag.errors import ArticleUnreadable
from rag.index.feedtable import Feed, FeedTable
from rag.ingest import dedupe
from rag.ingest.feeds import Entry, FeedError, fetch_feed, is_html, iter_entries, parse_feed
from rag.ingest.follow import HostLimit, entry_article, prefetched
from rag.ingest.guard import AddressGuard
from rag.types import Article, IngestNote, IngestProgress

if TYPE_CHECKING:
    from rag.pipeline import Pipeline

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedOutcome:
    """What one refresh did with one feed."""

    feed_id: int
    url: str
    title: str
    added: int  # articles indexed or replaced
    skipped: int  # entries seen before, unchanged articles, near-duplicates
    status: str  # 'ok', 'unchanged' (304), 'failed', or 'not due'
    error: str | None = None


@dataclass(frozen=True)
class RefreshReport:
    """What one refresh did: one outcome per feed fetched, the articles newly indexed or replaced, and removals."""

    outcomes: tuple[FeedOutcome, ...] = ()
    new_doc_ids: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()  # entries that could not be indexed
    chunks: int = 0
    seconds: float = 0.0


@dataclass
class _Fetched:
    feed: Feed
    entries: list[Entry] = field(default_factory=list)
    skipped: int = 0
    status: str = "ok"
    error: str | None = None


def feed_table(pipeline: Pipeline) -> FeedTable:
    """The feeds table beside the pipeline's registry."""
    return FeedTable(pipeline.registry.path)


def _fetch_one(
    table: FeedTable, feed: Feed, config: FeedConfig, guard: AddressGuard, limit: HostLimit, now: float
) -> _Fetched:
    out = _Fetched(feed)
    try:
        with limit.slot(feed.url):
            response = fetch_feed(
                feed.url, etag=feed.etag, last_modified=feed.last_modified, timeout=config.timeout, guard=guard
            )
        moved = response.moved_to if response.moved_to and table.find(response.moved_to) is None else None
        if response.status == 304:
            table.fetched(
                feed,
                now,
                config.every,
                status="unchanged",
                etag=feed.etag if response.etag is None else response.etag,
                last_modified=response.last_modified or feed.last_modified,
                url=moved,
            )
            out.status = "unchanged"
            return out
        if is_html(response):
            raise FeedError(
                f"{feed.url}: the server sent an HTML page, not the feed (an error page?) — check the address, "
                "or remove the feed and add the page that advertises it"
            )
        parsed = parse_feed(response.body, feed.url, response.content_type)
        seen = table.seen(feed.id)
        for entry in iter_entries(parsed):
            if seen.get(entry.key) == entry.digest:
                out.skipped += 1
            else:
                out.entries.append(entry)
        out.error = "; ".join(parsed.notes) or None
        table.fetched(
            feed,
            now,
            config.every,
            status="ok",
            title=parsed.title,
            etag=response.etag,
            last_modified=response.last_modified,
            url=moved,
        )
    except ArticleUnreadable as exc:
        table.failed(feed, now, config.every, str(exc))
        out.status, out.error = "failed", str(exc)
    return out


def refresh(
    pipeline: Pipeline,
    *,
    all: bool = False,
    now: float | None = None,
    keep_days: int | None = None,
    progress: Callable[[IngestProgress], None] | None = None,
    config: FeedConfig | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> RefreshReport:
    """One pass over the feeds that are due (`all`: every feed). `stop()` turning true ends the pass after the
    article in hand (everything indexed so far stays, the rest waits for the next pass)."""
    config = config or FeedConfig()
    keep_days = config.keep_days if keep_days is None else keep_days
    started = time.perf_counter()
    now = time.time() if now is None else now
    table = feed_table(pipeline)
    guard = AddressGuard(allow_private=config.allow_private)
    limit = HostLimit(config.per_host)
    try:
        due = table.due(now, config.every, everything=all)
        with ThreadPoolExecutor(max_workers=max(1, config.workers), thread_name_prefix="newsbot-feed") as pool:
            fetched = list(pool.map(lambda f: _fetch_one(table, f, config, guard, limit, now), due))
        work = [(f.feed.id, e) for f in fetched for e in f.entries]
        per_feed: dict[int, dict[str, int]] = {f.feed.id: {"added": 0, "skipped": f.skipped} for f in fetched}
        notes: list[str] = [f.error for f in fetched if f.error and f.status != "failed"]
        new_ids: list[str] = []
        failed: list[str] = []
        chunks = 0
        if work:
            indexed = {a.doc_id for a in pipeline.articles()}  # a removed article's sketch no longer counts
            sketches = dedupe.Sketches([(d, sig) for d, sig in table.sketches() if d in indexed])
            taken: dict[str, tuple[int, Entry, bytes]] = {}  # doc id → (feed, entry, sketch) yielded to the ingest
            handled: dict[int, list[tuple[str, str, str]]] = {}

            def articles() -> Iterator[Article | ArticleUnreadable | IngestNote]:
                made = prefetched(
                    work,
                    lambda e: entry_article(e, guard=guard, timeout=config.timeout, limit=limit),
                    workers=config.workers,
                    stop=stop,
                )
                for feed_id, entry, article in made:
                    if isinstance(article, ArticleUnreadable):
                        failed.append(str(article))
                        yield article
                        continue
                    sig = dedupe.signature(article.text)
                    first = sketches.match(sig, other_than=article.doc_id)
                    if first is not None:
                        table.duplicate(first, entry.link or entry.key, entry.source)
                        handled.setdefault(feed_id, []).append((entry.key, entry.digest, first))
                        per_feed[feed_id]["skipped"] += 1
                        continue
                    sketches.add(article.doc_id, sig)
                    taken[article.doc_id] = (feed_id, entry, sig.tobytes())
                    yield article

            report = pipeline.ingest(articles(), progress)
            chunks = report.chunks
            for doc_id in report.added + report.replaced:
                feed_id, entry, sig_bytes = taken[doc_id]
                table.keep_sketch(doc_id, sig_bytes)
                handled.setdefault(feed_id, []).append((entry.key, entry.digest, doc_id))
                per_feed[feed_id]["added"] += 1
                new_ids.append(doc_id)
            for doc_id in report.unchanged:
                if doc_id in taken:
                    feed_id, entry, sig_bytes = taken[doc_id]
                    table.keep_sketch(doc_id, sig_bytes)
                    handled.setdefault(feed_id, []).append((entry.key, entry.digest, doc_id))
                    per_feed[feed_id]["skipped"] += 1
            notes.extend(report.notes)
            failed = list(dict.fromkeys(failed + report.failed))
            for feed_id, rows in handled.items():
                table.mark_seen(feed_id, rows)
            entries = Counter(feed_id for feed_id, _ in work)
            for feed_id, count in entries.items():
                if len(handled.get(feed_id, ())) < count:  # stopped, or an entry failed: fetch its rest next time
                    table.unfinished(feed_id)
        removed = _retain(pipeline, table, keep_days, now) if keep_days else []
        outcomes = []
        for f in fetched:
            now_as = table.find(str(f.feed.id)) or f.feed  # its URL after a permanent redirect, its title as parsed
            counts = per_feed[f.feed.id]
            outcomes.append(
                FeedOutcome(f.feed.id, now_as.url, now_as.title, counts["added"], counts["skipped"], f.status, f.error)
            )
    finally:
        table.close()
    seconds = time.perf_counter() - started
    return RefreshReport(tuple(outcomes), tuple(new_ids), tuple(removed), tuple(notes), tuple(failed), chunks, seconds)


def _retain(pipeline: Pipeline, table: FeedTable, keep_days: int, now: float) -> list[str]:
    """Remove the articles published more than `keep_days` days before `now` (articles without a date stay)."""
    cutoff = (datetime.fromtimestamp(now, UTC) - timedelta(days=keep_days)).replace(tzinfo=None).isoformat()
    old = [a.doc_id for a in pipeline.articles() if a.published and a.published[:19] < cutoff[:19]]
    if not old:
        return []
    found = pipeline.remove_all(old)
    gone = [d for d, was in zip(old, found, strict=True) if was]
    table.forget(gone)
    return gone
