"""The SQLite side of the index: the article registry and a BM25 (FTS5) index of chunks.

The registry is the commit point of an ingest: an article counts as indexed once its row
is here, written in one transaction with its lexical rows, after its vectors reached Chroma.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from rag.errors import IndexUnavailable
from rag.terms import terms
from rag.types import Article, ArticleInfo, Chunk

log = logging.getLogger(__name__)
_MAX_COUNTS = 50_000  # cached document frequencies before the cache starts afresh

_SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    doc_id TEXT PRIMARY KEY, title TEXT NOT NULL, source TEXT NOT NULL, published TEXT,
    url TEXT, content_hash TEXT NOT NULL, chunks INTEGER NOT NULL, text TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY, chunk_id TEXT UNIQUE NOT NULL, doc_id TEXT NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, paragraphs TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, title, source, tokenize='porter unicode61 remove_diacritics 2');
"""


class LexicalIndex:
    """Article registry + FTS5 chunk index in one SQLite file (safe across threads and processes)."""

    def __init__(self, path: Path, *, weights: tuple[float, float, float] = (1.0, 0.4, 0.2)) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(str(path), check_same_thread=False, timeout=30, isolation_level=None)
            self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise IndexUnavailable(f"cannot open the index at {path} ({exc}) — check NEWSBOT_DATA_DIR") from None
        self.weights = weights
        self._lock = threading.RLock()
        self._counts: dict[str, int] = {}  # document frequencies of one index version, "" → chunk count
        self._counts_version = -1

    # --- registry -------------------------------------------------------------------------
    def article_hash(self, doc_id: str) -> str | None:
        """The content hash the index holds for `doc_id`, or None."""
        row = self._one("SELECT content_hash FROM articles WHERE doc_id=?", (doc_id,))
        return row[0] if row else None

    def articles(self) -> list[ArticleInfo]:
        """Every indexed article, newest first."""
        rows = self._all(
            "SELECT doc_id, title, source, published, chunks, content_hash FROM articles "
            "ORDER BY published IS NULL, published DESC, doc_id"
        )
        return [ArticleInfo(*row) for row in rows]

    def article(self, doc_id: str) -> Article | None:
        """The stored article, or None."""
        row = self._one("SELECT doc_id, title, text, source, published, url FROM articles WHERE doc_id=?", (doc_id,))
        return Article(*row) if row else None

    def version(self) -> int:
        """A number that changes on every ingest or removal (for caches)."""
        row = self._one("SELECT value FROM meta WHERE key='version'", ())
        return int(row[0]) if row else 0

    def chunk_ids(self, doc_id: str) -> list[str]:
        """Chunk ids of one article."""
        return [r[0] for r in self._all("SELECT chunk_id FROM chunks WHERE doc_id=? ORDER BY id", (doc_id,))]

    # --- writes ---------------------------------------------------------------------------
    def replace_article(self, article: Article, chunks: Sequence[Chunk]) -> None:
        """Make `article` and its chunks the indexed ones, atomically."""
        with self._lock, self._transaction():
            self._delete(article.doc_id)
            for c in chunks:
                cur = self.db.execute(
                    'INSERT INTO chunks (chunk_id, doc_id, start, "end", paragraphs) VALUES (?,?,?,?,?)',
                    (c.chunk_id, c.doc_id, c.start, c.end, ",".join(map(str, c.paragraphs))),
                )
                self.db.execute(
                    "INSERT INTO chunks_fts (rowid, text, title, source) VALUES (?,?,?,?)",
                    (cur.lastrowid, c.text, c.title, c.source),
                )
            self.db.execute(
                "INSERT OR REPLACE INTO articles VALUES (?,?,?,?,?,?,?,?)",
                (
                    article.doc_id,
                    article.title,
                    article.source,
                    article.published,
                    article.url,
                    article.content_hash,
                    len(chunks),
                    article.text,
                ),
            )
            self._bump()

    def remove(self, doc_id: str) -> bool:
        """Forget an article; False when it was not indexed."""
        with self._lock, self._transaction():
            found = self._delete(doc_id)
            if found:
                self._bump()
        return found

    def _delete(self, doc_id: str) -> bool:
        self.db.execute("DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE doc_id=?)", (doc_id,))
        self.db.execute("DELETE FROM chunks WHERE doc_id=?", (doc_id,))
        return self.db.execute("DELETE FROM articles WHERE doc_id=?", (doc_id,)).rowcount > 0

    def _bump(self) -> None:
        self.db.execute(
            "INSERT INTO meta VALUES ('version', '1') ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    # --- reads ----------------------------------------------------------------------------
    def search(self, query: str, k: int, sources: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """The `k` best chunk ids for `query` by BM25, with scores (higher is better).

        With `sources`, only chunks of articles from those sources compete.
        """
        words = list(dict.fromkeys(terms(query)))
        if not words or (sources is not None and not sources):
            return []
        match = " OR ".join('"' + w.replace('"', "") + '"' for w in words)
        w = self.weights
        where, args = "", [match]
        if sources is not None:
            where = f" AND c.doc_id IN (SELECT doc_id FROM articles WHERE source IN ({','.join('?' * len(sources))}))"
            args += list(sources)
        rows = self._all(
            f"SELECT c.chunk_id, -bm25(chunks_fts, {w[0]}, {w[1]}, {w[2]}) AS score FROM chunks_fts "
            f"JOIN chunks c ON c.id = chunks_fts.rowid WHERE chunks_fts MATCH ?{where} ORDER BY score DESC LIMIT ?",
            (*args, k),
        )
        return [(cid, float(score)) for cid, score in rows]

    def search_articles(self, query: str, k: int, sources: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """The `k` best doc ids for `query` by BM25 over whole articles (title and text), with scores.

        The article-level index is an in-memory table, rebuilt when the index version changes.
        """
        words = list(dict.fromkeys(terms(query)))
        if not words or (sources is not None and not sources):
            return []
        match = " OR ".join('"' + w.replace('"', "") + '"' for w in words)
        where, args = "", [match]
        if sources is not None:
            where = f" AND source IN ({','.join('?' * len(sources))})"
            args += list(sources)
        with self._lock:
            self._ensure_article_fts()
            rows = self.db.execute(
                f"SELECT doc_id, -bm25(articles_fts, 0, 0, 1.0, 1.0) AS score FROM temp.articles_fts "
                f"WHERE articles_fts MATCH ?{where} ORDER BY score DESC LIMIT ?",
                (*args, k),
            ).fetchall()
        return [(doc_id, float(score)) for doc_id, score in rows]

    def _ensure_article_fts(self) -> None:
        version = self.version()
        if getattr(self, "_article_fts_version", None) == version:
            return
        self.db.execute("DROP TABLE IF EXISTS temp.articles_fts")
        self.db.execute(
            "CREATE VIRTUAL TABLE temp.articles_fts USING fts5(doc_id UNINDEXED, source UNINDEXED, title, text, "
            "tokenize='porter unicode61 remove_diacritics 2')"
        )
        self.db.execute("INSERT INTO temp.articles_fts SELECT doc_id, source, title, text FROM main.articles")
        self._article_fts_version = version

    def chunks(self, chunk_ids: Sequence[str]) -> dict[str, Chunk]:
        """Indexed chunks by id; ids not (or no longer) indexed are absent."""
        if not chunk_ids:
            return {}
        marks = ",".join("?" * len(chunk_ids))
        rows = self._all(
            f'SELECT c.chunk_id, c.doc_id, substr(a.text, c.start + 1, c."end" - c.start), c.start, c."end", '
            f"c.paragraphs, a.title, a.source, a.published FROM chunks c JOIN articles a USING (doc_id) "
            f"WHERE c.chunk_id IN ({marks})",
            tuple(chunk_ids),
        )
        out = {}
        for cid, doc_id, text, start, end, paras, title, source, published in rows:
            numbers = tuple(int(p) for p in paras.split(",") if p)
            out[cid] = Chunk(cid, doc_id, text, start, end, numbers, title, source, published)
        return out

    def document_frequency(self, words: Sequence[str]) -> tuple[dict[str, int], int]:
        """How many chunks hold each word (after stemming by FTS5), and the number of chunks.

        Counts are kept per index version: a common word's count walks its whole posting list
        (milliseconds at 100k chunks), and questions repeat their words.
        """
        with self._lock:
            counts = self._counts_now()
            for word in set(words) - counts.keys():
                row = self._one("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (f'text:"{word}"',))
                counts[word] = int(row[0]) if row else 0
            df = {w: counts[w] for w in set(words)}
            total = counts[""]
        return df, total

    def chunk_count(self) -> int:
        """Number of chunks indexed."""
        with self._lock:
            return self._counts_now()[""]

    def _counts_now(self) -> dict[str, int]:
        """Counts of the current index version ("" → chunks): started afresh when the version moved."""
        version = self.version()
        if self._counts_version != version or len(self._counts) > _MAX_COUNTS:
            row = self._one("SELECT count(*) FROM chunks", ())
            self._counts = {"": int(row[0]) if row else 0}
            self._counts_version = version
        return self._counts

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    # --- plumbing -------------------------------------------------------------------------
    def _transaction(self) -> _Transaction:
        return _Transaction(self.db)

    def _one(self, sql: str, args: tuple) -> tuple | None:
        with self._lock:
            return self.db.execute(sql, args).fetchone()

    def _all(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self.db.execute(sql, args).fetchall()


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
