"""The bot refreshes feeds on its job queue with the same refresh as `newsbot refresh`, off the event loop, and
tells its listeners what was added (handler level: the recording Bot API request, a real index, a real feed server)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from telegram import Update

from bot.settings import Settings
from bot.telegram.alerts import desk_of
from bot.telegram.app import build_application
from bot.telegram.feeddesk import PipelineFeeds
from bot.telegram.handlers import deps_of
from bot.telegram.refresh import JOB_NAME, add_refresh_listener, refresh_job, run_refresh_now
from rag.index.feedtable import FeedTable
from rag.refresh import RefreshReport
from tests.conftest import FakeEmbedder, make_pipeline
from tests.telegram_fakes import BASE, TOKEN, RecordingRequest
from tests.test_feeds import PARAS, RSS, article_page, conditional, send, serve
from tests.test_telegram_handlers import ADMIN, USER


@pytest.mark.asyncio
async def test_the_job_runs_the_refresh_off_the_loop_and_tells_the_listeners(tmp_path: Path) -> None:
    pipeline = make_pipeline(tmp_path / "data", FakeEmbedder())
    settings = Settings(  # type: ignore[call-arg]
        data_dir=tmp_path / "data", telegram_bot_token=TOKEN, telegram_base_url=BASE, refresh_every=120,
        allow_private_urls=True, _env_file=None,
    )  # fmt: skip
    app = build_application(settings, pipeline, request=RecordingRequest())
    jobs = app.job_queue.jobs() if app.job_queue else ()
    assert [(j.name, j.callback) for j in jobs] == [(JOB_NAME, refresh_job)]
    assert jobs[0].trigger.interval.total_seconds() == 120  # NEWSBOT_REFRESH_EVERY
    heard: list[RefreshReport] = []
    threads: list[str] = []

    async def listener(report: RefreshReport) -> None:
        heard.append(report)

    add_refresh_listener(app, listener)
    with serve({}) as site:
        site.routes["/rss"] = conditional(RSS, '"v1"')
        site.routes["/news/harbour"] = send(article_page("Harbour reopens", PARAS), "text/html")
        table = FeedTable(pipeline.registry.path)
        table.add(site.base + "/rss")
        table.close()
        loop_thread = threading.current_thread().name
        original = pipeline.ingest

        def ingest(*args: Any, **kwargs: Any) -> Any:
            threads.append(threading.current_thread().name)
            return original(*args, **kwargs)

        pipeline.ingest = ingest  # type: ignore[method-assign]
        await refresh_job(SimpleNamespace(application=app))  # type: ignore[arg-type]
        assert len(heard) == 1 and len(heard[0].new_doc_ids) == 4
        assert {a.doc_id for a in pipeline.articles()} == set(heard[0].new_doc_ids)
        assert threads and loop_thread not in threads  # off the event loop
        again = await run_refresh_now(app)  # on demand: due later, so nothing fetched, and no one told
        assert again.outcomes == () and len(heard) == 1
    await asyncio.sleep(0)
    deps_of(app).service.store.close()


LATER = [
    "The harbour of Westhaven reopened again on Thursday after a second storm closed it overnight, officials said.",
    "Tugboats guided a tanker through the entrance while divers checked the damaged breakwater for new cracks.",
    "The mayor promised a review of storm defences and said the town cannot afford a third closure this year.",
]


def _message(app: Any, n: int, text: str, user: int) -> Update:
    return Update.de_json(
        {
            "update_id": n,
            "message": {
                "message_id": n, "date": 1, "text": text,
                "chat": {"id": user, "type": "private"},
                "from": {"id": user, "is_bot": False, "first_name": "U"},
                "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}],
            },
        },
        app.bot,
    )  # fmt: skip


@pytest.mark.asyncio
async def test_admins_manage_the_real_feeds_from_the_chat_and_a_scheduled_refresh_alerts_followers(
    tmp_path: Path, real_embedder: Any
) -> None:
    """/feed add resolves a page that advertises its feed, /feeds lists it, /refresh indexes every entry and alerts
    the follower once, /feed remove stops following; a later scheduled refresh's articles reach the follower too."""
    pipeline = make_pipeline(tmp_path / "data", real_embedder)
    settings = Settings(  # type: ignore[call-arg]
        data_dir=tmp_path / "data", telegram_bot_token=TOKEN, telegram_base_url=BASE, admins={ADMIN},
        allow_private_urls=True, _env_file=None,
    )  # fmt: skip
    request = RecordingRequest()
    app = build_application(settings, pipeline, request=request)
    desk_of(app).feeds = PipelineFeeds(app, pipeline, settings)
    ids = iter(range(1, 100))

    async def say(text: str, user: int = ADMIN) -> list[str]:
        before = len(request.calls)
        await app.process_update(_message(app, next(ids), text, user))
        return [p["text"] for m, p in request.calls[before:] if m == "sendMessage" and p["chat_id"] == user]

    try:
        async with app:
            with serve({}) as site:
                site.routes["/rss"] = conditional(RSS, '"v1"')
                site.routes["/news/harbour"] = send(article_page("Harbour reopens", PARAS), "text/html")
                link = f'<link rel="alternate" type="application/rss+xml" href="{site.base}/rss">'
                site.routes["/"] = send(f"<html><head>{link}</head><body>Home</body></html>".encode(), "text/html")
                await say("/follow harbour reopened after the storm", USER)
                assert await say(f"/feed add {site.base}/") == [f"Added the feed Example News ({site.base}/rss)."]
                assert (await say("/feed add not-a-url"))[0].startswith("⚠ ")
                listed = await say("/feeds")
                assert f"Example News — {site.base}/rss" in listed[0] and "0 articles; new" in listed[0]
                before = len(request.calls)
                assert await say("/refresh") == ["Refreshed 1 feeds: 4 new articles."]
                alerts = [p["text"] for m, p in request.calls[before:] if m == "sendMessage" and p["chat_id"] == USER]
                assert len(alerts) == 1 and "Harbour reopens" in alerts[0]  # told once, not by the listener as well
                assert len(pipeline.articles()) == 4
                assert "4 articles; ok" in (await say("/feeds"))[0]
                assert await say("/feed remove 9") == ["⚠ there is no feed 9 — /feeds lists them with their numbers"]
                assert await say("/feed remove 1") == [f"Removed the feed Example News ({site.base}/rss)."]
                assert await say("/feeds") == ["No feeds yet. /feed add URL adds one."]
                assert len(pipeline.articles()) == 4  # the articles stay

                site.routes["/rss2"] = send(RSS.replace(b"harbour-1", b"harbour-2").replace(b"/news/harbour", b"/h2"))
                site.routes["/h2"] = send(article_page("Harbour reopens", LATER), "text/html")
                table = FeedTable(pipeline.registry.path)
                table.add(site.base + "/rss2")
                table.close()
                before = len(request.calls)
                await refresh_job(SimpleNamespace(application=app))  # type: ignore[arg-type]
                alerts = [p["text"] for m, p in request.calls[before:] if m == "sendMessage" and p["chat_id"] == USER]
                assert len(alerts) == 1 and '/h2">Harbour reopens</a>' in alerts[0] and "again on Thursday" in alerts[0]
    finally:
        await asyncio.sleep(0)
        deps_of(app).service.store.close()
