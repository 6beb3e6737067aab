"""The news desk in python-telegram-bot's test style: /latest with its "More" button, follows, alerts (batching,
the hourly cap on a fake clock, a blocked bot), the admins' feed commands over a small in-test FeedDesk, and
channel posts (new, edited, ignored, capped, a flood) indexed by the background worker."""

from __future__ import annotations

import http.server
import logging
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from telegram import Update

from bot.telegram.alerts import desk_of, new_articles
from bot.telegram.buttons import install_secret, more_data
from bot.telegram.deps import FeedRow, Refreshed
from bot.telegram.desk_handlers import ADMINS_ONLY_FEEDS, NO_FEEDS
from bot.telegram.posts import MAX_POST_CHARS
from rag.types import Article
from tests.test_telegram_handlers import ADMIN, GROUP, USER, Harness, sent

CHANNEL = -1005005
OTHER = 20
ARTICLE_TEXT = "The EU agreed on rules for artificial intelligence. Lawmakers met late into the night in Brussels."


def article(n: int, text: str = ARTICLE_TEXT, title: str | None = None, url: str | None = None) -> Article:
    return Article(f"a{n}", title or f"Story {n}", text, "Outlet", f"2025-11-{n:02d}T10:00:00", url)


@pytest_asyncio.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Harness]:
    async with Harness(tmp_path, ingest_chats={CHANNEL}, alerts_per_hour=2) as harness:
        yield harness


def channel_post(
    bot: Harness, text: str | None, message_id: int, *, edited: bool = False, chat: int = CHANNEL, **extra: Any
) -> Update:
    n = next(bot._ids)
    post: dict[str, Any] = {
        "message_id": message_id,
        "date": 1764583200,  # 2025-12-01 10:00 UTC
        "chat": {"id": chat, "type": "channel", "title": "Desk Channel", "username": "deskchannel"},
        **({"text": text} if text is not None else {}),
        **({"edit_date": 1764583300} if edited else {}),
        **extra,
    }
    return Update.de_json({"update_id": n, "edited_channel_post" if edited else "channel_post": post}, bot.app.bot)


