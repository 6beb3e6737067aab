"""The Telegram handlers: each parses an update, calls the service, renders, sends. Wired in bot/telegram.py."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application, ApplicationHandlerStop, ContextTypes, ExtBot

from bot import __version__
from bot.telegram.buttons import sources_answer_id, sources_data
from bot.telegram.limits import Access, RateLimiter, RefusalPacer
from bot.telegram.render import Outgoing, answer_messages, sources_messages, text_messages
from bot.telegram.service import Indexed, NewsService, upload_kind
from bot.telegram.store import conversation_key
from rag.errors import BadQuestion, IndexUnavailable
from rag.ingest.loaders import is_url

log = logging.getLogger(__name__)
DEPS = "newsbot"
BEST_EFFORT = {"attempts": 1}  # rate_limit_args of a message not worth a retry (a refusal)
EXAMPLE = "What did Dedov say about Oman?"
COMMANDS = [
    BotCommand("start", "What I know: articles and dates"),
    BotCommand("help", "How to ask, and the commands"),
    BotCommand("ask", "Ask a question (in groups: /ask QUESTION)"),
    BotCommand("sources", "The full passages cited by my last answer"),
    BotCommand("reset", "Forget our conversation"),
    BotCommand("about", "Index size, model, version"),
    BotCommand("latest", "The newest articles (/latest TOPIC: about a topic)"),
    BotCommand("follow", "Get a message when an article about a topic arrives"),
    BotCommand("following", "The topics you follow"),
    BotCommand("unfollow", "Stop following a topic: /unfollow N"),
]
HELP = (
    "Ask me about the news articles I have read; I answer with quotes and numbered sources [1].\n\n"
    "/ask QUESTION: ask (in a private chat, any message is a question)\n"
    '/sources: the full passages cited by my last answer (or press "Sources" under it)\n'
    '/reset: forget our conversation (follow-ups like "When did he serve there?" use it)\n'
    "/latest: the newest articles; /latest TOPIC: the newest about a topic\n"
    "/follow TOPIC: I message you when a new article is about it (private chat)\n"
    "/following: your topics; /unfollow N: stops one\n"
    "/start: what I know\n"
    "/about: index size, model and version\n\n"
    "In groups, privacy mode applies: I only see messages that mention @{username}, replies to my messages, "
    "and commands such as /ask. Each member of a group has their own conversation with me."
)
ADMIN_HELP = (
    "\n\nAdmins: /ingest URL adds an article; so does sending a .txt, .md or .html file here. /feeds lists the "
    "feeds; /feed add URL and /feed remove N manage them; /refresh fetches them now."
)
AFTER_INGEST = "newsbot-after-ingest"  # bot_data: async (application, doc ids) called after an admin's ingest
NOT_ALLOWED = "Sorry, this bot is not open to this chat. Ask its owner to add chat id {chat_id}."
ADMINS_ONLY = "Sorry, only the bot's admins can add articles. You can ask questions about the ones I have."
TEXT_ONLY = "I can only read text. Send your question as a message, e.g. “{example}”"
EMPTY = "Your message is empty. Ask a question about the news, e.g. “{example}”"
WENT_WRONG = "Sorry, something went wrong on my side while handling that. Please try again in a moment."
EXPIRED = "This button has expired. Ask the question again."
UNAVAILABLE = "Sorry, my index of articles is unavailable for a moment. Please ask again in a minute."
_MARKUP_TROUBLE = re.compile(r"parse|entit|tag|too long", re.IGNORECASE)


@dataclass
class BotDeps:
    """What the handlers need, kept in `application.bot_data[DEPS]`."""

    service: NewsService
    access: Access
    limiter: RateLimiter
    max_upload_bytes: int
    model: str
    secret: bytes  # signs the Sources buttons (`bot.telegram.buttons`)
    refusals: RefusalPacer
    typing_every: float = 4.0


def deps(context: ContextTypes.DEFAULT_TYPE) -> BotDeps:
    """The handlers' dependencies."""
    return context.bot_data[DEPS]


def deps_of(app: Application) -> BotDeps:
    """The dependencies kept in an application."""
    return app.bot_data[DEPS]


