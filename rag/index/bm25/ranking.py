"""BM25 over an in-memory sparse term × row index, scored exactly as SQLite FTS5's bm25() scores.

FTS5 computes bm25() for every row a query matches before it can sort them: a long OR query at
100k chunks is tens of thousands of rows per search. Here a term's postings (row numbers and their
precomputed BM25 term weight) are numpy slices, so a question costs only the additions of its own
terms' postings. The score is FTS5's, term for term (fts5_aux.c, k1 = 1.2, b = 0.75):

    score(row) = Σ over the query's phrases  idf · f·(k1 + 1) / (f + k1·(1 − b + b·D/avgdl))

with f = Σ over columns weight[col] · occurrences in col, D = the row's tokens over all columns,
avgdl = all tokens / rows, idf = log((N − n + 0.5) / (n + 0.5)) floored at 1e-6 (n = rows holding the
term). A query naming one term twice (two words with one stem) counts it twice, as FTS5 does.

An index is immutable; `rag.index.bm25.files` keeps it on disk.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

K1, B = 1.2, 0.75
_RECENT = 4  # score vectors kept per level (one question, its outlets' searches)


@dataclass(frozen=True)
class Bm25Index:
    """One level of the lexical index (chunks, or whole articles): postings by term, labels by row."""

    terms: dict[str, int]  # term → its number
    offsets: np.ndarray  # int64 [terms + 1]: term t's postings are [offsets[t], offsets[t + 1])
    rows: np.ndarray  # int32 [postings]: row numbers, ascending within a term
    impacts: np.ndarray  # float64 [postings]: f·(k1 + 1) / (f + k1·(1 − b + b·D/avgdl)) of that row
    idf: np.ndarray  # float64 [terms]
    first_df: np.ndarray  # int32 [terms]: rows holding the term in the first column (the text)
    labels: bytes  # row labels (chunk or doc ids), UTF-8, back to back
    label_offsets: np.ndarray  # int64 [rows + 1]
    groups: np.ndarray  # int32 [rows]: each row's group (its article's source) in `group_names`
    group_names: tuple[str, ...]
    _recent: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, compare=False, repr=False
    )
    _recent_lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)
    _decoded: dict[int, str] = field(default_factory=dict, compare=False, repr=False)  # labels read so far

    @cached_property
    def _positive(self) -> bool:
        """Every posting weighs more than nothing (no column weighted 0), so a row scores above 0 when it matches."""
        return bool(len(self.impacts) == 0 or self.impacts.min() > 0.0)

    @cached_property
    def _group_rows(self) -> list[np.ndarray]:
        """Each group's rows, ascending (made on the first search within outlets)."""
        order = np.argsort(self.groups, kind="stable")  # stable: ascending rows within each group
        ends = np.cumsum(np.bincount(self.groups, minlength=len(self.group_names)))
        return np.split(order, ends[:-1])

    @property
    def size(self) -> int:
        """Number of rows (chunks or articles)."""
        return len(self.groups)

    def label(self, row: int) -> str:
        """The id of row `row` (decoded once, then kept: the best rows come back question after question)."""
        got = self._decoded.get(row)
        if got is None:
            lo, hi = self.label_offsets[row], self.label_offsets[row + 1]
            got = self._decoded[row] = self.labels[lo:hi].decode("utf-8")
        return got

    def df(self, term: str, first_column: bool = False) -> int:
        """Rows holding `term` (in the first column only, with `first_column`)."""
        t = self.terms.get(term)
        if t is None:
            return 0
        return int(self.first_df[t] if first_column else self.offsets[t + 1] - self.offsets[t])

    def top(self, phrases: Sequence[str], k: int, groups: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """The `k` best rows for an OR query of `phrases` (terms, repeats counting again), with scores.

        With `groups`, only rows of those groups compete (the statistics stay the whole index's, as
        in an FTS5 query with an extra WHERE). Equal scores keep row order.
        """
        if k <= 0:
            return []
        scores, hits = self.scores(phrases)
        if groups is not None:
            chosen = set(groups)
            wanted = [i for i, name in enumerate(self.group_names) if name in chosen]
            if self._positive:  # the wanted outlets' rows (a few thousand at 100k chunks, against ~50,000 matched)
                rows = np.sort(np.concatenate([self._group_rows[g] for g in wanted] or [np.zeros(0, np.intp)]))
                hits = rows[scores[rows] != 0]
            else:  # a row may match with score 0: its outlet, among the matched rows
                hits = hits[np.isin(self.groups[hits], wanted)]
        if len(hits) > k:
            hits = hits[np.argpartition(-scores[hits], k - 1)[:k]]
        hits = hits[np.lexsort((hits, -scores[hits]))]
        label = self.label
        return [(label(r), s) for r, s in zip(hits.tolist(), scores[hits].tolist(), strict=True)]

    def scores(self, phrases: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Every row's score for `phrases`, and the rows that hold any of them (ascending).

        The last few are kept: retrieval asks the same question again within each named outlet.
        """
        key = tuple(phrases)
        with self._recent_lock:
            got = self._recent.get(key)
        if got is not None:
            return got
        spans = [(t, self.offsets[t], self.offsets[t + 1]) for t in (self.terms[p] for p in phrases if p in self.terms)]
        if spans:
            rows = np.concatenate([self.rows[lo:hi] for _, lo, hi in spans])
            weights = np.concatenate([self.idf[t] * self.impacts[lo:hi] for t, lo, hi in spans])
            # One pass adding each posting's weight to its row, in posting order: term by term from 0.0, the
            # additions of a `scores[rows] += weights` per term in the same order, so the same doubles.
            scores: np.ndarray = np.bincount(rows, weights, minlength=self.size)
            held = scores if self._positive else np.bincount(rows, minlength=self.size)
            hits = np.flatnonzero(held != 0)  # nonzero() on a bool array: ~10× faster than on the doubles themselves
        else:
            scores, hits = np.zeros(self.size), np.zeros(0, dtype=np.int64)
        got = (scores, hits)
        with self._recent_lock:
            while len(self._recent) >= _RECENT:
                del self._recent[next(iter(self._recent))]
            self._recent[key] = got
        return got


def build(
    term_names: Sequence[str],
    offsets: np.ndarray,
    rows: np.ndarray,
    freqs: np.ndarray,
    first_df: np.ndarray,
    lengths: np.ndarray,
    labels: Sequence[str],
    groups: Sequence[str],
) -> Bm25Index:
    """An index from postings: `freqs` are the column-weighted term frequencies, `lengths` each row's tokens."""
    n_rows = len(labels)
    avgdl = float(lengths.sum()) / n_rows if n_rows and lengths.sum() else 1.0
    # The same operations in the same order as fts5_aux.c, so the doubles come out the same.
    norms = K1 * (1 - B + B * lengths.astype(np.float64) / avgdl)
    impacts = (freqs * (K1 + 1.0)) / (freqs + norms[rows])
    hits = np.diff(offsets).astype(np.float64)
    idf = np.log((n_rows - hits + 0.5) / (hits + 0.5))
    idf[idf <= 0.0] = 1e-6
    encoded = [s.encode("utf-8") for s in labels]
    label_offsets = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=label_offsets[1:])
    names = tuple(sorted(set(groups)))
    number = {name: i for i, name in enumerate(names)}
    return Bm25Index(
        terms={t: i for i, t in enumerate(term_names)},
        offsets=offsets.astype(np.int64, copy=False),
        rows=rows.astype(np.int32, copy=False),
        impacts=impacts,
        idf=idf,
        first_df=first_df.astype(np.int32, copy=False),
        labels=b"".join(encoded),
        label_offsets=label_offsets,
        groups=np.array([number[g] for g in groups], dtype=np.int32),
        group_names=names,
    )
