"""Telegram handlers in python-telegram-bot's own test style: real `Update` objects through
`application.process_update`, a recording request class in place of the network, and the exact
Bot API calls asserted (method, chat, text, parse mode, buttons). The pipeline is a fake here;
tests/test_telegram_e2e.py runs the real one against an emulated Bot API server.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from telegram import Update

from bot.settings import Settings
from bot.telegram.app import api_urls, build_application
from bot.telegram.buttons import install_secret, sources_data
from bot.telegram.handlers import ADMINS_ONLY, COMMANDS, HELP, WENT_WRONG, addressed_question, deps_of
from bot.telegram.handlers import typing as typing_indicator
from bot.telegram.store import conversation_key
from tests.servers import free_port
from tests.telegram_fakes import (
    BASE,
    BOT_ID,
    BOT_USERNAME,
    ISLAMABAD_PASSAGE,
    OMAN_PASSAGE,
    TOKEN,
    FakePipeline,
    RecordingRequest,
)

USER, ADMIN, GROUP = 10, 7, -1001
SOURCE_LIST = (
    "<b>Sources</b>\n<b>[1]</b> Tehran–Moscow partnership will not yield to foreign pressure: Russian envoy"
    " — 2025-11-01, paragraphs 11–12"
)
OMAN_HTML = "“Oman’s mediation … has been highly active and positive,” Dedov added. <b>[1]</b>\n\n" + SOURCE_LIST
REFUSAL_HTML = "I could not find this in the articles."
BOT_SENDER = {"id": BOT_ID, "is_bot": True, "first_name": "Newsbot"}


def button(answer_id: int, chat_id: int = USER, data_dir: Path | None = None) -> dict[str, Any]:
    """The Sources button under answer `answer_id` in `chat_id`, signed with the install secret of `data_dir`."""
    assert data_dir is not None
    data = sources_data(install_secret(data_dir), chat_id, answer_id)
    return {"inline_keyboard": [[{"callback_data": data, "text": "Sources"}]]}


def button_data(harness: Harness, answer_id: int, chat_id: int = USER) -> str:
    """What the Sources button under answer `answer_id` in `chat_id` carries."""
    return sources_data(install_secret(harness.data_dir), chat_id, answer_id)


def typing(chat_id: int = USER) -> tuple[str, dict[str, Any]]:
    return ("sendChatAction", {"chat_id": chat_id, "action": "typing"})


def sent(text: str, chat_id: int = USER, reply_to: int | None = None, **extra: Any) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {"chat_id": chat_id, "text": text, "parse_mode": "HTML", **extra}
    if reply_to is not None:
        params["reply_parameters"] = {"allow_sending_without_reply": True, "message_id": reply_to}
    return ("sendMessage", params)


class Harness:
    """A bot on the fake pipeline and the recording request; builds updates and runs them."""

    def __init__(self, data_dir: Path, **settings: Any) -> None:
        self.data_dir = data_dir
        self.settings = Settings(
            data_dir=data_dir,
            telegram_bot_token=TOKEN,
            telegram_base_url=BASE,
            admins={ADMIN},
            rate_limit=settings.pop("rate_limit", 100),
            max_upload_bytes=2000,
            **settings,
        )
        self.request = RecordingRequest()
        self.pipeline = FakePipeline()
        self.sleeps: list[float] = []
        self.now = 1000.0
        self.app = build_application(
            self.settings, self.pipeline, request=self.request, sleep=self.sleep, clock=lambda: self.now
        )
        self._ids = itertools.count(1)

    async def __aenter__(self) -> Harness:
        """The application initialised (it calls getMe)."""
        await self.app.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        """The application shut down and the chat store closed."""
        try:
            await self.app.__aexit__(*exc)
        finally:
            deps_of(self.app).service.store.close()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def message(
        self, text: str | None, chat_id: int = USER, user_id: int = USER, chat_type: str = "private", **extra: Any
    ) -> Update:
        n = next(self._ids)
        chat = {"id": chat_id, "type": chat_type, **({"title": "Group"} if chat_type != "private" else {})}
        message: dict[str, Any] = {
            "message_id": n,
            "date": 1,
            "chat": chat,
            "from": {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"},
            **extra,
        }
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return Update.de_json({"update_id": n, "message": message}, self.app.bot)

    def callback(self, data: str, message_id: int, chat_id: int = USER, user_id: int = USER) -> Update:
        n = next(self._ids)
        query = {
            "id": f"cq{n}",
            "from": {"id": user_id, "is_bot": False, "first_name": "U"},
            "chat_instance": "ci",
            "data": data,
            "message": {
                "message_id": message_id,
                "date": 1,
                "chat": {"id": chat_id, "type": "private"},
                "from": BOT_SENDER,
                "text": "an answer",
            },
        }
        return Update.de_json({"update_id": n, "callback_query": query}, self.app.bot)

    def document(self, name: str, content: bytes, user_id: int = ADMIN, size: int | None = None) -> Update:
        file_id = f"F{next(self._ids)}"
        self.request.files[f"documents/{file_id}"] = content
        doc = {"file_id": file_id, "file_unique_id": "u", "file_name": name, "file_size": size or len(content)}
        return self.message(None, chat_id=user_id, user_id=user_id, document=doc)

    async def run(self, update: Update) -> list[tuple[str, dict[str, Any]]]:
        """Process one update; the calls it made."""
        before = len(self.request.calls)
        await self.app.process_update(update)
        return self.request.calls[before:]


@pytest_asyncio.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Harness]:
    async with Harness(tmp_path) as harness:
        assert harness.request.methods() == ["getMe"]
        yield harness


# --- wiring -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("base", "urls"),
    [
        ("https://api.telegram.org", ("https://api.telegram.org/bot", "https://api.telegram.org/file/bot")),
        ("http://127.0.0.1:8081/", ("http://127.0.0.1:8081/bot", "http://127.0.0.1:8081/file/bot")),
        ("http://127.0.0.1:8081/bot", ("http://127.0.0.1:8081/bot", "http://127.0.0.1:8081/file/bot")),
    ],
)
def test_api_urls(base: str, urls: tuple[str, str]) -> None:
    assert api_urls(base) == urls


@pytest.mark.asyncio
async def test_post_init_registers_the_commands(bot: Harness) -> None:
    before = len(bot.request.calls)
    await bot.app.post_init(bot.app)  # type: ignore[misc]
    assert bot.request.calls[before:] == [
        (
            "setMyCommands",
            {
                "commands": [
                    {"command": "start", "description": "What I know: articles and dates"},
                    {"command": "help", "description": "How to ask, and the commands"},
                    {"command": "ask", "description": "Ask a question (in groups: /ask QUESTION)"},
                    {"command": "sources", "description": "The full passages cited by my last answer"},
                    {"command": "reset", "description": "Forget our conversation"},
                    {"command": "about", "description": "Index size, model, version"},
                    {"command": "latest", "description": "The newest articles (/latest TOPIC: about a topic)"},
                    {"command": "follow", "description": "Get a message when an article about a topic arrives"},
                    {"command": "following", "description": "The topics you follow"},
                    {"command": "unfollow", "description": "Stop following a topic: /unfollow N"},
                ]
            },
        )
    ]
    assert [c.command for c in COMMANDS] == [
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


# --- commands -----------------------------------------------------------------------------
HELP_HTML = HELP.format(username=BOT_USERNAME)  # nothing in it needs escaping
ADMIN_HELP_HTML = (
    HELP_HTML + "\n\nAdmins: /ingest URL adds an article; so does sending a .txt, .md or .html file here. /feeds "
    "lists the feeds; /feed add URL and /feed remove N manage them; /refresh fetches them now."
)


@pytest.mark.parametrize(
    ("text", "user", "expected"),
    [
        (
            "/start",
            USER,
            "Hello! I have read 1 news article, published 2025-11-01. Ask me about them, e.g. “What did Dedov say "
            "about Oman?”\n\nI quote the passages I answer from. /latest shows the newest articles; /follow TOPIC "
            "tells you when one about your topic arrives. /help tells more.",
        ),
        ("/help", USER, HELP_HTML),
        ("/help", ADMIN, ADMIN_HELP_HTML),
        (
            "/about",
            USER,
            "newsbot 0.1.0\nIndex: 1 articles, 10 passages (index version 1)\nEmbedding model: all-MiniLM-L6-v2\n"
            "Answers: FakeAnswerer",
        ),
        ("/reset", USER, "Done: I have forgotten our conversation. Ask a new question."),
        ("/sources", USER, "No sources yet: ask a question first."),
        ("/ask", USER, "Usage: /ask QUESTION, e.g. /ask What did Dedov say about Oman?"),
        ("/ask   ", USER, "Usage: /ask QUESTION, e.g. /ask What did Dedov say about Oman?"),
        ("/frobnicate now", USER, "I don't know the command /frobnicate. /help lists the ones I know."),
        ("/ingest https://example.com/a", USER, ADMINS_ONLY),
        ("/ingest", ADMIN, "Usage: /ingest URL, e.g. /ingest https://example.com/news/article.html"),
        ("/ingest not-a-url", ADMIN, "Usage: /ingest URL, e.g. /ingest https://example.com/news/article.html"),
    ],
)
@pytest.mark.asyncio
async def test_command_replies(bot: Harness, text: str, user: int, expected: str) -> None:
    calls = await bot.run(bot.message(text, chat_id=user, user_id=user))
    assert calls == [sent(expected, chat_id=user)]
    assert bot.pipeline.asked == [] and bot.pipeline.indexed == []


# --- questions in a private chat -------------------------------------------------------------
@pytest.mark.asyncio
async def test_question_is_answered_in_html_with_a_sources_button(bot: Harness) -> None:
    calls = await bot.run(bot.message("What did Dedov say about Oman?"))
    assert calls == [typing(), sent(OMAN_HTML, reply_markup=button(1, data_dir=bot.data_dir))]
    assert bot.pipeline.asked == [("What did Dedov say about Oman?", "What did Dedov say about Oman?", [])]


@pytest.mark.asyncio
async def test_sources_button_shows_the_cited_passages_in_full(bot: Harness) -> None:
    await bot.run(bot.message("What did Dedov say about Oman?"))
    answer_message_id = 501  # RecordingRequest numbers the bot's messages from 501
    calls = await bot.run(bot.callback(button_data(bot, 1), answer_message_id))
    passage = OMAN_PASSAGE  # nothing in it needs escaping
    assert calls == [
        ("answerCallbackQuery", {"callback_query_id": calls[0][1]["callback_query_id"]}),
        sent(
            "<b>Sources of: </b>What did Dedov say about Oman?\n\n"
            "<b>[1]</b> Tehran–Moscow partnership will not yield to foreign pressure: Russian envoy"
            " — 2025-11-01, paragraphs 11–12\n\n"
            f"<blockquote>{passage}</blockquote>",
            reply_to=answer_message_id,
        ),
    ]
    # /sources shows the same passages for the chat's last answer
    calls = await bot.run(bot.message("/sources"))
    assert [c[1]["text"] for c in calls] == [
        "<b>Sources of: </b>What did Dedov say about Oman?\n\n"
        "<b>[1]</b> Tehran–Moscow partnership will not yield to foreign pressure: Russian envoy"
        " — 2025-11-01, paragraphs 11–12\n\n"
        f"<blockquote>{passage}</blockquote>"
    ]


def expired(calls: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """What a press of a button that names nothing in this chat gets: one short answer to the callback."""
    query_id = calls[0][1]["callback_query_id"] if calls else "?"
    return [
        (
            "answerCallbackQuery",
            {
                "callback_query_id": query_id,
                "text": "This button has expired. Ask the question again.",
                "show_alert": True,
            },
        )
    ]


@pytest.mark.parametrize(
    "data",
    [
        "src:1",  # the unsigned form of an answer that exists (older buttons, or a guess)
        "src:999",
        "src:abc",
        "src:",
        "src:" + "9" * 60,  # a number too long to be an id: never converted
        "src:1:AAAAAAAAAAAAAAAA",  # a forged signature
        "something else entirely",
        "",
    ],
)
@pytest.mark.asyncio
async def test_a_button_that_names_nothing_has_expired(bot: Harness, data: str) -> None:
    await bot.run(bot.message("What did Dedov say about Oman?"))  # answer 1 exists, in USER's chat
    calls = await bot.run(bot.callback(data, 501))
    assert calls == expired(calls)


@pytest.mark.asyncio
async def test_a_button_shows_its_sources_only_in_the_chat_it_was_sent_to(bot: Harness) -> None:
    other = 22
    await bot.run(bot.message("What did Dedov say about Oman?"))  # answer 1, in USER's chat
    await bot.run(bot.message("/ask What did Dedov say about Oman?", chat_id=GROUP, user_id=USER, chat_type="group"))
    forged = [
        bot.callback(button_data(bot, 1), 501, chat_id=other, user_id=other),  # USER's button, pressed elsewhere
        bot.callback(button_data(bot, 1, chat_id=other), 501, chat_id=other, user_id=other),  # signed for `other`
        bot.callback(button_data(bot, 2, chat_id=GROUP), 502, chat_id=USER),  # the group's answer, in a private chat
    ]
    for update in forged:
        calls = await bot.run(update)
        assert calls == expired(calls)
    shown = await bot.run(bot.callback(button_data(bot, 1), 501))
    assert [m for m, _ in shown] == ["answerCallbackQuery", "sendMessage"]


@pytest.mark.asyncio
async def test_follow_up_uses_the_conversation_and_reset_forgets_it(bot: Harness) -> None:
    await bot.run(bot.message("Who is Alexey Yurievich Dedov?"))
    calls = await bot.run(bot.message("When did he serve in Islamabad?"))
    assert calls == [
        typing(),
        sent(
            "<i>Understood as: When did Alexey Yurievich Dedov serve in Islamabad?</i>\n\n"
            "He was ambassador to Islamabad for six years beginning in 2013. <b>[1]</b>\n\n"
            "<b>Sources</b>\n<b>[1]</b> Tehran–Moscow partnership will not yield to foreign pressure: Russian envoy"
            " — 2025-11-01, paragraph 21",
            reply_markup=button(2, data_dir=bot.data_dir),
        ),
    ]
    await bot.run(bot.message("/reset"))
    await bot.run(bot.message("When did he serve in Islamabad?"))
    assert [(q, s, h) for q, s, h in bot.pipeline.asked] == [
        ("Who is Alexey Yurievich Dedov?", "Who is Alexey Yurievich Dedov?", []),
        (
            "When did he serve in Islamabad?",
            "When did Alexey Yurievich Dedov serve in Islamabad?",
            ["Who is Alexey Yurievich Dedov?"],
        ),
        ("When did he serve in Islamabad?", "When did he serve in Islamabad?", []),
    ]


@pytest.mark.asyncio
async def test_conversations_and_sources_survive_a_restart(tmp_path: Path) -> None:
    async with Harness(tmp_path) as first:
        await first.run(first.message("Who is Alexey Yurievich Dedov?"))

    async with Harness(tmp_path) as second:
        calls = await second.run(second.message("/sources"))
        assert ISLAMABAD_PASSAGE in calls[0][1]["text"]
        await second.run(second.message("When did he serve in Islamabad?"))
        pressed = await second.run(second.callback(button_data(second, 1), 501))
    assert second.pipeline.asked == [
        (
            "When did he serve in Islamabad?",
            "When did Alexey Yurievich Dedov serve in Islamabad?",
            ["Who is Alexey Yurievich Dedov?"],
        )
    ]
    assert [m for m, _ in pressed] == ["answerCallbackQuery", "sendMessage"]
    assert ISLAMABAD_PASSAGE in pressed[1][1]["text"]


# --- bad input ----------------------------------------------------------------------------
LONG = "Oman " * 2000  # 10,000 characters
TEXT_ONLY = "I can only read text. Send your question as a message, e.g. “What did Dedov say about Oman?”"
EMPTY = "Your message is empty. Ask a question about the news, e.g. “What did Dedov say about Oman?”"
STICKER = {
    "sticker": {
        "file_id": "s",
        "file_unique_id": "s",
        "width": 1,
        "height": 1,
        "is_animated": False,
        "is_video": False,
        "type": "regular",
    }
}


@pytest.mark.parametrize(
    ("text", "extra", "expected"),
    [
        ("", {}, EMPTY),  # Telegram never sends it; an emulator can
        ("   \n ", {}, EMPTY),
        (None, STICKER, TEXT_ONLY),
        (None, {"photo": [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]}, TEXT_ONLY),
        (None, {"voice": {"file_id": "v", "file_unique_id": "v", "duration": 1}}, TEXT_ONLY),
        (LONG, {}, "⚠ The question is 9,999 characters long; the limit is 2,000 — shorten it."),
        ("\u200b\u200f", {}, "⚠ The question is empty — type a question about the articles."),
    ],
    ids=["empty", "blank", "sticker", "photo", "voice", "10000-chars", "invisible-only"],
)
@pytest.mark.asyncio
async def test_bad_input_gets_a_short_clear_reply(
    bot: Harness, text: str | None, extra: dict[str, Any], expected: str
) -> None:
    calls = await bot.run(bot.message(text, **extra))
    assert [c for c in calls if c[0] != "sendChatAction"] == [sent(expected)]
    assert bot.pipeline.indexed == []


@pytest.mark.parametrize(
    ("question", "expected_html"),
    [
        ("<b>Oman</b></a> *_[", "“Oman’s mediation"),  # markup in the question is text, not markup
        ("مرحبا 👋 what about عمان?", REFUSAL_HTML),
        ("Что сказал Дедов? 🇷🇺", REFUSAL_HTML),
    ],
)
@pytest.mark.asyncio
async def test_markup_rtl_and_emoji_questions_are_answered(bot: Harness, question: str, expected_html: str) -> None:
    calls = await bot.run(bot.message(question))
    assert calls[0] == typing()
    assert calls[1][1]["text"].startswith(expected_html)
    assert bot.pipeline.asked[0][0] == question


@pytest.mark.asyncio
async def test_an_understood_as_line_escapes_the_question(bot: Harness) -> None:
    await bot.run(bot.message("Who is Alexey Yurievich Dedov?"))
    calls = await bot.run(bot.message("What was <b>his</b> role & *rank*?"))
    assert calls[1][1]["text"].startswith(
        "<i>Understood as: What was &lt;b&gt;Alexey Yurievich Dedov’s&lt;/b&gt; role &amp; *rank*?</i>"
    )


# --- groups -------------------------------------------------------------------------------
def reply_to(sender: dict[str, Any]) -> dict[str, Any]:
    """The message fields of a reply, in the group, to a message from `sender`."""
    return {
        "reply_to_message": {
            "message_id": 99,
            "date": 1,
            "chat": {"id": GROUP, "type": "group"},
            "from": sender,
            "text": "x",
        }
    }


@pytest.mark.parametrize(
    ("text", "extra", "question"),
    [
        (f"@{BOT_USERNAME} What did Dedov say about Oman?", {}, "What did Dedov say about Oman?"),
        (f"What did Dedov say about Oman, @{BOT_USERNAME.lower()}?", {}, "What did Dedov say about Oman, ?"),
        ("/ask What did Dedov say about Oman?", {}, "What did Dedov say about Oman?"),
        (f"/ask@{BOT_USERNAME} What did Dedov say about Oman?", {}, "What did Dedov say about Oman?"),
        ("What did Dedov say about Oman?", reply_to(BOT_SENDER), "What did Dedov say about Oman?"),
    ],
    ids=["mention-first", "mention-inside", "ask", "ask-at-bot", "reply-to-bot"],
)
@pytest.mark.asyncio
async def test_group_messages_for_the_bot_are_answered_as_replies(
    bot: Harness, text: str, extra: dict[str, Any], question: str
) -> None:
    update = bot.message(text, chat_id=GROUP, chat_type="group", **extra)
    calls = await bot.run(update)
    assert calls == [
        typing(GROUP),
        sent(OMAN_HTML, chat_id=GROUP, reply_to=update.message.message_id, reply_markup=button(1, GROUP, bot.data_dir)),
    ]
    assert [q for q, _, _ in bot.pipeline.asked] == [question]


@pytest.mark.parametrize(
    ("text", "extra"),
    [
        ("What did Dedov say about Oman?", {}),  # not addressed
        ("ask @SomeoneElse about Oman", {}),
        ("/start@OtherBot", {}),  # another bot's command
        ("/frobnicate", {}),  # unknown command not addressed to us
        ("What did Dedov say about Oman?", reply_to({"id": 55, "is_bot": False, "first_name": "Other"})),
        (None, STICKER),
        (None, {"new_chat_members": [{"id": 56, "is_bot": False, "first_name": "New"}]}),
    ],
    ids=["plain", "other-mention", "other-bot-command", "unknown-command", "reply-to-user", "sticker", "join"],
)
@pytest.mark.asyncio
async def test_group_messages_not_for_the_bot_are_ignored(bot: Harness, text: str | None, extra: dict) -> None:
    assert await bot.run(bot.message(text, chat_id=GROUP, chat_type="group", **extra)) == []
    assert bot.pipeline.asked == []


@pytest.mark.asyncio
async def test_group_mention_without_a_question(bot: Harness) -> None:
    update = bot.message(f"@{BOT_USERNAME}", chat_id=GROUP, chat_type="group")
    assert await bot.run(update) == [sent(EMPTY, chat_id=GROUP, reply_to=update.message.message_id)]


@pytest.mark.asyncio
async def test_two_users_in_a_group_keep_separate_conversations(bot: Harness) -> None:
    def ask(user: int, question: str) -> Update:
        return bot.message(f"@{BOT_USERNAME} {question}", chat_id=GROUP, user_id=user, chat_type="group")

    await bot.run(ask(1, "Who is Alexey Yurievich Dedov?"))
    await bot.run(ask(2, "What did Dedov say about Oman?"))
    await bot.run(ask(1, "When did he serve in Islamabad?"))
    assert bot.pipeline.asked == [
        ("Who is Alexey Yurievich Dedov?", "Who is Alexey Yurievich Dedov?", []),
        ("What did Dedov say about Oman?", "What did Dedov say about Oman?", []),
        (
            "When did he serve in Islamabad?",
            "When did Alexey Yurievich Dedov serve in Islamabad?",
            ["Who is Alexey Yurievich Dedov?"],  # user 1's own question only
        ),
    ]
    sources_2 = await bot.run(bot.message("/sources", chat_id=GROUP, user_id=2, chat_type="group"))
    sources_1 = await bot.run(bot.message("/sources", chat_id=GROUP, user_id=1, chat_type="group"))
    assert "Oman’s mediation" in sources_2[0][1]["text"] and "Islamabad" not in sources_2[0][1]["text"]
    assert ISLAMABAD_PASSAGE in sources_1[0][1]["text"] and "Oman" not in sources_1[0][1]["text"]
    assert (conversation_key(GROUP, 1, False), conversation_key(5, 5, True)) == (f"{GROUP}:1", "5")


def test_addressed_question_needs_the_exact_username() -> None:
    from telegram import Message

    def msg(text: str) -> Message:
        return Message.de_json({"message_id": 1, "date": 1, "chat": {"id": GROUP, "type": "group"}, "text": text}, None)

    assert addressed_question(msg(f"@{BOT_USERNAME}bot hi"), BOT_USERNAME, BOT_ID) is None
    assert addressed_question(msg(f"mail@{BOT_USERNAME} hi"), BOT_USERNAME, BOT_ID) is None
    assert addressed_question(msg(f"hi @{BOT_USERNAME.upper()}!"), BOT_USERNAME, BOT_ID) == "hi !"


# --- limits, access -----------------------------------------------------------------------
@pytest.mark.asyncio
async def test_rate_limit_per_user(tmp_path: Path) -> None:
    async with Harness(tmp_path, rate_limit=2, rate_window=60) as h:
        for _ in range(2):
            assert [m for m, _ in await h.run(h.message("What did Dedov say about Oman?"))] == [
                "sendChatAction",
                "sendMessage",
            ]
        h.now += 15
        assert await h.run(h.message("What did Dedov say about Oman?")) == [
            sent("Slow down: you can ask 2 questions every 60 s. Try again in 45 s.")
        ]
        other = await h.run(h.message("What did Dedov say about Oman?", chat_id=11, user_id=11))
        assert [m for m, _ in other] == ["sendChatAction", "sendMessage"]  # another user is not limited
        h.now += 45
        assert [m for m, _ in await h.run(h.message("What did Dedov say about Oman?"))] == [
            "sendChatAction",
            "sendMessage",
        ]
    assert len(h.pipeline.asked) == 4


@pytest.mark.asyncio
async def test_allowed_chats(tmp_path: Path) -> None:
    async with Harness(tmp_path, allowed_chats={USER, GROUP}) as h:
        refused = await h.run(h.message("What did Dedov say about Oman?", chat_id=11, user_id=11))
        pressed = await h.run(h.callback("src:1", 5, chat_id=11, user_id=11))
        ignored = await h.run(h.message("chatting", chat_id=-2002, user_id=11, chat_type="group"))
        group_command = await h.run(h.message("/start", chat_id=-2002, user_id=11, chat_type="group"))
        allowed = await h.run(h.message("What did Dedov say about Oman?"))
        admin_anywhere = await h.run(h.message("/start", chat_id=ADMIN, user_id=ADMIN))
    not_open = "Sorry, this bot is not open to this chat. Ask its owner to add chat id {}."
    assert refused == [sent(not_open.format(11), chat_id=11)]
    assert pressed == [
        (
            "answerCallbackQuery",
            {"callback_query_id": pressed[0][1]["callback_query_id"], "text": not_open.format(11), "show_alert": True},
        )
    ]
    assert ignored == []
    assert group_command == [
        sent(not_open.format(-2002), chat_id=-2002, reply_to=group_command[0][1]["reply_parameters"]["message_id"])
    ]
    assert [m for m, _ in allowed] == ["sendChatAction", "sendMessage"]
    assert [m for m, _ in admin_anywhere] == ["sendMessage"]
    assert [q for q, _, _ in h.pipeline.asked] == ["What did Dedov say about Oman?"]


FAILURES = {
    "bad-gateway": (502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}),
    "blocked": (403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}),
    "flood": (
        429,
        {"ok": False, "error_code": 429, "description": "Too Many Requests", "parameters": {"retry_after": 600}},
    ),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
@pytest.mark.parametrize(
    "asked",
    [
        {"text": "What did Dedov say about Oman?", "chat_id": 11, "user_id": 11},
        {"text": "/ask What did Dedov say about Oman?", "chat_id": -2002, "user_id": 11, "chat_type": "group"},
    ],
    ids=["private", "group-ask"],
)
@pytest.mark.asyncio
async def test_a_refusal_that_cannot_be_sent_still_stops_the_update(
    tmp_path: Path, failure: str, asked: dict[str, Any]
) -> None:
    async with Harness(tmp_path, allowed_chats={USER}) as h:
        h.request.fail["sendMessage"] = [FAILURES[failure]] * 5
        calls = await h.run(h.message(**asked))
    assert h.pipeline.asked == []  # the blocked chat's question never reaches the pipeline
    assert [m for m, _ in calls] == ["sendMessage"]  # one try at the refusal, no retry, no answer
    assert h.sleeps == []


@pytest.mark.asyncio
async def test_refusals_to_a_flooding_chat_are_paced(tmp_path: Path) -> None:
    async with Harness(tmp_path, allowed_chats={USER}) as h:
        first = await h.run(h.message("What did Dedov say about Oman?", chat_id=11, user_id=11))
        flood = [await h.run(h.message("What did Dedov say about Oman?", chat_id=11, user_id=11)) for _ in range(5)]
        h.now += 61
        later = await h.run(h.message("What did Dedov say about Oman?", chat_id=11, user_id=11))
    assert [m for m, _ in first] == ["sendMessage"]
    assert flood == [[]] * 5  # stopped, and not told again within the minute
    assert [m for m, _ in later] == ["sendMessage"]
    assert h.pipeline.asked == []


# --- Telegram trouble -----------------------------------------------------------------------
@pytest.mark.asyncio
async def test_refused_markup_is_sent_again_as_plain_text(bot: Harness) -> None:
    bot.request.fail["sendMessage"] = [
        (400, {"ok": False, "error_code": 400, "description": "Bad Request: can't parse entities: unclosed tag"})
    ]
    calls = await bot.run(bot.message("What did Dedov say about Oman?"))
    plain = OMAN_HTML.replace("<b>", "").replace("</b>", "")
    assert calls == [
        typing(),
        sent(OMAN_HTML, reply_markup=button(1, data_dir=bot.data_dir)),
        ("sendMessage", {"chat_id": USER, "text": plain, "reply_markup": button(1, data_dir=bot.data_dir)}),
    ]


@pytest.mark.asyncio
async def test_flood_control_and_network_errors_are_retried_with_backoff(bot: Harness) -> None:
    bot.request.fail["sendMessage"] = [
        (429, {"ok": False, "error_code": 429, "description": "Too Many Requests", "parameters": {"retry_after": 3}}),
        (502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}),
        (502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}),
    ]
    calls = await bot.run(bot.message("What did Dedov say about Oman?"))
    assert calls == [typing()] + [sent(OMAN_HTML, reply_markup=button(1, data_dir=bot.data_dir))] * 4
    assert bot.sleeps == [3.0, 1.0, 2.0]  # as told, then backoff 0.5 s · 2^(attempt-1) for attempts 2 and 3


@pytest.mark.asyncio
async def test_errors_are_logged_and_the_user_told_without_internals(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(_question: str) -> None:
        raise RuntimeError("disk /secret/path on fire")

    bot.pipeline.before_answer = explode
    with caplog.at_level(logging.ERROR, logger="bot.telegram_handlers"):
        calls = await bot.run(bot.message("What did Dedov say about Oman?"))
    assert calls == [typing(), sent(WENT_WRONG)]
    [record] = caplog.records
    assert record.getMessage().startswith("update ") and record.exc_info is not None
    assert "disk /secret/path on fire" in str(record.exc_info[1])
    # Telegram down too: the error handler logs that, and nothing escapes
    bot.request.fail["sendMessage"] = [(400, {"ok": False, "error_code": 400, "description": "Bad Request: chat gone"})]
    with caplog.at_level(logging.ERROR, logger="bot.telegram_handlers"):
        await bot.run(bot.message("What did Dedov say about Oman?"))


@pytest.mark.asyncio
async def test_typing_is_repeated_while_an_answer_takes_long(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    deps_of(h.app).typing_every = 0.01
    h.pipeline.gate = threading.Event()
    async with h:
        task = asyncio.create_task(h.app.process_update(h.message("What did Dedov say about Oman?")))
        for _ in range(500):  # bounded: at most ~5 s
            if h.request.methods().count("sendChatAction") >= 3:
                break
            await asyncio.sleep(0.01)
        h.pipeline.gate.set()
        await asyncio.wait_for(task, 10)
    methods = h.request.methods()[1:]
    assert methods[-1] == "sendMessage" and set(methods[:-1]) == {"sendChatAction"} and len(methods) >= 4


@pytest.mark.asyncio
async def test_a_slow_question_does_not_hold_up_other_chats(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    gate = threading.Event()
    h.pipeline.before_answer = lambda q: gate.wait(10) if "Oman" in q else None
    async with h:
        slow = asyncio.create_task(h.app.process_update(h.message("What did Dedov say about Oman?")))
        fast = await asyncio.wait_for(h.run(h.message("Who is Alexey Yurievich Dedov?", chat_id=11, user_id=11)), 10)
        assert not slow.done()
        gate.set()
        await asyncio.wait_for(slow, 10)
    assert fast[-1][1]["chat_id"] == 11 and "Islamabad" in fast[-1][1]["text"]
    assert h.request.calls[-1][0] == "sendMessage" and h.request.calls[-1][1]["chat_id"] == USER


# --- admins add articles ------------------------------------------------------------------
ARTICLE = b"Local council opens a new library\n\nMarch 3, 2025\n\nThe council opened a library on Main Street."


@pytest.mark.asyncio
async def test_admin_uploads_a_document(bot: Harness) -> None:
    update = bot.document("library.txt", ARTICLE)
    file_id = update.message.document.file_id
    calls = await bot.run(update)
    assert calls == [
        typing(ADMIN),
        ("getFile", {"file_id": file_id}),
        ("download", {"file_path": f"documents/{file_id}"}),
        sent(
            "Indexed: “Local council opens a new library” (library, 2025-03-03, 1 passages).",
            chat_id=ADMIN,
        ),
    ]
    assert [a.title for a in bot.pipeline.indexed] == ["Local council opens a new library"]


@pytest.mark.parametrize(
    ("name", "content", "user", "size", "expected"),
    [
        ("library.txt", ARTICLE, USER, None, ADMINS_ONLY),
        (
            "report.pdf",
            b"%PDF-1.4",
            ADMIN,
            None,
            "I can index .txt, .md and .html files; report.pdf is not one of them.",
        ),
        ("big.txt", ARTICLE, ADMIN, 5000, "big.txt is 5,000 bytes; the limit is 2,000 bytes."),
        (
            "binary.txt",
            b"\x00\x01\x02",
            ADMIN,
            None,
            "Could not index binary.txt: binary.txt: looks like a binary file — "
            "newsbot reads .txt, .md, .html and .jsonl",
        ),
        (
            "latin1.md",
            "Café\n\nvoilà".encode("latin-1"),
            ADMIN,
            None,
            "Could not index latin1.md: latin1.md: not UTF-8 text (byte 3) — convert it, e.g. `iconv -t UTF-8`, "
            "and ingest again",
        ),
        (
            "short.txt",
            b"Only a title",
            ADMIN,
            None,
            "Could not index short.txt: short.txt: too little text for an article (need a title line and a body)",
        ),
    ],
    ids=["not-admin", "wrong-type", "too-large", "binary", "not-utf8", "too-short"],
)
@pytest.mark.asyncio
async def test_document_refusals(
    bot: Harness, name: str, content: bytes, user: int, size: int | None, expected: str
) -> None:
    calls = await bot.run(bot.document(name, content, user_id=user, size=size))
    assert calls[-1] == sent(expected.replace("&", "&amp;"), chat_id=user)
    assert bot.pipeline.indexed == []


@pytest.mark.asyncio
async def test_admin_ingest_of_a_failing_url(bot: Harness) -> None:
    url = f"http://127.0.0.1:{free_port()}/article.html"  # nobody listens there
    calls = await bot.run(bot.message(f"/ingest {url}", chat_id=ADMIN, user_id=ADMIN))
    assert calls == [
        typing(ADMIN),
        sent(f"Could not index {url}: {url}: cannot fetch — check the address", chat_id=ADMIN),
    ]
    assert bot.pipeline.indexed == []


# --- the token never shows -----------------------------------------------------------------
def test_a_rejected_token_is_a_config_error_that_never_shows_the_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import http.server
    import json

    from bot.telegram.app import run_telegram
    from rag.errors import ConfigError

    class Unauthorized(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.dumps({"ok": False, "error_code": 401, "description": "Unauthorized"}).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Unauthorized)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    settings = Settings(data_dir=tmp_path, telegram_bot_token=TOKEN, telegram_base_url=base)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        with caplog.at_level(logging.DEBUG), pytest.raises(ConfigError) as raised:
            run_telegram(settings, FakePipeline())  # type: ignore[arg-type]
    finally:
        server.shutdown()
        server.server_close()
        asyncio.set_event_loop(None)
        if not loop.is_closed():
            loop.close()
    assert str(raised.value) == (
        f"the Bot API server at {base} rejected the token — check TELEGRAM_BOT_TOKEN (from @BotFather)"
    )
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    logged = caplog.text + "".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "getMe" in logged  # PTB logged its calls at DEBUG ...
    assert TOKEN not in logged and TOKEN.split(":")[1] not in logged  # ... never the token
    assert repr(settings).count("**********") == 1 and TOKEN not in repr(settings)


# --- settings and the command line ------------------------------------------------------------
def test_telegram_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)  # no NEWSBOT_ prefix
    monkeypatch.setenv("NEWSBOT_TELEGRAM_BASE_URL", "http://127.0.0.1:8081")
    monkeypatch.setenv("NEWSBOT_ALLOWED_CHATS", " 10, -1001234567890 ,")
    monkeypatch.setenv("NEWSBOT_ADMINS", "7")
    monkeypatch.setenv("NEWSBOT_RATE_LIMIT", "0")
    monkeypatch.setenv("NEWSBOT_MAX_UPLOAD_BYTES", "2048")
    s = Settings()
    assert s.telegram_bot_token is not None and s.telegram_bot_token.get_secret_value() == TOKEN
    assert TOKEN not in repr(s) and TOKEN not in str(s.model_dump())
    assert (s.telegram_base_url, s.allowed_chats, s.admins, s.rate_limit, s.max_upload_bytes) == (
        "http://127.0.0.1:8081",
        frozenset({10, -1001234567890}),
        frozenset({7}),
        0,
        2048,
    )


def test_newsbot_telegram_without_a_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    monkeypatch.chdir(tmp_path)
    for name in ("TELEGRAM_BOT_TOKEN", "NEWSBOT_TELEGRAM_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert main(["--data-dir", str(tmp_path), "telegram"]) == 1
    assert capsys.readouterr().err == (
        "newsbot: no Telegram bot token — get one from @BotFather and set TELEGRAM_BOT_TOKEN\n"
    )
    assert not (tmp_path / "chroma").exists()  # it stopped before building the pipeline


class SlowChatActions:
    """A bot whose "typing…" request takes a while to reach Telegram."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []

    async def send_chat_action(self, chat_id: int, action: str) -> None:
        await asyncio.sleep(0.05)
        self.sent.append((chat_id, action))


