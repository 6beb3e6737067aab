"""Postings read out of SQLite FTS5 tables, and FTS5's own tokenizer for query words.

The in-memory BM25 (`rag.index.bm25.ranking`) must see the tokens FTS5 sees (unicode61, diacritics removed,
Porter stems), so it takes them from FTS5 itself: `fts5vocab` lists every token instance of a table
as (term, rowid, column), in term order. Those are read in bulk (one `group_concat` string per batch
of terms, parsed by numpy), never a Python object per token: ~1.4 M instances a second here.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

TOKENIZE = "porter unicode61 remove_diacritics 2"  # the tokenizer of every FTS5 table of the index
_BATCH_INSTANCES = 1_000_000  # token instances read per query (bounds the memory of a build)


@dataclass(frozen=True)
class Postings:
    """A table's postings: for each term (sorted), its rows with their column-weighted frequencies."""

    terms: list[str]
    offsets: np.ndarray  # int64 [terms + 1]
    rows: np.ndarray  # int32 [postings]: row numbers (positions in the rowids given), ascending per term
    freqs: np.ndarray  # float64 [postings]: Σ weight[col] · occurrences in col
    first: np.ndarray  # bool [postings]: the row holds the term in column 0
    first_df: np.ndarray  # int64 [terms]: rows holding the term in column 0
    lengths: np.ndarray  # int64 [rows]: tokens of each row over all columns


def read_postings(
    db: sqlite3.Connection,
    schema: str,
    table: str,
    columns: Sequence[str],
    weights: Sequence[float],
    rowids: np.ndarray,
) -> Postings:
    """The postings of FTS5 table `schema.table` (`columns` weighted by `weights`) over its rows `rowids` (sorted).

    Raises ValueError when the table holds a row outside `rowids` (the registry and FTS5 disagree).
    """
    vocab = f"bm25_vocab_{table}"
    db.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{vocab}_row USING fts5vocab({schema}, {table}, 'row')")
    db.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{vocab}_inst USING fts5vocab({schema}, {table}, 'instance')")
    listed = db.execute(f"SELECT term, cnt FROM temp.{vocab}_row").fetchall()
    terms = [t for t, _ in listed]
    counts = np.array([c for _, c in listed], dtype=np.int64)
    n_cols, n_rows = len(weights), len(rowids)
    column = "CASE col " + " ".join(f"WHEN '{name}' THEN {i}" for i, name in enumerate(columns)) + " END"
    w = np.asarray(weights, dtype=np.float64)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    position = np.full(int(rowids[-1]) + 1 if n_rows else 0, -1, dtype=np.int64)  # rowid → row number
    position[rowids] = np.arange(n_rows)
    lengths = np.zeros(n_rows, dtype=np.int64)
    for lo, hi in _batches(counts):
        where, args = "term >= ?", [terms[lo]]
        if hi < len(terms):
            where, args = where + " AND term < ?", [terms[lo], terms[hi]]
        text = db.execute(
            f"SELECT group_concat(doc * {n_cols} + {column}) FROM temp.{vocab}_inst WHERE {where}", args
        ).fetchone()[0]
        flat = np.fromstring(text or "", dtype=np.int64, sep=",")
        if len(flat) != counts[lo:hi].sum():
            raise ValueError(
                f"{table}: read {len(flat)} token instances of terms {lo}–{hi}, expected {counts[lo:hi].sum()}"
            )
        term = np.repeat(np.arange(lo, hi, dtype=np.int64), counts[lo:hi])
        col = flat % n_cols
        docs = flat // n_cols
        if len(docs) and (docs.min() < 0 or docs.max() >= len(position)):
            raise ValueError(f"{table} holds rows the registry does not")
        row = position[docs]
        if len(row) and row.min() < 0:
            raise ValueError(f"{table} holds rows the registry does not")
        key = term * n_rows + row
        if len(key) > 1 and np.any(key[1:] < key[:-1]):  # fts5vocab lists a term's rows in rowid order
            order = np.argsort(key, kind="stable")
            term, row, col, key = term[order], row[order], col[order], key[order]
        lengths += np.bincount(row, minlength=n_rows)
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        freqs = np.add.reduceat(w[col], starts)
        in_first = np.add.reduceat((col == 0).astype(np.int64), starts) > 0
        parts.append((term[starts].astype(np.int32), row[starts].astype(np.int32), freqs, in_first))
        del flat, term, col, docs, row, key
    post_term = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    first = np.concatenate([p[3] for p in parts]) if parts else np.zeros(0, dtype=bool)
    offsets = np.zeros(len(terms) + 1, dtype=np.int64)
    np.cumsum(np.bincount(post_term, minlength=len(terms)), out=offsets[1:])
    return Postings(
        terms=terms,
        offsets=offsets,
        rows=np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, dtype=np.int32),
        freqs=np.concatenate([p[2] for p in parts]) if parts else np.zeros(0),
        first=first,
        first_df=np.bincount(post_term, weights=first, minlength=len(terms)).astype(np.int64),
        lengths=lengths,
    )


def _batches(counts: np.ndarray) -> list[tuple[int, int]]:
    """Term ranges [lo, hi) of about _BATCH_INSTANCES token instances each."""
    out, lo, total = [], 0, 0
    for i, c in enumerate(counts.tolist()):
        total += c
        if total >= _BATCH_INSTANCES:
            out.append((lo, i + 1))
            lo, total = i + 1, 0
    if lo < len(counts):
        out.append((lo, len(counts)))
    return out


class QueryTokenizer:
    """Words → the FTS5 tokens they stand for (`"Sanctions"` → ("sanction",)), via FTS5 itself, cached."""

    def __init__(self, max_cached: int = 100_000) -> None:
        self.db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self.db.execute(f"CREATE VIRTUAL TABLE words USING fts5(w, tokenize='{TOKENIZE}')")
        self.db.execute("CREATE VIRTUAL TABLE words_vocab USING fts5vocab(words, 'instance')")
        self._cache: dict[str, tuple[str, ...]] = {}
        self._max = max_cached
        self._lock = threading.Lock()

    def tokens(self, words: Sequence[str]) -> list[tuple[str, ...]]:
        """The FTS5 tokens of each word, in order (a word FTS5 splits, like "a_b", has several)."""
        with self._lock:
            missing = [w for w in dict.fromkeys(words) if w not in self._cache]
            if missing:
                if len(self._cache) + len(missing) > self._max:
                    self._cache.clear()
                self.db.executemany("INSERT INTO words (rowid, w) VALUES (?, ?)", enumerate(missing, start=1))
                found: dict[int, list[tuple[int, str]]] = {}
                for doc, offset, term in self.db.execute("SELECT doc, offset, term FROM words_vocab"):
                    found.setdefault(doc, []).append((offset, term))
                self.db.execute("DELETE FROM words")
                for i, word in enumerate(missing, start=1):
                    self._cache[word] = tuple(term for _, term in sorted(found.get(i, [])))
            return [self._cache[w] for w in words]
