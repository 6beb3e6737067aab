"""Pipeline: ingest(...) / ask(question, conversation) — the one door the front ends use."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol, cast

from rag.answer import REFUSAL, ExtractiveAnswerer, idf_from_counts
from rag.background import InBackground
from rag.cache import AnswerCache
from rag.chunking import ChunkingConfig, chunk_article
from rag.conversation import Conversation, resolve_followup
from rag.errors import ArticleUnreadable, BadQuestion
from rag.filters import unknown_outlets
from rag.lexical import LexicalIndex
from rag.retrieval import HybridRetriever
from rag.store import ChromaStore
from rag.types import Answer, Article, ArticleInfo, Chunk, IngestReport, Passage

log = logging.getLogger(__name__)
MAX_QUESTION_CHARS = 2000
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


class Encoder(Protocol):
    """What ingest needs of an embedder: a batch of texts → unit vectors."""

    def encode(self, texts: list[str]) -> Sequence[Sequence[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


class Answerer(Protocol):
    """Turns a question and ranked passages into an Answer."""

    def answer(self, question: str, passages: Sequence[Passage]) -> Answer: ...


class StreamingAnswerer(Protocol):
    """An answerer (with `streams = True`) that reports its checked answer so far while it writes."""

    def answer(
        self, question: str, passages: Sequence[Passage], on_partial: Callable[[str], None] | None = None
    ) -> Answer: ...


Condenser = Callable[[str, list[str]], str]  # (follow-up, earlier standalone questions) → standalone question


@dataclass(frozen=True)
class IngestConfig:
    """How articles become vectors."""

    chunking: ChunkingConfig = field(default_factory=ChunkingConfig)
    batch_chunks: int = 256  # chunks gathered before one encode call (the model sorts by length inside)
    embed_title: bool = True  # prefix each chunk's embedded text with its article's title


def _settle(warming: list[InBackground[None]]) -> None:
    """Wait for the vector index's warm-up, if one runs; its failure is the next write's to report."""
    while warming:
        warming.pop().settle()


def clean_question(question: str) -> str:
    """The question with control characters removed, or BadQuestion saying what to do."""
    text = _CONTROL.sub(" ", question or "")
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        raise BadQuestion("the question is empty — type a question about the articles")
    if len(text) > MAX_QUESTION_CHARS:
        raise BadQuestion(
            f"the question is {len(text):,} characters long; the limit is {MAX_QUESTION_CHARS:,} — shorten it"
        )
    return text


def embedding_text(chunk: Chunk, with_title: bool) -> str:
    """What the model embeds for a chunk: the title gives a passage its article's subject."""
    return f"{chunk.title}\n{chunk.text}" if with_title and chunk.title else chunk.text


