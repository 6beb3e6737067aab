"""Channel and group posts as articles, indexed in order by one background worker.

A post in a chat of NEWSBOT_INGEST_CHATS becomes an article: its first line the title, the chat's title the
outlet, the post's date the publication date, `tg-<chat>-<message>` the doc id, and `https://t.me/<username>/<id>`
the link where the chat has a username. A post that is only a link fetches the linked article (through the
same guarded fetcher as /ingest). An edited post replaces its article. Posts shorter than MIN_POST_CHARS,
service messages and media without a caption are ignored; a post longer than MAX_POST_CHARS is cut there (and
the log says so). Posts go on a queue: a flood of them is indexed in order, in batches, while questions go on
being answered; each batch's new articles go to the alerts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from telegram import Message

from bot.telegram.service import NewsService
from rag.types import Article

log = logging.getLogger(__name__)
MIN_POST_CHARS = 80
MAX_POST_CHARS = 100_000
MAX_TITLE_CHARS = 200
BATCH = 50  # posts indexed in one pipeline call at most
_ONLY_URL = re.compile(r"^\s*(https?://\S+)\s*$")


@dataclass(frozen=True)
class LinkPost:
    """A post that is only a link: the linked article is fetched and indexed."""

    url: str


def doc_id_of(chat_id: int, message_id: int) -> str:
    """The doc id of a post: 'tg-1001234567890-42' for message 42 of chat -1001234567890."""
    return f"tg-{abs(chat_id)}-{message_id}"


def post_of(message: Message) -> Article | LinkPost | None:
    """What a post gives the index: an article, a link to fetch, or None (too short, a service message, media
    without a caption)."""
    text = message.text or message.caption or ""
    link = _ONLY_URL.match(text)
    if link:
        return LinkPost(link[1])
    if len(text.strip()) < MIN_POST_CHARS:
        return None
    chat = message.chat
    if len(text) > MAX_POST_CHARS:
        log.warning(
            "post %s of chat %s has %d characters: indexed up to %d",
            message.message_id,
            chat.id,
            len(text),
            MAX_POST_CHARS,
        )
        text = text[:MAX_POST_CHARS]
    first, _, rest = text.strip().partition("\n")
    title = first.strip()[:MAX_TITLE_CHARS]
    body = rest.strip() if len(rest.strip()) >= MIN_POST_CHARS // 2 else text.strip()
    url = f"https://t.me/{chat.username}/{message.message_id}" if chat.username else None
    published = message.date.strftime("%Y-%m-%dT%H:%M:%S") if message.date else None
    return Article(
        doc_id=doc_id_of(chat.id, message.message_id),
        title=title,
        text=body,
        source=chat.title or (chat.username or str(chat.id)),
        published=published,
        url=url,
    )


class PostQueue:
    """Posts waiting to be indexed, and the one worker that indexes them in order."""

    def __init__(self, service: NewsService, on_indexed: Callable[[Sequence[str]], Awaitable[object]]) -> None:
        self.service = service
        self.on_indexed = on_indexed
        self.queue: asyncio.Queue[Article | LinkPost] = asyncio.Queue()
        self.indexed: list[str] = []  # doc ids, in the order they were indexed
        self._worker: asyncio.Task[None] | None = None

    def put(self, post: Article | LinkPost) -> None:
        """Queue a post; the worker starts with the first."""
        self.queue.put_nowait(post)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._work(), name="newsbot-posts")

    async def join(self) -> None:
        """Wait until every queued post is indexed (and its alerts sent)."""
        await self.queue.join()

    async def stop(self) -> None:
        """Stop the worker (posts still queued are not indexed)."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    async def _work(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while len(batch) < BATCH and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                await self._index(batch)
            except Exception:  # one bad batch must not stop the worker
                log.exception("indexing %d post(s) failed", len(batch))
            finally:
                for _ in batch:
                    self.queue.task_done()

    async def _index(self, batch: list[Article | LinkPost]) -> None:
        new: list[str] = []  # newly indexed: an edited post replaces its article without a second alert
        articles: list[Article] = []

        async def flush() -> None:
            if articles:
                result = await asyncio.to_thread(self.service._ingest, list(articles))
                new.extend(result.report.added)
                for failure in result.report.failed:
                    log.warning("a post could not be indexed: %s", failure)
                articles.clear()

        for post in batch:  # in order: a link is fetched and indexed after the posts before it
            if isinstance(post, LinkPost):
                await flush()
                result = await self.service.ingest_url(post.url)
                new.extend(result.report.added)
                for failure in result.report.failed:
                    log.warning("the article a post links to could not be indexed: %s", failure)
            else:
                articles.append(post)
        await flush()
        self.indexed.extend(new)
        if new:
            await self.on_indexed(new)
