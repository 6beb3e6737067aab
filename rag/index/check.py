"""Is the index whole? The registry, the vector store and the BM25 file compared, and repaired from the registry.

The registry is the truth (the commit point of every ingest): a chunk it holds must have a vector, a vector must
belong to a chunk it holds, and a sample of the vectors must be what the model makes of their chunks today. A
repair embeds again only what is missing or damaged, deletes orphans, and rebuilds the BM25 file; a vector store
that cannot even be opened (damaged files) is moved aside and rebuilt from the registry.
"""

from __future__ import annotations

import logging
import random
import shutil
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from rag.errors import IndexUnavailable
from rag.types import CheckReport, Chunk

if TYPE_CHECKING:
    from rag.index.chunks import ChunkReader
    from rag.index.lexical import LexicalIndex
    from rag.index.registry import Registry
    from rag.index.vectors import ChromaStore

log = logging.getLogger(__name__)
SAME_VECTOR = 0.99  # cosine between a stored vector and a fresh embedding of its chunk: the same model says ~1.0
Embed = Callable[[list[Chunk]], np.ndarray]  # chunks → the vectors ingest would store for them


def inspect(
    registry: Registry,
    chunks: ChunkReader,
    store: ChromaStore,
    lexical: LexicalIndex,
    embed: Embed,
    sample: int = 50,
) -> CheckReport:
    """Compare what the registry holds with the vectors and the BM25 file (nothing is changed)."""
    indexed = registry.all_chunk_ids()
    report = CheckReport(
        articles=len(registry.articles()),
        chunks=len(indexed),
        stale=len(registry.stale_vectors()),
        bm25_current=lexical.saved_is_current(),
    )
    try:
        held = store.ids()
        report.vectors = len(held)
        known = set(indexed)
        report.missing = [c for c in indexed if c not in held]
        report.orphans = sorted(held - known)
        both = [c for c in indexed if c in held]
        picked = sorted(random.Random(0).sample(both, min(sample, len(both))))
        report.sampled = len(picked)
        report.damaged = _damaged(picked, chunks, store, embed)
        report.unreachable = _unreachable(picked, store)
    except IndexUnavailable as exc:  # files it cannot read: the whole store is rebuilt by a repair
        report.vector_error = str(exc)
    return report


def _unreachable(chunk_ids: Sequence[str], store: ChromaStore, k: int = 100) -> list[str]:
    """The chunks among `chunk_ids` that a search with their own vector does not find: held by the store but
    missing from its search index (what two processes writing one embedded index at once leave behind)."""
    stored = store.vectors(chunk_ids)
    return [cid for cid in chunk_ids if cid not in {hit for hit, _ in store.search(stored[cid], k)}]


def _damaged(chunk_ids: Sequence[str], chunks: ChunkReader, store: ChromaStore, embed: Embed) -> list[str]:
    """The chunks among `chunk_ids` whose stored vector is not what the model makes of them now."""
    if not chunk_ids:
        return []
    found = chunks.chunks(chunk_ids)
    listed = [found[c] for c in chunk_ids if c in found]
    stored = store.vectors([c.chunk_id for c in listed])
    fresh = embed(listed)
    out = []
    for chunk, vector in zip(listed, fresh, strict=True):
        held = stored.get(chunk.chunk_id)
        if held is None or float(np.dot(np.asarray(held, dtype=np.float64), vector)) < SAME_VECTOR:
            out.append(chunk.chunk_id)
    return out


def repair(
    report: CheckReport,
    registry: Registry,
    chunks: ChunkReader,
    store: ChromaStore,
    lexical: LexicalIndex,
    embed: Embed,
    batch: int = 256,
) -> CheckReport:
    """Make the index whole from the registry (the writer lock held by the caller); the report of the index after."""
    if report.vector_error is not None:
        _set_aside(store)
        report.missing = registry.all_chunk_ids()
    if report.unreachable:  # out of the search index: take them out, then put them back
        store.delete(report.unreachable)
    todo = list(dict.fromkeys([*report.missing, *report.damaged, *report.unreachable]))
    found = chunks.chunks(todo)
    listed = [found[c] for c in todo if c in found]
    for i in range(0, len(listed), batch):
        part = listed[i : i + batch]
        store.upsert(part, embed(part))
    if report.orphans:
        store.delete(report.orphans)
    stale = registry.stale_vectors()
    if stale:
        store.delete(stale)
        registry.forget_stale(stale)
    lexical.refresh(rebuild=not report.bm25_current)
    log.info("repaired: %d vectors embedded again, %d orphans deleted", len(listed), len(report.orphans))
    after = inspect(registry, chunks, store, lexical, embed, sample=report.sampled)
    after.repaired = True
    return after


def _set_aside(store: ChromaStore) -> None:
    """Move an embedded vector index that cannot be read out of the way, to start a new one (kept, not deleted)."""
    if store.path is None:
        raise IndexUnavailable(f"{store.where} cannot be read — repair it on the server, then run check again")
    aside = store.path.with_name(f"{store.path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    store.reopen()
    if store.path.exists():
        shutil.move(str(store.path), str(aside))
        log.warning("moved the unreadable vector index to %s", aside)
