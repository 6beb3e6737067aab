"""The Telegram bot end to end over HTTP: the real pipeline (real model, real Chroma, the seed article)
behind a real python-telegram-bot Application, talking to the Bot API emulator (telegram-test-api,
see tests/telegram_emulator/README.md), whose user-side routes play the users.

Run `npm ci` in tests/telegram_emulator first (`make emulator`); without it these tests skip, and fail under CI.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from telegram.ext import Application

from bot.settings import Settings
from bot.telegram.alerts import desk_of
from bot.telegram.app import build_application
from bot.telegram.feeddesk import PipelineFeeds
from bot.telegram.handlers import ADMINS_ONLY, deps_of
from rag.answer import REFUSAL
from rag.pipeline import Pipeline
from tests.emulator import BOT_USERNAME, BotMessage, TelegramEmulator, emulator_fixture  # noqa: F401  (the fixture)
from tests.servers import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED_ID = "000_4c519add1ad1325c"
ADMIN = 777
OMAN = "What did Dedov say about Oman?"
OMAN_QUOTE = "Oman’s mediation between Iran and the United States has been highly active and positive"
START = (
    "Hello! I have read 1 news article, published 2025-11-01. Ask me about them, e.g. “What did Dedov say "
    "about Oman?”\n\nI quote the passages I answer from. /latest shows the newest articles; /follow TOPIC tells "
    "you when one about your topic arrives. /help tells more."
)
REFUSAL_HTML = html.escape(REFUSAL, quote=False)
WAIT = 60.0  # seconds, bound on any one reply (the machine is shared; an answer takes well under 1 s alone)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    """The real pipeline on a fresh index of the seed article, built once for the module."""
    from bot.factory import open_pipeline
    from rag.ingest.loaders import iter_sources

    built = open_pipeline(Settings(data_dir=tmp_path_factory.mktemp("index")))
    report = built.ingest(iter_sources([str(SEEDS)]))
    assert (report.added, report.failed) == ([SEED_ID], [])
    return built


@contextlib.asynccontextmanager
async def running_bot(
    emu: TelegramEmulator, pipeline: Pipeline, data_dir: Path, **settings: Any
) -> AsyncIterator[Application]:
    """The bot as `newsbot telegram` builds it, polling the emulator."""
    values: dict[str, Any] = {"rate_limit": 0, "admins": {ADMIN}, "max_upload_bytes": 5000, **settings}
    config = Settings(data_dir=data_dir, telegram_bot_token=emu.token, telegram_base_url=emu.api_url, **values)
    app = build_application(config, pipeline)
    desk_of(app).feeds = PipelineFeeds(app, pipeline, config)  # as run_telegram does
    async with app:
        await app.post_init(app)  # type: ignore[misc]
        await app.start()
        await app.updater.start_polling(poll_interval=0.0, timeout=1)  # type: ignore[union-attr]
        try:
            yield app
        finally:
            await app.updater.stop()  # type: ignore[union-attr]
            await app.stop()
    deps_of(app).service.store.close()


@pytest_asyncio.fixture
async def emu(
    telegram_emulator: TelegramEmulator, pipeline: Pipeline, tmp_path: Path
) -> AsyncIterator[TelegramEmulator]:
    """The emulator, with the bot (`running_bot`'s default settings) polling it for the length of the test."""
    async with running_bot(telegram_emulator, pipeline, tmp_path):
        yield telegram_emulator


async def say(
    emu: TelegramEmulator,
    chat_id: int,
    text: str,
    *,
    count: int,
    user_id: int | None = None,
    chat_type: str = "private",
    **kw: Any,
) -> list[BotMessage]:
    """Send a message (a /command when it starts with '/') and wait until the chat has `count` bot messages."""
    user = chat_id if user_id is None else user_id
    if text.startswith("/"):
        command, _, args = text.partition(" ")
        await emu.send_command(chat_id, user, command, args, chat_type)
    else:
        await emu.send_message(chat_id, user, text, chat_type, **kw)
    return await emu.wait_for_bot_messages(chat_id, count, timeout=WAIT)


def sources_button(message: BotMessage) -> str:
    """The callback data of the message's one "Sources" button."""
    assert message.reply_markup is not None
    [[button]] = message.reply_markup["inline_keyboard"]
    assert button["text"] == "Sources"
    return str(button["callback_data"])


MENTION = [{"type": "mention", "offset": 0, "length": len(BOT_USERNAME) + 1}]  # "@TestNameBot" at the start


# --- commands -----------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_start_and_registered_commands(emu: TelegramEmulator, pipeline: Pipeline) -> None:
    [reply] = await say(emu, 101, "/start", count=1)
    about = (await say(emu, 101, "/about", count=2))[-1]
    commands = await emu.commands()
    assert (reply.text, reply.parse_mode) == (START, "HTML")
    assert about.text == (
        "newsbot 0.1.0\nIndex: 1 articles, 10 passages (index version 1)\nEmbedding model: all-MiniLM-L6-v2\n"
        f"Answers: {deps_of_name(pipeline)}"
    )
    assert [c["command"] for c in commands] == [
        "start",
        "help",
        "ask",
        "sources",
        "reset",
        "about",
        "latest",
        "follow",
        "following",
        "unfollow",
    ]


def deps_of_name(pipeline: Pipeline) -> str:
    return type(pipeline.answerer).__name__


# --- a question, its Sources button, a follow-up --------------------------------------------
@pytest.mark.asyncio
async def test_oman_question_and_sources_button(emu: TelegramEmulator, pipeline: Pipeline) -> None:
    [answer] = await say(emu, 102, OMAN, count=1)
    data = sources_button(answer)
    await emu.send_callback(102, 102, data, answer.message_id)
    [_, sources] = await emu.wait_for_bot_messages(102, 2, timeout=WAIT)
    records = await emu.records()
    assert answer.parse_mode == "HTML"
    assert OMAN_QUOTE in answer.text and "<b>[1]</b>" in answer.text
    assert "<b>Sources</b>\n<b>[1]</b> Tehran–Moscow partnership will not yield to foreign pressure" in answer.text
    assert "typing" in [a["action"] for a in records["chatActions"] if a["chat_id"] == 102]
    # the button: the cited passages in full, as a reply to the answer
    expected = pipeline.ask(OMAN)
    assert sources.text.startswith(f"<b>Sources of: </b>{OMAN}\n\n<b>[1]</b> Tehran–Moscow")
    for c in expected.citations:
        assert f"<blockquote>{html.escape(c.text.strip(), quote=False)}</blockquote>" in sources.text
    assert OMAN_QUOTE in sources.text
    assert sources.raw["reply_parameters"]["message_id"] == answer.message_id
    assert [a["callback_query_id"] for a in records["callbackAnswers"]] != []


@pytest.mark.asyncio
async def test_follow_up_in_the_same_chat_cites_islamabad(emu: TelegramEmulator) -> None:
    [who] = await say(emu, 103, "Who is Alexey Yurievich Dedov?", count=1)
    [_, when] = await say(emu, 103, "When did he serve in Islamabad?", count=2)
    await emu.send_callback(103, 103, sources_button(when), when.message_id)
    sources = (await emu.wait_for_bot_messages(103, 3, timeout=WAIT))[-1]
    via_command = (await say(emu, 103, "/sources", count=4))[-1]
    assert "Alexey Yurievich Dedov" in who.text
    assert when.text.startswith("<i>Understood as: When did Alexey Yurievich Dedov serve in Islamabad?</i>")
    assert "Islamabad" in sources.text.split("<blockquote>", 1)[1]  # the cited passage names Islamabad
    assert "ambassador to Islamabad for six years beginning in 2013" in sources.text
    assert via_command.text == sources.text


@pytest.mark.asyncio
async def test_two_users_in_a_group_do_not_mix_conversations(emu: TelegramEmulator) -> None:
    group = -100200

    async def ask(user: int, question: str, count: int) -> BotMessage:
        text = f"@{BOT_USERNAME} {question}"
        sent = await emu.send_message(group, user, text, "group", entities=MENTION)
        reply = (await emu.wait_for_bot_messages(group, count, timeout=WAIT))[-1]
        assert reply.raw["reply_parameters"]["message_id"] == sent["message_id"]  # a reply to that user
        return reply

    await ask(1, "Who is Alexey Yurievich Dedov?", 1)
    oman = await ask(2, OMAN, 2)
    when = await ask(1, "When did he serve in Islamabad?", 3)
    ignored = await emu.send_message(group, 2, "just chatting, not for the bot", "group")
    sources_2 = await say(emu, group, "/sources", count=4, user_id=2, chat_type="group")
    sources_1 = await say(emu, group, "/sources", count=5, user_id=1, chat_type="group")
    assert len(await emu.history(group)) == 5  # nothing for the chatter (checked after two later replies)
    assert ignored["message_id"] > 0
    assert OMAN_QUOTE in oman.text
    assert when.text.startswith("<i>Understood as: When did Alexey Yurievich Dedov serve in Islamabad?</i>")
    assert OMAN_QUOTE in sources_2[-1].text
    assert (
        "ambassador to Islamabad" in sources_1[-1].text and "<b>Sources of: </b>When did he serve" in sources_1[-1].text
    )


# --- admins --------------------------------------------------------------------------------
HARBOUR = (
    b"# Harbour bridge reopens after repairs\n\nMarch 3, 2025\n\n"
    b"The Kestrel Harbour bridge reopened on Monday after eight months of repairs costing 40 million euros.\n\n"
    b"Mayor Ilse Varga said traffic on the bridge would be limited to buses for the first week."
)


@pytest.mark.asyncio
async def test_admin_uploads_a_document_and_it_is_answered_from(emu: TelegramEmulator, pipeline: Pipeline) -> None:
    version = pipeline.version()
    try:
        await emu.send_document(ADMIN, ADMIN, "harbour.md", HARBOUR, mime_type="text/markdown")
        [indexed] = await emu.wait_for_bot_messages(ADMIN, 1, timeout=WAIT)
        [_, answer] = await say(emu, ADMIN, "How much did the Kestrel Harbour bridge repairs cost?", count=2)
        await emu.send_document(104, 104, "harbour.md", HARBOUR, mime_type="text/markdown")
        [refused] = await emu.wait_for_bot_messages(104, 1, timeout=WAIT)
        assert indexed.text == "Indexed: “Harbour bridge reopens after repairs” (harbour, 2025-03-03, 1 passages)."
        assert "40 million euros" in answer.text and "Harbour bridge reopens after repairs" in answer.text
        assert refused.text == ADMINS_ONLY
        assert pipeline.version() == version + 1
    finally:
        pipeline.remove("harbour")
    assert [a.doc_id for a in pipeline.articles()] == [SEED_ID]


# --- bad input ----------------------------------------------------------------------------
STICKER = {
    "sticker": {
        "file_id": "s1",
        "file_unique_id": "s1",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "type": "regular",
    }
}
PHOTO = {"photo": [{"file_id": "p1", "file_unique_id": "p1", "width": 90, "height": 90}]}
TEXT_ONLY = "I can only read text. Send your question as a message, e.g. “What did Dedov say about Oman?”"
EMPTY = "Your message is empty. Ask a question about the news, e.g. “What did Dedov say about Oman?”"


@pytest.mark.asyncio
async def test_bad_inputs_get_short_clear_replies_and_leave_the_index_alone(
    emu: TelegramEmulator, pipeline: Pipeline
) -> None:
    before = (pipeline.version(), pipeline.articles())
    dead = f"http://127.0.0.1:{free_port()}/article.html"  # nobody listens there
    chat = ADMIN  # the admin's private chat, so the ingest paths are reached too
    replies: list[str] = []

    async def expect(send: Any) -> str:
        await send
        replies.append((await emu.wait_for_bot_messages(chat, len(replies) + 1, timeout=WAIT))[-1].text or "")
        return replies[-1]

    assert await expect(emu.send_message(chat, chat, "", extra={})) == EMPTY
    assert await expect(emu.send_message(chat, chat, None, extra=STICKER)) == TEXT_ONLY
    assert await expect(emu.send_message(chat, chat, None, extra=PHOTO)) == TEXT_ONLY
    assert await expect(emu.send_message(chat, chat, "Oman? " * 1667)) == (
        "⚠ The question is 10,001 characters long; the limit is 2,000 — shorten it."
    )
    # markup and RTL/emoji questions are plain text to the bot: an answer or the refusal, never broken HTML
    markup = await expect(emu.send_message(chat, chat, "What did Dedov say about <b>Oman</b>? </a> *_["))
    assert markup == REFUSAL_HTML or (OMAN_QUOTE in markup and "<b>Oman" not in markup)
    rtl = await expect(emu.send_message(chat, chat, "ما رأي ديدوف في عمان؟ 🇴🇲🤔"))
    assert rtl == REFUSAL_HTML or "<b>[1]</b>" in rtl
    assert await expect(emu.send_command(chat, chat, "/frobnicate")) == (
        "I don't know the command /frobnicate. /help lists the ones I know."
    )
    assert await expect(emu.send_document(chat, chat, "report.pdf", b"%PDF-1.4 ...", "application/pdf")) == (
        "I can index .txt, .md and .html files; report.pdf is not one of them."
    )
    assert await expect(emu.send_document(chat, chat, "huge.txt", b"x" * 6000, "text/plain")) == (
        "huge.txt is 6,000 bytes; the limit is 5,000 bytes."
    )
    assert await expect(emu.send_command(chat, chat, "/ingest", dead)) == (
        f"Could not index {dead}: {dead}: cannot fetch — check the address"
    )
    errors = (await emu.records())["webhookErrors"]
    assert errors == []
    assert len(replies) == 10  # one reply each, nothing dropped, nothing doubled
    assert (pipeline.version(), pipeline.articles()) == before


# --- load -------------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_fifty_users_at_once_are_all_answered(emu: TelegramEmulator) -> None:
    questions = [
        OMAN,
        "Who is Alexey Yurievich Dedov?",
        "What did Dedov say about snapback sanctions?",
        "What is happening with the Bushehr nuclear power plant?",
        "Tell me about the Rasht–Astara railway",
    ]
    users = range(5000, 5050)
    started = time.monotonic()
    await asyncio.gather(*(emu.send_message(u, u, questions[u % 5]) for u in users))
    deadline = started + 240
    answered: dict[int, list[BotMessage]] = {}
    while len(answered) < len(users) and time.monotonic() < deadline:
        for u in users:
            if u not in answered and (found := await emu.history(u)):
                answered[u] = found
        await asyncio.sleep(0.2)
    elapsed = time.monotonic() - started
    await asyncio.sleep(0.5)  # anything doubled would show up now
    final = {u: await emu.history(u) for u in users}
    print(f"\n50 users answered in {elapsed:.1f} s")
    assert sorted(answered) == list(users), f"unanswered: {sorted(set(users) - set(answered))}"
    assert {u: len(m) for u, m in final.items()} == {u: 1 for u in users}
    for u in users:
        [reply] = final[u]
        assert reply.parse_mode == "HTML" and reply.text
        if questions[u % 5] == OMAN:
            assert OMAN_QUOTE in reply.text


# --- webhook mode ------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_webhook_mode_checks_the_secret_token(
    telegram_emulator: TelegramEmulator, pipeline: Pipeline, tmp_path: Path
) -> None:
    emu = telegram_emulator
    port = free_port()
    url = f"http://127.0.0.1:{port}/tg-hook"
    config = Settings(data_dir=tmp_path, telegram_bot_token=emu.token, telegram_base_url=emu.api_url, rate_limit=0)
    app = build_application(config, pipeline)
    async with app:
        await app.start()
        await app.updater.start_webhook(  # type: ignore[union-attr]
            listen="127.0.0.1", port=port, url_path="tg-hook", webhook_url=url, secret_token="s3cret-Token_1"
        )
        try:
            [reply] = await say(emu, 105, OMAN, count=1)
            async with httpx.AsyncClient(trust_env=False) as client:
                forged = await client.post(url, json={"update_id": 999, "message": {}}, timeout=10)
            info = await app.bot.get_webhook_info()
        finally:
            await app.updater.stop()  # type: ignore[union-attr]
            await app.stop()
    deps_of(app).service.store.close()
    assert OMAN_QUOTE in reply.text
    assert forged.status_code == 403  # no secret header: refused
    assert info.url == url
    assert (await emu.records())["webhookErrors"] == []


