"""The Telegram bot: the Application wired in one place, run by long polling or a webhook.

`newsbot telegram` (polling) or `newsbot telegram --webhook-url https://host/path` (webhook) call
`run_telegram`; tests build the same Application with `build_application` and their own request class.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
from telegram import Update
from telegram.error import InvalidToken, NetworkError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.settings import Settings
from bot.telegram import handlers as h
from bot.telegram.alerts import DESK, AlertPacer, Desk, desk_of, new_articles
from bot.telegram.buttons import install_secret
from bot.telegram.deps import FeedDesk
from bot.telegram.desk_handlers import add_desk_handlers, after_ingest
from bot.telegram.feeddesk import PipelineFeeds, alert_on_refresh
from bot.telegram.follows import FollowStore
from bot.telegram.journal import JournalingProcessor, JournalingQueue
from bot.telegram.limits import Access, RateLimiter, RefusalPacer
from bot.telegram.posts import PostQueue
from bot.telegram.refresh import install_refresh, pipeline_refresher, stop_refresh
from bot.telegram.retry import RetryingLimiter
from bot.telegram.service import NewsService
from bot.telegram.store import ChatStore
from rag.errors import ConfigError

if TYPE_CHECKING:
    from telegram.request import BaseRequest

    from rag.pipeline import Pipeline

log = logging.getLogger(__name__)
DEFAULT_LISTEN = "0.0.0.0"  # webhook mode listens on every interface unless told otherwise
DEFAULT_PORT = 8443


def require_token(settings: Settings) -> str:
    """The bot token, or ConfigError saying where to get one."""
    if settings.telegram_bot_token is None or not settings.telegram_bot_token.get_secret_value().strip():
        raise ConfigError("no Telegram bot token — get one from @BotFather and set TELEGRAM_BOT_TOKEN")
    return settings.telegram_bot_token.get_secret_value().strip()


def api_urls(base: str) -> tuple[str, str]:
    """PTB's base_url and base_file_url for a Bot API server ('https://api.telegram.org' or '…/bot')."""
    root = base.rstrip("/").removesuffix("/bot").rstrip("/")
    return f"{root}/bot", f"{root}/file/bot"


def add_handlers(app: Application) -> None:
    """Every handler, in the order PTB tries them."""
    only_new = filters.UpdateType.MESSAGE  # an edited question is not asked again
    app.add_handler(TypeHandler(Update, h.gate), group=-1)
    desk = app.bot_data.get(DESK)
    add_desk_handlers(app, desk.ingest_chats if desk else frozenset())  # before the catch-alls below
    for name, callback in (
        ("start", h.start),
        ("help", h.help_command),
        ("ask", h.ask_command),
        ("sources", h.sources_command),
        ("reset", h.reset),
        ("about", h.about),
        ("ingest", h.ingest_command),
    ):
        app.add_handler(CommandHandler(name, callback, filters=only_new))
    app.add_handler(MessageHandler(only_new & filters.COMMAND, h.unknown_command))
    app.add_handler(MessageHandler(only_new & filters.TEXT, h.on_text))
    app.add_handler(MessageHandler(only_new & filters.ChatType.PRIVATE & filters.Document.ALL, h.on_document))
    app.add_handler(MessageHandler(only_new & filters.ChatType.PRIVATE, h.non_text))
    app.add_handler(CallbackQueryHandler(h.sources_button))  # every button: unknown data has expired
    app.add_error_handler(h.on_error)


async def _post_init(app: Application) -> None:
    await app.bot.set_my_commands(h.COMMANDS)
    if isinstance(app.update_queue, JournalingQueue):
        app.update_queue.replay(app)  # what the last process received and never answered, first
    log.info("bot @%s ready; commands registered", app.bot.username)


async def _post_shutdown(app: Application) -> None:
    stop_refresh(app)
    desk = app.bot_data.get(DESK)
    if desk is not None and desk.posts is not None:
        await desk.posts.stop()
    h.deps_of(app).service.store.close()


