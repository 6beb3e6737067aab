"""Rank fusion: several ranked id lists made one, and passages grouped by article."""

from __future__ import annotations

from collections.abc import Sequence

from rag.types import Passage


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[str]], weights: Sequence[float], k: int
) -> list[tuple[str, float]]:
    """Fuse ranked id lists: score(id) = Σ weight / (k + rank), rank from 1; best first."""
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def doc_ranking(chunk_ids: Sequence[str], doc_of: dict[str, str]) -> list[str]:
    """Distinct doc ids in the order their first chunk appears."""
    return list(dict.fromkeys(doc_of[c] for c in chunk_ids if c in doc_of))


def grouped(passages: Sequence[Passage], doc_order: Sequence[str], per_doc: int) -> list[Passage]:
    """Passages regrouped: the first `per_doc` of each article in article order, then the rest as they were."""
    by_doc: dict[str, list[Passage]] = {}
    for p in passages:
        by_doc.setdefault(p.chunk.doc_id, []).append(p)
    head = [p for d in doc_order for p in by_doc.get(d, [])[:per_doc]]
    taken = {p.chunk.chunk_id for p in head}
    return head + [p for p in passages if p.chunk.chunk_id not in taken]