def texts(calls: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [params["text"] for method, params in calls if method == "sendMessage"]


# --- /latest ------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_latest_pages_with_a_more_button(bot: Harness) -> None:
    bot.pipeline.indexed += [article(n, url=f"https://news.example/{n}") for n in range(1, 8)]
    calls = await bot.run(bot.message("/latest"))
    secret = install_secret(bot.data_dir)
    keyboard = {"inline_keyboard": [[{"callback_data": more_data(secret, USER, 1, 5), "text": "More"}]]}
    assert calls[-1] == sent(
        "<b>Latest articles</b> (1–5 of 7)\n\n"
        + "\n\n".join(
            f'<b>{i}. </b><a href="https://news.example/{n}">Story {n}</a> — Outlet, 2025-11-{n:02d}'
            for i, n in enumerate(range(7, 2, -1), start=1)
        ),
        reply_markup=keyboard,
    )
    calls = await bot.run(bot.callback(more_data(secret, USER, 1, 5), 501))
    assert calls[0][0] == "answerCallbackQuery" and "text" not in calls[0][1]
    assert texts(calls) == [
        "<b>Latest articles</b> (6–7 of 7)\n\n"
        '<b>6. </b><a href="https://news.example/2">Story 2</a> — Outlet, 2025-11-02\n\n'
        '<b>7. </b><a href="https://news.example/1">Story 1</a> — Outlet, 2025-11-01'
    ]
    assert "reply_markup" not in calls[-1][1]  # the last page has no "More"


@pytest.mark.parametrize(
    "data",
    ["more:1:5:AAAAAAAAAAAAAAAA", "more:999:5", "more:" + "9" * 40, "more:x"],
)
@pytest.mark.asyncio
async def test_a_more_button_that_names_nothing_has_expired(bot: Harness, data: str) -> None:
    await bot.run(bot.message("/latest"))
    calls = await bot.run(bot.callback(data, 501))
    assert calls == [
        (
            "answerCallbackQuery",
            {
                "callback_query_id": calls[0][1]["callback_query_id"],
                "text": "This button has expired. Send /latest again.",
                "show_alert": True,
            },
        )
    ]


@pytest.mark.asyncio
async def test_another_chats_more_button_has_expired(bot: Harness) -> None:
    bot.pipeline.indexed += [article(n) for n in range(1, 8)]
    await bot.run(bot.message("/latest"))
    forged = more_data(install_secret(bot.data_dir), OTHER, 1, 5)  # signed for another chat
    calls = await bot.run(bot.callback(forged, 501))
    assert calls[0][1].get("show_alert") is True and len(calls) == 1


@pytest.mark.asyncio
async def test_latest_about_a_topic_and_an_empty_result(bot: Harness) -> None:
    bot.pipeline.indexed += [article(1), article(2, text="Football scores from the weekend games in Madrid.")]
    calls = await bot.run(bot.message("/latest artificial intelligence"))
    assert texts(calls) == [
        "<b>Latest about “artificial intelligence”</b> (1–1 of 1)\n\n<b>1. </b><b>Story 1</b> — Outlet, 2025-11-01"
    ]
    calls = await bot.run(bot.message("/latest volcanoes"))
    assert texts(calls) == ["No articles about “volcanoes” yet."]
    calls = await bot.run(bot.message("/latest " + "x" * 300))
    assert texts(calls) == ["That topic has 300 characters; the limit is 200. Say it shorter."]


# --- follows ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/follow", "Usage: /follow TOPIC, e.g. /follow EU rules on artificial intelligence"),
        ("/follow " + "y" * 500, "That topic has 500 characters; the limit is 200. Say it shorter."),
        ("/following", "You follow no topics. /follow TOPIC, e.g. /follow EU rules on artificial intelligence"),
        ("/unfollow 99", "There is no topic 99 in /following (numbers: none: you follow no topics)."),
        ("/unfollow", "Usage: /unfollow N, with N the topic's number in /following."),
        ("/unfollow " + "9" * 50, "Usage: /unfollow N, with N the topic's number in /following."),
    ],
)
@pytest.mark.asyncio
async def test_follow_bad_input(bot: Harness, text: str, expected: str) -> None:
    assert await bot.run(bot.message(text)) == [sent(expected)]
    assert desk_of(bot.app).follows.follows(USER) == []


@pytest.mark.asyncio
async def test_follow_following_unfollow_and_the_limit(bot: Harness) -> None:
    calls = await bot.run(bot.message("/follow  EU   artificial intelligence"))
    assert texts(calls) == [
        "Following “EU artificial intelligence”. I will message you when a new article is "
        "about it. /following lists your topics."
    ]
    for n in range(2, 21):
        await bot.run(bot.message(f"/follow topic {n}"))
    calls = await bot.run(bot.message("/follow one too many"))
    assert texts(calls) == ["You already follow 20 topics, the limit. /following lists them; /unfollow N stops one."]
    calls = await bot.run(bot.message("/following"))
    assert texts(calls)[0].startswith("You follow (20 of 20):\n1. EU artificial intelligence\n2. topic 2\n")
    calls = await bot.run(bot.message("/unfollow 2"))
    assert texts(calls) == ["Stopped following “topic 2”."]
    assert len(desk_of(bot.app).follows.follows(USER)) == 19


@pytest.mark.asyncio
async def test_follows_are_for_private_chats(bot: Harness) -> None:
    calls = await bot.run(bot.message("/follow AI", chat_id=GROUP, chat_type="supergroup"))
    assert texts(calls) == [
        "Follow topics in a private chat with me: open @NewsbotTestBot and send /follow TOPIC there."
    ]
    assert desk_of(bot.app).follows.everyone() == []


