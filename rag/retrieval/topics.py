"""Does a newly indexed article match a followed topic? Dense and lexical evidence over the article's own chunks.

A topic ("EU carbon border tax") is scored against one article at a time: the dense side is the best cosine
similarity between the topic's embedding and the article's indexed chunk vectors (the vectors retrieval
searches), the lexical side the share of the topic's words (weighted by their BM25 idf) the article contains.
The two are mixed (`TopicConfig.dense_weight`) and compared with a threshold calibrated on a labelled set of
topic/article pairs that includes hard negatives sharing a word with the topic (`python -m benchmarks.topics`,
docs/telegram.md). The sentence of the article closest to the topic is kept, to be quoted in the alert.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rag.types import Chunk

_WORD = re.compile(r"[^\W_]+(?:['’.-][^\W_]+)*", re.UNICODE)
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+[\"”’)]*|$)")
_STOP = frozenset(
    "a an the and or of in on at to for from by with about into over after before as is are was were be been "
    "news new latest what who how why when where which that this these those its it their his her our your my "
    "any all more most some than then there here not no vs via".split()
)
MIN_SENTENCE = 25  # characters: shorter fragments are not quoted


@dataclass(frozen=True)
class TopicConfig:
    """How dense and lexical evidence are mixed, and where a match starts (calibrated: docs/telegram.md)."""

    dense_weight: float = 0.5
    threshold: float = 0.64


@dataclass(frozen=True)
class TopicMatch:
    """An article's score for a topic and its sentence closest to the topic (offsets into the article text)."""

    doc_id: str
    score: float
    dense: float
    lexical: float
    sentence: str
    start: int
    end: int
    chunk: Chunk | None


def topic_words(text: str) -> list[str]:
    """The topic's content words, lower-cased, stop words out, each once."""
    words = [w.lower() for w in _WORD.findall(text)]
    return list(dict.fromkeys(w for w in words if w not in _STOP and len(w) > 1))


def _stem(word: str) -> str:
    return word[:6] if len(word) > 6 else word.rstrip("s") if len(word) > 3 else word


def lexical_coverage(words: Sequence[str], text: str, idf: Callable[[Sequence[str]], dict[str, float]]) -> float:
    """The idf-weighted share of `words` found (by a crude stem) in `text`: 0 none, 1 all."""
    if not words:
        return 0.0
    present = {_stem(w.lower()) for w in _WORD.findall(text)}
    weights = idf(words)
    total = sum(max(weights.get(w, 1.0), 0.1) for w in words)
    found = sum(max(weights.get(w, 1.0), 0.1) for w in words if _stem(w) in present)
    return found / total if total else 0.0


def sentences(chunk: Chunk) -> list[tuple[int, int]]:
    """[start, end) offsets, into the article text, of the chunk's sentences."""
    spans = []
    for m in _SENTENCE.finditer(chunk.text):
        piece = m.group(0)
        lead = len(piece) - len(piece.lstrip())
        s, e = m.start() + lead, m.start() + len(piece.rstrip())
        if e - s >= MIN_SENTENCE:
            spans.append((chunk.start + s, chunk.start + e))
    return spans or [(chunk.start, chunk.end)]


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return float(sum(x * y for x, y in zip(a, b, strict=False)))


def _unit(v: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in v)) or 1.0
    return [float(x) / norm for x in v]


class TopicMatcher:
    """Scores topics against articles already in the index."""

    def __init__(
        self,
        *,
        embed_query: Callable[[str], Sequence[float]],
        encode: Callable[[list[str]], Any],
        article_chunks: Callable[[Sequence[str]], list[Chunk]],
        chunk_vectors: Callable[[Sequence[str]], dict[str, list[float]]],
        idf: Callable[[Sequence[str]], dict[str, float]],
        config: TopicConfig | None = None,
    ) -> None:
        self.embed_query = embed_query
        self.encode = encode
        self.article_chunks = article_chunks
        self.chunk_vectors = chunk_vectors
        self.idf = idf
        self.config = config or TopicConfig()

    def _vectors(self, chunks: list[Chunk]) -> list[list[float]]:
        known = self.chunk_vectors([c.chunk_id for c in chunks])
        missing = [c for c in chunks if c.chunk_id not in known]
        if missing:  # not in the vector store yet (or a store that cannot say): embed them here
            for c, v in zip(missing, self.encode([c.text for c in missing]), strict=True):
                known[c.chunk_id] = list(v)
        return [_unit(known[c.chunk_id]) for c in chunks]

    def score(self, topic: str, doc_ids: Sequence[str], *, quote: bool = True) -> list[TopicMatch]:
        """Every article of `doc_ids` that has chunks, scored for `topic`, best first (whatever the threshold)."""
        q = _unit(self.embed_query(topic))
        words = topic_words(topic)
        results = []
        for doc_id in dict.fromkeys(doc_ids):
            chunks = self.article_chunks([doc_id])
            if not chunks:
                continue
            sims = [_dot(q, v) for v in self._vectors(chunks)]
            dense = max(sims)
            text = " ".join([chunks[0].title, *(c.text for c in chunks)])
            lexical = lexical_coverage(words, text, self.idf)
            w = self.config.dense_weight
            best = chunks[max(range(len(chunks)), key=sims.__getitem__)]
            sentence, start, end = self._best_sentence(q, best) if quote else ("", best.start, best.end)
            results.append(
                TopicMatch(doc_id, w * dense + (1 - w) * lexical, dense, lexical, sentence, start, end, best)
            )
        return sorted(results, key=lambda m: -m.score)

    def matches(self, topic: str, doc_ids: Sequence[str]) -> list[TopicMatch]:
        """The articles of `doc_ids` about `topic` (score at or above the threshold), best first."""
        return [m for m in self.score(topic, doc_ids) if m.score >= self.config.threshold]

    def _best_sentence(self, q: Sequence[float], chunk: Chunk) -> tuple[str, int, int]:
        spans = sentences(chunk)
        texts = [chunk.text[s - chunk.start : e - chunk.start] for s, e in spans]
        vectors = self.encode(texts) if len(texts) > 1 else [q]
        best = max(range(len(texts)), key=lambda i: _dot(q, _unit(list(vectors[i]))))
        return texts[best], spans[best][0], spans[best][1]
