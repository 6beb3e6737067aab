"""The outlets a question names: matched against the sources the index holds.

News questions name their outlets ("…reported by TechCrunch on October 7, 2023…"), so retrieval can
favour their articles; an outlet a question presents as the source of its facts ("a Bloomberg article",
"a piece by CNET", "reported by Reuters") that no indexed article comes from makes it unanswerable from
this index.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from rag.question.names import MONTHS, WEEKDAYS
from rag.question.words import FRAMING, STOPWORDS

# Words that present a source as the press ("a Bloomberg article"). A "report" may be anyone's (the UN's, the
# Pentagon's): it names an outlet only beside a press mention ("a Bloomberg article and a Reuters report").
_PRESS = r"(?:articles?|pieces?|stor(?:y|ies)|coverage|columns?|op-eds?|editorials?)"
_REPORT = r"(?:reports?|analys[ie]s)"
_NAME = r"[A-Z][\w.&’'-]*(?:\s+(?:(?:of|and|for|&|\||-)\s+)?[A-Z][\w.&’'-]*)*"


def _cues(cue: str) -> tuple[re.Pattern[str], ...]:
    return (
        # "an article from The Verge", "a piece by CNET", "another in YourStory"
        re.compile(rf"\b(?:{cue}|another(?:\s+one)?)\s+(?:from|by|in)\s+(?:the\s+)?(?P<x>(?:The\s+)?{_NAME})"),
        # "a Bloomberg article", "the TechCrunch report", "The New York Times' piece"
        re.compile(
            rf"(?:^|\b(?:a|an|the|two|both|one|each|its|their)\s+)(?P<x>(?:The\s+)?{_NAME})(?:’s|'s|’|')?\s+{cue}\b"
        ),
    )


_PRESS_CUES = (
    *_cues(_PRESS),
    # "as reported by both CBSSports.com and Sporting News" (not "according to X": X is as often a person)
    re.compile(
        r"\b(?:reported\s+(?:by|in)|published\s+(?:by|in)|covered\s+by)\s+(?:both\s+)?(?:the\s+)?"
        rf"(?P<x>(?:The\s+)?{_NAME}"
        rf"(?:(?:\s*,\s*|\s+and\s+|\s*,\s*and\s+)(?:The\s+)?{_NAME})*)"
    ),
)
_REPORT_CUES = _cues(_REPORT)
_QUOTES = re.compile(r"(?<!\w)['‘“\"]|['’”\"](?!\w)")
_CONNECTORS = frozenset("the of and for & | - a an both".split())


@lru_cache(maxsize=4096)
def source_aliases(source: str) -> frozenset[str]:
    """Lower-cased names a question may use for a source: "BBC News - Technology" → itself, "bbc news", "bbc"."""
    low = source.lower().strip()
    aliases = {low}
    if low.startswith("the ") and len(low.split()) > 2:
        aliases.add(low.removeprefix("the "))  # "a New York Times article"; not "age" for The Age
    for sep in (" - ", " | ", ": "):
        if sep in low:
            aliases.add(low.split(sep)[0].strip())
    first = source.split()[0] if source.split() else ""
    if len(first) > 1 and first.isupper():
        aliases.add(first.lower())  # an acronym: "BBC", "FOX"
    return frozenset(a for a in aliases if a)


@lru_cache(maxsize=4096)
def _alias_pattern(alias: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w.])" + re.escape(alias) + r"(?![\w])", re.IGNORECASE)


def named_sources(question: str, sources: Iterable[str]) -> tuple[str, ...]:
    """The indexed sources whose name (or short name) the question contains, in order of first mention."""
    text = _QUOTES.sub(" ", question)
    # An ASCII alias matches an ASCII text only where the text, lower-cased, holds it: most never do, and that
    # test is far cheaper than the pattern. (Case-insensitive patterns pair a few letters across ASCII's edge,
    # "K" and "k", "ı" and "i", so other texts and aliases always go to the pattern.)
    lowered = text.lower() if text.isascii() else None
    found: dict[str, int] = {}
    for source in sources:
        if not source.strip():
            continue
        aliases = [a for a in source_aliases(source) if lowered is None or a in lowered or not a.isascii()]
        matches = [m for a in aliases for m in _alias_pattern(a).finditer(text)]
        positions = [m.start() for m in matches if _as_name(source, m.group())]
        if positions:
            found[source] = min(positions)
    return tuple(sorted(found, key=lambda s: (found[s], s)))


def _as_name(source: str, mention: str) -> bool:
    """A source named by one word that is also an English word ("Fortune", "Wired", "The Age") counts only
    when that word is capitalised: "made a fortune" and "at the age of 30" name no outlet."""
    words = source.split()
    core = words[1:] if len(words) == 2 and words[0].lower() == "the" else words
    if len(core) > 1 or not source[:1].isupper():
        return True
    return mention.split()[-1][:1].isupper()


def outlet_mentions(question: str) -> list[str]:
    """Phrases the question presents as the outlets its facts come from ("a Bloomberg article" → "Bloomberg")."""
    text = _QUOTES.sub(" ", question)
    press = [m["x"] for pattern in _PRESS_CUES for m in pattern.finditer(text)]
    reports = [m["x"] for pattern in _REPORT_CUES for m in pattern.finditer(text)] if press else []
    return list(dict.fromkeys(re.sub(r"\s+", " ", x).strip() for x in press + reports))


def unknown_outlets(question: str, sources: Iterable[str]) -> tuple[str, ...]:
    """Outlets the question presents as sources that match no indexed source (names left after known ones go)."""
    aliases = sorted({a for s in sources for a in source_aliases(s)}, key=len, reverse=True)
    unknown = []
    for mention in outlet_mentions(question):
        rest = mention
        for alias in aliases:
            rest = _alias_pattern(alias).sub(" ", rest)
        words = [w for w in re.split(r"[\s,]+", rest) if w]
        while words and words[0].lower() in _CONNECTORS:
            words.pop(0)
        while words and words[-1].lower() in _CONNECTORS:
            words.pop()
        if any(w[:1].isupper() and w.lower() not in MONTHS | WEEKDAYS | STOPWORDS for w in words):
            unknown.append(" ".join(words))
    return tuple(dict.fromkeys(unknown))


def topic_words(text: str, sources: Iterable[str]) -> str:
    """The text without the outlets it names and the words that frame a news question."""
    for alias in sorted({a for s in sources for a in source_aliases(s)}, key=len, reverse=True):
        text = _alias_pattern(alias).sub(" ", text)
    return " ".join(w for w in text.split() if w.lower().strip("'\"‘’“”,.?") not in FRAMING)
