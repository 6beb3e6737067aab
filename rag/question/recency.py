"""Questions about time: relative dates ("yesterday", "this week", "three days ago") resolved against today, and
questions that ask for the newest news ("the latest on …", "recent", "new").

News arrives daily, so "what happened yesterday in Tehran?" means the day before the day it is asked, and "the
latest on the treaty" means the newest articles about it. Retrieval lifts the articles published on the days a
question means, as it does for a date the question spells out, and, for the newest, the articles by how recent
they are. `today` is a parameter (`--now` / NEWSBOT_NOW for reproducible runs), never read from a clock here.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_NUMBERS = {w: n for n, w in enumerate("one two three four five six seven eight nine ten".split(), start=1)}
_AGO = re.compile(r"\b(?P<n>\d{1,3}|" + "|".join(_NUMBERS) + r"|a|an)\s+(?P<unit>day|week)s?\s+ago\b", re.I)
_ON_WEEKDAY = re.compile(r"\b(?:on\s+|last\s+)(?P<day>" + "|".join(_WEEKDAYS) + r")\b", re.I)


def _month_before(today: date) -> tuple[date, date]:
    last_day = today.replace(day=1) - timedelta(days=1)
    return last_day.replace(day=1), last_day


_SPANS = {
    "today": lambda t: (t, t),
    "tonight": lambda t: (t, t),
    "yesterday": lambda t: (t - timedelta(days=1), t - timedelta(days=1)),
    "this week": lambda t: (t - timedelta(days=t.weekday()), t),
    "last week": lambda t: (t - timedelta(days=t.weekday() + 7), t - timedelta(days=t.weekday() + 1)),
    "past week": lambda t: (t - timedelta(days=7), t),
    "this month": lambda t: (t.replace(day=1), t),
    "last month": lambda t: (
        (t.replace(day=1) - timedelta(days=1)).replace(day=1),
        t.replace(day=1) - timedelta(days=1),
    ),
    "past month": lambda t: (t - timedelta(days=30), t),
}
_SPAN = re.compile(r"\b(?:" + "|".join(p.replace(" ", r"\s+") for p in _SPANS) + r")\b", re.I)
_LATEST = re.compile(
    r"\b(?:latest|newest|most\s+recent|recent(?:ly)?|lately|breaking|new\s+developments?|just\s+happened|"
    r"(?:what(?:'s|’s|\s+is)\s+new))\b",
    re.IGNORECASE,
)
MAX_DAYS = 31  # the longest span a question is read as naming, day by day


def relative_days(question: str, today: date) -> tuple[date, ...]:
    """The days a question names relative to `today`, oldest first: "yesterday", "this week", "last month",
    "three days ago", "on Monday" (the latest one before today)."""
    days: set[date] = set()
    for m in _SPAN.finditer(question):
        start, end = _SPANS[" ".join(m.group().lower().split())](today)
        days.update(start + timedelta(days=i) for i in range(min((end - start).days + 1, MAX_DAYS)))
    for m in _AGO.finditer(question):
        count = m["n"].lower()
        n = 1 if count in ("a", "an") else _NUMBERS.get(count) or int(count)
        back = n * (7 if m["unit"].lower() == "week" else 1)
        days.add(today - timedelta(days=back))
    for m in _ON_WEEKDAY.finditer(question):
        behind = (today.weekday() - _WEEKDAYS.index(m["day"].lower())) % 7 or 7
        days.add(today - timedelta(days=behind))
    return tuple(sorted(days))


def asks_for_latest(question: str) -> bool:
    """True when the question asks for the newest news ("the latest on…", "recent", "what's new")."""
    return bool(_LATEST.search(question))


def recency(published: date | None, today: date, half_life: float = 7.0) -> float:
    """How recent an article is, 1 for today's and halving every `half_life` days; 0 without a date or when it
    is dated after today."""
    if published is None:
        return 0.0
    age = (today - published).days
    return 0.0 if age < 0 else 0.5 ** (age / half_life)