@pytest.mark.asyncio
async def test_a_fast_answer_does_not_cancel_the_first_typing_indicator() -> None:
    bot = SlowChatActions()
    async with typing_indicator(bot, 7, every=10.0):  # type: ignore[arg-type]
        pass  # the answer came from the cache at once
    assert bot.sent == [(7, "typing")]


# --- no question lost to a hard kill ---------------------------------------------------------
@pytest.mark.asyncio
async def test_updates_received_but_not_handled_are_answered_by_the_next_start_once(tmp_path: Path) -> None:
    async with Harness(tmp_path) as first:
        questions = [first.message(f"What did Dedov say about Oman? ({n})") for n in range(3)]
        handled = questions[0]
        for update in questions:
            first.app.update_queue.put_nowait(update)  # received and journaled, as the updater does …
        await first.app.update_processor.process_update(handled, first.app.process_update(handled))
        # … and the process dies before it handles the other two
    async with Harness(tmp_path) as second:
        await second.app.post_init(second.app)  # type: ignore[misc]
        replayed = []
        while not second.app.update_queue.empty():
            update = second.app.update_queue.get_nowait()
            replayed.append(update.update_id)  # type: ignore[attr-defined]
            await second.app.update_processor.process_update(update, second.app.process_update(update))
        second.app.update_queue.put_nowait(questions[1])  # Telegram delivers one of them again: not twice
        assert second.app.update_queue.empty()
    assert replayed == [u.update_id for u in questions[1:]]
    assert [q for q, _, _ in second.pipeline.asked] == [
        "What did Dedov say about Oman? (1)",
        "What did Dedov say about Oman? (2)",
    ]
    async with Harness(tmp_path) as third:
        await third.app.post_init(third.app)  # type: ignore[misc]
        assert third.app.update_queue.empty()  # everything was handled: nothing to answer again


@pytest.mark.asyncio
async def test_an_index_unavailable_for_a_moment_is_said_and_the_next_question_answered(bot: Harness) -> None:
    from rag.errors import IndexUnavailable

    def outage(_question: str) -> None:
        raise IndexUnavailable("cannot search the Chroma server at http://127.0.0.1:9 (down)")

    bot.pipeline.before_answer = outage
    calls = await bot.run(bot.message("What did Dedov say about Oman?"))
    assert calls == [
        typing(),
        sent("Sorry, my index of articles is unavailable for a moment. Please ask again in a minute."),
    ]
    bot.pipeline.before_answer = None
    calls = await bot.run(bot.message("What did Dedov say about Oman?"))
    assert calls == [typing(), sent(OMAN_HTML, reply_markup=button(1, data_dir=bot.data_dir))]
