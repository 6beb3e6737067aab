"""The in-memory BM25 of one index state: loaded from its file beside index.sqlite3, or built from SQLite.

SQLite stays the commit point: the file is only a cache of what SQLite holds. It is keyed by the
index version and a digest of the registry (article ids, content hashes, chunk row ids), read in the
same snapshot as the postings, so a file from another state (an older version, a re-created index
whose version counter came round to the same number) is never used; a damaged file is rebuilt. A
data dir that cannot be written still works: the index is then built in memory by every process.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag import bm25
from rag.fts_postings import TOKENIZE, read_postings

log = logging.getLogger(__name__)
ARTICLE_WEIGHTS = (1.0, 1.0)  # title, text


@dataclass(frozen=True)
class Bm25Levels:
    """Chunk-level and article-level BM25 of one index version."""

    version: int
    chunks: bm25.Bm25Index
    articles: bm25.Bm25Index


def cache_path(db_path: Path) -> Path:
    """Where the BM25 file of the index at `db_path` lives: index.sqlite3 → index.bm25.npz."""
    return db_path.with_suffix(".bm25.npz")


def open_levels(db_path: Path, weights: Sequence[float]) -> Bm25Levels:
    """The BM25 levels of the index's current state: from the cache file when it matches, else built (and saved)."""
    db = sqlite3.connect(str(db_path), timeout=30, isolation_level=None)
    try:
        db.execute("BEGIN")  # one snapshot: the key and the postings describe the same state
        version, key = state_key(db, weights)
        path = cache_path(db_path)
        started = time.perf_counter()
        levels = bm25.load(path, key, ("chunks", "articles"))
        if levels is not None:
            log.info("BM25 index of version %d loaded from %s in %.2f s", version, path, time.perf_counter() - started)
            return Bm25Levels(version, levels["chunks"], levels["articles"])
        chunks, articles = build_levels(db, weights)
        log.info("BM25 index of version %d built in %.2f s", version, time.perf_counter() - started)
        try:
            bm25.save(path, key, {"chunks": chunks, "articles": articles}, mode=db_path.stat().st_mode & 0o666)
        except OSError as exc:
            log.warning("cannot save the BM25 index to %s (%s): every process will build it", path, exc)
        return Bm25Levels(version, chunks, articles)
    finally:
        if db.in_transaction:
            db.execute("COMMIT")  # nothing of main was written: this only ends the read
        db.close()


def state_key(db: sqlite3.Connection, weights: Sequence[float]) -> tuple[int, str]:
    """The index version and a digest of what the BM25 index depends on."""
    row = db.execute("SELECT value FROM meta WHERE key='version'").fetchone()
    version = int(row[0]) if row else 0
    h = hashlib.sha256(f"{bm25.FORMAT}|{TOKENIZE}|{list(weights)}|{version}|".encode())
    h.update(repr(db.execute("SELECT count(*), total(id), max(id) FROM chunks").fetchone()).encode())
    for doc_id, content_hash, n in db.execute("SELECT doc_id, content_hash, chunks FROM articles ORDER BY doc_id"):
        h.update(f"{doc_id}\0{content_hash}\0{n}\n".encode())
    return version, h.hexdigest()


def build_levels(db: sqlite3.Connection, weights: Sequence[float]) -> tuple[bm25.Bm25Index, bm25.Bm25Index]:
    """Both levels from what SQLite holds: chunks from the FTS5 table, articles from a temporary one."""
    listed = db.execute(
        "SELECT c.id, c.chunk_id, coalesce(a.source, '') FROM chunks c "
        "LEFT JOIN articles a USING (doc_id) ORDER BY c.id"
    ).fetchall()
    chunks = _index(db, "main", "chunks_fts", ("text", "title", "source"), weights, listed)
    db.execute("DROP TABLE IF EXISTS temp.bm25_articles")
    db.execute(f"CREATE VIRTUAL TABLE temp.bm25_articles USING fts5(title, text, tokenize='{TOKENIZE}')")
    db.execute("INSERT INTO temp.bm25_articles (rowid, title, text) SELECT rowid, title, text FROM main.articles")
    listed = db.execute("SELECT rowid, doc_id, source FROM main.articles ORDER BY rowid").fetchall()
    articles = _index(db, "temp", "bm25_articles", ("title", "text"), ARTICLE_WEIGHTS, listed)
    return chunks, articles


def _index(
    db: sqlite3.Connection,
    schema: str,
    table: str,
    columns: Sequence[str],
    weights: Sequence[float],
    listed: list[tuple[int, str, str]],
) -> bm25.Bm25Index:
    """One level: `listed` is (rowid, label, group) of every row, by rowid."""
    rowids = np.array([r[0] for r in listed], dtype=np.int64)
    p = read_postings(db, schema, table, columns, weights, rowids)
    return bm25.build(
        p.terms, p.offsets, p.rows, p.freqs, p.first_df, p.lengths, [r[1] for r in listed], [r[2] for r in listed]
    )
