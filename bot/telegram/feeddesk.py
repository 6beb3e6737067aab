"""The desk's feed commands over the real feeds: /feeds, /feed add|remove and /refresh manage the same feeds table
and run the same refresh as `newsbot feeds` and `newsbot refresh`.

`PipelineFeeds` is the `FeedDesk` the bot runs with; `alert_on_refresh` has every refresh the job queue runs send
the follow alerts for the articles it indexed.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from bot.telegram.alerts import new_articles
from bot.telegram.deps import FeedRow, Refreshed
from bot.telegram.refresh import add_refresh_listener, run_refresh_now

if TYPE_CHECKING:
    from telegram.ext import Application

    from bot.settings import Settings
    from rag.index.feedtable import Feed, FeedTable
    from rag.pipeline import Pipeline
    from rag.refresh import RefreshReport


def _row(feed: Feed) -> FeedRow:
    return FeedRow(feed.id, feed.url, feed.title, feed.articles, feed.status, feed.error or "")


class PipelineFeeds:
    """The feeds beside the pipeline's registry, managed from the chat. Every call runs off the event loop."""

    def __init__(self, app: Application[Any, Any, Any, Any, Any, Any], pipeline: Pipeline, settings: Settings) -> None:
        self.app = app
        self.pipeline = pipeline
        self.settings = settings

    def _table(self) -> FeedTable:
        from rag.index.feedtable import FeedTable

        return FeedTable(self.pipeline.registry.path)

    def _list(self) -> list[FeedRow]:
        table = self._table()
        try:
            return [_row(f) for f in table.feeds()]
        finally:
            table.close()

    def _add(self, url: str) -> FeedRow:
        from rag.ingest.feeds import resolve_feed
        from rag.ingest.guard import AddressGuard

        guard = AddressGuard(allow_private=self.settings.allow_private_urls)
        feed_url, title = resolve_feed(url, guard=guard, timeout=self.settings.fetch_timeout)  # FeedError says why
        table = self._table()
        try:
            feed, _ = table.add(feed_url, title)
            return _row(feed)
        finally:
            table.close()

    def _remove(self, key: str) -> FeedRow:
        table = self._table()
        try:
            feed = table.find(key.strip())
            if feed is None:
                raise LookupError(f"there is no feed {key} — /feeds lists them with their numbers")
            table.remove(feed.id)  # the articles it brought stay, as with `newsbot feeds remove`
            return _row(feed)
        finally:
            table.close()

    async def list(self) -> list[FeedRow]:
        return await asyncio.to_thread(self._list)

    async def add(self, url: str) -> FeedRow:
        return await asyncio.to_thread(self._add, url)

    async def remove(self, number_or_url: str) -> FeedRow:
        return await asyncio.to_thread(self._remove, number_or_url)

    async def refresh(self) -> Refreshed:
        """Every feed, due or not, through the bot's one refresh (never beside a scheduled one). The /refresh
        handler sends the alerts for what it indexed, so the refresh listeners are not told of it twice."""
        report = await run_refresh_now(self.app, everything=True, notify=False)
        failed = sum(1 for o in report.outcomes if o.status == "failed")
        return Refreshed(len(report.outcomes), len(report.new_doc_ids), failed, report.new_doc_ids)


def alert_on_refresh(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Scheduled refreshes send the follow alerts for the articles they index."""

    async def alert(report: RefreshReport) -> None:
        await new_articles(app, report.new_doc_ids)

    add_refresh_listener(app, alert)