class Pipeline:
    """Articles in, cited answers out."""

    def __init__(
        self,
        *,
        embedder: Encoder,
        store: ChromaStore,
        lexical: LexicalIndex,
        retriever: HybridRetriever,
        answerer: Answerer | None = None,
        ingest_config: IngestConfig | None = None,
        cache: AnswerCache | None = None,
        condenser: Condenser = resolve_followup,
    ) -> None:
        self.embedder = embedder
        self.store = store
        self.lexical = lexical
        self.retriever = retriever
        self.answerer = answerer or ExtractiveAnswerer(idf=self.idf)
        self.ingest_config = ingest_config or IngestConfig()
        self.cache = cache  # repeated questions at the same index version are answered from it
        self.condenser = condenser

    # --- ingest ---------------------------------------------------------------------------
    def ingest(
        self, items: Iterable[Article | ArticleUnreadable], progress: Callable[[int, int], None] | None = None
    ) -> IngestReport:
        """Index articles; unchanged ones are skipped, changed ones replace their old chunks.

        `progress(articles_done, chunks_done)` is called as work completes. Each article is
        committed on its own, so an interrupted ingest loses nothing and a rerun completes it.
        """
        report = IngestReport()
        started = time.perf_counter()
        pending: dict[str, tuple[Article, list[Chunk], bool]] = {}
        done = [0]
        # Chroma loads a collection's vector index on a process's first use of it: once there is something to
        # write, a query does it while the batch is chunked and embedded, and the writes are then cheaper
        # (docs/performance.md). An empty index has nothing to load; an ingest of unchanged articles, no writes.
        warming: list[InBackground[None]] = []
        warm = not self.is_empty()

        def flush() -> None:
            self._index(list(pending.values()), report, before_writes=lambda: _settle(warming))
            done[0] += len(pending)
            pending.clear()
            if progress:
                progress(done[0], report.chunks)

        try:
            for item in items:
                if isinstance(item, ArticleUnreadable):
                    report.failed.append(str(item))
                    log.warning("%s", item)
                    continue
                known = self.lexical.article_hash(item.doc_id)
                if known == item.content_hash and item.doc_id not in pending:
                    report.unchanged.append(item.doc_id)
                    done[0] += 1
                    if progress:
                        progress(done[0], report.chunks)
                    continue
                if warm:
                    warming.append(InBackground(self.store.warm, name="newsbot-warm"))
                    warm = False
                pending[item.doc_id] = (item, chunk_article(item, self.ingest_config.chunking), known is not None)
                if sum(len(c) for _, c, _ in pending.values()) >= self.ingest_config.batch_chunks:
                    flush()
            if pending:
                flush()
        finally:
            _settle(warming)  # no Chroma call of ours outlives the ingest
        if report.added or report.replaced:
            self.lexical.refresh()  # BM25 of the new version, saved: answering processes load it, not build it
        else:
            self.lexical.fill_stored()  # an index from an older newsbot gets its chunks' stems and sentences
        report.seconds = time.perf_counter() - started
        log.info(
            "ingest: %d added, %d replaced, %d unchanged, %d failed, %d chunks in %.1f s",
            len(report.added),
            len(report.replaced),
            len(report.unchanged),
            len(report.failed),
            report.chunks,
            report.seconds,
        )
        return report

    def _index(
        self,
        batch: list[tuple[Article, list[Chunk], bool]],
        report: IngestReport,
        before_writes: Callable[[], None] = lambda: None,
    ) -> None:
        texts = [embedding_text(c, self.ingest_config.embed_title) for _, chunks, _ in batch for c in chunks]
        vectors = self.embedder.encode(texts)
        before_writes()
        i = 0
        for article, chunks, existed in batch:
            mine = vectors[i : i + len(chunks)]
            i += len(chunks)
            self.store.upsert(chunks, mine)  # 1. vectors (idempotent: ids are deterministic)
            self.lexical.replace_article(article, chunks)  # 2. commit point
            self.store.delete_doc(article.doc_id, keep=[c.chunk_id for c in chunks])  # 3. old version's vectors
            (report.replaced if existed else report.added).append(article.doc_id)
            report.chunks += len(chunks)

    def remove(self, doc_id: str) -> bool:
        """Delete an article and its chunks; False when the index did not hold it."""
        return self.remove_all([doc_id])[0]

    def remove_all(self, doc_ids: Sequence[str]) -> list[bool]:
        """Delete these articles and their chunks, then save the BM25 index of the state that leaves, as an ingest
        does (no question waits for its build); for each id, whether the index held it (a repeated id: no)."""
        removed = [self._remove_one(doc_id) for doc_id in doc_ids]
        if any(removed):
            self.lexical.refresh()
        return removed

    def _remove_one(self, doc_id: str) -> bool:
        found = self.lexical.remove(doc_id)
        gone = self.store.delete_doc(doc_id)
        return found or gone > 0

    def articles(self) -> list[ArticleInfo]:
        """The indexed articles."""
        return self.lexical.articles()

    def is_empty(self) -> bool:
        """True when nothing is indexed."""
        return self.lexical.chunk_count() == 0

    def version(self) -> int:
        """The index version: it changes on every ingest and removal."""
        return self.lexical.version()

    # --- ask ------------------------------------------------------------------------------
    def idf(self, words: Sequence[str]) -> dict[str, float]:
        """IDF of question words over the indexed chunks."""
        df, total = self.lexical.document_frequency(words)
        return idf_from_counts(df, total)

    def unheld_outlets(self, question: str) -> tuple[str, ...]:
        """Outlets the question cites as its sources ("a Reuters report") that no indexed article comes from.

        None when some indexed article has no source: it might be from that outlet.
        """
        sources = self.lexical.sources()
        if not sources or not all(s.strip() for s in sources):
            return ()
        return unknown_outlets(question, sources)

    def ask(
        self, question: str, conversation: Conversation | None = None, on_partial: Callable[[str], None] | None = None
    ) -> Answer:
        """Answer a question, resolving it against the conversation's earlier turns.

        `on_partial(text)`, when given and the answerer streams, receives the checked answer so far.
        """
        started = time.perf_counter()
        question = clean_question(question)
        standalone = self.condenser(question, conversation.standalones()) if conversation else question
        version = self.version() if self.cache is not None else 0
        cached = self.cache.get(standalone, version) if self.cache is not None else None
        if cached is not None:
            answer = cached
        elif self.is_empty():
            answer = Answer(question=question, text=REFUSAL, refused=True)
        else:
            passages = self.retriever.retrieve(standalone)
            if self.unheld_outlets(standalone):  # it asks what an outlet said that no indexed article comes from
                answer = Answer(question=question, text=REFUSAL, refused=True, passages=tuple(passages))
            elif on_partial is not None and getattr(self.answerer, "streams", False):
                answer = cast(StreamingAnswerer, self.answerer).answer(standalone, passages, on_partial=on_partial)
            else:
                answer = self.answerer.answer(standalone, passages)
            if self.cache is not None and not answer.stand_in:
                self.cache.put(standalone, version, answer)
        answer = replace(
            answer,
            question=question,
            standalone_question=standalone,
            latency_ms=(time.perf_counter() - started) * 1000,
        )
        if conversation is not None:
            conversation.add(question, standalone, answer)
        log.info(
            "answered %r (standalone %r) in %.0f ms%s, refused=%s, cited=%s, top=%s",
            question,
            standalone,
            answer.latency_ms,
            " from the cache" if cached is not None else "",
            answer.refused,
            [c.doc_id + f"@{c.start}" for c in answer.citations],
            [(p.chunk.chunk_id, round(p.score, 4)) for p in answer.passages[:5]],
        )
        return answer
