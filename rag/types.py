"""Typed values passed between the pipeline stages.

Article → Chunk → Passage (with score) → Answer (with citations).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from rag.terms import stem_ids

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Article:
    """One news article: metadata and its text, paragraphs separated by a blank line.

    `text` is the article as quoted: every offset in a Chunk or Citation points into it.
    The title is kept apart; a dateline line, when present, is the first paragraph.
    """

    doc_id: str
    title: str
    text: str
    source: str = ""
    published: str | None = None
    url: str | None = None

    @property
    def paragraphs(self) -> list[str]:
        """The paragraphs of `text`, in order."""
        return self.text.split("\n\n")

    @property
    def content_hash(self) -> str:
        """A digest of everything that ends up in the index; it changes when the article does."""
        h = hashlib.sha256()
        for part in (self.title, self.source, self.published or "", self.url or "", self.text):
            h.update(part.encode("utf-8"))
            h.update(b"\x00")
        return h.hexdigest()[:16]


@dataclass(frozen=True)
class Chunk:
    """A span of an article's text: `text == article.text[start:end]`."""

    chunk_id: str
    doc_id: str
    text: str
    start: int
    end: int
    paragraphs: tuple[int, ...]  # 1-based paragraph numbers the span touches
    title: str = ""
    source: str = ""
    published: str | None = None
    # The stemmed content words of `text` (rag.terms.stems) as the index stores them, space-separated:
    # the answerer's first read of a passage then costs a split, not a stemming (docs/performance.md).
    stored_stems: str | None = field(default=None, compare=False, repr=False)
    # Its sentences and their stems as the index stores them (rag.sentence_record), or None when it holds none.
    stored_sentences: str | None = field(default=None, compare=False, repr=False)

    @cached_property
    def stem_ids(self) -> np.ndarray | None:
        """The stored stems as `rag.terms.stem_ids` (read when first asked for, then kept with the chunk),
        or None when the index had none."""
        return stem_ids(self.stored_stems.split()) if self.stored_stems is not None else None


@dataclass(frozen=True, init=False)
class Passage:
    """A retrieved chunk with its fused score and, where known, its dense similarity."""

    chunk: Chunk
    score: float
    dense: float | None = None  # cosine similarity to the question, 1.0 = identical
    lexical_rank: int | None = None
    dense_rank: int | None = None

    def __init__(
        self,
        chunk: Chunk,
        score: float,
        dense: float | None = None,
        lexical_rank: int | None = None,
        dense_rank: int | None = None,
    ) -> None:
        # Written into the instance's dict: a frozen dataclass's own __init__ sets each field through
        # object.__setattr__, ~3x as slow, and retrieval makes ~450 passages a question. Still frozen after.
        fields = self.__dict__
        fields["chunk"] = chunk
        fields["score"] = score
        fields["dense"] = dense
        fields["lexical_rank"] = lexical_rank
        fields["dense_rank"] = dense_rank


@dataclass(frozen=True)
class Citation:
    """A numbered source of an answer: the passage quoted exactly, and where it stands."""

    n: int
    doc_id: str
    title: str
    published: str | None
    source: str
    text: str
    start: int
    end: int
    paragraphs: tuple[int, ...]


@dataclass(frozen=True)
class Answer:
    """What the pipeline says to a question: text with [n] markers, or the refusal."""

    question: str
    text: str
    refused: bool
    citations: tuple[Citation, ...] = ()
    passages: tuple[Passage, ...] = ()  # everything retrieval ranked, best first
    standalone_question: str = ""
    latency_ms: float = 0.0
    stand_in: bool = False  # the extractive answer given because the chat model failed: not worth caching

    @property
    def retrieved_doc_ids(self) -> list[str]:
        """Distinct doc ids of the retrieved passages, best first."""
        seen: dict[str, None] = {}
        for p in self.passages:
            seen.setdefault(p.chunk.doc_id, None)
        return list(seen)


@dataclass(frozen=True)
class ArticleInfo:
    """An article as the index records it."""

    doc_id: str
    title: str
    source: str
    published: str | None
    chunks: int
    content_hash: str


@dataclass
class IngestReport:
    """What one ingest run did."""

    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # one-line messages
    chunks: int = 0
    seconds: float = 0.0