def build_application(
    settings: Settings,
    pipeline: Pipeline,
    *,
    request: BaseRequest | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    typing_every: float = 4.0,
    feeds: FeedDesk | None = None,
) -> Application:
    """The bot: handlers, the service around `pipeline`, retries, concurrent updates.

    `request` replaces the network (tests); `sleep` is the retry backoff's, `clock` the rate limiter's (and the
    alerts' hourly limit's). `feeds` is what /feeds, /feed and /refresh manage (None: feeds are not set up).
    """
    base_url, base_file_url = api_urls(settings.telegram_base_url)
    store = ChatStore(settings.data_dir / "telegram.sqlite3")
    builder = (
        Application.builder()
        .token(require_token(settings))
        .base_url(base_url)
        .base_file_url(base_file_url)
        .update_queue(JournalingQueue(store))  # each update journaled before Telegram is told it arrived
        .concurrent_updates(JournalingProcessor(store))  # concurrent: a slow question must not hold up other chats
        .rate_limiter(RetryingLimiter(sleep=sleep))
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
    )
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    app = builder.build()
    service = NewsService(
        pipeline, store, fetch_timeout=settings.fetch_timeout, allow_private_urls=settings.allow_private_urls
    )
    allowed = settings.allowed_chats | settings.ingest_chats if settings.allowed_chats else frozenset()
    app.bot_data[h.DEPS] = h.BotDeps(
        service=service,
        access=Access(allowed, settings.admins),
        limiter=RateLimiter(settings.rate_limit, settings.rate_window, clock),
        max_upload_bytes=settings.max_upload_bytes,
        model=settings.model,
        secret=install_secret(settings.data_dir),
        refusals=RefusalPacer(clock=clock),
        typing_every=typing_every,
    )
    desk = Desk(pipeline, FollowStore(store), AlertPacer(settings.alerts_per_hour, clock), feeds, settings.ingest_chats)
    desk.posts = PostQueue(service, lambda doc_ids: new_articles(app, doc_ids))
    app.bot_data[DESK] = desk
    app.bot_data[h.AFTER_INGEST] = after_ingest
    add_handlers(app)
    install_refresh(app, pipeline_refresher(pipeline, settings), settings.refresh_every, first=5.0)  # feeds
    alert_on_refresh(app)  # what a scheduled refresh indexes goes to the chats following its topics
    return app


class RedactToken(logging.Filter):
    """Replaces the bot token in every log record (httpx and PTB put it in URLs)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token in message:
            record.msg, record.args = message.replace(self.token, "<token>"), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and self.token in record.exc_text:
            record.exc_text = record.exc_text.replace(self.token, "<token>")
        return True


class OneLineNetworkErrors(logging.Filter):
    """A lost network is a line a retry, not a traceback: a record carrying a network error (python-telegram-bot's
    or httpx's) keeps its message, with the error's name and text, and loses the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, NetworkError | httpx.HTTPError | OSError):
            record.msg, record.args = f"{record.getMessage()} ({type(exc).__name__}: {exc})", None
            record.exc_info, record.exc_text = None, None
        return True


def protect_token(token: str) -> None:
    """Keep the token out of the logs: httpx logs request URLs (which hold it) at INFO, so it stays at
    WARNING, and every root handler redacts it from whatever else might carry it (and puts network errors on
    one line)."""
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    redact, one_line = RedactToken(token), OneLineNetworkErrors()
    for handler in logging.getLogger().handlers:
        handler.addFilter(one_line)  # first: the token is then redacted from the line it makes
        handler.addFilter(redact)


def run_telegram(
    settings: Settings,
    pipeline: Pipeline,
    *,
    webhook_url: str | None = None,
    listen: str = DEFAULT_LISTEN,
    port: int = DEFAULT_PORT,
    secret_token: str | None = None,
) -> int:
    """Run the bot until SIGINT/SIGTERM: long polling, or a webhook server when `webhook_url` is given."""
    protect_token(require_token(settings))
    app = build_application(settings, pipeline)
    desk_of(app).feeds = PipelineFeeds(app, pipeline, settings)  # /feeds, /feed and /refresh: the real feeds
    try:
        if webhook_url is None:
            log.info("polling %s for updates", settings.telegram_base_url)
            # bootstrap_retries=-1: without a network at start, retry (with backoff) until it comes back
            app.run_polling(allowed_updates=Update.ALL_TYPES, bootstrap_retries=-1)
            return 0
        if secret_token is None and settings.webhook_secret is not None:
            secret_token = settings.webhook_secret.get_secret_value()
        url_path = urlsplit(webhook_url).path.strip("/")
        log.info("webhook: listening on %s:%d/%s for %s", listen, port, url_path, webhook_url)
        app.run_webhook(
            listen=listen,
            port=port,
            url_path=url_path,
            webhook_url=webhook_url,
            secret_token=secret_token or secrets.token_urlsafe(32),
            allowed_updates=Update.ALL_TYPES,
            bootstrap_retries=-1,
        )
        return 0
    except InvalidToken:  # its message quotes the token: never let it reach a terminal or a log
        raise ConfigError(
            f"the Bot API server at {settings.telegram_base_url} rejected the token — check TELEGRAM_BOT_TOKEN "
            "(from @BotFather)"
        ) from None
