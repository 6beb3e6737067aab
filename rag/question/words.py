"""Words of a text for matching: tokens, stopwords, framing words and a light suffix stemmer."""

from __future__ import annotations

import re
from functools import lru_cache

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


# Words that frame a news question ("does the article suggest that…") rather than say what it is about.
FRAMING = frozenset(
    """suggest suggests suggested suggesting indicate indicates indicated indicating mention mentions mentioned
    claim claims claimed discuss discusses discussed discussing imply implies implied portray portrays portrayed
    portrayal depict depicts depicted coverage covered covering piece pieces source sources""".split()
)
