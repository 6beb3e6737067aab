"""Chroma, embedded or server: upsert / delete / dense search of chunk vectors.

Chroma returns cosine *distances*; they become similarities (1 = identical) here, once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rag.errors import IndexUnavailable
from rag.types import Chunk

log = logging.getLogger(__name__)
COLLECTION = "newsbot"


def chroma_client(*, path: Path | None = None, url: str | None = None) -> Any:
    """One Chroma client: a server at `url` when given, else a persistent index under `path`."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    settings = ChromaSettings(anonymized_telemetry=False)
    if url:
        parts = urlsplit(url)
        try:
            return chromadb.HttpClient(
                host=parts.hostname or "127.0.0.1",
                port=parts.port or (443 if parts.scheme == "https" else 8000),
                ssl=parts.scheme == "https",
                settings=settings,
            )
        except Exception as exc:  # chromadb raises plain ValueError/ConnectionError here
            raise IndexUnavailable(
                f"cannot reach the Chroma server at {url} ({exc}) — start it (`chroma run`) or unset NEWSBOT_CHROMA_URL"
            ) from None
    assert path is not None
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=settings)


def chunk_metadata(chunk: Chunk) -> dict[str, Any]:
    """What Chroma keeps beside a vector (scalars only)."""
    return {
        "doc_id": chunk.doc_id,
        "start": chunk.start,
        "end": chunk.end,
        "paragraphs": ",".join(map(str, chunk.paragraphs)),
        "title": chunk.title,
        "source": chunk.source,
        "published": chunk.published or "",
    }


class ChromaStore:
    """The dense side of the index: one cosine-space collection of chunk vectors, in a Chroma server at `url` or
    embedded under `path`. An embedded index is opened on first use, so commands that never touch a vector
    (`list`) do not import chromadb; a server is reached at once, so a command fails before it starts work."""

    def __init__(
        self, *, path: Path | None = None, url: str | None = None, client: Any = None, collection: str = COLLECTION
    ) -> None:
        self.path = path
        self.url = url
        self.name = collection
        self._client = client
        self._collection: Any = None
        self._max_batch = 5000
        self._lock = threading.Lock()
        if url and client is None:
            self._client = chroma_client(url=url)

    @property
    def collection(self) -> Any:
        """The Chroma collection, opened (and the client made) on first use."""
        if self._collection is None:
            with self._lock:
                if self._collection is None:
                    self._collection = self._open()
        return self._collection

    @property
    def client(self) -> Any:
        """The Chroma client (made on first use)."""
        _ = self.collection
        return self._client

    def _open(self) -> Any:
        client = self._client if self._client is not None else chroma_client(path=self.path, url=self.url)
        try:
            # embedding_function=None: we always pass our own vectors, never Chroma's default model.
            collection = client.get_or_create_collection(
                self.name, embedding_function=None, metadata={"hnsw:space": "cosine"}
            )
        except Exception as exc:
            raise IndexUnavailable(
                f"cannot open the Chroma collection ({exc}) — check the data dir or server"
            ) from None
        self._max_batch = int(getattr(client, "get_max_batch_size", lambda: 5000)())
        self._client = client
        return collection

    def count(self) -> int:
        """Number of vectors held."""
        return int(self.collection.count())

    def upsert(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None:
        """Add or overwrite chunks (ids are deterministic, so re-adding is harmless)."""
        collection = self.collection
        for i in range(0, len(chunks), self._max_batch):
            part = chunks[i : i + self._max_batch]
            collection.upsert(
                ids=[c.chunk_id for c in part],
                embeddings=[list(map(float, v)) for v in vectors[i : i + self._max_batch]],
                documents=[c.text for c in part],
                metadatas=[chunk_metadata(c) for c in part],
            )

    def delete_doc(self, doc_id: str, keep: Sequence[str] = ()) -> int:
        """Delete a document's chunks, except the ids in `keep`; returns how many went."""
        ids = self.collection.get(where={"doc_id": doc_id}, include=[])["ids"]
        stale = [i for i in ids if i not in set(keep)]
        if stale:
            self.collection.delete(ids=stale)
        return len(stale)

    def warm(self) -> None:
        """Load the collection's vector index now, with a one-vector query (for a vector it holds) whose answer is
        dropped: a process's first write to a collection that holds vectors costs far more without it, and an
        ingest does this while the model embeds (docs/performance.md)."""
        held = self.collection.get(limit=1, include=["embeddings"])["embeddings"]
        if held is not None and len(held):
            self.collection.query(query_embeddings=[list(map(float, held[0]))], n_results=1, include=[])

    def search(self, vector: Sequence[float], k: int) -> list[tuple[str, float]]:
        """The `k` nearest chunk ids with cosine similarity, best first."""
        # No count() first: Chroma ≥ 1.5 returns what it holds when that is fewer than k (even none),
        # and the count was a second round trip costing as much as the query itself.
        result = self.collection.query(query_embeddings=[list(map(float, vector))], n_results=k, include=["distances"])
        ids, distances = (
            result["ids"][0] if result["ids"] else [],
            result["distances"][0] if result["distances"] else [],
        )
        return [(cid, 1.0 - float(d)) for cid, d in zip(ids, distances, strict=True)]
