"""No question lost to a hard kill: every update is journaled before Telegram is told it arrived.

python-telegram-bot confirms the updates of one `getUpdates` call with the next call, right after it has put
them on its update queue, and a process killed before it handles them loses them for good. Here the queue
journals each update in the chat store as it is put there (`JournalingQueue`), the update processor marks it
handled once its handlers are done (`JournalingProcessor`), and a starting bot puts back what the last one left
unhandled (`replay`). An update id seen before is not queued again, so a redelivery is not answered twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import Application, SimpleUpdateProcessor

from bot.telegram.store import ChatStore

log = logging.getLogger(__name__)


class JournalingQueue(asyncio.Queue[object]):
    """The application's update queue, journaling each `Update` before it is queued."""

    def __init__(self, store: ChatStore) -> None:
        super().__init__()
        self.store = store

    def put_nowait(self, item: object) -> None:
        """Queue `item`; an update journaled before (handled, or already waiting) is dropped."""
        if isinstance(item, Update) and not self.store.record_update(item.update_id, item.to_dict()):
            log.info("update %s was received before: not handled again", item.update_id)
            return
        super().put_nowait(item)

    async def put(self, item: object) -> None:
        """Queue `item` (the queue is unbounded: this never waits)."""
        self.put_nowait(item)

    def replay(self, app: Application) -> int:
        """Queue the journaled updates no process handled yet; how many."""
        pending = self.store.pending_updates()
        for body in pending:
            super().put_nowait(Update.de_json(body, app.bot))
        if pending:
            log.warning("answering %d message(s) received before the last stop", len(pending))
        return len(pending)


class JournalingProcessor(SimpleUpdateProcessor):
    """Updates handled concurrently, as by PTB's own processor; each marked handled in the journal when done."""

    def __init__(self, store: ChatStore, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self.store = store

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Handle the update, then mark it handled (also when a handler failed: the error handler told the user)."""
        try:
            await coroutine
        finally:
            if isinstance(update, Update):
                self.store.update_done(update.update_id)  # a short write, on the loop: no thread hop to wait for
