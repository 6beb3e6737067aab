"""The bot refreshes feeds on its job queue with the same refresh as `newsbot refresh`, off the event loop, and
tells its listeners what was added (handler level: the recording Bot API request, a real index, a real feed server)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bot.settings import Settings
from bot.telegram.app import build_application
from bot.telegram.handlers import deps_of
from bot.telegram.refresh import JOB_NAME, add_refresh_listener, refresh_job, run_refresh_now
from rag.index.feedtable import FeedTable
from rag.refresh import RefreshReport
from tests.conftest import FakeEmbedder, make_pipeline
from tests.telegram_fakes import BASE, TOKEN, RecordingRequest
from tests.test_feeds import PARAS, RSS, article_page, conditional, send, serve


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
