"""The news desk's handlers: /latest, /follow, /following, /unfollow, the admins' feed commands, channel posts.

They run behind the same gate and update journal as every handler (`bot.telegram.app.add_handlers`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, MessageHandler, filters

from bot.telegram.alerts import Desk, desk_of, new_articles
from bot.telegram.buttons import more_data, more_target
from bot.telegram.follows import MAX_FOLLOWS, MAX_TOPIC_CHARS
from bot.telegram.handlers import deps, is_private, reply, send, sources_button, typing
from bot.telegram.posts import post_of
from bot.telegram.render import Outgoing
from bot.telegram.render_desk import feeds_text, following_text, latest_messages
from rag.errors import NewsbotError

log = logging.getLogger(__name__)
PAGE = 5
MORE_EXPIRED = "This button has expired. Send /latest again."
NO_FEEDS = "Feeds are not set up on this bot."
ADMINS_ONLY_FEEDS = "Sorry, only the bot's admins can manage feeds. /latest shows what they bring."
PRIVATE_ONLY = "Follow topics in a private chat with me: open @{username} and send /follow TOPIC there."


def _argument(update: Update) -> str:
    message = update.effective_message
    parts = (message.text or "").split(maxsplit=1) if message else []
    return " ".join(parts[1].split()) if len(parts) > 1 else ""


async def _latest_page(
    update: Update, context: ContextTypes.DEFAULT_TYPE, search_id: int, topic: str, offset: int
) -> tuple[list[Outgoing], InlineKeyboardMarkup | None]:
    d, desk = deps(context), desk_of(context.application)
    chat = update.effective_chat
    assert chat is not None
    async with typing(context.bot, chat.id, d.typing_every):
        articles, total = await asyncio.to_thread(desk.pipeline.latest, topic, PAGE, offset)
    keyboard = None
    if offset + len(articles) < total:
        data = more_data(d.secret, chat.id, search_id, offset + PAGE)
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("More", callback_data=data)]])
    return latest_messages(articles, topic, offset, total), keyboard


async def latest_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/latest [TOPIC]: the five newest articles (about TOPIC), with a "More" button."""
    chat, message = update.effective_chat, update.effective_message
    assert chat is not None and message is not None
    topic = _argument(update)
    if len(topic) > MAX_TOPIC_CHARS:
        await reply(update, f"That topic has {len(topic)} characters; the limit is {MAX_TOPIC_CHARS}. Say it shorter.")
        return
    search_id = await asyncio.to_thread(desk_of(context.application).follows.save_search, chat.id, topic)
    parts, keyboard = await _latest_page(update, context, search_id, topic, 0)
    reply_to = None if is_private(update) else message.message_id
    await send(context.bot, chat.id, parts, reply_to=reply_to, keyboard=keyboard)


async def more_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The "More" button under a /latest page: the next page, in the chat it was sent to only."""
    d, desk = deps(context), desk_of(context.application)
    query = update.callback_query
    assert query is not None
    if not (query.data or "").startswith("more:"):  # PTB hands a button without data to every pattern
        await sources_button(update, context)
        return
    chat_id = query.message.chat.id if query.message is not None else None
    target = more_target(d.secret, chat_id, query.data) if chat_id is not None else None
    topic = None
    if target is not None and chat_id is not None:
        topic = await asyncio.to_thread(desk.follows.search, target[0], chat_id)
    if target is None or topic is None or chat_id is None:
        await query.answer(MORE_EXPIRED, show_alert=True)
        return
    await query.answer()
    parts, keyboard = await _latest_page(update, context, target[0], topic, target[1])
    await send(context.bot, chat_id, parts, keyboard=keyboard)


async def follow_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/follow TOPIC (private chats)."""
    chat = update.effective_chat
    assert chat is not None
    if not is_private(update):
        await reply(update, PRIVATE_ONLY.format(username=context.bot.username))
        return
    topic = _argument(update)
    if not topic:
        await reply(update, "Usage: /follow TOPIC, e.g. /follow EU rules on artificial intelligence")
        return
    if len(topic) > MAX_TOPIC_CHARS:
        await reply(update, f"That topic has {len(topic)} characters; the limit is {MAX_TOPIC_CHARS}. Say it shorter.")
        return
    follow = await asyncio.to_thread(desk_of(context.application).follows.add, chat.id, topic)
    if follow is None:
        await reply(
            update, f"You already follow {MAX_FOLLOWS} topics, the limit. /following lists them; /unfollow N stops one."
        )
        return
    await reply(
        update, f"Following “{topic}”. I will message you when a new article is about it. /following lists your topics."
    )


async def following_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/following: the chat's topics, numbered."""
    chat = update.effective_chat
    assert chat is not None
    if not is_private(update):
        await reply(update, PRIVATE_ONLY.format(username=context.bot.username))
        return
    follows = await asyncio.to_thread(desk_of(context.application).follows.follows, chat.id)
    await reply(update, following_text(follows, MAX_FOLLOWS))


