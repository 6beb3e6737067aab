"""The article registry: one SQLite file holding the articles, their chunks, the chunks' FTS5 rows and the version.

The registry is the commit point of an ingest: an article counts as indexed once its row is here, written in one
transaction with its chunk and FTS5 rows, after its vectors reached Chroma. Every ingest and removal moves the
index version, which caches (answers, chunks read, BM25) are keyed on. Each chunk row also holds what the
index computed of its text at ingest (`rag.index.analysis`: its stems and sentences).

The same transaction that replaces or removes an article lists its old chunks' vectors in `stale_vectors`; they
leave Chroma afterwards (`Pipeline`), and a list left by a killed process is worked off by the next writer, so
no kill between the two stores leaves orphan vectors behind.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rag.errors import IndexUnavailable
from rag.index.analysis import VERSION as ANALYSIS_VERSION
from rag.index.analysis import encode_sentences, encode_stems
from rag.question.words import STEMMER_VERSION
from rag.types import Article, ArticleInfo, Chunk, text_digest

_SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    doc_id TEXT PRIMARY KEY, title TEXT NOT NULL, source TEXT NOT NULL, published TEXT,
    url TEXT, content_hash TEXT NOT NULL, chunks INTEGER NOT NULL, text TEXT NOT NULL, text_hash TEXT);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY, chunk_id TEXT UNIQUE NOT NULL, doc_id TEXT NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, paragraphs TEXT NOT NULL, stems TEXT, sentences TEXT,
    vector BLOB);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, title, source, tokenize='porter unicode61 remove_diacritics 2');
CREATE TABLE IF NOT EXISTS stale_vectors (chunk_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS removed (doc_id TEXT PRIMARY KEY, at REAL NOT NULL);
"""
# The columns of what the index computed of each chunk, and the meta key naming the version that wrote them.
_ANALYSIS = {"stems": ("stemmer", STEMMER_VERSION), "sentences": ("sentences", ANALYSIS_VERSION)}


def vector_bytes(vector: Any) -> bytes:
    """A vector as the registry keeps it: float32, native byte order."""
    import numpy as np

    return np.asarray(vector, dtype=np.float32).tobytes()


def unwritable(path: Path, exc: BaseException) -> IndexUnavailable:
    """The one line a failed SQLite write becomes, naming the fix."""
    text = str(exc)
    if "readonly" in text or "read-only" in text:
        fix = "the data dir is read-only — check its permissions"
    elif "disk is full" in text or "database or disk is full" in text:
        fix = "the disk is full — free some space and run the command again"
    elif "locked" in text:
        fix = "another process holds it — wait for it and run the command again"
    elif "malformed" in text or "not a database" in text:
        fix = "the file is damaged — move it aside and ingest again"
    else:
        fix = "check the data dir"
    return IndexUnavailable(f"cannot write to the index at {path} ({text}) — {fix}")