@pytest.mark.asyncio
async def test_follows_survive_a_restart(tmp_path: Path) -> None:
    async with Harness(tmp_path) as first:
        await first.run(first.message("/follow artificial intelligence"))
    async with Harness(tmp_path) as second:
        calls = await second.run(second.message("/following"))
        assert texts(calls) == ["You follow (1 of 20):\n1. artificial intelligence\n\n/unfollow N stops one."]


# --- alerts -------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_an_admin_upload_alerts_the_followers_of_a_matching_topic_only(bot: Harness) -> None:
    await bot.run(bot.message("/follow artificial intelligence rules"))
    await bot.run(bot.message("/follow volcanoes", chat_id=OTHER, user_id=OTHER))
    calls = await bot.run(bot.document("eu-ai.txt", b"EU AI deal\n\n" + ARTICLE_TEXT.encode()))
    alerts = [(p["chat_id"], p["text"]) for m, p in calls if m == "sendMessage" and p["chat_id"] != ADMIN]
    assert alerts == [
        (
            USER,
            "<b>New article on “artificial intelligence rules”</b>\n\n<b>EU AI deal</b>\n\n"
            "<i>“The EU agreed on rules for artificial intelligence.”</i> <b>[1]</b>\n\n"
            "<b>Sources</b>\n<b>[1]</b> EU AI deal — paragraph 1",
        )
    ]
    calls = await bot.run(bot.document("football.txt", b"Weekend football\n\nScores from the weekend games."))
    assert [p["chat_id"] for m, p in calls if m == "sendMessage"] == [ADMIN]  # no alert


@pytest.mark.asyncio
async def test_several_matches_are_one_alert_and_the_hourly_cap_holds_the_rest(bot: Harness) -> None:
    await bot.run(bot.message("/follow artificial intelligence"))
    bot.pipeline.indexed += [article(n, url=f"https://news.example/{n}") for n in range(1, 6)]
    before = len(bot.request.calls)
    assert await new_articles(bot.app, ["a1", "a2", "a3"]) == 1  # one message for three articles
    assert await new_articles(bot.app, ["a4"]) == 1
    assert await new_articles(bot.app, ["a5"]) == 0  # the third this hour (NEWSBOT_ALERTS_PER_HOUR=2): held
    messages = texts(bot.request.calls[before:])
    assert len(messages) == 2 and messages[0].count("<i>“") == 3
    assert '<b>[3]</b> <a href="https://news.example/3">Story 3</a> — Outlet, 2025-11-03' in messages[0]
    bot.now += 3601  # an hour later
    bot.pipeline.indexed.append(article(6))
    assert await new_articles(bot.app, ["a6"]) == 1
    last = texts(bot.request.calls[before:])[-1]
    assert last.startswith("<b>New article on “artificial intelligence”</b>\n\n<b>Story 6</b>")
    assert (
        "<b>Also matched while alerts were paused (hourly limit): 1 article</b>\n\n"
        '<a href="https://news.example/5">Story 5</a> — Outlet, 2025-11-05'
    ) in last


