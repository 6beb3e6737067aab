"""The news desk end to end: the real pipeline (real model, real Chroma) behind the bot, polling the Bot API
emulator. A follower gets an alert when an admin's upload is about their topic, and none when it is not;
/latest lists the newest articles with their links.
"""

from __future__ import annotations

import asyncio
import html
import re
from pathlib import Path

import pytest

from rag.pipeline import Pipeline
from tests.emulator import BotMessage, TelegramEmulator, emulator_fixture  # noqa: F401  (the fixture)
from tests.test_feeds import article_page, send, serve
from tests.test_telegram_e2e import ADMIN, HARBOUR, WAIT, running_bot, say
from tests.test_telegram_e2e import pipeline as pipeline

pytestmark = pytest.mark.slow
FOLLOWER = 301
FOOTBALL = (
    b"# Rovers win the derby\n\nMarch 4, 2025\n\n"
    b"Rovers beat City 3-1 in Saturday's derby, with two late goals from the captain.\n\n"
    b"The coach praised the defence after a difficult first half at the stadium."
)
TUNNEL = (
    b"# Harbour tunnel closes for repairs\n\nMarch 5, 2025\n\n"
    b"With the Kestrel Harbour bridge open again, the harbour tunnel closes for repairs of its own on Friday.\n\n"
    b"The city said the repairs would take six weeks and cost 12 million euros."
)


def seen(message: BotMessage) -> str:
    """The message as the user reads it (the emulator keeps the HTML that was sent)."""
    return html.unescape(re.sub(r"<[^>]+>", "", message.text or ""))


@pytest.mark.asyncio
async def test_a_follower_is_alerted_for_a_matching_upload_only(
    telegram_emulator: TelegramEmulator,
    pipeline: Pipeline,
    tmp_path: Path,
) -> None:
    emu = telegram_emulator
    try:
        async with running_bot(emu, pipeline, tmp_path):
            [followed] = await say(emu, FOLLOWER, "/follow Kestrel Harbour bridge repairs", count=1)
            assert followed.text.startswith("Following “Kestrel Harbour bridge repairs”.")

            await emu.send_document(ADMIN, ADMIN, "harbour.md", HARBOUR, mime_type="text/markdown")
            [alert] = [m for m in await emu.wait_for_bot_messages(FOLLOWER, 2, timeout=WAIT)][1:]
            assert alert.parse_mode == "HTML"
            text = seen(alert)
            assert text.startswith("New article on “Kestrel Harbour bridge repairs”\n\n")
            assert "Harbour bridge reopens after repairs — 2025-03-03\n\n" in text
            assert "“The Kestrel Harbour bridge reopened on Monday after eight months of repairs" in text
            assert text.endswith("[1]\n\nSources\n[1] Harbour bridge reopens after repairs — 2025-03-03, paragraph 2")

            await emu.send_document(ADMIN, ADMIN, "football.md", FOOTBALL, mime_type="text/markdown")
            await emu.wait_for_bot_messages(ADMIN, 2, timeout=WAIT)  # indexed (its alerts are matched right after)
            await emu.send_document(ADMIN, ADMIN, "tunnel.md", TUNNEL, mime_type="text/markdown")
            messages = await emu.wait_for_bot_messages(FOLLOWER, 3, timeout=WAIT)
            await asyncio.sleep(0.5)  # bounded: time for a wrong alert to arrive, were one sent
            messages = await emu.history(FOLLOWER)
            assert len([m for m in messages if seen(m).startswith("New article")]) == 2
            assert "Harbour tunnel closes for repairs" in seen(messages[-1])
            assert all("Rovers" not in seen(m) for m in messages)

            [latest] = (await say(emu, FOLLOWER, "/latest", count=4))[3:]
            text = seen(latest)
            for said, message in (
                ("/follow Kestrel Harbour bridge repairs", followed),
                ("(an admin uploads harbour.md)", alert),
                ("/latest", latest),
            ):  # the transcript in docs/telegram.md (`pytest … -k alerted -s` prints it)
                print(f"\n> **{said}**\n\n```text\n{seen(message)}\n```")
            assert text.startswith("Latest articles (1–4 of 4)\n\n1. Tehran–Moscow partnership")
            assert text.index("Harbour tunnel") < text.index("Rovers win") < text.index("Harbour bridge reopens")
    finally:
        for doc_id in ("harbour", "football", "tunnel"):
            pipeline.remove(doc_id)


CHANNEL = -1007001
POST = (
    "Kestrel Harbour bridge closes again\n"
    "The Kestrel Harbour bridge closed on Tuesday, a week after reopening, when engineers found new cracks "
    "during the repairs inspection."
)


