"""The calendar dates a question names, and whether a passage was published on one of them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from functools import lru_cache

from rag.types import Chunk

_MONTH_NUMBER = {
    m: i
    for i, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for m in names
}
_DATES = (
    re.compile(r"\b(?P<month>[A-Za-z]{3,9})\.?\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<year>(?:19|20)\d\d)\b"),
    re.compile(r"\b(?P<day>\d{1,2})(?:st|nd|rd|th)?\s+(?P<month>[A-Za-z]{3,9})\.?,?\s+(?P<year>(?:19|20)\d\d)\b"),
    re.compile(r"\b(?P<year>(?:19|20)\d\d)-(?P<month>\d\d)-(?P<day>\d\d)\b"),
)


def named_dates(question: str) -> tuple[date, ...]:
    """Calendar dates the question names: "October 7, 2023", "7 Oct 2023", "2023-10-07"."""
    found: list[date] = []
    for pattern in _DATES:
        for m in pattern.finditer(question):
            month = m["month"]
            number = int(month) if month.isdigit() else _MONTH_NUMBER.get(month.lower())
            if not number:
                continue
            try:
                found.append(date(int(m["year"]), number, int(m["day"])))
            except ValueError:
                continue
    return tuple(dict.fromkeys(found))


def published_on(chunk: Chunk, dates: Sequence[date]) -> bool:
    """True when the chunk's article was published within a day of one of `dates`."""
    if not chunk.published or not dates:
        return False
    day = publication_day(chunk.published)
    return day is not None and any(abs((day - d).days) <= 1 for d in dates)


@lru_cache(maxsize=65536)
def publication_day(published: str) -> date | None:
    """The calendar day of a publication time ("2023-10-07T12:00:00+00:00"), or None when it names none (read
    once per article: the answer to a dated question asks it of each of ~400 candidate passages)."""
    try:
        return date.fromisoformat(published[:10])
    except ValueError:
        return None
