"""Feed refreshes inside the bot process: the same `rag.refresh.refresh` as `newsbot refresh`, on PTB's job queue
every NEWSBOT_REFRESH_EVERY, run off the event loop so questions are answered meanwhile.

Other parts of the bot hook in here: `add_refresh_listener(app, callback)` has `await callback(report)` called
after every refresh (scheduled or on demand) that indexed something, and `await run_refresh_now(app)` runs one at
once (`everything=True`: every feed, due or not, as /refresh does). Two refreshes never overlap: a second waits
for the first.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from telegram.ext import Application, ContextTypes

if TYPE_CHECKING:
    from bot.settings import Settings
    from rag.pipeline import Pipeline
    from rag.refresh import RefreshReport

log = logging.getLogger(__name__)
KEY = "newsbot.refresh"
JOB_NAME = "newsbot-refresh"
Listener = Callable[["RefreshReport"], Awaitable[None]]
Refresher = Callable[[Callable[[], bool], bool], "RefreshReport"]  # (stop test, every feed?) → report


@dataclass
class Refreshing:
    """What the bot keeps for its refreshes: the one refresh to run, who to tell, and the stop signal."""

    run: Refresher
    listeners: list[Listener] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def pipeline_refresher(pipeline: Pipeline, settings: Settings) -> Refresher:
    """The refresh `newsbot refresh` runs, over this pipeline with these settings."""
    from rag.refresh import refresh

    config = settings.feed_config()
    return lambda stop, everything: refresh(pipeline, all=everything, config=config, stop=stop)


def install_refresh(app: Application, run: Refresher, every: float, first: float | None = None) -> Refreshing:
    """Keep `run` in the application and schedule it every `every` seconds (the first after `first`, default
    `every`) on the job queue."""
    state = Refreshing(run)
    app.bot_data[KEY] = state
    if app.job_queue is None:  # python-telegram-bot without its job-queue extra
        log.warning("no job queue: feeds are not refreshed by the bot — install python-telegram-bot[job-queue]")
    else:
        app.job_queue.run_repeating(refresh_job, interval=every, first=every if first is None else first, name=JOB_NAME)
    return state


def _state(app: Application[Any, Any, Any, Any, Any, Any]) -> Refreshing:
    state = app.bot_data.get(KEY)
    if not isinstance(state, Refreshing):
        raise RuntimeError("feed refreshes are not installed in this application (install_refresh)")
    return state


def add_refresh_listener(app: Application[Any, Any, Any, Any, Any, Any], callback: Listener) -> None:
    """Call `await callback(report)` after every refresh that indexed articles."""
    _state(app).listeners.append(callback)


async def run_refresh_now(
    app: Application[Any, Any, Any, Any, Any, Any], *, everything: bool = False, notify: bool = True
) -> RefreshReport:
    """One refresh now, off the event loop (after the one running, if any): the due feeds, or `everything`. The
    listeners hear of what it added unless `notify` is false (the caller tells the chats itself)."""
    state = _state(app)
    async with state.lock:
        report = await asyncio.to_thread(state.run, state.stop.is_set, everything)
    log.info("refresh: %d feeds, %d articles new or updated", len(report.outcomes), len(report.new_doc_ids))
    if report.new_doc_ids and notify:
        for callback in list(state.listeners):
            try:
                await callback(report)
            except Exception:  # one listener failing does not keep the others from hearing
                log.exception("a refresh listener failed")
    return report


async def refresh_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """The scheduled job: one refresh; a failure is logged and the next run tries again."""
    try:
        await run_refresh_now(context.application)
    except Exception:
        log.exception("the scheduled feed refresh failed; the next one tries again")


def stop_refresh(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Let a refresh in progress end after the article in hand (the bot is shutting down)."""
    state = app.bot_data.get(KEY)
    if isinstance(state, Refreshing):
        state.stop.set()
