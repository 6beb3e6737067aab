"""Words of a text for matching: tokens, stopwords and a light suffix stemmer."""

from __future__ import annotations

import re
import threading
from collections.abc import Collection, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

_WORD = re.compile(r"\w+", re.UNICODE)
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having
    he her here hers herself him himself his how i if in into is it its itself just me more most my myself no
    nor not now of off on once only or other our ours out over own same she should so some such than that the
    their theirs them themselves then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your yours yourself whats
    s t said say says tell told according article articles report reported""".split()
)


# Bump when `words`, STOPWORDS or `stem` change what `stems` returns: the index stores each chunk's stems.
STEMMER_VERSION = "1"


def words(text: str) -> list[str]:
    """Lower-cased word tokens of `text` (apostrophes split words: "Oman’s" → oman, s)."""
    return _WORD.findall(text.lower())


def terms(text: str) -> list[str]:
    """Content words of `text`, in order, stopwords dropped."""
    stop = STOPWORDS
    return [w for w in words(text) if w not in stop]


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light English stemmer: sanction/sanctions, sign/signed/signing, negotiate/negotiating."""
    for suffix in ("ingly", "edly", "ings", "ing", "ies", "ied", "es", "ed", "ly", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            if suffix in ("ies", "ied"):
                return base + "y"
            if len(base) > 3 and base[-1] == base[-2] and base[-1] not in "aeiouls":
                base = base[:-1]  # stopped → stop
            return _drop_e(base)
    return _drop_e(word)


def _drop_e(word: str) -> str:
    """serve/served/serving share 'serv': a final silent e goes (not in short words like 'the')."""
    while len(word) > 4 and word.endswith("e"):
        word = word[:-1]
    return word


def stems(text: str) -> set[str]:
    """The set of stemmed content words of `text` (each distinct word stemmed once)."""
    return set(map(stem, set(words(text)) - STOPWORDS))


# Each distinct stem gets a small integer for the life of the process, so that a passage's stems can be kept as
# an array of them: numpy arrays are invisible to Python's cycle collector, where the same stems as a frozenset
# of strings cost every collection a visit per stem (40 of the 54 ms of a full collection at 100k chunks,
# docs/performance.md). It grows with the vocabulary of the passages read, and only with that.
_STEM_IDS: dict[str, int] = {}
_STEM_IDS_LOCK = threading.Lock()


def stem_id(term: str) -> int | None:
    """The id of a stem, or None when no passage read so far holds it."""
    return _STEM_IDS.get(term)


def stem_ids(held: Sequence[str]) -> np.ndarray:
    """The ids of stems (new stems get the next ids), as an int32 array."""
    import numpy as np  # here: what imports this module to read a question need not load numpy

    known = _STEM_IDS
    try:
        return np.fromiter(map(known.__getitem__, held), dtype=np.int32, count=len(held))
    except KeyError:  # a stem no passage read so far held
        with _STEM_IDS_LOCK:
            for t in held:
                if t not in known:
                    known[t] = len(known)
        return np.fromiter(map(known.__getitem__, held), dtype=np.int32, count=len(held))


# --- what a sentence holds: names, numbers, dates ---------------------------------------------
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
