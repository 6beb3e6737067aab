"""What a question says about where and when its answer was published: the outlets and dates it names."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from rag.question.dates import named_dates
from rag.question.outlets import named_sources, unknown_outlets
from rag.question.recency import asks_for_latest, relative_days


@dataclass(frozen=True)
class Constraints:
    """Outlets and dates a question names."""

    sources: tuple[str, ...] = ()  # indexed sources the question names, in the index's spelling
    unknown_outlets: tuple[str, ...] = ()  # outlets it presents as sources that no indexed article comes from
    dates: tuple[date, ...] = ()  # days it names: spelled out, or relative to today ("yesterday", "this week")
    latest: bool = False  # it asks for the newest news


def constraints(question: str, sources: Iterable[str], today: date | None = None) -> Constraints:
    """The outlets and dates of a question, against the sources the index holds; with `today`, the days it
    names relative to it too, and whether it asks for the newest news."""
    known = [s for s in sources if s.strip()]
    days = named_dates(question)
    if today is not None:
        days = tuple(dict.fromkeys([*days, *relative_days(question, today)]))
    latest = today is not None and asks_for_latest(question)
    return Constraints(named_sources(question, known), unknown_outlets(question, known), days, latest)
