"""A chunk's sentences and their stems as the index stores them.

Split and stemmed once, at ingest: an answer's first read of a passage then costs a parse (~25 µs) instead of a
split and a stemming (~80–100 µs; a question of several parts reads ~6–14 passages it has not met before,
docs/performance.md). A chunk whose index holds no record (or one that does not parse) is split when it is
read, to the same sentences.
"""

from __future__ import annotations

from collections.abc import Callable

from rag.sentences import SPLITTER_VERSION, sentence_spans
from rag.terms import STEMMER_VERSION, stems

# What a record depends on: an index forgets the records written under another version, and writes them again.
VERSION = f"{SPLITTER_VERSION}.{STEMMER_VERSION}"

Sentence = tuple[int, int, str, frozenset[str]]  # start and end in the article, text, stems


def split_and_stem(
    text: str, offset: int, stems_of: Callable[[str], frozenset[str]] = lambda t: frozenset(stems(t))
) -> tuple[Sentence, ...]:
    """The sentences of the chunk `text` that starts at `offset` in its article, split and stemmed now
    (`stems_of` a sentence's text: a caller may pass a cached one)."""
    return tuple((s + offset, e + offset, text[s:e], stems_of(text[s:e])) for s, e in sentence_spans(text))


def encode_sentences(text: str) -> str:
    """The record of a chunk's text: a line per sentence, "start end stem stem …" (offsets into `text`)."""
    return "\n".join(" ".join([str(s), str(e), *sorted(held)]) for s, e, _, held in split_and_stem(text, 0))


def decode_sentences(record: str, text: str, offset: int) -> tuple[Sentence, ...]:
    """The sentences of the chunk `text` that starts at `offset` in its article, read from its record
    (ValueError when it is not one)."""
    out = []
    for line in record.split("\n") if record else ():
        start, end, *held = line.split(" ")
        s, e = int(start), int(end)
        out.append((s + offset, e + offset, text[s:e], frozenset(held)))
    return tuple(out)
