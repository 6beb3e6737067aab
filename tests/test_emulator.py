"""Tests of the Telegram Bot API emulator's compat layer with a real python-telegram-bot 22.8 bot."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

try:
    from tests import emulator as emulator_mod
    from tests.emulator import DEFAULT_TOKEN, TelegramEmulator, emulator_fixture
except ImportError:  # tests/ itself on sys.path (no package)
    import emulator as emulator_mod  # type: ignore[no-redef]
    from emulator import DEFAULT_TOKEN, TelegramEmulator, emulator_fixture  # type: ignore[no-redef]  # noqa: F401

KEYBOARD = InlineKeyboardMarkup(
    [[InlineKeyboardButton("Source 1", callback_data="src:1"), InlineKeyboardButton("Source 2", callback_data="src:2")]]
)
KEYBOARD_JSON = {
    "inline_keyboard": [
        [{"text": "Source 1", "callback_data": "src:1"}, {"text": "Source 2", "callback_data": "src:2"}]
    ]
}
BOT_ID = int(DEFAULT_TOKEN.split(":")[0])


@contextlib.asynccontextmanager
async def running_bot(emu: TelegramEmulator, *handlers: Any) -> AsyncIterator[tuple[Application, list]]:
    """A real PTB Application polling the emulator (0.1 s poll interval); yields (app, errors)."""
    app = emu.application_builder().build()
    errors: list[BaseException] = []

    async def on_error(_update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        errors.append(context.error)

    for handler in handlers:
        app.add_handler(handler)
    app.add_error_handler(on_error)
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0.1, timeout=2)
        try:
            yield app, errors
        finally:
            await app.updater.stop()
            await app.stop()


async def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> None:
    for _ in range(int(timeout / interval) + 1):
        if predicate():
            return
        await asyncio.sleep(interval)
    raise TimeoutError(f"condition not met within {timeout}s")


# ---- process / fixture -----------------------------------------------------------------------------
def test_start_ready_and_clean_sigterm_exit() -> None:
    emulator_mod.require_emulator()
    emu = TelegramEmulator()
    t0 = time.monotonic()
    emu.start()
    assert time.monotonic() - t0 < 10
    assert emu.running is True
    assert emu.api_url == f"http://127.0.0.1:{emu.port}"
    assert emu.base_url == f"http://127.0.0.1:{emu.port}/bot"
    assert emu.base_file_url == f"http://127.0.0.1:{emu.port}/file/bot"
    t1 = time.monotonic()
    assert emu.stop() == 0
    assert time.monotonic() - t1 < 4
    assert emu.running is False


def test_fixture_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emulator_mod, "prerequisites_missing", lambda: "node missing (test)")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"^Telegram emulator unavailable: node missing \(test\)$"):
        emulator_mod.require_emulator()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"^Telegram emulator unavailable in CI: node missing \(test\)$"):
        emulator_mod.require_emulator()


# ---- gap 1: getMe -----------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_initialize_uses_get_me(telegram_emulator: TelegramEmulator) -> None:
    app = telegram_emulator.application_builder().build()
    async with app:
        me = app.bot.bot
        assert (me.id, me.is_bot, me.first_name, me.username) == (BOT_ID, True, "Test First name", "TestNameBot")
        assert me.can_join_groups is True
        assert me.can_read_all_group_messages is False
        assert app.bot.username == "TestNameBot"


# ---- gap 2 + history: message round trip with parse_mode and inline keyboard --------------------
@pytest.mark.asyncio
async def test_user_message_reaches_bot_and_reply_is_in_history(telegram_emulator: TelegramEmulator) -> None:
    emu = telegram_emulator
    seen: list[tuple[Message, Message]] = []

    async def echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        reply = await update.message.reply_text(
            f"<b>Echo:</b> {update.message.text.replace('<', '&lt;').replace('>', '&gt;')}",
            parse_mode=ParseMode.HTML,
            reply_markup=KEYBOARD,
        )
        seen.append((update.message, reply))

    async with running_bot(emu, MessageHandler(filters.TEXT & ~filters.COMMAND, echo)) as (_app, errors):
        ids = await emu.send_message(chat_id=1001, user_id=42, text="What happened <today>?")
        [sent] = await emu.wait_for_bot_messages(chat_id=1001, count=1, timeout=10)
        await wait_until(lambda: len(seen) == 1)

    assert errors == []
    incoming, reply = seen[0]
    assert incoming.text == "What happened <today>?"
    assert incoming.message_id == ids["message_id"]
    assert (incoming.from_user.id, incoming.chat.id, incoming.chat.type) == (42, 1001, "private")
    assert sent.text == "<b>Echo:</b> What happened &lt;today&gt;?"
    assert sent.parse_mode == "HTML"
    assert sent.reply_markup == KEYBOARD_JSON
    # the Message PTB got back from sendMessage: date in seconds, same id, same keyboard
    assert reply.message_id == sent.message_id == ids["message_id"] + 1
    assert reply.chat.id == 1001
    assert abs(reply.date.timestamp() - time.time()) < 60
    assert reply.from_user.username == "TestNameBot"
    assert reply.reply_markup == KEYBOARD


# ---- gap 3: edits return a Message and are recorded ------------------------------------------------
@pytest.mark.asyncio
async def test_edits_return_message_and_are_recorded(telegram_emulator: TelegramEmulator) -> None:
    emu = telegram_emulator
    async with running_bot(emu) as (app, errors):
        original = await app.bot.send_message(1002, "Searching…", reply_markup=KEYBOARD)
        edited = await app.bot.edit_message_text(
            "<i>Answer</i> [1]",
            chat_id=1002,
            message_id=original.message_id,
            parse_mode=ParseMode.HTML,
            reply_markup=KEYBOARD,
        )
        unmarked = await app.bot.edit_message_reply_markup(chat_id=1002, message_id=original.message_id)
        with pytest.raises(BadRequest, match=r"^Message to edit not found$"):
            await app.bot.edit_message_text("x", chat_id=1002, message_id=original.message_id + 100)
        [latest] = await emu.history(1002)
        edits = await emu.edits(1002)

    assert errors == []
    assert isinstance(edited, Message) and isinstance(unmarked, Message)
    assert (edited.message_id, edited.text, edited.reply_markup) == (original.message_id, "<i>Answer</i> [1]", KEYBOARD)
    assert edited.edit_date is not None and abs(edited.edit_date.timestamp() - time.time()) < 60
    assert (unmarked.message_id, unmarked.text, unmarked.reply_markup) == (
        original.message_id,
        "<i>Answer</i> [1]",
        None,
    )
    assert (latest.message_id, latest.text, latest.parse_mode, latest.reply_markup) == (
        original.message_id,
        "<i>Answer</i> [1]",
        "HTML",
        None,
    )
    assert [(e["method"], e["message_id"], e.get("text"), e.get("reply_markup")) for e in edits] == [
        ("editMessageText", original.message_id, "<i>Answer</i> [1]", KEYBOARD_JSON),
        ("editMessageReplyMarkup", original.message_id, None, None),
        ("editMessageText", original.message_id + 100, "x", None),
    ]


# ---- gap 4a: sendChatAction / setMyCommands / getMyCommands ---------------------------------------
@pytest.mark.asyncio
async def test_chat_action_and_commands_are_recorded(telegram_emulator: TelegramEmulator) -> None:
    emu = telegram_emulator
    results: dict[str, Any] = {}

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        results["action"] = await context.bot.send_chat_action(update.effective_chat.id, ChatAction.TYPING)
        results["set"] = await context.bot.set_my_commands(
            [BotCommand("ask", "Ask about the news"), BotCommand("help", "Show help")]
        )
        results["get"] = await context.bot.get_my_commands()
        results["args"] = list(context.args or [])
        await update.message.reply_text("ready")

    async with running_bot(emu, CommandHandler("start", start)) as (_app, errors):
        await emu.send_command(chat_id=1003, user_id=7, command="start", args="hello world")
        [reply] = await emu.wait_for_bot_messages(1003, 1)
        actions = await emu.chat_actions(1003)
        commands = await emu.commands()

    assert errors == []
    assert reply.text == "ready"
    assert results == {
        "action": True,
        "set": True,
        "get": (BotCommand("ask", "Ask about the news"), BotCommand("help", "Show help")),
        "args": ["hello", "world"],
    }
    assert actions == ["typing"]
    assert commands == [
        {"command": "ask", "description": "Ask about the news"},
        {"command": "help", "description": "Show help"},
    ]


# ---- gap 5: callback query with chat_instance ----------------------------------------------------
@pytest.mark.asyncio
async def test_callback_query_reaches_handler(telegram_emulator: TelegramEmulator) -> None:
    emu = telegram_emulator
    seen: list[Any] = []

    async def on_button(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        answered = await query.answer("Opening source 2")
        edited = await query.edit_message_text("Source 2: Example article")
        seen.append((query, answered, edited))

    async with running_bot(emu, CallbackQueryHandler(on_button, pattern=r"^src:")) as (app, errors):
        question = await app.bot.send_message(1004, "Answer with sources", reply_markup=KEYBOARD)
        ids = await emu.send_callback(chat_id=1004, user_id=8, data="src:2", message_id=question.message_id)
        await wait_until(lambda: len(seen) == 1)
        [latest] = await emu.history(1004)
        answers = (await emu.records())["callbackAnswers"]

    assert errors == []
    query, answered, edited = seen[0]
    assert (query.id, query.data, query.chat_instance, query.from_user.id) == (
        ids["callback_query_id"],
        "src:2",
        "1004",
        8,
    )
    assert (query.message.message_id, query.message.chat.id) == (question.message_id, 1004)
    assert (query.message.text, query.message.reply_markup) == ("Answer with sources", KEYBOARD)
    assert answered is True
    assert isinstance(edited, Message) and edited.text == "Source 2: Example article"
    assert (latest.text, latest.reply_markup) == ("Source 2: Example article", None)
    assert answers == [{"callback_query_id": ids["callback_query_id"], "text": "Opening source 2", "show_alert": False}]


# ---- gap 4b: documents both ways, getFile and download ------------------------------------------------
@pytest.mark.asyncio
async def test_document_upload_and_download(telegram_emulator: TelegramEmulator) -> None:
    emu = telegram_emulator
    content = bytes(range(256)) * 3 + "Überschrift: news\r\n".encode()
    seen: list[Any] = []

    async def on_document(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        doc = update.message.document
        data = await (await doc.get_file()).download_as_bytearray()
        seen.append((doc, update.message.caption, bytes(data)))
        await update.message.reply_text(f"indexed {len(data)} bytes")

    async with running_bot(emu, MessageHandler(filters.Document.ALL, on_document)) as (app, errors):
        ids = await emu.send_document(1005, 9, "article.txt", content, mime_type="text/plain", caption="please index")
        [reply] = await emu.wait_for_bot_messages(1005, 1)
        # bot side: multipart upload, then getFile + download of what it sent
        sent = await app.bot.send_document(
            1005, document=b"report body\x00\xff", filename="report.txt", caption="Report"
        )
        downloaded = await (await app.bot.get_file(sent.document.file_id)).download_as_bytearray()
        history = await emu.history(1005)

    assert errors == []
    doc, caption, data = seen[0]
    assert (doc.file_id, doc.file_name, doc.mime_type, doc.file_size) == (
        ids["file_id"],
        "article.txt",
        "text/plain",
        len(content),
    )
    assert caption == "please index"
    assert data == content
    assert reply.text == f"indexed {len(content)} bytes"
    assert (sent.document.file_name, sent.document.mime_type, sent.document.file_size, sent.caption) == (
        "report.txt",
        "text/plain",
        13,
        "Report",
    )
    assert bytes(downloaded) == b"report body\x00\xff"
    assert [(m.text, m.caption, (m.document or {}).get("file_name")) for m in history] == [
        (f"indexed {len(content)} bytes", None, None),
        (None, "Report", "report.txt"),
    ]


@pytest.mark.asyncio
async def test_delete_message(telegram_emulator: TelegramEmulator) -> None:
    emu = telegram_emulator
    async with running_bot(emu) as (app, errors):
        keep = await app.bot.send_message(1006, "keep")
        drop = await app.bot.send_message(1006, "drop")
        assert await app.bot.delete_message(1006, drop.message_id) is True
        history = await emu.history(1006)
        deletions = (await emu.records())["deletions"]
    assert errors == []
    assert [(m.message_id, m.text) for m in history] == [(keep.message_id, "keep")]
    assert deletions == [{"chat_id": 1006, "message_id": drop.message_id, "found": True}]


# ---- gap 6: getUpdates offset and timeout ----------------------------------------------------------
@pytest.mark.asyncio
async def test_get_updates_offset_and_long_poll(telegram_emulator: TelegramEmulator) -> None:
    emu = telegram_emulator
    url = f"{emu.base_url}{emu.token}/getUpdates"
    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:

        async def get_updates(**params: Any) -> tuple[list[dict], float]:
            t0 = time.monotonic()
            body = (await client.post(url, data={k: str(v) for k, v in params.items()})).json()
            assert body["ok"] is True
            return body["result"], time.monotonic() - t0

        empty, elapsed = await get_updates(offset=0, timeout=1)
        assert empty == [] and 0.9 <= elapsed < 3

        sent = await emu.send_message(1007, 10, "first")
        first, elapsed = await get_updates(offset=0, timeout=5)
        assert elapsed < 1
        assert [(u["update_id"], u["message"]["text"]) for u in first] == [(sent["update_id"], "first")]
        again, _ = await get_updates(offset=0, timeout=0)  # not confirmed yet -> delivered again
        assert [u["update_id"] for u in again] == [sent["update_id"]]
        confirmed, _ = await get_updates(offset=sent["update_id"] + 1, timeout=0)
        assert confirmed == []

        # a pending long poll is answered as soon as an update arrives
        poll = asyncio.create_task(get_updates(offset=sent["update_id"] + 1, timeout=20))
        await asyncio.sleep(0.3)
        second = await emu.send_message(1007, 10, "second")
        woken, elapsed = await asyncio.wait_for(poll, 10)
        assert 0.25 <= elapsed < 3
        assert [(u["update_id"], u["message"]["text"]) for u in woken] == [(second["update_id"], "second")]


# ---- gap 7: webhook secret header and failed delivery -------------------------------------------
@pytest.mark.asyncio
async def test_webhook_secret_token_and_failed_delivery(telegram_emulator: TelegramEmulator) -> None:
    emu = telegram_emulator
    received: asyncio.Queue = asyncio.Queue()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
        body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", "0"))), 5)
        await received.put((lines[0], headers, json.loads(body)))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    hook_url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/tg-hook"
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{s.getsockname()[1]}/dead"
    try:
        async with Bot(emu.token, base_url=emu.base_url, base_file_url=emu.base_file_url) as bot:
            assert await bot.set_webhook(hook_url, secret_token="s3cret-Token_1") is True
            assert (await bot.get_webhook_info()).url == hook_url
            sent = await emu.send_message(1008, 11, "via webhook")
            request_line, headers, payload = await asyncio.wait_for(received.get(), 10)
            assert request_line == "POST /tg-hook HTTP/1.1"
            assert headers["x-telegram-bot-api-secret-token"] == "s3cret-Token_1"
            update = Update.de_json(payload, bot)
            assert (update.update_id, update.message.text, update.message.chat.id) == (
                sent["update_id"],
                "via webhook",
                1008,
            )

            with pytest.raises(BadRequest, match=r"only delivers to 127\.0\.0\.1$"):
                await bot.set_webhook("https://example.invalid/hook")

            assert await bot.set_webhook(dead_url) is True
            lost = await emu.send_message(1008, 11, "nobody listens")
            errors: list[dict] = []

            async def poll_errors() -> bool:
                errors[:] = (await emu.records())["webhookErrors"]
                return bool(errors)

            for _ in range(100):
                if await poll_errors():
                    break
                await asyncio.sleep(0.05)
            assert [(e["url"], e["update_id"]) for e in errors] == [(dead_url, lost["update_id"])]
            assert emu.running is True
            assert (await bot.get_me()).username == "TestNameBot"  # still serving
            info = await bot.get_webhook_info()
            assert info.url == dead_url and info.last_error_message == errors[0]["error"]
            assert await bot.delete_webhook() is True
            assert (await bot.get_webhook_info()).url == ""
    finally:
        server.close()
        await server.wait_closed()


# ---- the whole Application.run_polling lifecycle ------------------------------------------------
def test_run_polling_lifecycle(telegram_emulator: TelegramEmulator) -> None:
    emu = telegram_emulator
    outcome: dict[str, Any] = {}

    async def pong(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text("pong")

    async def driver(app: Application) -> None:
        try:
            for _ in range(200):
                if app.running and app.updater.running:
                    break
                await asyncio.sleep(0.05)
            await emu.send_message(1009, 12, "ping")
            outcome["replies"] = [m.text for m in await emu.wait_for_bot_messages(1009, 1, timeout=10)]
        except Exception as exc:  # reported below
            outcome["error"] = exc
        finally:
            app.stop_running()

    tasks: list[asyncio.Task] = []

    async def post_init(app: Application) -> None:
        tasks.append(asyncio.get_running_loop().create_task(driver(app)))

    app = emu.application_builder().post_init(post_init).build()
    app.add_handler(MessageHandler(filters.TEXT, pong))
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        t0 = time.monotonic()
        app.run_polling(poll_interval=0.1, timeout=1, stop_signals=None, close_loop=False)
        assert time.monotonic() - t0 < 20
    finally:
        loop.close()
        asyncio.set_event_loop(None)
    assert outcome == {"replies": ["pong"]}
