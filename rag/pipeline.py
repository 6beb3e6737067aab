"""Pipeline: the one door the front ends use — open(config) · ingest(...) · remove(...) · ask(...) · warm() · stats().

An article goes in through `ingest`: chunked (`rag.ingest.chunking`), embedded, its vectors written to the vector
store, then its row, chunks and FTS5 rows committed to the registry in one transaction (the commit point). A
question comes out through `ask`: made standalone against its conversation (`rag.question.followups`), retrieved
(`rag.retrieval`), answered (`rag.answer`), cached per index version.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol, cast

from rag.answer import REFUSAL
from rag.answer.cache import AnswerCache
from rag.answer.extractive import ExtractiveAnswerer
from rag.background import InBackground
from rag.config import EXACT_LIMIT, PipelineConfig
from rag.errors import ArticleUnreadable, BadQuestion, ConfigError, IndexUnavailable
from rag.index.chunks import ChunkReader
from rag.index.exact import ExactSearch
from rag.index.lexical import LexicalIndex
from rag.index.lock import WriterLock
from rag.index.registry import Registry
from rag.ingest.chunking import ChunkingConfig, chunk_article
from rag.question.followups import Conversation, resolve_followup
from rag.question.outlets import unknown_outlets
from rag.retrieval.hybrid import HybridRetriever, RetrievalConfig
from rag.retrieval.topics import TopicMatch, TopicMatcher
from rag.types import (
    Answer,
    Article,
    ArticleInfo,
    CheckReport,
    Chunk,
    IndexStats,
    IngestNote,
    IngestProgress,
    IngestReport,
    Passage,
)

if TYPE_CHECKING:
    from rag.answer.reader import Reader
    from rag.retrieval.baseline import PlainDense

log = logging.getLogger(__name__)
MAX_QUESTION_CHARS = 2000
LATEST_CANDIDATES = 30  # articles retrieval proposes for /latest TOPIC before the topic threshold filters them
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


class Embedder(Protocol):
    """Texts → unit vectors: a batch at ingest, one question at a time."""

    def encode(self, texts: list[str]) -> Any: ...  # unit vectors, one row a text (a numpy array or lists)

    def embed_query(self, text: str) -> list[float]: ...


class VectorStore(Protocol):
    """Where chunk vectors live, and the nearest ones are found."""

    def upsert(self, chunks: Sequence[Chunk], vectors: Any) -> None: ...

    def delete(self, chunk_ids: Sequence[str]) -> None: ...

    def missing(self, chunk_ids: Sequence[str]) -> list[str]: ...

    def vectors(self, chunk_ids: Sequence[str]) -> dict[str, list[float]]: ...

    def search(self, vector: Sequence[float], k: int) -> list[tuple[str, float]]: ...

    def warm(self) -> None: ...


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


class _Run:
    """What one ingest has seen so far: doc ids and texts taken, and the counts its progress reports carry."""

    def __init__(self, progress: Callable[[IngestProgress], None] | None) -> None:
        self.progress = progress
        self.hashes: dict[str, str] = {}  # doc id → content hash of the article this run took under it
        self.admitted: set[str] = set()  # doc ids this run has looked at
        self.texts: dict[str, str] = {}  # text hash → doc id of an article this run indexes
        self.read = self.chunks_read = self.chunks_embedded = 0

    def tell(self, event: str, doc_id: str = "", new_chunks: int = 0) -> None:
        """Report one step to the progress callback."""
        self.read += event == "read"
        if self.progress is not None:
            self.progress(IngestProgress(event, self.read, self.chunks_read, self.chunks_embedded, doc_id, new_chunks))


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
    """Articles in, cited answers out. `open(config)` builds one from its settings; the collaborators can be
    passed in directly (a test passes a fake embedder)."""

    def __init__(
        self,
        *,
        embedder: Embedder,
        store: VectorStore,
        registry: Registry,
        chunk_cache: int | None = None,
        exact_limit: int = EXACT_LIMIT,
        today: Callable[[], date] = date.today,
        answerer: Answerer | None = None,
        condenser: Condenser = resolve_followup,
        retrieval: RetrievalConfig | None = None,
        ingest_config: IngestConfig | None = None,
        cache: AnswerCache | None = None,
    ) -> None:
        self.embedder = embedder
        self.store = store
        self.registry = registry
        self.lexical = LexicalIndex(registry)
        self.chunks = ChunkReader(registry) if chunk_cache is None else ChunkReader(registry, chunk_cache)
        self.exact = ExactSearch(registry, exact_limit)
        self.retriever = HybridRetriever(
            embedder,  # type: ignore[arg-type]
            store,  # type: ignore[arg-type]
            self.lexical,
            self.chunks,
            retrieval,
            self.exact,
            today,
        )
        self.answerer = answerer or self.reading_answerer(on=False)
        self.condenser = condenser
        self.ingest_config = ingest_config or IngestConfig()
        self.cache = cache  # repeated questions at the same index version are answered from it
        self.writer = WriterLock(registry.path.parent)
        self._vectors_at: int | None = None  # the index version the vector store was read at
        self._reopening = threading.Lock()
        self.reader: Reader | None = None  # the trained answer reader, when the answerer uses it
        self._topics: TopicMatcher | None = None

    @classmethod
    def open(cls, config: PipelineConfig, *, embedder: Embedder | None = None, create: bool = True) -> Pipeline:
        """The pipeline over the index `config` names; nothing heavy loads until it is needed (the model on the
        first embedding, Chroma on the first vector read or write). With `config.chat`, answers are generated by
        the chat model and checked against their passages, the extractive answer standing in when they fail.
        Without `create`, an index that is not there is an error (a mistyped data dir is not made)."""
        if not create and not config.registry_path.is_file():
            raise IndexUnavailable(
                f"no index at {config.data_dir} — check --data-dir (or NEWSBOT_DATA_DIR), or make one with "
                "`newsbot ingest PATH`"
            )
        if embedder is None:
            from rag.index.embedder import SentenceTransformerEmbeddings

            embedder = SentenceTransformerEmbeddings(config.model, batch_size=config.batch_size)
        from rag.index.vectors import ChromaStore

        pipeline = cls(
            embedder=embedder,
            store=ChromaStore(path=config.chroma_path, url=config.chroma_url),
            registry=Registry(config.registry_path),
            chunk_cache=config.chunk_cache,
            exact_limit=config.exact_limit,
            today=(lambda: now) if (now := config.now) is not None else date.today,
            cache=AnswerCache(config.answer_cache_size) if config.answer_cache_size > 0 else None,
        )
        if config.reader:
            pipeline.answerer = pipeline.reading_answerer()
        if config.chat is not None:
            from rag.answer.llm import generative

            pipeline.answerer, pipeline.condenser = generative(config.chat, embedder.encode, pipeline.answerer)
        return pipeline

    def reading_answerer(self, on: bool = True) -> ExtractiveAnswerer:
        """The extractive answerer over this index, with the trained answer reader (`on`) or without it."""
        reader = None
        if on:
            from rag.answer.reader import Reader

            self.reader = Reader()
            reader = self.reader.score
        return ExtractiveAnswerer(idf=self.lexical.idf, analysis=self.chunks.analysis, reader=reader)

    # --- ingest ---------------------------------------------------------------------------
    def ingest(
        self,
        items: Iterable[Article | ArticleUnreadable | IngestNote],
        progress: Callable[[IngestProgress], None] | None = None,
        *,
        wait: bool = True,
    ) -> IngestReport:
        """Index articles; unchanged ones are skipped, changed ones replace their old chunks.

        An article whose text the index already holds under another doc id is not indexed twice (a note names
        that id), and a second article of one run with a doc id the run already gave other text is reported
        and skipped, so no article silently replaces another. `progress`, when given, receives an
        `IngestProgress` after each item read and after each batch of chunks embedded. Each article is
        committed on its own, so an interrupted ingest loses nothing and a rerun completes it.
        Holds the data dir's writer lock throughout (IndexBusy at once when another process writes and not `wait`).
        """
        with self.writer.hold("ingest", wait=wait):
            self._catch_up()
            report = self._ingest(items, progress)
            self._mine()
        return report

    def _ingest(
        self,
        items: Iterable[Article | ArticleUnreadable | IngestNote],
        progress: Callable[[IngestProgress], None] | None,
    ) -> IngestReport:
        report = IngestReport()
        started = time.perf_counter()
        pending: dict[str, tuple[Article, list[Chunk], bool]] = {}
        run = _Run(progress)
        # Chroma loads a collection's vector index on a process's first use of it: once there is something to
        # write, a query does it while the batch is chunked and embedded, and the writes are then cheaper
        # (docs/performance.md). An empty index has nothing to load; an ingest of unchanged articles, no writes.
        warming: list[InBackground[None]] = []
        warm = not self.is_empty()

        def flush() -> None:
            self._index(list(pending.values()), report, run, before_writes=lambda: _settle(warming))
            pending.clear()

        try:
            for item in items:
                if isinstance(item, IngestNote):
                    report.notes.append(item.message)
                    log.info("%s", item.message)
                    continue
                if isinstance(item, ArticleUnreadable):
                    report.failed.append(str(item))
                    log.info("not indexed: %s", item)  # the front end reports it: once
                    run.tell("read")
                    continue
                admitted = self._admit(item, report, run)
                if admitted is None:
                    run.tell("read")
                    continue
                if warm:
                    warming.append(InBackground(self.store.warm, name="newsbot-warm"))
                    warm = False
                chunks, existed = admitted
                pending[item.doc_id] = (item, chunks, existed)
                run.chunks_read += len(chunks)
                run.tell("read", item.doc_id, len(chunks))
                if sum(len(c) for _, c, _ in pending.values()) >= self.ingest_config.batch_chunks:
                    flush()
            if pending:
                flush()
        finally:
            _settle(warming)  # no Chroma call of ours outlives the ingest
        restored = self._restore_missing(report.unchanged)
        if report.added or report.replaced or not self.lexical.saved_is_current(read=False):
            self.lexical.refresh()  # BM25 of the new version, saved: answering processes load it, not build it
        self.registry.fill_analysis()  # chunks another stemmer or sentence splitter indexed get this one's
        if self.registry.chunk_count() <= self.exact.limit:
            self.registry.fill_vectors(self.store.vectors)  # an index from before the registry kept vectors
        report.seconds = time.perf_counter() - started
        log.info(
            "ingest: %d added, %d replaced, %d unchanged (%d vectors restored), %d failed, %d chunks in %.1f s",
            len(report.added),
            len(report.replaced),
            len(report.unchanged),
            restored,
            len(report.failed),
            report.chunks,
            report.seconds,
        )
        return report

    def _restore_missing(self, doc_ids: Sequence[str]) -> int:
        """Embed again the chunks of these (unchanged) articles whose vectors the vector store has lost; how many."""
        chunk_ids = [cid for doc_id in dict.fromkeys(doc_ids) for cid in self.registry.chunk_ids(doc_id)]
        lost = self.store.missing(chunk_ids)
        if lost:
            log.warning("%d chunks of unchanged articles had lost their vectors: embedding them again", len(lost))
            self._embed_again(lost)
        return len(lost)

    def _embed_again(self, chunk_ids: Sequence[str]) -> None:
        """Vectors for indexed chunks, from their text as the registry holds it."""
        found = self.chunks.chunks(chunk_ids)
        chunks = [found[c] for c in chunk_ids if c in found]
        step = self.ingest_config.batch_chunks
        for i in range(0, len(chunks), step):
            part = chunks[i : i + step]
            texts = [embedding_text(c, self.ingest_config.embed_title) for c in part]
            self.store.upsert(part, self.embedder.encode(texts))

    def _catch_up(self) -> None:
        """Before writing (the writer lock held): read the vector index afresh when another process has written
        since this one opened it, and take out the vectors a replacement or removal left to delete (a process
        killed between its two steps)."""
        self._fresh_vectors()
        stale = self.registry.stale_vectors()
        if stale:
            self.store.delete(stale)
            self.registry.forget_stale(stale)

    def _mine(self) -> None:
        """This process has written (the writer lock held): the vector index it holds is the current one."""
        self._vectors_at = self.registry.version()

    def _fresh_vectors(self) -> None:
        """Reopen the vector store when the index moved on since this process opened it (another process wrote):
        an embedded Chroma does not see another process's vectors until it is opened again."""
        version = self.registry.version()
        if self._vectors_at == version:
            return
        with self._reopening:
            if self._vectors_at is not None and self._vectors_at != version:
                reopen = getattr(self.store, "reopen", None)
                if reopen is not None:
                    log.info(
                        "the index moved on (version %d → %d): reading the vectors afresh", self._vectors_at, version
                    )
                    reopen()
            self._vectors_at = version

    def _admit(self, article: Article, report: IngestReport, run: _Run) -> tuple[list[Chunk], bool] | None:
        """The chunks of an article to index and whether it replaces an indexed version; None when it is unchanged,
        already indexed under another id, or a second article of this run with its doc id (the report says so)."""
        taken = run.hashes.setdefault(article.doc_id, article.content_hash)
        if taken != article.content_hash or article.doc_id in run.admitted:
            if taken != article.content_hash:
                report.failed.append(
                    f"{article.doc_id}: two articles of this ingest have this doc id; the second, “{article.title}”, "
                    "was skipped — give one of them another id or file name"
                )
            else:  # the same article twice (a file named twice, say): once is enough
                report.unchanged.append(article.doc_id)
            return None
        run.admitted.add(article.doc_id)
        known = self.registry.article_hash(article.doc_id)
        if known == article.content_hash:
            report.unchanged.append(article.doc_id)
            return None
        other = run.texts.get(article.text_hash) or self.registry.doc_with_text(article.text_hash, article.doc_id)
        if other is not None:
            report.unchanged.append(other)
            report.notes.append(f"{article.doc_id}: the same text is already indexed as {other!r} — not indexed again")
            return None
        run.texts[article.text_hash] = article.doc_id
        return chunk_article(article, self.ingest_config.chunking), known is not None

    def _index(
        self,
        batch: list[tuple[Article, list[Chunk], bool]],
        report: IngestReport,
        run: _Run,
        before_writes: Callable[[], None] = lambda: None,
    ) -> None:
        texts = [embedding_text(c, self.ingest_config.embed_title) for _, chunks, _ in batch for c in chunks]
        vectors: list[Any] = []
        step = self.ingest_config.batch_chunks  # one article can make thousands of chunks: progress between steps
        for i in range(0, len(texts), step):
            vectors.extend(self.embedder.encode(texts[i : i + step]))
            run.chunks_embedded += len(texts[i : i + step])
            run.tell("embedded")
        before_writes()
        i = 0
        for article, chunks, existed in batch:
            mine = vectors[i : i + len(chunks)]
            i += len(chunks)
            self.store.upsert(chunks, mine)  # 1. vectors (idempotent: ids are deterministic)
            self.registry.replace_article(article, chunks, mine)  # 2. commit point; the old version's vectors listed
            self._drop_stale()  # 3. the old version's vectors
            (report.replaced if existed else report.added).append(article.doc_id)
            report.chunks += len(chunks)

    def _drop_stale(self) -> None:
        stale = self.registry.stale_vectors()
        if stale:
            self.store.delete(stale)
            self.registry.forget_stale(stale)

    def remove(self, doc_id: str) -> bool:
        """Delete an article and its chunks; False when the index did not hold it."""
        return self.remove_all([doc_id])[0]

    def remove_all(
        self, doc_ids: Sequence[str], *, wait: bool = True, removed: Callable[[str], None] | None = None
    ) -> list[bool]:
        """Delete these articles and their chunks, then save the BM25 index of the state that leaves, as an ingest
        does (no question waits for its build); for each id, whether the index held it (a repeated id: no).
        `removed(doc_id)` is told of each as it goes (a removal cut short has said what it did). Holds the writer
        lock (IndexBusy at once when another process writes and not `wait`)."""
        with self.writer.hold("remove", wait=wait):
            self._catch_up()
            found = []
            for doc_id in doc_ids:
                found.append(self.registry.remove(doc_id))  # the commit point; the vectors listed as stale
                self._drop_stale()
                if found[-1] and removed is not None:
                    removed(doc_id)
            if any(found):
                self.lexical.refresh()
            self._mine()
        return found

    def was_removed(self, doc_id: str) -> bool:
        """True when `doc_id` was indexed once and has been removed since."""
        return self.registry.was_removed(doc_id)

    def articles(self) -> list[ArticleInfo]:
        """The indexed articles."""
        return self.registry.articles()

    def is_empty(self) -> bool:
        """True when nothing is indexed."""
        return self.registry.chunk_count() == 0

    def version(self) -> int:
        """The index version: it changes on every ingest and removal."""
        return self.registry.version()

    # --- ask ------------------------------------------------------------------------------
    def stats(self) -> IndexStats:
        """Articles, chunks, the range of publication dates, and the version of the index."""
        articles = self.articles()
        dates = sorted(a.published[:10] for a in articles if a.published)
        return IndexStats(
            articles=len(articles),
            chunks=sum(a.chunks for a in articles),
            first_date=dates[0] if dates else None,
            last_date=dates[-1] if dates else None,
            version=self.version(),
        )

    def warm(self) -> int:
        """Load now what answering needs, so that no question waits for it: the embedding model, the BM25 index,
        Chroma's vector index (on a thread of its own meanwhile: a first query loads it, 0.1 s at 609 articles
        and 0.4–1.4 s at 100k chunks) and, when the index holds no more than the chunk cache keeps, every chunk.
        Returns the chunks read; an empty index loads nothing (the model loads with the first ingest). A warm-up
        that fails is left to the first question, which meets the same error and reports it."""
        if self.is_empty():
            return 0
        vectors = InBackground(self.store.warm, name="newsbot-warm")
        self.embedder.embed_query("warm-up")
        self.lexical.refresh()
        self.exact.warm()
        read = self.chunks.preload()
        if self.reader is not None:
            self.reader.load()
        vectors.settle()
        return read

    def check(self, *, repair: bool = False, sample: int = 50, wait: bool = True) -> CheckReport:
        """Compare the registry with the vectors (ids, counts, `sample` vectors against a fresh embedding) and the
        BM25 file; with `repair`, make them whole from the registry (under the writer lock)."""
        from rag.index import check
        from rag.index.vectors import ChromaStore

        if not isinstance(self.store, ChromaStore):
            raise ConfigError("newsbot check reads a Chroma collection; this pipeline's vectors are elsewhere")

        def embed(chunks: list[Chunk]) -> Any:
            return self.embedder.encode([embedding_text(c, self.ingest_config.embed_title) for c in chunks])

        parts = (self.registry, self.chunks, self.store, self.lexical, embed)
        if not repair:
            self._fresh_vectors()
            return check.inspect(*parts, sample=sample)
        with self.writer.hold("repair", wait=wait):
            self._fresh_vectors()
            report = check.inspect(*parts, sample=sample)
            if not report.sound:
                report = check.repair(report, *parts)
                self._mine()
        return report

    def plain_baseline(self) -> PlainDense:
        """The plain dense pipeline over this index's vectors (LangChain's Chroma), for `newsbot eval`."""
        from rag.index.vectors import ChromaStore
        from rag.retrieval.baseline import PlainDense

        if not isinstance(self.store, ChromaStore):
            raise ConfigError("the plain baseline reads a Chroma collection; this pipeline's vectors are elsewhere")
        return PlainDense(self.store.client, self.store.name, self.embedder)

    # --- topics and the newest articles ----------------------------------------------------
    @property
    def topics(self) -> TopicMatcher:
        """Scores followed topics against indexed articles (`rag.retrieval.topics`)."""
        if self._topics is None:
            self._topics = TopicMatcher(
                embed_query=self.embedder.embed_query,
                encode=self.embedder.encode,
                article_chunks=self.chunks.article_chunks,
                chunk_vectors=self.store.vectors,
                idf=self.lexical.idf,
            )
        return self._topics

    def topic_matches(self, topic: str, doc_ids: Sequence[str]) -> list[TopicMatch]:
        """The articles of `doc_ids` about `topic`, best first, each with its sentence closest to the topic."""
        self._fresh_vectors()
        return self.topics.matches(topic, doc_ids)

    def article(self, doc_id: str) -> Article | None:
        """An indexed article (title, outlet, date, URL and text), or None."""
        return self.registry.article(doc_id)

    def latest(self, topic: str = "", limit: int = 5, offset: int = 0) -> tuple[list[Article], int]:
        """The newest articles (about `topic` when given: retrieval, then newest first among the relevant ones),
        `limit` from `offset`, and how many there are in all."""
        infos = self.articles()  # newest first
        if topic.strip() and infos:
            self._fresh_vectors()
            retrieved = list(dict.fromkeys(p.chunk.doc_id for p in self.retriever.retrieve(topic)))[:LATEST_CANDIDATES]
            threshold = self.topics.config.threshold
            scored = {m.doc_id: m.score for m in self.topics.score(topic, retrieved, quote=False)}
            infos = [a for a in infos if scored.get(a.doc_id, -1.0) >= threshold]
        page = [a for a in (self.registry.article(i.doc_id) for i in infos[offset : offset + limit]) if a]
        return page, len(infos)

    def close(self) -> None:
        """Release the index's files."""
        self.lexical.close()
        self.registry.close()

    def unheld_outlets(self, question: str) -> tuple[str, ...]:
        """Outlets the question cites as its sources ("a Reuters report") that no indexed article comes from.

        None when some indexed article has no source: it might be from that outlet.
        """
        sources = self.registry.sources()
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
            self._fresh_vectors()  # another process may have added articles since the last question
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