# --- sending ------------------------------------------------------------------------------
async def send(
    bot: ExtBot[Any],
    chat_id: int,
    parts: Sequence[Outgoing],
    *,
    reply_to: int | None = None,
    keyboard: InlineKeyboardMarkup | None = None,
    retry: bool = True,
) -> list[Message]:
    """Send messages as HTML (the first one as a reply, the keyboard under the last); a part whose markup
    Telegram refuses goes again as plain text. Without `retry`, each message is tried once."""
    sent = []
    limits = None if retry else BEST_EFFORT
    for i, part in enumerate(parts):
        markup = keyboard if i == len(parts) - 1 else None
        reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to and i == 0 else None
        try:
            sent.append(
                await bot.send_message(
                    chat_id,
                    part.html,
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup,
                    reply_parameters=reply,
                    rate_limit_args=limits,
                )
            )
        except BadRequest as exc:
            if not _MARKUP_TROUBLE.search(exc.message):
                raise
            log.warning("chat %s: Telegram refused the markup (%s); sending plain text", chat_id, exc.message)
            sent.append(
                await bot.send_message(
                    chat_id, part.plain, reply_markup=markup, reply_parameters=reply, rate_limit_args=limits
                )
            )
    return sent


async def reply(update: Update, text: str, *, retry: bool = True) -> list[Message]:
    """A short plain reply (escaped, sent as HTML) to the update's message; as a reply in groups."""
    chat, message = update.effective_chat, update.effective_message
    assert chat is not None
    reply_to = message.message_id if message and chat.type != ChatType.PRIVATE else None
    bot = cast("ExtBot[Any]", update.get_bot())  # the application's bot: an ExtBot, which takes rate_limit_args
    return await send(bot, chat.id, text_messages(text), reply_to=reply_to, retry=retry)


async def _chat_action(bot: Bot, chat_id: int) -> None:
    try:
        await bot.send_chat_action(chat_id, ChatAction.TYPING)
    except TelegramError as exc:  # cosmetic: never let it stop an answer
        log.debug("chat %s: typing indicator failed: %s", chat_id, exc)


FIRST_TYPING_WAIT = 2.0  # seconds an answer waits, at most, for the first "typing…" to reach Telegram


@contextlib.asynccontextmanager
async def typing(bot: Bot, chat_id: int, every: float) -> AsyncIterator[None]:
    """Show "typing…" in the chat now and every `every` seconds (Telegram drops it after ~5 s) until done."""

    first = asyncio.Event()

    async def keep_typing() -> None:
        while True:
            await _chat_action(bot, chat_id)
            first.set()
            await asyncio.sleep(every)

    task = asyncio.create_task(keep_typing())
    await asyncio.sleep(0)  # let the first chat action go out before the work starts
    try:
        yield
    finally:
        # a fast answer must not cancel the first indicator's request half-way (it would never show)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(first.wait(), timeout=FIRST_TYPING_WAIT)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# --- who is asking ------------------------------------------------------------------------
def is_private(update: Update) -> bool:
    """True in a private chat with the bot."""
    return update.effective_chat is not None and update.effective_chat.type == ChatType.PRIVATE


def key_of(update: Update) -> str:
    """The update's conversation: the chat in a private chat, (chat, user) in a group."""
    assert update.effective_chat is not None
    user = update.effective_user
    return conversation_key(update.effective_chat.id, user.id if user else None, is_private(update))


def addressed_question(message: Message, username: str, bot_id: int) -> str | None:
    """The question of a group message meant for the bot (it mentions @username, or replies to the bot),
    with the mention taken out; None when the message is not for the bot."""
    text = message.text or ""
    mention = re.compile(rf"(?<![\w@])@{re.escape(username)}\b", re.IGNORECASE)
    if mention.search(text):
        return " ".join(mention.sub(" ", text).split())
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == bot_id:
        return text
    return None


