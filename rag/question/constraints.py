"""What a question says about where and when its answer was published: the outlets and dates it names."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from rag.question.dates import named_dates
from rag.question.outlets import named_sources, unknown_outlets


@dataclass(frozen=True)
class Constraints:
    """Outlets and dates a question names."""

    sources: tuple[str, ...] = ()  # indexed sources the question names, in the index's spelling
    unknown_outlets: tuple[str, ...] = ()  # outlets it presents as sources that no indexed article comes from
    dates: tuple[date, ...] = ()


def constraints(question: str, sources: Iterable[str]) -> Constraints:
    """The outlets and dates of a question, against the sources the index holds."""
    known = [s for s in sources if s.strip()]
    return Constraints(named_sources(question, known), unknown_outlets(question, known), named_dates(question))
