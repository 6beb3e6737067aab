"""The news desk's latencies: a matching article indexed → its alert sent; a flood of 200 channel posts.

    .venv/bin/python -m benchmarks.desk [--articles 30] [--repeats 10]

On a fresh index of the seed article and `--articles` MultiHop-RAG articles, with 13 followers (one per topic of
benchmarks/data/topics.jsonl, and one following "Kestrel Harbour bridge repairs"):

1. in process (the Bot API a recording stand-in): the time to index a matching article, and the time
   `new_articles` then takes to match it against every topic and send the alert;
2. over the Bot API emulator (tests/telegram_emulator, `make emulator`): an admin uploads a matching article;
   the time from the upload to the alert in the follower's chat (polled every 10 ms);
3. a flood: 200 channel posts sent to the emulator at once while a user asks questions one after another;
   the time until every post is indexed, and the questions' latency meanwhile against their latency alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.corpora import MULTIHOP, SEEDS
from benchmarks.measure import ROOT, median, percentile, progress
from bot.settings import Settings
from bot.telegram.alerts import desk_of, new_articles
from bot.telegram.app import build_application
from bot.telegram.handlers import deps_of
from rag.types import Article

ADMIN, FOLLOWER, ASKER, CHANNEL = 777, 301, 401, -1007001
HARBOUR_TOPIC = "Kestrel Harbour bridge repairs"
QUESTION = "What did Dedov say about Oman?"


def harbour(n: int) -> tuple[str, bytes]:
    """A matching article, different each time."""
    text = (
        f"# Harbour bridge update {n}\n\nMarch 3, 2025\n\n"
        f"The Kestrel Harbour bridge repairs entered phase {n} on Monday, costing {n + 3} million euros more.\n\n"
        "Engineers said the repairs to the bridge deck would keep one lane closed for another week."
    )
    return f"harbour-{n}.md", text.encode()


def followers() -> list[str]:
    pairs = [json.loads(line) for line in (ROOT / "benchmarks" / "data" / "topics.jsonl").read_text().splitlines()]
    return [HARBOUR_TOPIC, *dict.fromkeys(p["topic"] for p in pairs)]


def build_index(data_dir: Path, articles: int) -> Any:
    from bot.factory import open_pipeline
    from rag.ingest.loaders import iter_sources

    pipeline = open_pipeline(Settings(data_dir=data_dir))
    pipeline.ingest(iter_sources([str(SEEDS)]))
    docs = []
    for line in MULTIHOP.read_text(encoding="utf-8").splitlines()[:articles]:
        d = json.loads(line)
        docs.append(Article(d["id"], d["title"], d["text"], d.get("source", ""), d.get("published")))
    pipeline.ingest(docs)
    return pipeline


async def in_process(pipeline: Any, data_dir: Path, repeats: int) -> dict[str, float]:
    from tests.telegram_fakes import TOKEN, RecordingRequest

    request = RecordingRequest()
    settings = Settings(data_dir=data_dir, telegram_bot_token=TOKEN, telegram_base_url="https://api.test")
    app = build_application(settings, pipeline, request=request)
    ingest_ms, alert_ms = [], []
    async with app:
        desk = desk_of(app)
        for i, topic in enumerate(followers()):
            desk.follows.add(FOLLOWER + i, topic)
        desk.pacer.per_hour = 0  # no cap: every repeat alerts
        for n in range(repeats):
            name, body = harbour(100 + n)
            t0 = time.perf_counter()
            result = await deps_of(app).service.ingest_document(name, body)
            t1 = time.perf_counter()
            sent = await new_articles(app, result.report.added)
            t2 = time.perf_counter()
            assert sent == 1, f"expected one alert, got {sent}"
            ingest_ms.append((t1 - t0) * 1000)
            alert_ms.append((t2 - t1) * 1000)
    deps_of(app).service.store.close()
    return {
        "ingest_median_ms": median(ingest_ms),
        "alert_median_ms": median(alert_ms),
        "alert_p90_ms": percentile(alert_ms, 90),
    }


async def over_emulator(pipeline: Any, data_dir: Path, repeats: int) -> dict[str, float]:
    from tests.emulator import TelegramEmulator

    with TelegramEmulator() as emu:
        settings = Settings(
            data_dir=data_dir,
            telegram_bot_token=emu.token,
            telegram_base_url=emu.api_url,
            admins={ADMIN},
            rate_limit=0,
            ingest_chats={CHANNEL},
            alerts_per_hour=0,
        )
        app = build_application(settings, pipeline)
        async with app:
            await app.start()
            await app.updater.start_polling(poll_interval=0.0, timeout=1)  # type: ignore[union-attr]
            try:
                return await _emulated(emu, app, pipeline, repeats)
            finally:
                await app.updater.stop()  # type: ignore[union-attr]
                await app.stop()
                deps_of(app).service.store.close()


async def _emulated(emu: Any, app: Any, pipeline: Any, repeats: int) -> dict[str, float]:
    for i, topic in enumerate(followers()):
        await emu.send_command(FOLLOWER + i, FOLLOWER + i, "/follow", topic)
        await emu.wait_for_bot_messages(FOLLOWER + i, 1, timeout=60)
    upload_ms = []
    for n in range(repeats):
        name, body = harbour(200 + n)
        t0 = time.perf_counter()
        await emu.send_document(ADMIN, ADMIN, name, body, mime_type="text/markdown")
        await emu.wait_for_bot_messages(FOLLOWER, n + 2, timeout=60, interval=0.01)
        upload_ms.append((time.perf_counter() - t0) * 1000)

    async def ask(k: int) -> float:
        t = time.perf_counter()
        await emu.send_message(ASKER, ASKER, QUESTION)
        await emu.wait_for_bot_messages(ASKER, k, timeout=120, interval=0.01)
        return (time.perf_counter() - t) * 1000

    alone = [await ask(k) for k in range(1, 11)]
    progress("flood: 200 channel posts")
    desk = desk_of(app)

    async def flood() -> float:
        for n in range(200):
            body = (
                f"Live blog entry {n}\nItem {n} from the summit: delegates discussed harbour funding, round {n}. " * 2
            )
            await emu.send_channel_post(CHANNEL, body, title="Summit Live", username="summitlive")
        return time.perf_counter() - t0

    def all_indexed() -> bool:
        return sum(1 for d in desk.posts.indexed if d.startswith("tg-")) >= 200

    t0 = time.perf_counter()
    sending = asyncio.create_task(flood())
    during: list[float] = []
    k = 11
    while not (sending.done() and all_indexed()) and time.perf_counter() - t0 < 600:  # bounded
        during.append(await ask(k))  # one question after another while posts arrive and are indexed
        k += 1
    sent_s = await sending
    await desk.posts.join()
    flood_s = time.perf_counter() - t0
    indexed = [d for d in desk.posts.indexed if d.startswith("tg-")]
    ordered = indexed == sorted(indexed, key=lambda d: int(d.rsplit("-", 1)[1]))
    return {
        "upload_to_alert_median_ms": median(upload_ms),
        "upload_to_alert_p90_ms": percentile(upload_ms, 90),
        "flood_send_s": sent_s,
        "flood_indexed_s": flood_s,
        "flood_posts_indexed": float(len(indexed)),
        "flood_in_order": float(ordered),
        "question_alone_median_ms": median(alone),
        "question_during_flood_median_ms": median(during),
        "question_during_flood_max_ms": max(during),
        "questions_during_flood": float(len(during)),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.desk")
    parser.add_argument("--articles", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="newsbot-desk-"))
    try:
        progress(f"indexing the seed and {args.articles} MultiHop-RAG articles")
        pipeline = build_index(tmp / "index", args.articles)
        progress("in process")
        before = pipeline.stats().articles
        rows = asyncio.run(in_process(pipeline, tmp / "bot1", args.repeats))
        progress("over the emulator")
        rows |= asyncio.run(over_emulator(pipeline, tmp / "bot2", args.repeats))
        print(f"{len(followers())} followers, one topic each; {before} articles indexed at the start")
        for key, value in rows.items():
            print(f"{key:36} {value:10.1f}")
        pipeline.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