@pytest.mark.asyncio
async def test_a_channel_post_is_indexed_alerted_and_replaced_by_its_edit(
    telegram_emulator: TelegramEmulator,
    pipeline: Pipeline,
    tmp_path: Path,
) -> None:
    emu = telegram_emulator
    try:
        async with running_bot(emu, pipeline, tmp_path, ingest_chats={CHANNEL}) as app:
            await say(emu, FOLLOWER, "/follow Kestrel Harbour bridge repairs", count=1)
            posted = await emu.send_channel_post(CHANNEL, POST, title="Harbour News", username="harbournews")
            doc_id = f"tg-{abs(CHANNEL)}-{posted['message_id']}"
            [_, alert] = await emu.wait_for_bot_messages(FOLLOWER, 2, timeout=WAIT)
            assert (
                f'<a href="https://t.me/harbournews/{posted["message_id"]}">Kestrel Harbour bridge closes again</a>'
                in (alert.text or "")
            )
            assert "Harbour News" in seen(alert)
            await emu.send_channel_post(
                CHANNEL,
                POST + " It reopens on Friday.",
                message_id=posted["message_id"],
                edited=True,
                title="Harbour News",
                username="harbournews",
            )
            for _ in range(int(WAIT / 0.05)):  # bounded: until the worker has indexed the edit
                article = pipeline.article(doc_id)
                if article is not None and article.text.endswith("It reopens on Friday."):
                    break
                await asyncio.sleep(0.05)
            article = pipeline.article(doc_id)
            assert article is not None and article.text.endswith("It reopens on Friday.")
            assert (article.title, article.source) == ("Kestrel Harbour bridge closes again", "Harbour News")
            await emu.send_channel_post(CHANNEL, "Short.", title="Harbour News")
            desk = app.bot_data["newsbot-desk"]
            await desk.posts.join()
            assert [a.doc_id for a in pipeline.articles() if a.doc_id.startswith("tg-")] == [doc_id]
    finally:
        for article in pipeline.articles():
            if article.doc_id.startswith("tg-"):
                pipeline.remove(article.doc_id)


FEED = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Coast News</title><link>http://coast.example/</link><description>News</description>
<item><title>Kestrel Harbour bridge shut by storm damage</title><link>/bridge</link><guid>bridge-1</guid>
<pubDate>Thu, 06 Mar 2025 09:00:00 GMT</pubDate></item>
<item><title>Rovers sign a new striker</title><link>/rovers</link><guid>rovers-1</guid>
<pubDate>Thu, 06 Mar 2025 10:00:00 GMT</pubDate></item>
</channel></rss>"""
BRIDGE = [
    "The Kestrel Harbour bridge was shut on Thursday after a storm damaged its repaired deck, engineers said.",
    "The bridge repairs, finished only last week, will have to be checked again before traffic returns.",
]
ROVERS = [
    "Rovers signed a new striker from City on Thursday for a club record fee, the coach announced.",
    "The striker scored twenty goals last season and will wear the number nine shirt at the stadium.",
]


@pytest.mark.asyncio
async def test_a_feed_refresh_alerts_the_follower_of_the_matching_article_only(
    telegram_emulator: TelegramEmulator,
    pipeline: Pipeline,
    tmp_path: Path,
) -> None:
    """An admin adds a local feed and refreshes it from the chat; the follower hears of the bridge, not of Rovers."""
    emu = telegram_emulator
    before = {a.doc_id for a in pipeline.articles()}
    try:
        with serve({}) as site:
            site.routes["/rss"] = send(FEED)
            bridge = article_page("Kestrel Harbour bridge shut by storm damage", BRIDGE)
            site.routes["/bridge"] = send(bridge, "text/html")
            site.routes["/rovers"] = send(article_page("Rovers sign a new striker", ROVERS), "text/html")
            async with running_bot(emu, pipeline, tmp_path):
                await say(emu, FOLLOWER, "/follow Kestrel Harbour bridge repairs", count=1)
                [added] = await say(emu, ADMIN, f"/feed add {site.base}/rss", count=1)
                assert seen(added) == f"Added the feed Coast News ({site.base}/rss)."
                [done] = (await say(emu, ADMIN, "/refresh", count=2))[1:]
                assert seen(done) == "Refreshed 1 feeds: 2 new articles."
                messages = await emu.wait_for_bot_messages(FOLLOWER, 2, timeout=WAIT)
                await asyncio.sleep(0.5)  # bounded: time for a wrong alert to arrive, were one sent
                alerts = [seen(m) for m in await emu.history(FOLLOWER) if seen(m).startswith("New article")]
                assert len(alerts) == 1 and "Kestrel Harbour bridge shut by storm damage" in alerts[0]
                assert all("Rovers" not in seen(m) for m in messages)
    finally:
        for doc_id in {a.doc_id for a in pipeline.articles()} - before:
            pipeline.remove(doc_id)
