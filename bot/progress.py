"""Ingest progress: a status line on a terminal (articles, chunks, chunks/s, ETA) and a warning before a large input."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bot.settings import Settings

if TYPE_CHECKING:
    from rag.pipeline import Pipeline
    from rag.types import IngestProgress, IngestReport

LARGE_INPUT_CHUNKS = 5_000  # an article making more chunks than this is warned about before it is embedded
# Chunks embedded per second until this run has measured its own: long articles (700-character chunks) with the
# packaged model, measured on a shared 2-core machine.
FIRST_GUESS_CHUNKS_PER_S = 25.0


def duration(seconds: float) -> str:
    """'0:42', '9:05', '1:02:03'."""
    s = int(seconds + 0.5)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Tracker:
    """Follows a `Pipeline.ingest` through its `IngestProgress` reports: what it has done, its speed, its ETA.

    `total_articles` (None: unknown) lets the ETA start before every article is read; `warn` receives one line
    for each article that makes more than `large` chunks, before it is embedded.
    """

    def __init__(
        self,
        total_articles: int | None,
        warn: Callable[[str], None],
        *,
        large: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.warn, self.clock = total_articles, warn, clock
        self.large = LARGE_INPUT_CHUNKS if large is None else large
        self.last: IngestProgress | None = None
        self.current = ""  # the doc id of the last article read that is to be embedded
        self.first_batch: tuple[float, int] | None = None  # (time, chunks embedded) at the first batch's end

    def __call__(self, report: IngestProgress) -> None:
        self.last = report
        if report.event == "read" and report.doc_id:
            self.current = report.doc_id
        if report.event == "embedded" and self.first_batch is None:
            self.first_batch = (self.clock(), report.chunks_embedded)
        if report.event == "read" and report.new_chunks > self.large:
            minutes = max(1, round(report.new_chunks / (self.measured_rate() or FIRST_GUESS_CHUNKS_PER_S) / 60))
            self.warn(
                f"{report.doc_id} makes {report.new_chunks:,} chunks (~{minutes} min to embed) — is it one article? "
                "Ctrl-C stops the ingest and keeps every article committed before"
            )

    def measured_rate(self) -> float | None:
        """Chunks embedded per second since the first batch (so the model load is not counted); None before a
        second batch."""
        if self.first_batch is None or self.last is None:
            return None
        since, done = self.first_batch
        elapsed = self.clock() - since
        if self.last.chunks_embedded <= done or elapsed <= 0:
            return None
        return (self.last.chunks_embedded - done) / elapsed

    def eta(self) -> float | None:
        """Seconds left, once the speed is measured and the total known: every article read, or their number
        given (the chunks still to come estimated from the articles read so far)."""
        p, rate = self.last, self.measured_rate()
        if p is None or rate is None or self.total is None or p.articles == 0:
            return None
        expected = p.chunks_read if p.articles >= self.total else p.chunks_read / p.articles * self.total
        return max(0.0, expected - p.chunks_embedded) / rate

    def status(self) -> str:
        """'120/609 articles · 3,300/3,412 chunks embedded · 79 chunks/s · ETA 1:25 · mh-0119'."""
        p = self.last
        if p is None:
            return "reading…"
        articles = f"{p.articles:,}/{self.total:,}" if self.total is not None else f"{p.articles:,}"
        parts = [f"{articles} articles", f"{p.chunks_embedded:,}/{p.chunks_read:,} chunks embedded"]
        rate, eta = self.measured_rate(), self.eta()
        if rate is not None:
            parts.append(f"{rate:,.0f} chunks/s")
        if eta is not None:
            parts.append(f"ETA {duration(eta)}")
        if self.current:
            parts.append(self.current)
        return " · ".join(parts)


def count_articles(sources: list[str]) -> int | None:
    """How many items an ingest of `sources` reads (files, JSONL lines, URLs), or None when that is unknown."""
    from rag.ingest.loaders import SUFFIXES, has_scheme

    total = 0
    for source in sources:
        if has_scheme(source):
            return None  # a URL may hold a corpus
        path = Path(source)
        files = (
            [p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES] if path.is_dir() else [path]
        )
        for file in files:
            total += _jsonl_lines(file) if file.suffix.lower() == ".jsonl" else 1
    return total


def _jsonl_lines(path: Path) -> int:
    try:
        with path.open("rb") as fh:
            return sum(1 for line in fh if line.strip())
    except OSError:
        return 1  # the loader reports it, as one failure


def ingest_with_progress(
    pipeline: Pipeline, sources: list[str], settings: Settings, *, quiet: bool, wait: bool = True
) -> IngestReport:
    """Ingest `sources`, drawing progress on stderr unless quiet; large articles are warned about either way."""
    from rag.ingest.loaders import iter_sources

    items = iter_sources(sources, timeout=settings.fetch_timeout, allow_private_urls=settings.allow_private_urls)
    tracker = Tracker(count_articles(sources), lambda line: print(f"newsbot: {line}", file=sys.stderr))
    if quiet:
        return pipeline.ingest(items, tracker, wait=wait)
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]indexing[/bold] {task.description}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(tracker.status())
        tracker.warn = lambda line: bar.console.print(f"newsbot: {line}", markup=False, highlight=False)

        def update(report: IngestProgress) -> None:
            tracker(report)
            bar.update(task, description=tracker.status())

        return pipeline.ingest(items, update, wait=wait)
