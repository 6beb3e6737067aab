"""The pipeline as the Telegram handlers use it: off the event loop, safe under concurrent updates.

Every pipeline call runs in a worker thread (`asyncio.to_thread`), so the event loop keeps serving
other chats, and questions from different chats run at the same time. That is safe: the SQLite index
locks itself, Chroma and the embedding model serve concurrent queries, the extractive answerer is a
pure function and the LLM one calls a server (measured: 400 questions on 8 threads, no error, every
answer identical to the serial one; docs/telegram.md). Ingests take turns on one lock. One
conversation's questions take turns too (an asyncio lock per conversation), so a follow-up always
sees the turn before it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, TypeVar

from bot.telegram.store import ChatStore
from rag.errors import ArticleUnreadable
from rag.ingest.loaders import Loaded, decode, iter_sources, parse, slug
from rag.types import Answer, ArticleInfo, IndexStats, IngestReport

if TYPE_CHECKING:
    from rag.pipeline import Pipeline

log = logging.getLogger(__name__)
UPLOAD_KINDS = {".txt": "txt", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html"}
T = TypeVar("T")


@dataclass(frozen=True)
class Indexed:
    """What an admin's ingest did, with the indexed articles' registry entries."""

    report: IngestReport
    articles: dict[str, ArticleInfo]


class NewsService:
    """Questions, sources and ingests for the Telegram front end."""

    def __init__(
        self, pipeline: Pipeline, store: ChatStore, *, fetch_timeout: float = 15.0, allow_private_urls: bool = False
    ) -> None:
        self.pipeline = pipeline
        self.store = store
        self.fetch_timeout = fetch_timeout
        self.allow_private_urls = allow_private_urls
        self._ingest_lock = threading.Lock()
        self._chat_locks: dict[str, asyncio.Lock] = {}

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.to_thread(fn)

    # --- questions ------------------------------------------------------------------------
    async def ask(self, key: str, chat_id: int, question: str) -> tuple[Answer, int | None]:
        """The answer to a question in conversation `key`, and the id its Sources button carries (None
        when it cites nothing). Raises BadQuestion for a question that cannot be asked."""
        lock = self._chat_locks.setdefault(key, asyncio.Lock())
        async with lock:
            return await self._run(lambda: self._ask(key, chat_id, question))

    def _ask(self, key: str, chat_id: int, question: str) -> tuple[Answer, int | None]:
        conversation = self.store.conversation(key)
        answer = self.pipeline.ask(question, conversation)
        self.store.save(key, conversation)
        answer_id = self.store.add_answer(key, chat_id, answer) if answer.citations else None
        return answer, answer_id

    async def last_answer(self, key: str) -> Answer | None:
        """The latest answer in conversation `key`."""
        return await self._run(lambda: self.store.conversation(key).last_answer)

    async def answer(self, answer_id: int, chat_id: int) -> Answer | None:
        """A kept answer by id, when it was sent to `chat_id` (for the Sources button)."""
        return await self._run(lambda: self.store.answer(answer_id, chat_id))

    async def reset(self, key: str) -> None:
        """Forget conversation `key`."""
        lock = self._chat_locks.setdefault(key, asyncio.Lock())
        async with lock:
            await self._run(lambda: self.store.reset(key))

    @property
    def answerer_name(self) -> str:
        """The answerer's class name, for /about."""
        return type(getattr(self.pipeline, "answerer", None)).__name__

    # --- the index ------------------------------------------------------------------------
    async def stats(self) -> IndexStats:
        """Articles, chunks, date range and version of the index."""
        return await self._run(self.pipeline.stats)

    async def ingest_url(self, url: str) -> Indexed:
        """Fetch a URL (outside the pipeline lock: a slow site must not hold up questions) and index it."""
        fetching = iter_sources([url], timeout=self.fetch_timeout, allow_private_urls=self.allow_private_urls)
        items = await self._run(lambda: list(fetching))
        return await self._run(lambda: self._ingest(items))

    async def ingest_document(self, file_name: str, data: bytes) -> Indexed:
        """Index an uploaded .txt, .md or .html document."""
        return await self._run(lambda: self._ingest(list(read_upload(file_name, data))))

    def _ingest(self, items: list[Loaded]) -> Indexed:
        with self._ingest_lock:
            report = self.pipeline.ingest(items)
        done = set(report.added + report.replaced + report.unchanged)
        known = {a.doc_id: a for a in self.pipeline.articles() if a.doc_id in done}
        return Indexed(report, known)


def upload_kind(file_name: str) -> str | None:
    """'txt', 'md' or 'html' for a name the bot accepts as an upload, else None."""
    return UPLOAD_KINDS.get(PurePath(file_name).suffix.lower())


def read_upload(file_name: str, data: bytes) -> list[Loaded]:
    """The article of an uploaded document, or an ArticleUnreadable saying why not."""
    kind = upload_kind(file_name)
    if kind is None:
        return [ArticleUnreadable(f"{file_name}: unsupported file type — send a .txt, .md or .html file")]
    try:
        text = decode(data, file_name)
    except ArticleUnreadable as exc:
        return [exc]
    return list(parse(kind, slug(PurePath(file_name).stem), text, name=file_name))
