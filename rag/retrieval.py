"""Hybrid retrieval: dense (Chroma) and lexical (BM25) rankings fused by reciprocal rank."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.embeddings import Embeddings

from rag.lexical import LexicalIndex
from rag.store import ChromaStore
from rag.types import Passage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrievalConfig:
    """How many candidates each side gives, and how the ranks are fused."""

    dense_candidates: int = 40
    lexical_candidates: int = 40
    rrf_k: int = 60
    dense_weight: float = 1.0
    lexical_weight: float = 1.0


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[str]], weights: Sequence[float], k: int
) -> list[tuple[str, float]]:
    """Fuse ranked id lists: score(id) = Σ weight / (k + rank), rank from 1; best first."""
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


class HybridRetriever:
    """Dense + BM25 candidates → fused, hydrated passages (stale dense hits dropped)."""

    def __init__(
        self, embedder: Embeddings, store: ChromaStore, lexical: LexicalIndex, config: RetrievalConfig | None = None
    ) -> None:
        self.embedder = embedder
        self.store = store
        self.lexical = lexical
        self.config = config or RetrievalConfig()

    def retrieve(self, query: str, query_vector: Sequence[float] | None = None) -> list[Passage]:
        """Every candidate passage for `query`, best first."""
        cfg = self.config
        vector = query_vector if query_vector is not None else self.embedder.embed_query(query)
        dense = self.store.search(vector, cfg.dense_candidates)
        lexical = self.lexical.search(query, cfg.lexical_candidates)
        fused = reciprocal_rank_fusion(
            [[cid for cid, _ in dense], [cid for cid, _ in lexical]], [cfg.dense_weight, cfg.lexical_weight], cfg.rrf_k
        )
        chunks = self.lexical.chunks([cid for cid, _ in fused])
        dense_sim = dict(dense)
        dense_rank = {cid: r for r, (cid, _) in enumerate(dense, start=1)}
        lexical_rank = {cid: r for r, (cid, _) in enumerate(lexical, start=1)}
        passages = [
            Passage(chunks[cid], score, dense_sim.get(cid), lexical_rank.get(cid), dense_rank.get(cid))
            for cid, score in fused
            if cid in chunks  # a dense hit the registry does not know is a half-written ingest: skip it
        ]
        log.debug("retrieved %d passages for %r", len(passages), query)
        return passages
