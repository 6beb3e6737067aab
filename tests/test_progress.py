"""Ingest progress: the reports `Pipeline.ingest` makes as it goes, and what the CLI draws from them."""

from __future__ import annotations

import pytest

from bot.progress import Tracker, count_articles, duration
from rag.errors import ArticleUnreadable
from rag.ingest.chunking import ChunkingConfig, chunk_article
from rag.pipeline import IngestConfig
from rag.types import Article, IngestNote, IngestProgress


def test_ingest_reports_each_item_read_and_each_batch_embedded(fake_pipeline) -> None:
    config = IngestConfig(chunking=ChunkingConfig(max_chars=60), batch_chunks=4)
    fake_pipeline.ingest_config = config
    short = Article("a", "A", "Ferries sailed at dawn.\n\nThe port reopened.\n\nTugs waited outside the harbour.")
    long = Article("b", "B", "\n\n".join(f"Paragraph {i} tells of the storm and the harbour." for i in range(10)))
    assert [len(chunk_article(x, config.chunking)) for x in (short, long)] == [2, 10]
    seen: list[IngestProgress] = []
    items = [ArticleUnreadable("bad.txt: not UTF-8"), short, IngestNote("a note"), long, short]
    report = fake_pipeline.ingest(items, seen.append)
    assert [(p.event, p.articles, p.chunks_read, p.chunks_embedded, p.doc_id, p.new_chunks) for p in seen] == [
        ("read", 1, 0, 0, "", 0),  # the failure
        ("read", 2, 2, 0, "a", 2),  # two chunks wait for a batch
        ("read", 3, 12, 0, "b", 10),  # twelve: a batch is due, embedded four at a time
        ("embedded", 3, 12, 4, "", 0),
        ("embedded", 3, 12, 8, "", 0),
        ("embedded", 3, 12, 12, "", 0),
        ("read", 4, 12, 12, "", 0),  # "a" again: nothing to do
    ]
    assert (report.added, report.unchanged, report.notes, report.chunks) == (["a", "b"], ["a"], ["a note"], 12)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def progress(event: str, articles: int, read: int, embedded: int, doc_id: str = "", new: int = 0) -> IngestProgress:
    return IngestProgress(event, articles, read, embedded, doc_id, new)


def test_tracker_status_rate_and_eta() -> None:
    clock, warnings = Clock(), []
    tracker = Tracker(4, warnings.append, clock=clock)
    assert tracker.status() == "reading…"
    tracker(progress("read", 1, 300, 0, "a", 300))
    assert tracker.status() == "1/4 articles · 0/300 chunks embedded · a"  # no speed yet: no ETA
    clock.now += 20  # the model loads, the first batch is embedded: its time is not the speed
    tracker(progress("embedded", 1, 300, 100))
    assert (tracker.measured_rate(), tracker.eta()) == (None, None)
    clock.now += 10
    tracker(progress("embedded", 1, 300, 300))  # 200 chunks in 10 s
    tracker(progress("read", 2, 500, 300, "b", 200))
    # 2 of 4 articles read, 500 chunks: 1,000 expected in all, 700 to go at 20 chunks/s
    assert tracker.status() == "2/4 articles · 300/500 chunks embedded · 20 chunks/s · ETA 0:35 · b"
    tracker(progress("read", 4, 600, 300))  # every article read: the total is known
    assert tracker.eta() == pytest.approx(15.0)
    assert warnings == []


def test_a_large_article_is_warned_about_before_it_is_embedded() -> None:
    warnings: list[str] = []
    tracker = Tracker(None, warnings.append, large=5_000, clock=Clock())
    tracker(progress("read", 1, 4_000, 0, "small", 4_000))
    tracker(progress("read", 2, 17_654, 0, "x", 13_654))
    assert warnings == [
        "x makes 13,654 chunks (~9 min to embed) — is it one article? "
        "Ctrl-C stops the ingest and keeps every article committed before"
    ]  # at the first guess of 25 chunks/s
    assert tracker.status() == "2 articles · 0/17,654 chunks embedded · x"


@pytest.mark.parametrize(("seconds", "text"), [(0, "0:00"), (42.4, "0:42"), (545, "9:05"), (3723, "1:02:03")])
def test_duration(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_count_articles(tmp_path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("A\n\nBody.", encoding="utf-8")
    (tmp_path / "d" / "skip.pdf").write_bytes(b"%PDF")
    (tmp_path / "d" / "c.jsonl").write_text('{"id": 1}\n\n{"id": 2}\n{"id": 3}\n', encoding="utf-8")
    (tmp_path / "b.md").write_text("# B\n\nBody.", encoding="utf-8")
    assert count_articles([str(tmp_path / "d"), str(tmp_path / "b.md")]) == 5
    assert count_articles([str(tmp_path / "b.md"), "https://example.com/a"]) is None
