"""Hybrid retrieval: dense (Chroma) and lexical (BM25) rankings fused by reciprocal rank, at two levels.

Chunks are fused into one passage ranking; articles are ranked too (a question is usually about a
few articles, and news questions name them by outlet and date), so the passages come grouped:
the best passages of the best article first, then of the next article, and so on. The outlets a
question names get their own lexical ranking and a boost; so do articles published on a date it names.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from rag.background import InBackground
from rag.index.chunks import ChunkReader
from rag.index.exact import ExactSearch
from rag.index.lexical import LexicalIndex
from rag.index.vectors import ChromaStore
from rag.question.clauses import clauses, is_compound
from rag.question.constraints import Constraints, constraints
from rag.question.dates import publication_day, published_on
from rag.question.outlets import named_sources
from rag.question.recency import recency
from rag.retrieval.fusion import doc_ranking, grouped, reciprocal_rank_fusion
from rag.types import Chunk, Passage

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrievalConfig:
    """How many candidates each side gives, and how the ranks are fused (weights measured in docs/quality.md)."""

    dense_candidates: int = 100
    lexical_candidates: int = 100
    source_candidates: int = 30  # lexical candidates of each named outlet, and of each clause
    article_candidates: int = 50  # articles ranked by BM25 over their whole text
    rrf_k: int = 60
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    source_weight: float = 1.0  # each named outlet's own lexical ranking
    clause_weight: float = 1.0  # each clause's own lexical ranking, for questions of several clauses
    article_weight: float = 1.0  # the whole-article BM25 ranking (overall, and per named outlet)
    date_boost: float = 0.01  # added to the score of an article published on a named date (±1 day)
    recency_boost: float = 0.02  # for a question asking for the latest: times how recent (1 today, halving weekly)
    chunks_per_doc: int = 2  # passages of an article placed before the next article's
    expand_docs: int = 10  # for a question of several parts: every chunk of this many top articles is a candidate


class HybridRetriever:
    """Dense + BM25 candidates → fused, hydrated passages grouped by article (stale dense hits dropped)."""

    def __init__(
        self,
        embedder: Embeddings,
        vectors: ChromaStore,
        lexical: LexicalIndex,
        chunks: ChunkReader,
        config: RetrievalConfig | None = None,
        exact: ExactSearch | None = None,
        today: Callable[[], date] | None = None,
    ) -> None:
        self.embedder = embedder
        self.vectors = vectors
        self.lexical = lexical
        self.chunks = chunks
        self.config = config or RetrievalConfig()
        self.exact = exact  # exact nearest neighbours while the index is small (None: the vector store's search)
        self.today = today  # what "yesterday" and "the latest" are relative to (None: only dates spelled out)

    def constraints(self, query: str) -> Constraints:
        """The indexed outlets and the dates the query names, and outlets it names that the index lacks."""
        return constraints(query, self.lexical.registry.sources(), self.today() if self.today else None)

    def retrieve(self, query: str, query_vector: Sequence[float] | None = None) -> list[Passage]:
        """Every candidate passage for `query`, best article first."""
        cfg = self.config
        # The query's embedding and its HNSW search (native code, without the GIL) run on a thread of their
        # own while BM25 ranks on this one: 3-7 ms less per answer here (docs/performance.md).
        dense_of = InBackground(self._dense, query, query_vector, name="newsbot-dense")
        wanted = self.constraints(query)
        lexical = self.lexical.search(query, cfg.lexical_candidates)
        more, more_weights = [], []
        for source in wanted.sources:  # each named outlet's own best chunks
            more.append([cid for cid, _ in self.lexical.search(query, cfg.source_candidates, [source])])
            more_weights.append(cfg.source_weight)
        parts = clauses(query)
        for part in parts if len(parts) > 1 else []:  # each clause of a long question, within the outlets it names
            named = list(named_sources(part, wanted.sources)) or None
            more.append([cid for cid, _ in self.lexical.search(part, cfg.source_candidates, named)])
            more_weights.append(cfg.clause_weight)
        articles = [  # BM25 over whole articles, overall and per outlet
            [d for d, _ in self.lexical.search_articles(query, cfg.article_candidates, sources)]
            for sources in [None, *([s] for s in wanted.sources)]
        ]
        self._prefetch(query, [[cid for cid, _ in lexical], *more], articles[0], until=dense_of.done)
        dense = dense_of.result()
        rankings = [[cid for cid, _ in dense], [cid for cid, _ in lexical], *more]
        weights = [cfg.dense_weight, cfg.lexical_weight, *more_weights]
        fused = reciprocal_rank_fusion(rankings, weights, cfg.rrf_k)
        chunks = self.chunks.chunks([cid for cid, _ in fused])
        dense_sim = dict(dense)
        dense_rank = {cid: r for r, (cid, _) in enumerate(dense, start=1)}
        lexical_rank = {cid: r for r, (cid, _) in enumerate(lexical, start=1)}
        passages = [
            Passage(chunks[cid], score, dense_sim.get(cid), lexical_rank.get(cid), dense_rank.get(cid))
            for cid, score in fused
            if cid in chunks  # a dense hit the registry does not know is a half-written ingest: skip it
        ]
        doc_of = {cid: c.doc_id for cid, c in chunks.items()}
        doc_rankings = [*(doc_ranking(r, doc_of) for r in rankings), *articles]
        doc_weights = [*weights, *[cfg.article_weight] * len(articles)]
        order = self._rank_docs(doc_rankings, doc_weights, chunks, wanted)
        if is_compound(query):
            passages += self._rest_of(order[: cfg.expand_docs], chunks)
        log.debug("retrieved %d passages from %d articles for %r (%s)", len(passages), len(order), query, wanted)
        return grouped(passages, order, cfg.chunks_per_doc)

    def _prefetch(self, query: str, rankings: list[list[str]], articles: list[str], until: Callable[[], bool]) -> None:
        """Read, while the embedding still runs, the chunks retrieval will most likely hydrate after it: the
        lexical candidates, and for a question of several parts every chunk of the best articles by BM25
        (the chunk reader keeps them for this index version; nothing here decides a ranking). Then, until
        `until()` says the embedding is done, parse those articles' stored stems, which a long question's
        answer reads (`PassageAnalysis.stem_ids` keeps them by chunk id)."""
        self.chunks.chunks(list(dict.fromkeys(cid for ranking in rankings for cid in ranking)))
        if is_compound(query):
            analysis = self.chunks.analysis
            for chunk in self.chunks.article_chunks(articles[: self.config.expand_docs]):
                if until():
                    break
                analysis.stem_ids(chunk)

    def _dense(self, query: str, query_vector: Sequence[float] | None) -> list[tuple[str, float]]:
        """The nearest chunks to the query's embedding."""
        vector = query_vector if query_vector is not None else self.embedder.embed_query(query)
        found = self.exact.search(vector, self.config.dense_candidates) if self.exact is not None else None
        return found if found is not None else self.vectors.search(vector, self.config.dense_candidates)

    def _rest_of(self, docs: Sequence[str], known: dict[str, Chunk]) -> list[Passage]:
        """The chunks of `docs` retrieval did not rank, as passages scored 0: a question of several parts
        may find each part's answer anywhere in the articles that answer it as a whole."""
        by_doc: dict[str, list[Chunk]] = {}
        for chunk in self.chunks.article_chunks(docs):
            by_doc.setdefault(chunk.doc_id, []).append(chunk)
        return [Passage(c, 0.0) for doc in docs for c in by_doc.get(doc, []) if c.chunk_id not in known]

    def _rank_docs(
        self, rankings: list[list[str]], weights: list[float], chunks: dict[str, Chunk], wanted: Constraints
    ) -> list[str]:
        """Articles by their fused ranks, those published on a date the question names lifted a little, and, for a
        question asking for the latest, the recent ones by how recent they are."""
        scores = dict(reciprocal_rank_fusion(rankings, weights, self.config.rrf_k))
        if wanted.dates:
            dated = {c.doc_id for c in chunks.values() if published_on(c, wanted.dates)}
            for doc in dated & scores.keys():
                scores[doc] += self.config.date_boost
        if wanted.latest and self.today is not None:
            today = self.today()
            published = {c.doc_id: c.published for c in chunks.values() if c.published}
            for doc in published.keys() & scores.keys():
                scores[doc] += self.config.recency_boost * recency(publication_day(published[doc]), today)
        return sorted(scores, key=lambda d: (-scores[d], d))
