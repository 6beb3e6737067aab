"""Questions about time: relative dates read against the day it is asked (`--now`), and "the latest" meaning the
newest articles about it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from rag.config import PipelineConfig
from rag.pipeline import Pipeline
from rag.question.recency import asks_for_latest, recency, relative_days
from rag.types import Article

TODAY = date(2026, 12, 4)  # a Friday


@pytest.mark.parametrize(
    ("question", "days"),
    [
        ("What happened yesterday in Tehran?", [date(2026, 12, 3)]),
        ("What did Dedov say today?", [TODAY]),
        (
            "What did Dedov say this week?",
            [date(2026, 11, 30 + i) for i in range(1)] + [date(2026, 12, d) for d in (1, 2, 3, 4)],
        ),
        ("What happened last week?", [date(2026, 11, 23 + i) for i in range(7)]),
        ("What happened three days ago?", [date(2026, 12, 1)]),
        ("What happened 10 days ago?", [date(2026, 11, 24)]),
        ("What happened a week ago?", [date(2026, 11, 27)]),
        ("What was signed on Monday?", [date(2026, 11, 30)]),
        ("What was signed on Friday?", [date(2026, 11, 27)]),  # the last one before today
        ("What happened on October 7, 2023?", []),  # spelled out: the dates module reads it
        ("Who is Dedov?", []),
    ],
)
def test_relative_days(question: str, days: list[date]) -> None:
    assert list(relative_days(question, TODAY)) == days


def test_last_month_is_the_calendar_month_before() -> None:
    days = relative_days("What happened last month?", TODAY)
    assert (days[0], days[-1], len(days)) == (date(2026, 11, 1), date(2026, 11, 30), 30)


@pytest.mark.parametrize(
    ("question", "latest"),
    [
        ("What is the latest on the Iran–Russia treaty?", True),
        ("Any recent news about Oman?", True),
        ("What's new in Tehran?", True),
        ("What did Dedov say about Oman?", False),
        ("When was the treaty signed?", False),
    ],
)
def test_asks_for_latest(question: str, latest: bool) -> None:
    assert asks_for_latest(question) is latest


def test_recency_halves_weekly() -> None:
    assert recency(TODAY, TODAY) == 1.0
    assert recency(date(2026, 11, 27), TODAY) == 0.5
    assert recency(None, TODAY) == 0.0 and recency(date(2026, 12, 5), TODAY) == 0.0


def harbour(doc_id: str, day: str, detail: str) -> Article:
    return Article(
        doc_id,
        f"Harbour of Westhaven: {detail}",
        f"The harbour of Westhaven {detail}, the harbour master said. Ferries to the islands were affected.",
        "Coast News",
        f"{day}T09:00:00",
    )


@pytest.fixture
def dated_pipeline(tmp_path: Path, fake_embedder) -> Pipeline:
    config = PipelineConfig(tmp_path / "data", answer_cache_size=0, now=TODAY)
    pipeline = Pipeline.open(config, embedder=fake_embedder)
    pipeline.ingest(
        [
            harbour("old", "2026-10-02", "closed for repairs after the storm"),
            harbour("yesterday", "2026-12-03", "reopened for ferries after the repairs"),
            harbour("week", "2026-11-26", "began dredging its channel for bigger ferries"),
        ]
    )
    return pipeline


def test_yesterday_and_the_latest_lead_to_the_articles_of_those_days(dated_pipeline: Pipeline) -> None:
    def first(question: str) -> str:
        return dated_pipeline.retriever.retrieve(question)[0].chunk.doc_id

    assert first("What happened at the harbour of Westhaven yesterday?") == "yesterday"
    assert first("What happened at the harbour of Westhaven last week?") == "week"
    assert first("What is the latest on the harbour of Westhaven?") == "yesterday"
    assert dated_pipeline.retriever.constraints("Any news about the harbour?").latest is False


def test_now_is_a_setting_and_an_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.cli import load_settings, parser

    monkeypatch.setenv("NEWSBOT_NOW", "2026-12-04")
    assert load_settings(parser().parse_args(["list"])).pipeline_config().now == TODAY
    args = parser().parse_args(["--now", "2025-11-02", "list"])
    assert load_settings(args).pipeline_config().now == date(2025, 11, 2)