async def gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Runs first for every update: stops updates from chats the bot is not open to. The update is stopped
    whatever becomes of the refusal: telling the chat is best effort (tried once, at most once a minute a chat),
    and a refusal Telegram does not take (flood control, a blocked bot, a network error) changes nothing."""
    d = deps(context)
    chat, user = update.effective_chat, update.effective_user
    if d.access.allows(chat.id if chat else None, user.id if user else None):
        return
    log.info("refused an update from chat %s, user %s", chat and chat.id, user and user.id)
    try:
        await _tell_refused(update, chat.id if chat else None, d.refusals)
    except Exception as exc:  # whatever went wrong telling them, they get nothing more
        log.info("could not tell chat %s it is refused: %s", chat and chat.id, exc)
    raise ApplicationHandlerStop


async def _tell_refused(update: Update, chat_id: int | None, pacer: RefusalPacer) -> None:
    text = NOT_ALLOWED.format(chat_id=chat_id if chat_id is not None else "?")
    if update.callback_query:
        bot = cast("ExtBot[Any]", update.get_bot())
        await bot.answer_callback_query(update.callback_query.id, text, show_alert=True, rate_limit_args=BEST_EFFORT)
        return
    message = update.message
    asked = message is not None and (is_private(update) or (message.text or "").startswith("/"))
    if chat_id is not None and asked and pacer.due(chat_id):
        await reply(update, text, retry=False)


# --- questions ----------------------------------------------------------------------------
async def answer_question(update: Update, context: ContextTypes.DEFAULT_TYPE, question: str) -> None:
    """Rate limit, typing…, the pipeline off the loop, the answer with its Sources button."""
    d = deps(context)
    chat, user, message = update.effective_chat, update.effective_user, update.effective_message
    assert chat is not None and message is not None
    if not question.strip():
        await reply(update, EMPTY.format(example=EXAMPLE))
        return
    wait = d.limiter.wait(user.id) if user else 0
    if wait:
        await reply(
            update,
            f"Slow down: you can ask {d.limiter.limit} questions every {d.limiter.window:g} s. Try again in {wait} s.",
        )
        return
    async with typing(context.bot, chat.id, d.typing_every):
        try:
            answer, answer_id = await d.service.ask(key_of(update), chat.id, question)
        except BadQuestion as exc:
            await reply(update, f"⚠ {str(exc)[:1].upper()}{str(exc)[1:]}.")
            return
        except IndexUnavailable as exc:  # a Chroma server down, a disk full: this question, not the bot
            log.warning("chat %s: the index is unavailable: %s", chat.id, exc)
            await reply(update, UNAVAILABLE)
            return
    keyboard = None
    if answer_id is not None:
        data = sources_data(d.secret, chat.id, answer_id)
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Sources", callback_data=data)]])
    reply_to = None if is_private(update) else message.message_id
    await send(context.bot, chat.id, answer_messages(answer), reply_to=reply_to, keyboard=keyboard)
    d.service.store.update_done(update.update_id)  # at once: a kill from here on must not answer it twice


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A text message: a question in a private chat; in a group only when it is meant for the bot."""
    message = update.effective_message
    assert message is not None
    if is_private(update):
        await answer_question(update, context, message.text or "")
        return
    question = addressed_question(message, context.bot.username, context.bot.id)
    if question is not None:
        await answer_question(update, context, question)


async def ask_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/ask QUESTION (the question keeps its own spacing)."""
    message = update.effective_message
    assert message is not None
    parts = (message.text or "").split(maxsplit=1)
    question = parts[1] if len(parts) > 1 else ""
    if not question.strip():
        await reply(update, f"Usage: /ask QUESTION, e.g. /ask {EXAMPLE}")
        return
    await answer_question(update, context, question)


# --- commands -----------------------------------------------------------------------------
async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start: what the bot knows."""
    stats = await deps(context).service.stats()
    if stats.articles == 0:
        known = "I have no articles yet, so I cannot answer questions until an admin adds some."
    else:
        span = f", published {stats.first_date} to {stats.last_date}" if stats.first_date else ""
        if stats.first_date and stats.first_date == stats.last_date:
            span = f", published {stats.first_date}"
        noun = "article" if stats.articles == 1 else "articles"
        known = f"I have read {stats.articles} news {noun}{span}. Ask me about them, e.g. “{EXAMPLE}”"
    await reply(
        update,
        f"Hello! {known}\n\nI quote the passages I answer from. /latest shows the newest articles; /follow TOPIC "
        "tells you when one about your topic arrives. /help tells more.",
    )


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/help: how to ask, the commands, group privacy mode."""
    text = HELP.format(username=context.bot.username)
    user = update.effective_user
    if deps(context).access.is_admin(user.id if user else None):
        text += ADMIN_HELP
    await reply(update, text)


async def about(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/about: index size, model, version."""
    d = deps(context)
    stats = await d.service.stats()
    await reply(
        update,
        f"newsbot {__version__}\n"
        f"Index: {stats.articles} articles, {stats.chunks} passages (index version {stats.version})\n"
        f"Embedding model: {d.model.removeprefix('packaged:')}\n"
        f"Answers: {d.service.answerer_name}",
    )


