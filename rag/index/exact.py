"""Exact nearest neighbours over the vectors the registry keeps, while the index is small enough to afford it.

Chroma's HNSW search is approximate, and its graph is rebuilt a little differently by each process that opens
the index: the same question could get other nearest chunks in another process, and so another answer. Below
`EXACT_LIMIT` chunks every vector is compared instead (one matrix-vector product), which is exact, the same in
every process, and as fast: on a shared 2-core machine ~1.3 ms at 16,600 chunks, where HNSW takes ~1.6–2.5 ms;
at 40,000 chunks 5.4 ms, where HNSW pays. Larger indexes use HNSW with a wide search (`vectors.EF_SEARCH`).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.config import EXACT_LIMIT
from rag.index.registry import Registry

if TYPE_CHECKING:
    from collections.abc import Sequence

log = logging.getLogger(__name__)
_one_blas_thread = threading.Lock()
_blas_limited = False


def _single_threaded_blas() -> None:
    """One BLAS thread for the process: a matrix-vector product this small is memory-bound, and BLAS's second
    thread only fights the question's embedding for the other core (1.3 ms on one thread, ~11 ms on two, measured
    while the embedding ran)."""
    global _blas_limited
    with _one_blas_thread:
        if not _blas_limited:
            from threadpoolctl import threadpool_limits

            threadpool_limits(1, user_api="blas")
            _blas_limited = True


class ExactSearch:
    """Cosine nearest neighbours over every chunk's vector (unit vectors: a dot product), kept per index version."""

    def __init__(self, registry: Registry, limit: int = EXACT_LIMIT) -> None:
        self.registry = registry
        self.limit = limit
        self._lock = threading.Lock()

    def search(self, vector: Sequence[float], k: int) -> list[tuple[str, float]] | None:
        """The `k` nearest chunk ids with cosine similarity, best first (equal ones by id); None when the index
        holds more than `limit` chunks, or chunks without a kept vector (then the vector store searches)."""
        held = self._matrix()
        if held is None:
            return None
        ids, matrix = held
        if not ids:
            return []
        sims = matrix @ np.asarray(vector, dtype=np.float32)
        top = np.arange(len(ids)) if len(ids) <= k else np.argpartition(-sims, k - 1)[:k]
        top = top[np.lexsort((top, -sims[top]))]  # rows are in id order: equal similarities go by id
        return [(ids[i], float(sims[i])) for i in top.tolist()]

    def warm(self) -> None:
        """Read the vectors now (a serving process), not on the first question."""
        self._matrix()

    def _matrix(self) -> tuple[list[str], Any] | None:
        registry = self.registry
        if registry.chunk_count() > self.limit:
            return None
        kept = registry.of_version()
        if "exact" not in kept:
            with self._lock:
                if "exact" not in kept:
                    kept["exact"] = self._read()
        return kept["exact"]

    def _read(self) -> tuple[list[str], Any] | None:
        got = self.registry.vectors()
        if got is None:
            log.info("some chunks have no vector kept in the registry: the vector store searches")
            return None
        ids, blob, n = got
        _single_threaded_blas()
        matrix = np.frombuffer(blob, dtype=np.float32).reshape(n, -1) if n else np.zeros((0, 0), np.float32)
        return ids, matrix