@pytest.mark.asyncio
async def test_a_chat_that_blocked_the_bot_is_unsubscribed_not_retried(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    await bot.run(bot.message("/follow artificial intelligence"))
    bot.pipeline.indexed.append(article(1))
    blocked = (403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"})
    bot.request.fail["sendMessage"] = [blocked]
    with caplog.at_level(logging.WARNING):
        assert await new_articles(bot.app, ["a1"]) == 0
    assert desk_of(bot.app).follows.everyone() == []
    assert "blocked the bot" in caplog.text
    before = len(bot.request.calls)
    assert await new_articles(bot.app, ["a1"]) == 0
    assert bot.request.calls[before:] == []  # never tried again


# --- admins: feeds ------------------------------------------------------------------------
class InTestFeeds:
    """A FeedDesk holding its feeds in a list; a refresh "finds" the articles queued in `incoming`."""

    def __init__(self, bot: Harness) -> None:
        self.bot = bot
        self.rows: list[FeedRow] = []
        self.incoming: list[Article] = []

    async def list(self) -> list[FeedRow]:
        return list(self.rows)

    async def add(self, url: str) -> FeedRow:
        if not url.startswith("http"):
            raise ValueError(f"{url} is not a feed URL — give an http(s) URL")
        row = FeedRow(len(self.rows) + 1, url, "Example feed", 0, "ok")
        self.rows.append(row)
        return row

    async def remove(self, number_or_url: str) -> FeedRow:
        if not number_or_url.isdigit() or not 1 <= int(number_or_url) <= len(self.rows):
            raise LookupError(f"there is no feed {number_or_url} — /feeds lists them")
        return self.rows.pop(int(number_or_url) - 1)

    async def refresh(self) -> Refreshed:
        new = [a.doc_id for a in self.incoming]
        self.bot.pipeline.indexed += self.incoming
        self.incoming = []
        return Refreshed(len(self.rows), len(new), 0, new)


@pytest.mark.asyncio
async def test_feed_commands_without_feeds_and_for_non_admins(bot: Harness) -> None:
    assert texts(await bot.run(bot.message("/feeds", chat_id=ADMIN, user_id=ADMIN))) == [NO_FEEDS]
    for text in ("/feeds", "/feed add https://x.example/rss", "/refresh"):
        assert texts(await bot.run(bot.message(text))) == [ADMINS_ONLY_FEEDS]


@pytest.mark.asyncio
async def test_admins_manage_feeds_and_a_refresh_alerts(bot: Harness) -> None:
    feeds = InTestFeeds(bot)
    desk_of(bot.app).feeds = feeds
    await bot.run(bot.message("/follow artificial intelligence"))

    async def admin(text: str) -> list[str]:
        return texts(await bot.run(bot.message(text, chat_id=ADMIN, user_id=ADMIN)))

    assert await admin("/feeds") == ["No feeds yet. /feed add URL adds one."]
    assert await admin("/feed add https://news.example/rss") == [
        "Added the feed Example feed (https://news.example/rss)."
    ]
    assert await admin("/feed add nonsense") == ["⚠ nonsense is not a feed URL — give an http(s) URL"]
    assert await admin("/feed") == ["Usage: /feed add URL, or /feed remove N (N from /feeds)."]
    assert await admin("/feeds") == [
        "Feeds:\n1. Example feed — https://news.example/rss\n   0 articles; ok\n\n"
        "/feed remove N removes one; /refresh fetches them all now."
    ]
    assert await admin("/feed remove 9") == ["⚠ there is no feed 9 — /feeds lists them"]
    feeds.incoming = [article(1)]
    calls = await bot.run(bot.message("/refresh", chat_id=ADMIN, user_id=ADMIN))
    sent_to = [(p["chat_id"], p["text"].split("\n")[0]) for m, p in calls if m == "sendMessage"]
    assert sent_to == [
        (ADMIN, "Refreshed 1 feeds: 1 new articles."),
        (USER, "<b>New article on “artificial intelligence”</b>"),
    ]
    assert await admin("/feed remove 1") == ["Removed the feed Example feed (https://news.example/rss)."]


# --- channel posts ------------------------------------------------------------------------
POST = "EU strikes AI deal\nLawmakers agreed on rules for artificial intelligence after a long night of talks."


@pytest.mark.asyncio
async def test_a_channel_post_becomes_an_article_and_an_edit_replaces_it(bot: Harness) -> None:
    await bot.run(bot.message("/follow artificial intelligence"))
    await bot.run(channel_post(bot, POST, 42))
    await desk_of(bot.app).posts.join()  # type: ignore[union-attr]
    (indexed,) = bot.pipeline.indexed
    assert indexed == Article(
        "tg-1005005-42",
        "EU strikes AI deal",
        POST.split("\n", 1)[1],  # the first line is the title
        "Desk Channel",
        "2025-12-01T10:00:00",
        "https://t.me/deskchannel/42",
    )
    alert = texts(bot.request.calls)[-1]
    assert '<a href="https://t.me/deskchannel/42">EU strikes AI deal</a> — Desk Channel, 2025-12-01' in alert
    await bot.run(channel_post(bot, POST + " Updated: the vote is next week.", 42, edited=True))
    await desk_of(bot.app).posts.join()  # type: ignore[union-attr]
    assert bot.pipeline.article("tg-1005005-42").text.endswith("the vote is next week.")  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_short_posts_media_and_other_channels_are_ignored(bot: Harness, caplog: pytest.LogCaptureFixture) -> None:
    await bot.run(channel_post(bot, "Short note.", 1))
    await bot.run(channel_post(bot, None, 2, photo=[{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]))
    await bot.run(
        channel_post(
            bot, None, 3, pinned_message={"message_id": 1, "date": 1, "chat": {"id": CHANNEL, "type": "channel"}}
        )
    )
    await bot.run(channel_post(bot, POST, 4, chat=-1009999))
    with caplog.at_level(logging.WARNING):
        await bot.run(channel_post(bot, "Huge\n" + "word " * 30_000, 5))
        await desk_of(bot.app).posts.join()  # type: ignore[union-attr]
    (huge,) = bot.pipeline.indexed
    assert huge.doc_id == "tg-1005005-5" and len(huge.text) <= MAX_POST_CHARS
    assert "has 150005 characters: indexed up to 100000" in caplog.text


@pytest.mark.asyncio
async def test_a_flood_of_posts_is_indexed_in_order_while_questions_are_answered(bot: Harness) -> None:
    for n in range(1, 201):
        await bot.run(
            channel_post(bot, f"Post {n}\n" + f"Item {n} of the live blog from the summit, with details. " * 2, n)
        )
    calls = await bot.run(bot.message("What did Dedov say about Oman?"))
    assert "Oman" in texts(calls)[0]  # answered while posts wait
    await desk_of(bot.app).posts.join()  # type: ignore[union-attr]
    assert [a.doc_id for a in bot.pipeline.indexed] == [f"tg-1005005-{n}" for n in range(1, 201)]


PAGE = (
    b"<html><head><title>Harbour bridge reopens</title></head><body><article><h1>Harbour bridge reopens</h1>"
    b"<p>The Kestrel Harbour bridge reopened on Monday after eight months of repairs costing 40 million euros.</p>"
    b"<p>Mayor Ilse Varga said traffic on the bridge would be limited to buses for the first week.</p>"
    b"</article></body></html>"
)


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.asyncio
async def test_a_post_that_is_only_a_link_fetches_the_article(bot: Harness) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/news/bridge.html"
        await bot.run(channel_post(bot, f"  {url}  ", 7))
        await desk_of(bot.app).posts.join()  # type: ignore[union-attr]
    finally:
        server.shutdown()
        thread.join(5)
    (fetched,) = bot.pipeline.indexed
    assert fetched.title == "Harbour bridge reopens" and fetched.url == url
    assert "40 million euros" in fetched.text


@pytest.mark.asyncio
async def test_a_group_message_in_an_ingest_group_is_indexed_and_not_answered(tmp_path: Path) -> None:
    group = -1006006
    async with Harness(tmp_path, ingest_chats={group}) as bot:
        calls = await bot.run(bot.message(POST, chat_id=group, user_id=OTHER, chat_type="supergroup"))
        await desk_of(bot.app).posts.join()  # type: ignore[union-attr]
        assert texts(calls) == []  # not addressed to the bot: no answer
        (indexed,) = bot.pipeline.indexed
        assert (indexed.doc_id, indexed.title, indexed.source, indexed.url) == (
            "tg-1006006-1",
            "EU strikes AI deal",
            "Group",
            None,  # the group has no username: no link
        )