async def reset(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/reset: forget this conversation."""
    await deps(context).service.reset(key_of(update))
    await reply(update, "Done: I have forgotten our conversation. Ask a new question.")


async def sources_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/sources: the full passages cited by the last answer in this conversation."""
    chat, message = update.effective_chat, update.effective_message
    assert chat is not None and message is not None
    answer = await deps(context).service.last_answer(key_of(update))
    reply_to = None if is_private(update) else message.message_id
    await send(context.bot, chat.id, sources_messages(answer), reply_to=reply_to)


async def sources_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every inline button: "Sources" shows the cited passages of that answer, in full, as a reply to it. The
    button works only in the chat it was sent to; anything else (a forged, foreign or old button) has expired."""
    d = deps(context)
    query = update.callback_query
    assert query is not None
    chat_id = query.message.chat.id if query.message is not None else None
    answer_id = sources_answer_id(d.secret, chat_id, query.data) if chat_id is not None else None
    answer = await d.service.answer(answer_id, chat_id) if answer_id is not None and chat_id is not None else None
    if answer is None or query.message is None:
        await query.answer(EXPIRED, show_alert=True)
        return
    await query.answer()
    await send(context.bot, query.message.chat.id, sources_messages(answer), reply_to=query.message.message_id)


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A command the bot does not know (in groups only when addressed to the bot: /x@bot)."""
    message = update.effective_message
    assert message is not None
    command = (message.text or "").split(maxsplit=1)[0]
    name, _, target = command.partition("@")
    if not is_private(update) and target.lower() != (context.bot.username or "").lower():
        return
    await reply(update, f"I don't know the command {name}. /help lists the ones I know.")


async def non_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, photos, voice notes… in a private chat."""
    message = update.effective_message
    if message is not None and message.text is not None:  # an empty text
        await reply(update, EMPTY.format(example=EXAMPLE))
    else:
        await reply(update, TEXT_ONLY.format(example=EXAMPLE))


# --- admins: adding articles --------------------------------------------------------------
def indexed_text(result: Indexed, what: str) -> str:
    """What an ingest did, one line per article."""
    lines = []
    report = result.report
    for label, ids in (("Indexed", report.added), ("Updated", report.replaced), ("Already indexed", report.unchanged)):
        for doc_id in ids:
            info = result.articles.get(doc_id)
            title = f"“{info.title}” " if info and info.title else ""
            chunks = f", {info.chunks} passages" if info else ""
            date = f", {info.published[:10]}" if info and info.published else ""
            lines.append(f"{label}: {title}({doc_id}{date}{chunks}).")
    lines += [f"Could not index {what}: {failure}" for failure in report.failed]
    return "\n".join(lines) or f"Nothing to index in {what}."


async def ingest_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/ingest URL (admins)."""
    d = deps(context)
    user, chat = update.effective_user, update.effective_chat
    assert chat is not None
    if not d.access.is_admin(user.id if user else None):
        await reply(update, ADMINS_ONLY)
        return
    url = (context.args or [""])[0]
    if not is_url(url):
        await reply(update, "Usage: /ingest URL, e.g. /ingest https://example.com/news/article.html")
        return
    async with typing(context.bot, chat.id, d.typing_every):
        result = await d.service.ingest_url(url)
    await reply(update, indexed_text(result, url))
    await _after_ingest(context, result)


async def on_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An uploaded document in a private chat: indexed when an admin sends a .txt, .md or .html file."""
    d = deps(context)
    user, chat, message = update.effective_user, update.effective_chat, update.effective_message
    assert chat is not None and message is not None and message.document is not None
    doc = message.document
    name = doc.file_name or "document"
    if not d.access.is_admin(user.id if user else None):
        await reply(update, ADMINS_ONLY)
        return
    if upload_kind(name) is None:
        await reply(update, f"I can index .txt, .md and .html files; {name} is not one of them.")
        return
    if (doc.file_size or 0) > d.max_upload_bytes:
        await reply(update, f"{name} is {doc.file_size:,} bytes; the limit is {d.max_upload_bytes:,} bytes.")
        return
    async with typing(context.bot, chat.id, d.typing_every):
        data = bytes(await (await doc.get_file()).download_as_bytearray())
        if len(data) > d.max_upload_bytes:
            await reply(update, f"{name} is {len(data):,} bytes; the limit is {d.max_upload_bytes:,} bytes.")
            return
        result = await d.service.ingest_document(name, data)
    await reply(update, indexed_text(result, name))
    await _after_ingest(context, result)


async def _after_ingest(context: ContextTypes.DEFAULT_TYPE, result: Indexed) -> None:
    hook = context.bot_data.get(AFTER_INGEST)
    if hook is not None:
        await hook(context.application, list(result.report.added))  # new articles only: no second alert


# --- errors -------------------------------------------------------------------------------
async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure with its traceback; tell the user something went wrong, without internals."""
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("update %s failed", update_id, exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    try:
        if update.callback_query:
            await update.callback_query.answer(WENT_WRONG, show_alert=True)
        else:
            await reply(update, WENT_WRONG)
    except TelegramError as exc:
        log.error("update %s: could not tell the user either: %s", update_id, exc)
