"""A progress bar around Pipeline.ingest."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.settings import Settings

if TYPE_CHECKING:
    from rag.pipeline import Pipeline
    from rag.types import IngestReport


def ingest_with_progress(pipeline: Pipeline, sources: list[str], settings: Settings, *, quiet: bool) -> IngestReport:
    """Ingest `sources`, drawing articles and chunks done on stderr unless quiet."""
    from rag.ingest.loaders import iter_sources

    items = iter_sources(sources, timeout=settings.fetch_timeout, allow_private_urls=settings.allow_private_urls)
    if quiet:
        return pipeline.ingest(items)
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]indexing[/bold]"),
        BarColumn(bar_width=None),
        TextColumn("{task.fields[articles]} articles, {task.fields[chunks]} chunks"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("ingest", total=None, articles=0, chunks=0)
        return pipeline.ingest(items, lambda a, c: bar.update(task, articles=a, chunks=c))
