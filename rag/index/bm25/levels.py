"""The in-memory BM25 of one index state: loaded from its file beside index.sqlite3, or built from SQLite.

SQLite stays the commit point: the file is only a cache of what SQLite holds. It is keyed by the
index version and a digest of the registry (article ids, content hashes, chunk row ids), read in the
same snapshot as the postings, so a file from another state (an older version, a re-created index
whose version counter came round to the same number) is never loaded as this state's. Such a file
still serves as the base of this state's build: the postings of the rows both states hold (same
rowid, id, source and content hash) are taken from it, and only the rows it lacks are read from SQLite
(`rag.index.bm25.merge`), so an ingest's build costs what it added, not the whole index. A damaged file
is rebuilt. A data dir that cannot be written still works: the index is then built in memory by every
process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.index.bm25 import files
from rag.index.bm25.merge import Rows, match, merge
from rag.index.bm25.postings import TOKENIZE, Postings, read_postings
from rag.index.bm25.ranking import Bm25Index, build

log = logging.getLogger(__name__)
ARTICLE_WEIGHTS = (1.0, 1.0)  # title, text
LEVELS = ("chunks", "articles")


@dataclass(frozen=True)
class Bm25Levels:
    """Chunk-level and article-level BM25 of one index version."""

    version: int
    chunks: Bm25Index
    articles: Bm25Index


def cache_path(db_path: Path) -> Path:
    """Where the BM25 file of the index at `db_path` lives: index.sqlite3 → index.bm25.npz."""
    return db_path.with_suffix(".bm25.npz")


def open_levels(db_path: Path, weights: Sequence[float]) -> Bm25Levels:
    """The BM25 levels of the index's current state: from the cache file when it matches, else built (on the
    file's levels when it holds another state of this index) and saved."""
    db = sqlite3.connect(str(db_path), timeout=30, isolation_level=None)
    try:
        db.execute("BEGIN")  # one snapshot: the key and the postings describe the same state
        version, key = state_key(db, weights)
        path = cache_path(db_path)
        started = time.perf_counter()
        levels = files.load(path, key, LEVELS)
        if levels is not None:
            log.info("BM25 index of version %d loaded from %s in %.2f s", version, path, time.perf_counter() - started)
            return Bm25Levels(version, levels["chunks"], levels["articles"])
        built = build_levels(db, weights, files.load_sources(path, params(weights), LEVELS))
        log.info("BM25 index of version %d built in %.2f s", version, time.perf_counter() - started)
        try:
            files.save(path, key, params(weights), built, mode=db_path.stat().st_mode & 0o666)
        except OSError as exc:
            log.warning("cannot save the BM25 index to %s (%s): every process will build it", path, exc)
        return Bm25Levels(version, built["chunks"][0], built["articles"][0])
    finally:
        if db.in_transaction:
            db.execute("COMMIT")  # nothing of main was written: this only ends the read
        db.close()


def saved_is_current(db_path: Path, weights: Sequence[float], *, read: bool = True) -> bool:
    """True when the file beside the index holds the BM25 levels of its current state (its header says so, and,
    with `read`, its arrays read back whole)."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30, isolation_level=None)
    try:
        db.execute("BEGIN")
        _, key = state_key(db, weights)
        if not read:
            return files.describes(cache_path(db_path), key)
        return files.load(cache_path(db_path), key, LEVELS) is not None
    finally:
        if db.in_transaction:
            db.execute("COMMIT")
        db.close()


def params(weights: Sequence[float]) -> str:
    """What a row's postings depend on besides its content: the file format, the tokenizer, the column weights."""
    return f"{files.FORMAT}|{TOKENIZE}|{list(weights)}|{list(ARTICLE_WEIGHTS)}"


def state_key(db: sqlite3.Connection, weights: Sequence[float]) -> tuple[int, str]:
    """The index version and a digest of what the BM25 index depends on: its `params`, and the registry's state."""
    row = db.execute("SELECT value FROM meta WHERE key='version'").fetchone()
    version = int(row[0]) if row else 0
    h = hashlib.sha256(f"{params(weights)}|{version}|".encode())
    h.update(repr(db.execute("SELECT count(*), total(id), max(id) FROM chunks").fetchone()).encode())
    for doc_id, content_hash, n in db.execute("SELECT doc_id, content_hash, chunks FROM articles ORDER BY doc_id"):
        h.update(f"{doc_id}\0{content_hash}\0{n}\n".encode())
    return version, h.hexdigest()


Level = tuple[Bm25Index, Postings, Rows]  # an index, and what it was built from (saved for the next build)


def build_levels(
    db: sqlite3.Connection, weights: Sequence[float], base: dict[str, tuple[Postings, Rows]] | None = None
) -> dict[str, Level]:
    """Both levels from what SQLite holds (chunks from the FTS5 table, articles through a temporary one),
    reading only the rows `base` (an earlier state's postings and rows) lacks."""
    chunks = _rows(
        db.execute(
            "SELECT c.id, c.chunk_id, coalesce(a.source, ''), '' FROM chunks c "
            "LEFT JOIN articles a USING (doc_id) ORDER BY c.id"
        )
    )
    articles = _rows(db.execute("SELECT rowid, doc_id, source, content_hash FROM main.articles ORDER BY rowid"))
    return {
        "chunks": _level(
            db, "chunks_fts", ("text", "title", "source"), weights, chunks, base["chunks"] if base else None
        ),
        "articles": _level(
            db, "articles", ("title", "text"), ARTICLE_WEIGHTS, articles, base["articles"] if base else None
        ),
    }


def _rows(cursor: sqlite3.Cursor) -> Rows:
    listed = cursor.fetchall()
    return Rows(
        np.array([r[0] for r in listed], dtype=np.int64),
        [r[1] for r in listed],
        [r[2] for r in listed],
        [r[3] for r in listed],
    )


def _level(
    db: sqlite3.Connection,
    table: str,
    columns: Sequence[str],
    weights: Sequence[float],
    rows: Rows,
    base: tuple[Postings, Rows] | None,
) -> Level:
    """One level: `table`'s rows `rows`, tokenized by FTS5 in a temporary table, the rows `base` holds excepted."""
    m = match(base[1], rows) if base is not None else None
    wanted = rows.rowids if m is None else rows.rowids[m.added]
    if m is None and table == "chunks_fts":
        schema, source = "main", table  # every chunk: FTS5 holds them tokenized already
    else:
        schema, source, cols = "temp", f"bm25_rows_{table}", ", ".join(columns)
        db.execute(f"DROP TABLE IF EXISTS temp.{source}")
        db.execute(f"CREATE VIRTUAL TABLE temp.{source} USING fts5({cols}, tokenize='{TOKENIZE}')")
        some = "" if m is None else " WHERE rowid IN (SELECT value FROM json_each(?))"
        db.execute(
            f"INSERT INTO temp.{source} (rowid, {cols}) SELECT rowid, {cols} FROM main.{table}{some}",
            (json.dumps(wanted.tolist()),) if some else (),
        )
    postings = read_postings(db, schema, source, columns, weights, wanted)
    if m is not None and base is not None:
        postings = merge(base[0], postings, m, len(rows))
    index = build(
        postings.terms,
        postings.offsets,
        postings.rows,
        postings.freqs,
        postings.first_df,
        postings.lengths,
        rows.labels,
        rows.groups,
    )
    return index, postings, rows
