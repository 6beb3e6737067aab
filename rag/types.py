"""Typed values passed between the pipeline stages.

Article → Chunk → Passage (with score) → Answer (with citations).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

# One or more blank lines (lines holding nothing but spaces, tabs or '\r') between two paragraphs.
_PARAGRAPH_BREAK = re.compile(r"\n(?:[^\S\n]*\n)+")


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """[start, end) of each paragraph of `text`: runs of non-blank lines, trimmed of surrounding whitespace.

    Any run of blank lines separates two paragraphs ("\n\n", "\n\n\n", "\r\n\r\n"); a single line break does not.
    """
    spans, start = [], 0
    for brk in [*_PARAGRAPH_BREAK.finditer(text), None]:
        end = brk.start() if brk else len(text)
        piece = text[start:end]
        first, last = start + len(piece) - len(piece.lstrip()), start + len(piece.rstrip())
        if last > first:
            spans.append((first, last))
        start = brk.end() if brk else end
    return spans


def text_digest(text: str) -> str:
    """The digest `Article.text_hash` gives a text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Article:
    """One news article: metadata and its text, paragraphs separated by blank lines.

    `text` is the article as quoted: every offset in a Chunk or Citation points into it. For plain text
    (a .txt file, a JSONL record) it is a verbatim slice of what was supplied, blank-line runs and all
    (`rag.ingest.loaders` says where the slice starts); for Markdown and HTML it is the prose of the page,
    markup removed. The title is kept apart; a dateline line, when present, is the first paragraph.
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
        return [self.text[start:end] for start, end in paragraph_spans(self.text)]

    @property
    def text_hash(self) -> str:
        """A digest of the text alone: the same article under two names has one."""
        return text_digest(self.text)

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
    url: str | None = None  # the article's, where it came from the web


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its fused score and, where known, its dense similarity and its ranks."""

    chunk: Chunk
    score: float
    dense: float | None = None  # cosine similarity to the question, 1.0 = identical
    lexical_rank: int | None = None
    dense_rank: int | None = None


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
    url: str | None = None  # the article's, where it came from the web


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


@dataclass(frozen=True)
class IngestNote:
    """Something an ingest tells its user that is no failure, e.g. a doc id changed so two files keep theirs."""

    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class IngestProgress:
    """Where an ingest stands: `Pipeline.ingest` reports one after each item it reads ("read") and after each
    batch of chunks it embeds ("embedded")."""

    event: str  # "read" or "embedded"
    articles: int  # items read so far: articles to index, unchanged ones, duplicates and failures
    chunks_read: int  # chunks to embed, of the articles read so far
    chunks_embedded: int  # of those, the chunks embedded so far
    doc_id: str = ""  # "read": the article read, when it is to be indexed
    new_chunks: int = 0  # "read": the chunks it makes


@dataclass
class IngestReport:
    """What one ingest run did."""

    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)  # also articles whose text is indexed under another id
    replaced: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # one-line messages
    notes: list[str] = field(default_factory=list)  # one-line messages that are no failure
    chunks: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class IndexStats:
    """What the index holds: articles, chunks, the range of publication dates, and its version."""

    articles: int
    chunks: int
    first_date: str | None
    last_date: str | None
    version: int


@dataclass
class CheckReport:
    """What `Pipeline.check` found: the registry, the vectors and the BM25 index compared (and what it repaired)."""

    articles: int = 0
    chunks: int = 0
    vectors: int | None = None  # vectors the vector store holds; None when it cannot be read
    missing: list[str] = field(default_factory=list)  # indexed chunks without a vector
    orphans: list[str] = field(default_factory=list)  # vectors of no indexed chunk
    damaged: list[str] = field(default_factory=list)  # sampled vectors that differ from a fresh embedding
    unreachable: list[str] = field(default_factory=list)  # sampled vectors a search with themselves does not find
    sampled: int = 0
    stale: int = 0  # vectors a replacement or removal left to delete
    bm25_current: bool = True  # the saved BM25 file describes the current index
    vector_error: str | None = None  # why the vector store could not be read
    repaired: bool = False

    @property
    def sound(self) -> bool:
        """Nothing to repair."""
        return not (
            self.missing
            or self.orphans
            or self.damaged
            or self.unreachable
            or self.stale
            or self.vector_error
            or not self.bm25_current
        )
