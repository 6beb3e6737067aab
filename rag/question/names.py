"""What a sentence holds beyond its words: names, numbers and dates, read from its tokens."""

from __future__ import annotations

import re
from collections.abc import Collection

from rag.question.words import STOPWORDS

MONTHS = frozenset(
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
WEEKDAYS = frozenset("monday tuesday wednesday thursday friday saturday sunday".split())
_NUMBER_WORDS = frozenset(
    """one two three four five six seven eight nine ten eleven twelve dozen dozens twenty thirty forty fifty
    hundred hundreds thousand thousands million millions billion billions trillion half""".split()
)
_ORDINALS = frozenset("first second third fourth fifth sixth seventh eighth ninth tenth".split())
_RELATIVE_DATE = re.compile(
    r"\b(?:yesterday|today|tomorrow|tonight|ago|later|earlier|(?:this|last|next|that)\s+(?:week|month|year|"
    r"spring|summer|autumn|fall|winter)|(?:since|until|by|in|from)\s+(?:1[89]|20)\d\d)\b",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"[\w’'.-]*\w", re.UNICODE)


def tokens(text: str) -> list[str]:
    """Word tokens keeping their case and inner apostrophes, hyphens and dots ("Oman’s", "U.S.")."""
    return _TOKEN.findall(text)


def bare(token: str) -> str:
    """A token lower-cased, without a possessive: "Oman’s" → "oman"."""
    return re.sub(r"[’']s$", "", token).lower()


def is_year(token: str) -> bool:
    """1900–2099."""
    return len(token) == 4 and token.isdigit() and token[:2] in ("19", "20")


def same_name(a: str, b: str) -> bool:
    """Two bare words naming the same thing: equal, or one the other's demonym ("iran"/"iranian")."""
    if a == b:
        return True
    short, long = sorted((a, b), key=len)
    return len(short) >= 4 and long.startswith(short) and len(long) - len(short) <= 3


def names(text: str, known: Collection[str] = ()) -> list[str]:
    """Capitalised words of `text` that may name something, and are not in `known` (bare words).

    The first word of a sentence counts only when another capitalised word follows it;
    months, weekdays and stopwords never count.
    """
    toks = tokens(text)
    out = []
    for i, tok in enumerate(toks):
        if i == 0 and not (len(toks) > 1 and toks[1][0].isupper()):
            continue
        if is_name(tok, known):
            out.append(tok)
    return out


def is_name(token: str, known: Collection[str] = ()) -> bool:
    """A capitalised token that is no stopword, month or weekday, and not in `known` (bare words)."""
    if not token[0].isupper():
        return False
    word = bare(token)
    return not (word in STOPWORDS or word in MONTHS or word in WEEKDAYS or any(same_name(word, k) for k in known))


def numbers(text: str, *, years: bool = True, ordinals: bool = True) -> list[str]:
    """Numbers of `text`: digits (not a day of a month, nor a year unless `years`), number words, and
    ordinals unless not `ordinals` ("the first ceremony" counts nothing)."""
    toks = tokens(text)
    out = []
    for i, tok in enumerate(toks):
        low = tok.lower()
        if any(ch.isdigit() for ch in tok):
            after_month = i > 0 and toks[i - 1].lower() in MONTHS
            if after_month or (is_year(tok) and not years):
                continue
            out.append(tok)
        elif low in _NUMBER_WORDS or (ordinals and low in _ORDINALS):
            out.append(tok)
    return out


def has_date(text: str) -> bool:
    """True when `text` names a time: a month, weekday, year, clock time, or a relative date."""
    toks = tokens(text)
    if any(t.lower() in MONTHS - {"may", "mar", "jan", "dec"} or t.lower() in WEEKDAYS or is_year(t) for t in toks):
        return True
    if any(t in ("May", "March") and i > 0 and toks[i - 1][0].isdigit() for i, t in enumerate(toks)):
        return True
    return bool(re.search(r"\b\d{1,2}:\d{2}\b|\bMay\s+\d", text) or _RELATIVE_DATE.search(text))
