"""What a question asks for: the kind of answer it wants, whose words, which role — read from its words.

`expectation` reads the question words ("when", "how many", "which news agency", "who is the <role>");
`fits` says whether a sentence holds such a thing; `parse_speaker` finds the X of "what did X say".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.question.names import bare, has_date, is_name, names, numbers, tokens
from rag.question.words import FRAMING, stem, terms

_SPEAKER_QUESTION = re.compile(
    r"\bwhat\s+(?:did|does|do|has|have|had)\s+(?P<who>.+?)\s+"
    r"(?:say|said|tell|told|think|thought|mean|claim|argue|write|stress|add|describe|call|announce)\b"
    r"(?:\s+(?:about|on|of|regarding|concerning)\s+(?P<topic>.+))?",
    re.IGNORECASE,
)

_AUX = r"(?:did|does|do|is|are|was|were|has|have|had|will|would|can|could|should|may|might)"
# Question words that say what kind of answer is wanted; matched on the question, in this order.
_EXPECT = (
    (
        "date",
        re.compile(
            r"^(?:and\s+|but\s+|so\s+)?(?:since\s+|until\s+)?when\b|\b(?:on|in|at|by)\s+what\s+(?:date|day|year|month|time)\b"
            r"|^(?:what|which)\s+(?:date|day|year|month)\b",
            re.IGNORECASE,
        ),
    ),
    ("duration", re.compile(r"\bhow\s+long\b", re.IGNORECASE)),
    (
        "number",
        re.compile(
            r"\bhow\s+(?:many|much)\b|\bwhat\s+(?:is|was|were|are)\s+the\s+(?:total\s+|overall\s+)?"
            r"(?:number|amount|value|cost|price|percentage|share|sum)\s+of\b"
            r"|^(?:and\s+)?(?:what|which)\s+(?:percentage|proportion|share|fraction|number|amount|sum)\s+of\b",
            re.IGNORECASE,
        ),
    ),
    (
        "place",
        re.compile(
            r"^(?:and\s+)?where\b|\b(?:which|what)\s+(?:[\w’'-]+\s+)?(?:city|country|town|place|region|capital|"
            r"venue|location)\b",
            re.IGNORECASE,
        ),
    ),
    ("person", re.compile(rf"^(?:and\s+)?who\s+(?!{_AUX}\b)", re.IGNORECASE)),
)
_WHO_IS_THE = re.compile(
    r"^(?:and\s+)?who\s+(?:is|was|are|were)\s+(?:the|a|an)\s+(?P<np>[\w’'-]+(?:\s+[\w’'-]+){0,3}?)"
    r"(?=\s+(?:of|to|in|at|for|from|on|with|who|that)\b|\s*[?,.]|\s*$)",
    re.IGNORECASE,
)
_NAME_OF = re.compile(
    r"\bname\s+of\s+(?:the\s+|a\s+|an\s+)?(?P<np>[^?,;]+?)"
    r"(?=\s+(?:who|that|which|whose|in|at|to|for|from|with|by|on|as)\b|\s*[?,;]|\s*$)",
    re.IGNORECASE,
)
_WHICH = re.compile(
    rf"(?:^|,\s*|\b(?:in|on|of|at|for|from|to|by|with)\s+)which\s+(?P<np>(?:[\w’'-]+\s+){{0,2}}?[\w’'-]+?)"
    rf"(?=\s+{_AUX}\b|\s*[,?]|\s*$)",
    re.IGNORECASE,
)
# Words of the question that only say what kind of answer is wanted: they are not looked for.
ASKING = re.compile(
    r"\bhow\s+(?:long|many|much|often)\b|\bname\s+of\b|\b(?:what|which)\s+(?:date|day|year|month|time)\b",
    re.IGNORECASE,
)
_TIME_UNITS = ("year", "month", "week", "day", "hour", "decade", "time")
_PLACE_PREPOSITIONS = frozenset("in at to from near across outside inside into toward towards".split())
_SKIPPABLE = frozenset("the a an its their his her our this that these those".split())


@dataclass(frozen=True)
class Expectation:
    """The kind of thing a question asks for ("" when any sentence may answer)."""

    kind: str = ""  # date, duration, number, place, person, name, list
    nouns: tuple[str, ...] = ()  # stems of the asked-for noun: "which news agency" → ("agency",)
    time_count: bool = False  # "how many years": years count as the numbers asked for
    role: tuple[str, ...] = ()  # "who is the president of China": stems the answer's sentence or passage must hold


def parse_speaker(question: str) -> tuple[str, str] | None:
    """(speaker, topic) of a "what did X say about Y" question, else None."""
    m = _SPEAKER_QUESTION.search(question)
    if not m:
        return None
    return m["who"].strip(), (m["topic"] or "").strip(" ?.!")


def expectation(question: str) -> Expectation:
    """What kind of thing the question asks for, read from its question words."""
    role = _WHO_IS_THE.search(question)
    if role:  # "Who is the Russian foreign minister?": a person, named beside "minister"
        described = {stem(w) for w in terms(question)} - {stem(w) for w in FRAMING}
        return Expectation("person", (stem(bare(role["np"].split()[-1])),), role=tuple(sorted(described)))
    for kind, pattern in _EXPECT:
        m = pattern.search(question)
        if m:
            after = question[m.end() :].lower().split()
            counted = kind == "number" and bool(after) and after[0].startswith(_TIME_UNITS)
            return Expectation(kind, time_count=counted or kind == "duration")
    m = _NAME_OF.search(question) or _WHICH.search(question)
    if m:
        words = m["np"].split()
        head = bare(words[-1])
        plural = head.endswith("s") and not head.endswith(("ss", "us", "is"))
        return Expectation("list" if plural else "name", (stem(head),))
    return Expectation()


def question_words(question: str) -> set[str]:
    """Bare words of the question: names it already holds are no answer to it."""
    return {bare(t) for t in tokens(question)}


def _next_to_noun(text: str, nouns: tuple[str, ...], known: set[str]) -> bool | None:
    """Whether some mention of the asked-for noun has a name or number beside it; None when none is mentioned.

    "Fars News Agency" answers "which news agency"; "Iranian films taking part" does not answer "which films".
    """
    toks = tokens(text)
    at = [i for i, t in enumerate(toks) if stem(bare(t)) in nouns]
    if not at:
        return None

    def identifies(j: int) -> bool:
        tok = toks[j]
        if bare(tok) != tok.lower():  # a possessive says whose, not which: "Iran’s minister"
            return False
        return (tok[0].isupper() and j > 0) or bool(numbers(tok))

    for i in at:
        for step in (-1, 1):
            j = i + step
            while 0 <= j < len(toks) and (bare(toks[j]) in _SKIPPABLE or (bare(toks[j]) in known and terms(toks[j]))):
                j += step
            if 0 <= j < len(toks) and identifies(j):
                return True
    return False


def _located(text: str, known: set[str]) -> bool:
    """True when a new name follows a preposition of place: "in Tehran", "to Islamabad"."""
    toks = tokens(text)
    for i, tok in enumerate(toks[1:], start=1):
        j = i - 1 if bare(toks[i - 1]) != "the" else i - 2
        if j >= 0 and bare(toks[j]) in _PLACE_PREPOSITIONS and is_name(tok, known):
            return True
    return False


def fits(text: str, expect: Expectation, known: set[str]) -> bool:
    """True when `text` holds the kind of thing `expect` asks for (names already in the question do not count)."""
    kind = expect.kind
    if not kind:
        return True
    if kind == "date":
        return has_date(text)
    if kind in ("number", "duration"):
        found = [n for n in numbers(text, years=expect.time_count, ordinals=False) if bare(n) not in known]
        return bool(found) or (kind == "duration" and has_date(text))
    if kind == "person":
        beside = _next_to_noun(text, expect.nouns, known) if expect.nouns else None
        if expect.role:  # a role asked for is answered only where the role is named, a name beside it
            return bool(beside)
        return beside if beside is not None else bool(names(text, known))
    if kind == "place":
        return _located(text, known)
    beside = _next_to_noun(text, expect.nouns, known)
    if beside is not None:
        return beside
    listed = kind == "list" and text.count(",") >= 2
    return bool(names(text, known)) or bool(numbers(text)) or listed