async def unfollow_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/unfollow N."""
    chat = update.effective_chat
    assert chat is not None
    if not is_private(update):
        await reply(update, PRIVATE_ONLY.format(username=context.bot.username))
        return
    desk = desk_of(context.application)
    arg = _argument(update)
    follows = await asyncio.to_thread(desk.follows.follows, chat.id)
    if not arg.isdigit() or len(arg) > 6:
        await reply(update, "Usage: /unfollow N, with N the topic's number in /following.")
        return
    gone = await asyncio.to_thread(desk.follows.remove, chat.id, int(arg))
    if gone is None:
        have = f"1 to {len(follows)}" if follows else "none: you follow no topics"
        await reply(update, f"There is no topic {arg} in /following (numbers: {have}).")
        return
    await reply(update, f"Stopped following “{gone.topic}”.")


# --- admins: feeds ------------------------------------------------------------------------
async def _feeds_allowed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Desk | None:
    user = update.effective_user
    if not deps(context).access.is_admin(user.id if user else None):
        await reply(update, ADMINS_ONLY_FEEDS)
        return None
    desk = desk_of(context.application)
    if desk.feeds is None:
        await reply(update, NO_FEEDS)
        return None
    return desk


async def feeds_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/feeds (admins): the feeds with their article counts and last status."""
    desk = await _feeds_allowed(update, context)
    if desk is not None and desk.feeds is not None:
        await reply(update, feeds_text(await desk.feeds.list()))


async def feed_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/feed add URL, /feed remove N (admins)."""
    desk = await _feeds_allowed(update, context)
    if desk is None or desk.feeds is None:
        return
    args = context.args or []
    usage = "Usage: /feed add URL, or /feed remove N (N from /feeds)."
    if len(args) != 2 or args[0] not in ("add", "remove"):
        await reply(update, usage)
        return
    try:
        row = await (desk.feeds.add(args[1]) if args[0] == "add" else desk.feeds.remove(args[1]))
    except (NewsbotError, ValueError, KeyError, LookupError) as exc:
        await reply(update, f"⚠ {exc}")
        return
    done = "Added" if args[0] == "add" else "Removed"
    await reply(update, f"{done} the feed {row.title or row.url} ({row.url}).")


async def refresh_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/refresh (admins): fetch every feed now; new articles go to the alerts."""
    desk = await _feeds_allowed(update, context)
    if desk is None or desk.feeds is None:
        return
    chat = update.effective_chat
    assert chat is not None
    async with typing(context.bot, chat.id, deps(context).typing_every):
        done = await desk.feeds.refresh()
    failed = f", {done.failed} failed (/feeds says why)" if done.failed else ""
    await reply(update, f"Refreshed {done.feeds} feeds: {done.added} new articles{failed}.")
    if done.new_doc_ids:
        await new_articles(context.application, list(done.new_doc_ids))


# --- posts --------------------------------------------------------------------------------
async def on_post(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A channel post, an edited one, or a group message in an ingest chat: queued to be indexed."""
    message = update.effective_message
    desk = desk_of(context.application)
    if message is None or desk.posts is None or message.chat.id not in desk.ingest_chats:
        return
    post = post_of(message)
    if post is None:
        log.debug("post %s of chat %s ignored (short, service or media)", message.message_id, message.chat.id)
        return
    desk.posts.put(post)


async def after_ingest(app: Application, doc_ids: Sequence[str]) -> None:
    """What an admin's /ingest or upload indexed goes to the alerts."""
    if doc_ids:
        await new_articles(app, doc_ids)


def add_desk_handlers(app: Application, ingest_chats: frozenset[int]) -> None:
    """The desk's handlers; added before the bot's own, whose catch-alls would take their updates."""
    only_new = filters.UpdateType.MESSAGE
    for name, callback in (
        ("latest", latest_command),
        ("follow", follow_command),
        ("following", following_command),
        ("unfollow", unfollow_command),
        ("feeds", feeds_command),
        ("feed", feed_command),
        ("refresh", refresh_command),
    ):
        app.add_handler(CommandHandler(name, callback, filters=only_new))
    app.add_handler(CallbackQueryHandler(more_button, pattern=r"^more:"))
    app.add_handler(MessageHandler(filters.UpdateType.CHANNEL_POSTS, on_post))  # new and edited posts
    if ingest_chats:  # group messages in an ingest chat are indexed too, beside whatever else answers them
        groups = filters.Chat(chat_id=list(ingest_chats)) & filters.ChatType.GROUPS & ~filters.COMMAND
        app.add_handler(MessageHandler(groups & (filters.TEXT | filters.CAPTION), on_post), group=1)
