"""Chroma, embedded or server: upsert / delete / dense search of chunk vectors.

Chroma returns cosine *distances*; they become similarities (1 = identical) here, once. Every Chroma failure
becomes an `IndexUnavailable` naming the fix: an unreachable server, a damaged or unwritable embedded index.

An embedded Chroma holds its vector index in the memory of the process that opened it: it does not see vectors
another process adds later, and a process that writes from a stale copy loses the other's. So the pipeline
`reopen`s the store when the registry says another process has written since it opened (and writers take the
data dir's writer lock, `rag.index.lock`). A reopen waits for the searches in flight and holds new ones back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from rag.errors import IndexUnavailable
from rag.types import Chunk

log = logging.getLogger(__name__)
COLLECTION = "newsbot"
# HNSW's search breadth. Chroma's default (100) gives the same query different nearest 100 from one process to
# the next (each process adds what the saved graph lacks on opening, and the graphs differ): measured on 100
# MultiHop-RAG questions at 16,600 chunks, 4–7 of 100 lists differed between processes. At 400 they were
# identical in every process, for ~1 ms a search; below 400 vectors the search visits them all (exact).
EF_SEARCH = 400
# Nearest neighbours asked for beyond the k wanted: the k-th place is decided among them by exact similarity (and
# id), not by where the graph search happened to stop (with 0, the 100th of 100 still differed now and then).
MARGIN = 20
_PAGE = 5000  # ids read per call when listing the collection
T = TypeVar("T")


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
    try:
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=settings)
    except Exception as exc:  # a file where the folder should be, permissions, a damaged chroma.sqlite3
        raise IndexUnavailable(
            f"cannot open the vector index at {path} ({_first_line(exc)}) — check the data dir, or run "
            "`newsbot check --repair`"
        ) from None


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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


class _Gate:
    """Shared use, exclusive reopening: searches and writes run side by side, a reopen waits for them all."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._using = 0
        self._closing = False

    @contextmanager
    def use(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._closing)
            self._using += 1
        try:
            yield
        finally:
            with self._cond:
                self._using -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._closing)
            self._closing = True
            self._cond.wait_for(lambda: self._using == 0)
        try:
            yield
        finally:
            with self._cond:
                self._closing = False
                self._cond.notify_all()


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
        self._gate = _Gate()
        if url and client is None:
            self._client = chroma_client(url=url)

    @property
    def where(self) -> str:
        """The vector index in words: "the Chroma server at URL" or "the vector index at PATH"."""
        return f"the Chroma server at {self.url}" if self.url else f"the vector index at {self.path}"

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
            raise self._failure("open", exc) from None
        if (collection.configuration or {}).get("hnsw", {}).get("ef_search") != EF_SEARCH:
            try:
                collection.modify(configuration={"hnsw": {"ef_search": EF_SEARCH}})  # once per index (a write)
            except Exception as exc:  # a read-only index: it still answers, with Chroma's breadth
                log.warning("cannot set the vector search breadth of %s (%s)", self.where, _first_line(exc))
        self._max_batch = int(getattr(client, "get_max_batch_size", lambda: 5000)())
        self._client = client
        return collection

    def _failure(self, doing: str, exc: BaseException) -> IndexUnavailable:
        """The one line a Chroma failure becomes."""
        detail = _first_line(exc)
        if self.url:
            return IndexUnavailable(
                f"cannot {doing} {self.where} ({detail}) — check that it runs (`chroma run`); newsbot reconnects "
                "by itself"
            )
        if doing == "write to":
            return IndexUnavailable(
                f"cannot write to {self.where} ({detail}) — check free space and the data dir's permissions"
            )
        return IndexUnavailable(f"cannot {doing} {self.where} ({detail}) — run `newsbot check --repair`")

    def _run(self, doing: str, call: Callable[[Any], T]) -> T:
        """`call(collection)`, with the collection's failures as one line."""
        with self._gate.use():
            collection = self.collection
            try:
                return call(collection)
            except IndexUnavailable:
                raise
            except Exception as exc:  # chromadb's own errors, httpx's for a server, OSError for a full disk
                raise self._failure(doing, exc) from None

    def reopen(self) -> None:
        """Drop what this process holds of the vector index, to read it afresh (another process wrote to it): the
        next call opens it again. A server's client is kept (the server holds the one index)."""
        with self._gate.exclusive():
            if self.url is None and self._client is not None:
                from chromadb.api.shared_system_client import SharedSystemClient

                SharedSystemClient.clear_system_cache()  # the next client reads the files afresh
                self._client = None
            self._collection = None

    def count(self) -> int:
        """Number of vectors held."""
        return int(self._run("read", lambda c: c.count()))

    def upsert(self, chunks: Sequence[Chunk], vectors: Any) -> None:
        """Add or overwrite chunks with their vectors, one row each (ids are deterministic: re-adding is harmless)."""

        def write(collection: Any) -> None:
            for i in range(0, len(chunks), self._max_batch):
                part = chunks[i : i + self._max_batch]
                collection.upsert(
                    ids=[c.chunk_id for c in part],
                    embeddings=[list(map(float, v)) for v in vectors[i : i + self._max_batch]],
                    documents=[c.text for c in part],
                    metadatas=[chunk_metadata(c) for c in part],
                )

        self._run("write to", write)

    def delete(self, chunk_ids: Sequence[str]) -> None:
        """Delete these chunks' vectors (ids it does not hold are no error)."""

        def delete(collection: Any) -> None:
            for i in range(0, len(chunk_ids), self._max_batch):
                collection.delete(ids=list(chunk_ids[i : i + self._max_batch]))

        if chunk_ids:
            self._run("write to", delete)

    def ids(self) -> set[str]:
        """Every chunk id the collection holds."""

        def read(collection: Any) -> set[str]:
            held: set[str] = set()
            while True:
                page = collection.get(limit=_PAGE, offset=len(held), include=[])["ids"]
                held.update(page)
                if len(page) < _PAGE:
                    return held

        return self._run("read", read)

    def missing(self, chunk_ids: Sequence[str]) -> list[str]:
        """The ids among `chunk_ids` that the collection holds no vector for, in order."""

        asked = list(dict.fromkeys(chunk_ids))  # Chroma refuses an id asked twice

        def read(collection: Any) -> list[str]:
            held: set[str] = set()
            for i in range(0, len(asked), _PAGE):
                held.update(collection.get(ids=asked[i : i + _PAGE], include=[])["ids"])
            return [c for c in chunk_ids if c not in held]

        return self._run("read", read) if chunk_ids else []

    def vectors(self, chunk_ids: Sequence[str]) -> dict[str, list[float]]:
        """The stored vectors of these chunks (those it holds)."""

        def read(collection: Any) -> dict[str, list[float]]:
            got = collection.get(ids=list(chunk_ids), include=["embeddings"])
            return {cid: list(map(float, v)) for cid, v in zip(got["ids"], got["embeddings"], strict=True)}

        return self._run("read", read) if chunk_ids else {}

    def warm(self) -> None:
        """Load the collection's vector index now, with a one-vector query (for a vector it holds) whose answer is
        dropped: a process's first write to a collection that holds vectors costs far more without it, and an
        ingest does this while the model embeds."""

        def load(collection: Any) -> None:
            held = collection.get(limit=1, include=["embeddings"])["embeddings"]
            if held is not None and len(held):
                collection.query(query_embeddings=[list(map(float, held[0]))], n_results=1, include=[])

        self._run("read", load)

    def search(self, vector: Sequence[float], k: int) -> list[tuple[str, float]]:
        """The `k` nearest chunk ids with cosine similarity, best first."""

        def query(collection: Any) -> list[tuple[str, float]]:
            # No count() first: Chroma ≥ 1.5 returns what it holds when that is fewer than k (even none),
            # and the count was a second round trip costing as much as the query itself.
            result = collection.query(
                query_embeddings=[list(map(float, vector))], n_results=k + MARGIN, include=["distances"]
            )
            ids = result["ids"][0] if result["ids"] else []
            distances = result["distances"][0] if result["distances"] else []
            found = [(cid, 1.0 - float(d)) for cid, d in zip(ids, distances, strict=True)]
            return sorted(found, key=lambda hit: (-hit[1], hit[0]))[:k]  # equal similarities: by id, in every process

        return self._run("search", query)
