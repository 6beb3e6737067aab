"""What the index computes of a chunk's text at ingest, its stems and its sentences, and how answers read it back.

Split and stemmed once, at ingest, and stored beside the chunk (`encode_sentences`, and the stems space-separated):
an answer's first read of a passage then costs a parse (~25 µs) instead of a split and a stemming (~80–100 µs;
a question of several parts reads ~6–14 passages it has not met before). A chunk whose index holds no record
(or one that does not parse) is split when it is read, to the same sentences. `PassageAnalysis` is the one place
an answer asks for them, keyed by chunk id; nothing of it rides on the `Chunk` values themselves.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from rag.question.sentences import SPLITTER_VERSION, sentence_spans
from rag.question.words import STEMMER_VERSION, stems
from rag.types import Chunk

if TYPE_CHECKING:
    import numpy as np

# What a record depends on: an index forgets the records written under another version, and writes them again.
VERSION = f"{SPLITTER_VERSION}.{STEMMER_VERSION}"

Sentence = tuple[int, int, str, frozenset[str]]  # start and end in the article, text, stems
Stored = tuple[str | None, str | None]  # a chunk's stems (space-separated) and sentence record, as stored
SENTENCES_KEPT = 8192  # chunks whose parsed sentences are kept (the passages of popular articles come back)


@lru_cache(maxsize=65536)
def sentence_stems(text: str) -> frozenset[str]:
    """Stems of one sentence, or of a title (cached: popular articles come back question after question)."""
    return frozenset(stems(text))


def split_and_stem(
    text: str, offset: int, stems_of: Callable[[str], frozenset[str]] = sentence_stems
) -> tuple[Sentence, ...]:
    """The sentences of the chunk `text` that starts at `offset` in its article, split and stemmed now."""
    return tuple((s + offset, e + offset, text[s:e], stems_of(text[s:e])) for s, e in sentence_spans(text))


def encode_stems(text: str) -> str:
    """The stored form of a chunk's stems: space-separated."""
    return " ".join(stems(text))


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


class StemIds:
    """Each distinct stem gets a small integer for the life of the registry, so that a passage's stems can be kept
    as an array of them: numpy arrays are invisible to Python's cycle collector, where the same stems as frozensets
    of strings cost every collection a visit per stem (40 of the 54 ms of a full collection at 100k chunks). It
    grows with the vocabulary of the passages read, and only with that."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._lock = threading.Lock()

    def get(self, term: str) -> int | None:
        """The id of a stem, or None when no passage read so far holds it."""
        return self._ids.get(term)

    def of(self, held: Sequence[str]) -> np.ndarray:
        """The ids of stems (new stems get the next ids), as an int32 array."""
        import numpy as np  # here: what imports this module to read a question need not load numpy

        known = self._ids
        try:
            return np.fromiter(map(known.__getitem__, held), dtype=np.int32, count=len(held))
        except KeyError:  # a stem no passage read so far held
            with self._lock:
                for t in held:
                    if t not in known:
                        known[t] = len(known)
            return np.fromiter(map(known.__getitem__, held), dtype=np.int32, count=len(held))


def _nothing_stored(chunk_id: str) -> Stored:
    return None, None


class PassageAnalysis:
    """A passage's stems, their ids and its sentences, by chunk id: read from what the index stored (`stored`),
    or computed from the text when it holds nothing. Parsed stem ids are kept for up to `max_chunks` chunks (a chunk
    id names one text, so a kept value never goes stale), parsed sentences for the `SENTENCES_KEPT` latest."""

    def __init__(self, stored: Callable[[str], Stored] = _nothing_stored, max_chunks: int = 200_000) -> None:
        self.stored = stored
        self.max_chunks = max_chunks
        self.ids = StemIds()
        self._stem_ids: dict[str, np.ndarray] = {}
        self._sentences: OrderedDict[str, tuple[Sentence, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def stems(self, chunk: Chunk) -> set[str]:
        """The stemmed content words of the passage."""
        held = self.stored(chunk.chunk_id)[0]
        return set(held.split()) if held is not None else stems(chunk.text)

    def stem_ids(self, chunk: Chunk) -> np.ndarray:
        """The passage's stems as `StemIds` (parsed once per chunk, then kept)."""
        got = self._stem_ids.get(chunk.chunk_id)
        if got is None:
            held = self.stored(chunk.chunk_id)[0]
            got = self.ids.of(held.split() if held is not None else list(stems(chunk.text)))
            if len(self._stem_ids) >= self.max_chunks:
                self._stem_ids.clear()
            self._stem_ids[chunk.chunk_id] = got
        return got

    def stem_id(self, term: str) -> int | None:
        """The id of a stem, or None when no passage read so far holds it."""
        return self.ids.get(term)

    def sentences(self, chunk: Chunk) -> tuple[Sentence, ...]:
        """(start, end, text, stems) of each sentence of the passage, offsets into its article."""
        with self._lock:
            got = self._sentences.get(chunk.chunk_id)
            if got is not None:
                self._sentences.move_to_end(chunk.chunk_id)
                return got
        got = self._read_or_split(chunk)
        with self._lock:
            self._sentences[chunk.chunk_id] = got
            while len(self._sentences) > SENTENCES_KEPT:
                self._sentences.popitem(last=False)
        return got

    def _read_or_split(self, chunk: Chunk) -> tuple[Sentence, ...]:
        record = self.stored(chunk.chunk_id)[1]
        if record is not None:
            try:
                return decode_sentences(record, chunk.text, chunk.start)
            except ValueError:  # not a record (a damaged row): split the text, as for a chunk without one
                pass
        return split_and_stem(chunk.text, chunk.start)
