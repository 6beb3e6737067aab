"""The parts of a long question, and whether it is long enough to combine several facts."""

from __future__ import annotations

import re

from rag.question.words import terms

_CLAUSE_BREAK = re.compile(
    r"\s*,?\s+(?:while|whereas|but|yet|compared\s+(?:to|with)|as\s+well\s+as|and\s+also|and\s+then|"
    r"and\s+(?=the\s|a\s|an\s|is\s|was\s|has\s|had\s|are\s|were\s|will\s|who\s)|or\s+(?=does\s|do\s|did\s|is\s|was\s))\s+"
    r"|\s*[;,]\s*",
    re.IGNORECASE,
)
MIN_CLAUSE_TERMS = 3


def clauses(question: str, min_terms: int = MIN_CLAUSE_TERMS) -> list[str]:
    """The parts of a long question that each ask about one thing, each with at least `min_terms` content words.

    "Does the Verge article say X, while the TechCrunch article says Y?" → ["Does the Verge article say X",
    "the TechCrunch article says Y?"]. A short question is one clause; a too-short part joins the one before.
    """
    parts = [p.strip() for p in _CLAUSE_BREAK.split(question) if p and p.strip()]
    out: list[str] = []
    for part in parts:
        if out and (len(terms(part)) < min_terms or len(terms(out[-1])) < min_terms):
            out[-1] = f"{out[-1]}, {part}"
        else:
            out.append(part)
    return out or [question]


COMPOUND_TERMS = 12


def is_compound(question: str) -> bool:
    """A long question that combines several facts (often from several articles)."""
    return len(terms(question)) >= COMPOUND_TERMS