class Registry:
    """Articles, chunks and the index version in one SQLite file (safe across threads and processes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(path), check_same_thread=False, timeout=30, isolation_level=None)
        except (OSError, sqlite3.DatabaseError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            if path.parent.exists() and not path.parent.is_dir():
                reason = f"{path.parent} is a file, not a folder"
            raise IndexUnavailable(
                f"cannot open the index at {path} ({reason}) — give a data dir newsbot can write (--data-dir or "
                "NEWSBOT_DATA_DIR)"
            ) from None
        try:
            self._create_schema()
            self._add_vector_column()
            self._add_text_hashes()
            self._forget_other_analyses()
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise IndexUnavailable(
                f"cannot open the index at {path} ({exc}) — check the data dir (--data-dir or NEWSBOT_DATA_DIR)"
            ) from None
        self._derived: tuple[int, dict[str, Any]] = (-1, {})  # (index version, values read from it: of_version)

    def _create_schema(self, patience: float = 30.0) -> None:
        """Create the tables, waiting out another process creating them at the same moment: switching a new file to
        WAL does not wait on SQLite's busy timeout, it fails at once with 'database is locked'."""
        deadline = time.monotonic() + patience
        pause = 0.01
        while True:
            try:
                self.db.executescript(_SCHEMA)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.5)

    def _add_vector_column(self) -> None:
        """Indexes written before the registry kept each chunk's vector get the column (filled by the next ingest)."""
        if "vector" not in {row[1] for row in self.db.execute("PRAGMA table_info(chunks)")}:
            with self.transaction():
                if "vector" not in {row[1] for row in self.db.execute("PRAGMA table_info(chunks)")}:
                    self.db.execute("ALTER TABLE chunks ADD COLUMN vector BLOB")

    def _add_text_hashes(self) -> None:
        """Give an index written before articles were found by their text a `text_hash` column, filled (once)."""
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(articles)")}
        if "text_hash" not in columns:
            self.db.create_function("newsbot_text_hash", 1, text_digest, deterministic=True)
            with self.transaction():
                if "text_hash" not in {row[1] for row in self.db.execute("PRAGMA table_info(articles)")}:
                    self.db.execute("ALTER TABLE articles ADD COLUMN text_hash TEXT")
                    self.db.execute("UPDATE articles SET text_hash = newsbot_text_hash(text)")
        self.db.execute("CREATE INDEX IF NOT EXISTS articles_text ON articles(text_hash)")

    def _forget_other_analyses(self) -> None:
        """Forget the stems and sentences another stemmer or sentence splitter wrote (`fill_analysis` writes them
        again). Writes only when there is something to change, so a read-only index of this version still opens."""
        wanted = {key: version for key, version in _ANALYSIS.values()}

        def held() -> dict[str, str]:
            return dict(self.db.execute("SELECT key, value FROM meta WHERE key IN ('stemmer', 'sentences')"))

        if held() == wanted:
            return
        with self.transaction():
            versions = held()  # again: another process may have done it
            for column, (key, version) in _ANALYSIS.items():
                if versions.get(key) != version:
                    if key in versions:
                        self.db.execute(f"UPDATE chunks SET {column} = NULL")
                    self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, version))

    # --- articles -------------------------------------------------------------------------
    def article_hash(self, doc_id: str) -> str | None:
        """The content hash the index holds for `doc_id`, or None."""
        row = self.one("SELECT content_hash FROM articles WHERE doc_id=?", (doc_id,))
        return row[0] if row else None

    def doc_with_text(self, text_hash: str, other_than: str) -> str | None:
        """The doc id of an indexed article, other than `other_than`, whose text has this `Article.text_hash`."""
        row = self.one("SELECT doc_id FROM articles WHERE text_hash=? AND doc_id!=? LIMIT 1", (text_hash, other_than))
        return row[0] if row else None

    def articles(self) -> list[ArticleInfo]:
        """Every indexed article, newest first."""
        rows = self.all(
            "SELECT doc_id, title, source, published, chunks, content_hash FROM articles "
            "ORDER BY published IS NULL, published DESC, doc_id"
        )
        return [ArticleInfo(*row) for row in rows]

    def article(self, doc_id: str) -> Article | None:
        """The stored article, or None."""
        row = self.one("SELECT doc_id, title, text, source, published, url FROM articles WHERE doc_id=?", (doc_id,))
        return Article(*row) if row else None

    def sources(self) -> tuple[str, ...]:
        """The sources of the indexed articles ("" for an article without one), sorted; kept per index version."""
        kept = self.of_version()
        if "sources" not in kept:
            kept["sources"] = tuple(r[0] for r in self.all("SELECT DISTINCT source FROM articles ORDER BY source"))
        return kept["sources"]

    def version(self) -> int:
        """A number that changes on every ingest or removal (for caches)."""
        row = self.one("SELECT value FROM meta WHERE key='version'", ())
        return int(row[0]) if row else 0

    def chunk_count(self) -> int:
        """Number of chunks indexed (kept per index version)."""
        kept = self.of_version()
        if "chunk_count" not in kept:
            row = self.one("SELECT count(*) FROM chunks", ())
            kept["chunk_count"] = int(row[0]) if row else 0
        return kept["chunk_count"]

    def chunk_ids(self, doc_id: str) -> list[str]:
        """Chunk ids of one article."""
        return [r[0] for r in self.all("SELECT chunk_id FROM chunks WHERE doc_id=? ORDER BY id", (doc_id,))]

    # --- writes ---------------------------------------------------------------------------
    def replace_article(self, article: Article, chunks: Sequence[Chunk], vectors: Any = None) -> None:
        """Make `article` and its chunks the indexed ones, atomically (with their FTS5 rows, stems and sentences,
        and, when given, their vectors: one row each)."""
        with self.lock, self.transaction():
            kept = {c.chunk_id for c in chunks}
            self._mark_stale([cid for cid in self._chunk_ids(article.doc_id) if cid not in kept])
            self._delete(article.doc_id)
            for i, c in enumerate(chunks):
                cur = self.db.execute(
                    'INSERT INTO chunks (chunk_id, doc_id, start, "end", paragraphs, stems, sentences, vector) '
                    "VALUES (?,?,?,?,?,?,?,?)",
                    (
                        c.chunk_id,
                        c.doc_id,
                        c.start,
                        c.end,
                        ",".join(map(str, c.paragraphs)),
                        encode_stems(c.text),
                        encode_sentences(c.text),
                        vector_bytes(vectors[i]) if vectors is not None else None,
                    ),
                )
                self.db.execute(
                    "INSERT INTO chunks_fts (rowid, text, title, source) VALUES (?,?,?,?)",
                    (cur.lastrowid, c.text, c.title, c.source),
                )
            self.db.execute("DELETE FROM removed WHERE doc_id = ?", (article.doc_id,))
            self.db.execute(
                "INSERT OR REPLACE INTO articles VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    article.doc_id,
                    article.title,
                    article.source,
                    article.published,
                    article.url,
                    article.content_hash,
                    len(chunks),
                    article.text,
                    article.text_hash,
                ),
            )
            self._bump()

    def remove(self, doc_id: str) -> bool:
        """Forget an article (its vectors listed as stale); False when it was not indexed."""
        with self.lock, self.transaction():
            self._mark_stale(self._chunk_ids(doc_id))
            found = self._delete(doc_id)
            if found:
                self.db.execute("INSERT OR REPLACE INTO removed VALUES (?, ?)", (doc_id, time.time()))
                self._bump()
        return found

    def was_removed(self, doc_id: str) -> bool:
        """True when `doc_id` was indexed once and removed since (a removal run again finds it gone)."""
        return self.one("SELECT 1 FROM removed WHERE doc_id = ?", (doc_id,)) is not None

    def stale_vectors(self) -> list[str]:
        """Chunk ids whose vectors are to leave the vector store (replaced or removed articles')."""
        return [r[0] for r in self.all("SELECT chunk_id FROM stale_vectors ORDER BY chunk_id")]

    def forget_stale(self, chunk_ids: Sequence[str]) -> None:
        """These stale vectors are gone from the vector store."""
        with self.lock, self.transaction():
            self.db.executemany("DELETE FROM stale_vectors WHERE chunk_id = ?", [(c,) for c in chunk_ids])

    def _chunk_ids(self, doc_id: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT chunk_id FROM chunks WHERE doc_id=? ORDER BY id", (doc_id,))]

    def _mark_stale(self, chunk_ids: Sequence[str]) -> None:
        self.db.executemany("INSERT OR IGNORE INTO stale_vectors VALUES (?)", [(c,) for c in chunk_ids])

    def vectors(self) -> tuple[list[str], bytes, int] | None:
        """Every chunk's id and vector as the registry keeps them (float32, back to back, in id order), and the
        number of chunks; None when some chunk has none (an index from before the registry kept them)."""
        with self.lock, self.transaction("BEGIN"):
            if self.db.execute("SELECT 1 FROM chunks WHERE vector IS NULL LIMIT 1").fetchone():
                return None
            rows = self.db.execute("SELECT chunk_id, vector FROM chunks ORDER BY chunk_id").fetchall()
        return [cid for cid, _ in rows], b"".join(v for _, v in rows), len(rows)

    def fill_vectors(self, fetch: Callable[[list[str]], dict[str, list[float]]], batch: int = 2000) -> int:
        """Keep the vectors of the chunks that lack them here (an index from before), read through `fetch` (chunk
        ids → their vectors, from the vector store); how many were filled."""
        filled = 0
        while True:
            ids = [r[0] for r in self.all("SELECT chunk_id FROM chunks WHERE vector IS NULL LIMIT ?", (batch,))]
            if not ids:
                return filled
            found = fetch(ids)
            if not found:
                return filled  # the store lacks them too: `newsbot check --repair` embeds them again
            with self.lock, self.transaction():
                self.db.executemany(
                    "UPDATE chunks SET vector = ? WHERE chunk_id = ?",
                    [(vector_bytes(v), cid) for cid, v in found.items()],
                )
            filled += len(found)
            if len(found) < len(ids):
                return filled

    def all_chunk_ids(self) -> list[str]:
        """Every indexed chunk id, in the order they were written."""
        return [r[0] for r in self.all("SELECT chunk_id FROM chunks ORDER BY id")]

    def _delete(self, doc_id: str) -> bool:
        self.db.execute("DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE doc_id=?)", (doc_id,))
        self.db.execute("DELETE FROM chunks WHERE doc_id=?", (doc_id,))
        return self.db.execute("DELETE FROM articles WHERE doc_id=?", (doc_id,)).rowcount > 0

    def _bump(self) -> None:
        self.db.execute(
            "INSERT INTO meta VALUES ('version', '1') ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    def fill_analysis(self, batch: int = 2000) -> int:
        """Stems and sentences for the chunks that lack them (an index written by another stemmer or sentence
        splitter), a batch per transaction; how many chunks got them. Answers do not change (a chunk without them
        is split and stemmed when read), so neither does the version."""
        filled = 0
        while True:
            with self.lock, self.transaction():
                rows = self.db.execute(
                    'SELECT c.id, c.start, c."end", c.stems, c.sentences, a.text FROM chunks c '
                    "JOIN articles a USING (doc_id) WHERE c.stems IS NULL OR c.sentences IS NULL LIMIT ?",
                    (batch,),
                ).fetchall()
                self.db.executemany(  # only what a row lacks is made
                    "UPDATE chunks SET stems = ?, sentences = ? WHERE id = ?",
                    [
                        (
                            held if held is not None else encode_stems(text[start:end]),
                            record if record is not None else encode_sentences(text[start:end]),
                            rowid,
                        )
                        for rowid, start, end, held, record, text in rows
                    ],
                )
            filled += len(rows)
            if rows:
                self.of_version().clear()  # what was read before now lacks what was stored
            if len(rows) < batch:
                return filled

    # --- plumbing -------------------------------------------------------------------------
    def of_version(self) -> dict[str, Any]:
        """Values read from the current index version (its sources, counts, the chunks read), kept until an
        ingest or removal moves the version."""
        version = self.version()
        if self._derived[0] != version:
            self._derived = (version, {})
        return self._derived[1]

    @contextmanager
    def transaction(self, begin: str = "BEGIN IMMEDIATE") -> Iterator[None]:
        """`begin` … COMMIT, rolled back on any error; SQLite's own failures (a read-only data dir, a full disk,
        a damaged file) as one `IndexUnavailable` line naming the fix."""
        try:
            self.db.execute(begin)
            try:
                yield
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise unwritable(self.path, exc) from None

    def one(self, sql: str, args: tuple = ()) -> tuple | None:
        """The first row of a query."""
        with self.lock:
            return self.db.execute(sql, args).fetchone()

    def all(self, sql: str, args: tuple = ()) -> list[tuple]:
        """Every row of a query."""
        with self.lock:
            return self.db.execute(sql, args).fetchall()

    def close(self) -> None:
        """Close the database."""
        self.db.close()
