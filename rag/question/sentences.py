"""Sentence boundaries with character offsets, tuned for news prose and quotations."""

from __future__ import annotations

import re

# Bump when `sentence_spans` changes what it returns: the index stores each chunk's sentences (rag/index/analysis.py).
SPLITTER_VERSION = "1"

# A boundary: end punctuation, optional closing quotes/brackets, whitespace, then something
# that can open a sentence (capital, digit, opening quote or bracket).
_BOUNDARY = re.compile(r"""[.!?…]+["'”’)\]]*(?=\s+["'“‘(\[]?[A-Z0-9À-ÖØ-ÞЀ-Я])""")
_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st mt gen col lt sgt capt gov sen rep rev pres vs etc inc ltd co corp
    jan feb mar apr jun jul aug sep sept oct nov dec no nos fig approx est dept univ u.s u.k e.g i.e
    a.m p.m""".split()
)


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the '.' at `dot` ends an abbreviation or an initial rather than a sentence."""
    if text[dot] != ".":
        return False
    word_start = dot
    while word_start > 0 and not text[word_start - 1].isspace() and text[word_start - 1] not in "(“\"'‘":
        word_start -= 1
    word = text[word_start:dot].lower()
    if len(word) == 1 and word.isalpha():  # an initial: "J. K. Rowling"
        return True
    return word in _ABBREVIATIONS


def sentence_spans(text: str, offset: int = 0) -> list[tuple[int, int]]:
    """Return [start, end) spans of the sentences of `text`, shifted by `offset`.

    Spans are trimmed of surrounding whitespace; paragraph breaks always end a sentence.
    """
    spans: list[tuple[int, int]] = []
    for para in re.finditer(r"[^\n]+", text):
        start = para.start()
        for m in _BOUNDARY.finditer(text, para.start(), para.end()):
            if _is_abbreviation(text, m.start()):
                continue
            spans.append((start, m.end()))
            start = m.end()
        spans.append((start, para.end()))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s + offset, e + offset))
    return out


def is_heading(text: str) -> bool:
    """A subhead: short, and not ended like a sentence (a paragraph that opens a chunk, a sentence worth less)."""
    bare = text.strip("‘’“”\"' ")
    return len(text) <= 120 and bool(bare) and bare[-1] not in ".!?:;,"