# --- the real command: `newsbot telegram` -----------------------------------------------------
def newsbot(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def bot_ready(emu: TelegramEmulator, mode: str, port: int) -> bool:
    """Polling: the commands are registered. Webhook: the webhook is set and its server listens
    (the emulator, unlike Telegram, does not retry a delivery that found nobody listening)."""
    if not await emu.commands():
        return False
    if mode == "polling":
        return True
    async with httpx.AsyncClient(trust_env=False) as client:
        info = (await client.post(f"{emu.base_url}{emu.token}/getWebhookInfo", timeout=5)).json()["result"]
    if not info.get("url"):
        return False
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def stop(proc: subprocess.Popen[str], sig: int) -> tuple[int, str]:
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate(timeout=10)
    return proc.returncode, err


@pytest.mark.parametrize("mode", ["polling", "webhook"])
@pytest.mark.asyncio
async def test_newsbot_telegram_command(telegram_emulator: TelegramEmulator, tmp_path: Path, mode: str) -> None:
    """`newsbot -vv telegram` on an empty index (no model load): answers, stops cleanly, never logs the token."""
    emu = telegram_emulator
    empty = tmp_path / "no-seeds"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    env.update(
        TELEGRAM_BOT_TOKEN=emu.token,
        NEWSBOT_TELEGRAM_BASE_URL=emu.api_url,
        NEWSBOT_DATA_DIR=str(tmp_path / "data"),
        NEWSBOT_SEEDS_DIR=str(empty),
        NEWSBOT_WEBHOOK_SECRET="s3cret-from-env",
    )
    args = ["-vv", "telegram"]
    port = 0
    if mode == "webhook":
        port = free_port()
        args += ["--webhook-url", f"http://127.0.0.1:{port}/hook", "--listen", "127.0.0.1", "--port", str(port)]
    proc = newsbot(args, env)
    try:
        for _ in range(600):  # bounded: 60 s for imports and start-up
            if await bot_ready(emu, mode, port) or proc.poll() is not None:
                break
            await asyncio.sleep(0.1)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        [start] = await say(emu, 106, "/start", count=1)
        [_, refusal] = await say(emu, 106, OMAN, count=2)
        if mode == "webhook":
            async with httpx.AsyncClient(trust_env=False) as client:
                forged = await client.post(f"http://127.0.0.1:{port}/hook", json={"update_id": 1}, timeout=10)
                assert forged.status_code == 403
    finally:
        code, err = stop(proc, signal.SIGINT if mode == "polling" else signal.SIGTERM)
    assert code == 0, err[-2000:]
    assert start.text.startswith("Hello! I have no articles yet")
    assert refusal.text and "[1]" not in refusal.text
    assert "getUpdates" in err or "setWebhook" in err  # -vv really logged the API calls ...
    assert emu.token not in err and emu.token.split(":")[1] not in err  # ... and never the token


# --- the README's transcript ------------------------------------------------------------------
def as_seen(message: BotMessage) -> str:
    """A bot message as a Telegram user reads it: tags rendered away, entities unescaped, buttons shown."""
    text = html.unescape(re.sub(r"</?(?:b|i|blockquote)>", "", message.text or ""))
    if message.reply_markup:
        text += "\n" + " ".join(f"[{b['text']}]" for row in message.reply_markup["inline_keyboard"] for b in row)
    return text


@pytest.mark.asyncio
async def test_transcript(emu: TelegramEmulator) -> None:
    """A short real conversation; `pytest tests/test_telegram_e2e.py -k transcript -s` prints it (docs/telegram.md)."""
    chat = 108
    lines: list[str] = []
    for step in [
        "/start",
        OMAN,
        "press:Sources",
        "Who is Alexey Yurievich Dedov?",
        "When did he serve in Islamabad?",
    ]:
        count = len(await emu.history(chat)) + 1
        if step.startswith("press:"):
            last = (await emu.history(chat))[-1]
            await emu.send_callback(chat, chat, sources_button(last), last.message_id)
            lines.append("> *(presses **Sources** under the answer)*")
        elif step.startswith("/"):
            await emu.send_command(chat, chat, step)
            lines.append(f"> **{step}**")
        else:
            await emu.send_message(chat, chat, step)
            lines.append(f"> **{step}**")
        reply = (await emu.wait_for_bot_messages(chat, count, timeout=WAIT))[-1]
        lines += ["", "```text", as_seen(reply), "```", ""]
    transcript = "\n".join(lines)
    print("\n" + transcript)
    assert transcript.count("```text") == 5
    assert OMAN_QUOTE in transcript and "ambassador to Islamabad" in transcript


# --- a hard kill loses no question ------------------------------------------------------------
async def answered(emu: TelegramEmulator) -> dict[int, int]:
    """How many messages the bot has sent to each chat."""
    counts: dict[int, int] = {}
    for item in await emu._post("/getUpdatesHistory", {"token": emu.token}):
        chat = (item.get("message") or {}).get("chat_id")
        if chat is not None:
            counts[int(chat)] = counts.get(int(chat), 0) + 1
    return counts


def journaled(data: Path) -> int:
    """How many updates the bot's journal holds (0 before it has made it)."""
    import sqlite3

    path = data / "telegram.sqlite3"
    if not path.exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT count(*) FROM updates").fetchone()[0])
    except sqlite3.OperationalError:  # the table is not there yet
        return 0
    finally:
        db.close()


@pytest.mark.asyncio
async def test_a_hard_killed_bot_answers_every_queued_question_once_after_a_restart(
    telegram_emulator: TelegramEmulator, seeded_data_dir: Path, tmp_path: Path
) -> None:
    """150 users ask at once; `newsbot telegram` is killed with SIGKILL once it has received a batch of them and
    before it has answered any (received and confirmed to Telegram: lost for good if nothing kept them); the next
    start answers each question, once."""
    import shutil

    emu = telegram_emulator
    data = tmp_path / "data"
    shutil.copytree(seeded_data_dir, data)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    env.update(
        TELEGRAM_BOT_TOKEN=emu.token,
        NEWSBOT_TELEGRAM_BASE_URL=emu.api_url,
        NEWSBOT_DATA_DIR=str(data),
        NEWSBOT_RATE_LIMIT="0",
    )
    chats = list(range(5000, 5150))
    for chat in chats:
        await emu.send_message(chat, chat, OMAN)
    proc = newsbot(["telegram"], env)
    try:
        for _ in range(6000):  # bounded: 120 s for start-up and the first batch of updates
            if journaled(data) >= 100 or proc.poll() is not None:
                break
            await asyncio.sleep(0.02)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    in_hand = journaled(data) - sum((await answered(emu)).values())
    assert in_hand >= 90  # it died holding questions it had received and not answered
    proc = newsbot(["telegram"], env)
    try:
        for _ in range(1800):  # bounded: 180 s for start-up and the answers
            if len(await answered(emu)) == len(chats) or proc.poll() is not None:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # a duplicate, were there one, would come now
    finally:
        code, err = stop(proc, signal.SIGTERM)
    counts = await answered(emu)
    assert code == 0, err[-2000:]
    assert sorted(counts) == chats  # none lost …
    assert set(counts.values()) == {1}, {c: n for c, n in counts.items() if n != 1}  # … none answered twice


@pytest.mark.asyncio
async def test_newsbot_telegram_without_a_network_retries_a_line_at_a_time_until_it_comes_back(tmp_path: Path) -> None:
    """Started while the Bot API cannot be reached, the bot says so a line a retry (no traceback), keeps trying,
    and answers once the server is there."""
    from tests.emulator import prerequisites_missing

    if prerequisites_missing():
        pytest.skip(prerequisites_missing() or "")
    port = free_port()
    emu = TelegramEmulator(port=port)
    empty = tmp_path / "no-seeds"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    env.update(
        TELEGRAM_BOT_TOKEN=emu.token,
        NEWSBOT_TELEGRAM_BASE_URL=f"http://127.0.0.1:{port}",
        NEWSBOT_DATA_DIR=str(tmp_path / "data"),
        NEWSBOT_SEEDS_DIR=str(empty),
    )
    proc = newsbot(["telegram"], env)
    try:
        await asyncio.sleep(4.0)  # no server: the first retries
        assert proc.poll() is None
        with emu:
            for _ in range(600):  # bounded: 60 s for the retries to find the server
                if await emu.commands() or proc.poll() is not None:
                    break
                await asyncio.sleep(0.1)
            [start] = await say(emu, 109, "/start", count=1)
            code, err = stop(proc, signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert start.text.startswith("Hello! I have no articles yet")
    assert code == 0
    lines = err.splitlines()
    assert "Traceback" not in err
    assert sum("cannot reach Telegram" in line for line in lines) >= 2  # a line a retry …
    seeding = ("Empty index: indexing the seed articles", f"newsbot: {empty}: no .txt")  # (an empty seeds dir)
    assert all(line.startswith(("WARNING ", "INFO ", *seeding)) for line in lines), lines  # … and nothing else
