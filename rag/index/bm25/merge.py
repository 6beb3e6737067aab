"""The postings of an index state from those of an earlier one: kept rows reused, only added rows read.

A row's postings depend on its content alone (its FTS5 tokens, the column weights); BM25's global
statistics (average length, idf, each posting's impact) are recomputed from the merged postings by
`bm25.build`. So a state's postings are the earlier state's, minus the rows that went, plus those of
the rows that came — the same arrays, bit for bit, as reading every row again (a test compares them).
A row is the same row when its rowid, label, group and identity (`Rows.idents`) are; SQLite gives a new
row a rowid above every row it keeps, so each term's added postings follow its kept ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rag.index.bm25.postings import Postings


@dataclass(frozen=True)
class Rows:
    """The rows of one level in rowid order, as the registry lists them."""

    rowids: np.ndarray  # int64 [rows], ascending
    labels: list[str]  # chunk or doc ids
    groups: list[str]  # each row's article source
    idents: list[str]  # what else names a row's content ("" for a chunk: its id does; an article's content hash)

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Match:
    """Where an earlier state's rows are now: `at[i]` is base row i's row number now (-1: gone or changed)."""

    at: np.ndarray  # int64 [base rows]
    added: np.ndarray  # int64: row numbers now of the rows the base lacks, ascending


def match(base: Rows, now: Rows) -> Match | None:
    """How `now` follows from `base`; None when nothing is kept, or a kept row follows an added one."""
    if not len(base) or not len(now):
        return None
    spot = np.minimum(np.searchsorted(now.rowids, base.rowids), len(now) - 1)
    same = now.rowids[spot] == base.rowids
    for i in np.flatnonzero(same).tolist():
        j = int(spot[i])
        if (now.labels[j], now.groups[j], now.idents[j]) != (base.labels[i], base.groups[i], base.idents[i]):
            same[i] = False
    at = np.where(same, spot, -1).astype(np.int64)
    if not same.any():
        return None
    taken = np.zeros(len(now), dtype=bool)
    taken[at[same]] = True
    added = np.flatnonzero(~taken)
    if len(added) and added[0] < at.max():
        return None
    return Match(at, added)


def merge(base: Postings, new: Postings, m: Match, n_rows: int) -> Postings:
    """The postings of `n_rows` rows: `base`'s of the rows `m` keeps, then `new`'s (its rows are `m.added`).

    Each term's new postings go after its kept ones (`np.insert`, one pass over the arrays): an ingest that
    removed nothing costs a copy of the postings, not a sort or a scatter of them.
    """
    was = m.at >= 0
    starts = base.offsets[:-1]
    if was.all() and np.array_equal(m.at, np.arange(len(m.at))):  # every row kept, where it was
        rows, freqs, first = base.rows, base.freqs, base.first
        kept_count, kept_first = np.diff(base.offsets), base.first_df
    else:
        keep = was[base.rows]
        rows, freqs, first = m.at[base.rows[keep]].astype(np.int32), base.freqs[keep], base.first[keep]
        kept_count = np.add.reduceat(keep.astype(np.int64), starts) if len(starts) else np.zeros(0, np.int64)
        kept_first = np.add.reduceat((keep & base.first).astype(np.int64), starts) if len(starts) else kept_count
    # Both term lists are sorted as FTS5 sorts them (by UTF-8 bytes, i.e. by code point): one merge of two runs.
    held = [t for t, c in zip(base.terms, kept_count.tolist(), strict=True) if c]
    names = list(dict.fromkeys(sorted(held + new.terms)))
    number = {t: i for i, t in enumerate(names)}
    count = np.zeros(len(names), dtype=np.int64)
    first_df = np.zeros(len(names), dtype=np.int64)
    held_u = np.array([number[t] for t in held], dtype=np.int64)
    nonzero = kept_count > 0
    count[held_u], first_df[held_u] = kept_count[nonzero], kept_first[nonzero]
    kept_end = np.cumsum(count)  # in the kept postings, where each term's run ends
    new_u = np.array([number[t] for t in new.terms], dtype=np.int64)
    np.add.at(count, new_u, np.diff(new.offsets))
    np.add.at(first_df, new_u, new.first_df)
    at = np.repeat(kept_end[new_u], np.diff(new.offsets))  # each new posting goes at its term's end
    offsets = np.zeros(len(names) + 1, dtype=np.int64)
    np.cumsum(count, out=offsets[1:])
    lengths = np.zeros(n_rows, dtype=np.int64)
    lengths[m.at[was]] = base.lengths[was]
    lengths[m.added] = new.lengths
    return Postings(
        names,
        offsets,
        np.insert(rows, at, m.added[new.rows].astype(np.int32)),
        np.insert(freqs, at, new.freqs),
        np.insert(first, at, new.first),
        first_df,
        lengths,
    )
