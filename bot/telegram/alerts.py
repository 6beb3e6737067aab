"""Alerts: newly indexed articles matched against every followed topic, one message per chat per batch.

`new_articles(app, doc_ids)` is the one entry: an admin's /ingest or upload, indexed channel posts and a feed
refresh all call it with the doc ids they indexed. Each distinct topic is matched once (`Pipeline.topic_matches`,
off the event loop); a chat gets one message listing every new article about any of its topics. At most
`per_hour` alerts reach a chat in any hour; matches past that are held and listed in the next alert. A chat that
blocked the bot (Forbidden) or no longer exists loses its follows at once and is not tried again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application

from bot.telegram.deps import FeedDesk
from bot.telegram.follows import FollowStore
from bot.telegram.handlers import send
from bot.telegram.render_desk import AlertItem, alert_messages
from rag.types import paragraph_spans

if TYPE_CHECKING:
    from bot.telegram.posts import PostQueue

log = logging.getLogger(__name__)
DESK = "newsbot-desk"
HOUR = 3600.0
MAX_HELD = 200  # held matches kept per chat until its next alert
_GONE = ("chat not found", "user is deactivated", "bot was kicked", "have no rights to send")


class AlertPacer:
    """At most `per_hour` alerts to a chat in any hour (a sliding window); what is held waits for the next."""

    def __init__(self, per_hour: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_hour = per_hour
        self.clock = clock
        self._sent: dict[int, deque[float]] = {}
        self.held: dict[int, list[AlertItem]] = {}

    def take(self, chat_id: int) -> bool:
        """True (and the alert counted) when the chat may get an alert now."""
        now = self.clock()
        times = self._sent.setdefault(chat_id, deque())
        while times and times[0] <= now - HOUR:
            times.popleft()
        if self.per_hour > 0 and len(times) >= self.per_hour:
            return False
        times.append(now)
        return True


@dataclass
class Desk:
    """The news desk's state, kept in `application.bot_data[DESK]`."""

    pipeline: Any  # rag.pipeline.Pipeline (or a test's stand-in): topic_matches, latest, article
    follows: FollowStore
    pacer: AlertPacer
    feeds: FeedDesk | None = None
    ingest_chats: frozenset[int] = frozenset()
    posts: PostQueue | None = None


def desk_of(app: Application) -> Desk:
    """The desk kept in an application."""
    return app.bot_data[DESK]


async def new_articles(
    app_or_desk: Application | Desk, doc_ids: Sequence[str], *, app: Application | None = None
) -> int:
    """Match newly indexed articles against every follow and send the alerts; how many messages were sent."""
    if isinstance(app_or_desk, Desk):
        desk, application = app_or_desk, app
    else:
        desk, application = desk_of(app_or_desk), app_or_desk
    if application is None:
        raise ValueError("new_articles(desk, …) needs app= to send with")
    doc_ids = list(dict.fromkeys(doc_ids))
    follows = await asyncio.to_thread(desk.follows.everyone)
    if not doc_ids or not follows:
        return 0
    matched: dict[str, list[Any]] = {}
    for topic in dict.fromkeys(f.topic for f in follows):
        matched[topic] = await asyncio.to_thread(desk.pipeline.topic_matches, topic, doc_ids)
    articles: dict[str, Any] = {}
    by_chat: dict[int, list[AlertItem]] = {}
    for f in follows:
        for m in matched[f.topic]:
            items = by_chat.setdefault(f.chat_id, [])
            if any(i.article.doc_id == m.doc_id for i in items):
                continue
            if m.doc_id not in articles:
                articles[m.doc_id] = await asyncio.to_thread(desk.pipeline.article, m.doc_id)
            if articles[m.doc_id] is None:
                continue
            article = articles[m.doc_id]
            spans = paragraph_spans(article.text)
            paragraphs = tuple(n for n, (s, e) in enumerate(spans, start=1) if s <= m.start < e)
            items.append(AlertItem(article, f.topic, m.sentence, paragraphs))
    sent = 0
    for chat_id, items in by_chat.items():
        if not items:
            continue
        if not desk.pacer.take(chat_id):
            held = desk.pacer.held.setdefault(chat_id, [])
            held.extend(items)
            del held[:-MAX_HELD]  # a chat capped through a flood keeps the newest; the alert says how many
            log.info("chat %s: %d alert article(s) held by the hourly limit", chat_id, len(items))
            continue
        held = desk.pacer.held.pop(chat_id, [])
        if await send_alert(application, desk, chat_id, items, held):
            sent += 1
    return sent


async def send_alert(
    app: Application, desk: Desk, chat_id: int, items: Sequence[AlertItem], held: Sequence[AlertItem]
) -> bool:
    """Send one alert; a chat that blocked the bot or is gone is unsubscribed. True when it was sent."""
    try:
        await send(app.bot, chat_id, alert_messages(items, held))
    except Forbidden as exc:
        removed = await asyncio.to_thread(desk.follows.remove_chat, chat_id)
        log.warning("chat %s blocked the bot (%s): %d follow(s) removed", chat_id, exc.message, removed)
        return False
    except BadRequest as exc:
        if any(g in exc.message.lower() for g in _GONE):
            removed = await asyncio.to_thread(desk.follows.remove_chat, chat_id)
            log.warning("chat %s is gone (%s): %d follow(s) removed", chat_id, exc.message, removed)
            return False
        log.error("chat %s: the alert was refused: %s", chat_id, exc.message)
        return False
    except TelegramError as exc:  # a network failure after the retries: this alert is lost, the follows stay
        log.error("chat %s: could not send an alert: %s", chat_id, exc)
        return False
    log.info("chat %s: alert with %d article(s) sent", chat_id, len(items))
    return True
