"""Lexical search: BM25 over the chunks and over whole articles, ranked as SQLite FTS5 would rank them.

Searches score from an in-memory copy of the FTS5 postings (`rag.index.bm25`), loaded from its file beside the
registry or built, and kept until the index version moves: the same ranking as FTS5's bm25(), without FTS5
scoring every matching row (0.1–0.3 ms a search at 100k chunks, where FTS5 takes tens of milliseconds for a
long question). A word FTS5 splits into a phrase ("a_b") is left to FTS5 itself.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rag.index.registry import Registry
from rag.question.words import terms

if TYPE_CHECKING:
    from rag.index.bm25.levels import Bm25Levels
    from rag.index.bm25.postings import QueryTokenizer

WEIGHTS = (1.0, 0.4, 0.2)  # FTS5 column weights of a chunk's text, its article's title and its source
_MAX_PHRASES = 50_000  # phrase document frequencies kept per index version before they start afresh


class LexicalIndex:
    """BM25 searches over the registry's chunks and articles."""

    def __init__(self, registry: Registry, *, weights: tuple[float, float, float] = WEIGHTS) -> None:
        self.registry = registry
        self.weights = weights
        self._levels: Bm25Levels | None = None  # the in-memory BM25 of one index version
        self._build_lock = threading.Lock()
        self._tokenizer: QueryTokenizer | None = None

    def search(self, query: str, k: int, sources: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """The `k` best chunk ids for `query` by BM25, with scores (higher is better).

        An OR query of the query's content words, scored as FTS5's bm25() with the column weights
        (text, title, source), from the in-memory index (`rag.index.bm25`). With `sources`, only chunks of
        articles from those sources compete.
        """
        words = list(dict.fromkeys(w.replace('"', "") for w in terms(query)))
        if not words or (sources is not None and not sources):
            return []
        tokens = self.tokenizer.tokens(words)
        if any(len(t) > 1 for t in tokens):  # a word FTS5 splits ("a_b") is a phrase: FTS5 itself matches it
            return self._fts_search(words, k, sources)
        return self.bm25().chunks.top([t[0] for t in tokens if t], k, sources)

    def _fts_search(self, words: Sequence[str], k: int, sources: Sequence[str] | None) -> list[tuple[str, float]]:
        """`search` by FTS5 (exact for phrases, slow for long queries: bm25() runs for every matching row)."""
        match = " OR ".join('"' + w + '"' for w in words)
        w = self.weights
        where, args = "", [match]
        if sources is not None:
            where = f" AND c.doc_id IN (SELECT doc_id FROM articles WHERE source IN ({','.join('?' * len(sources))}))"
            args += list(sources)
        rows = self.registry.all(
            f"SELECT c.chunk_id, -bm25(chunks_fts, {w[0]}, {w[1]}, {w[2]}) AS score FROM chunks_fts "
            f"JOIN chunks c ON c.id = chunks_fts.rowid WHERE chunks_fts MATCH ?{where} ORDER BY score DESC LIMIT ?",
            (*args, k),
        )
        return [(cid, float(score)) for cid, score in rows]

    def search_articles(self, query: str, k: int, sources: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """The `k` best doc ids for `query` by BM25 over whole articles (title and text), with scores.

        Scored as FTS5's bm25() over a table of (title, text) per article, both weighted 1; a word
        FTS5 would split ("a_b") counts as its parts here, not as a phrase.
        """
        words = list(dict.fromkeys(w.replace('"', "") for w in terms(query)))
        if not words or (sources is not None and not sources):
            return []
        phrases = [token for tokens in self.tokenizer.tokens(words) for token in tokens]
        return self.bm25().articles.top(phrases, k, sources)

    @property
    def tokenizer(self) -> QueryTokenizer:
        """FTS5's tokenizer for query words (created on first use)."""
        if self._tokenizer is None:
            from rag.index.bm25.postings import QueryTokenizer

            self._tokenizer = QueryTokenizer()
        return self._tokenizer

    def bm25(self) -> Bm25Levels:
        """The in-memory BM25 index of the current index version: kept, loaded from its file, or built."""
        levels = self._levels
        if levels is not None and levels.version == self.registry.version():
            return levels
        with self._build_lock:
            levels = self._levels
            if levels is None or levels.version != self.registry.version():
                from rag.index.bm25.levels import open_levels

                levels = self._levels = open_levels(self.registry.path, self.weights)
        return levels

    def refresh(self, *, rebuild: bool = False) -> None:
        """Bring the in-memory BM25 up to the current version now (and save it), not on the next search; with
        `rebuild`, build it from the registry and save it again even when a copy is at hand."""
        if rebuild:
            from rag.index.bm25.levels import cache_path

            with self._build_lock:
                self._levels = None
                cache_path(self.registry.path).unlink(missing_ok=True)
        self.bm25()

    def saved_is_current(self, *, read: bool = True) -> bool:
        """True when the BM25 file beside the registry describes the current index (its header, and with `read`
        its arrays read back whole)."""
        from rag.index.bm25.levels import saved_is_current

        return saved_is_current(self.registry.path, self.weights, read=read)

    def document_frequency(self, words: Sequence[str]) -> tuple[dict[str, int], int]:
        """How many chunks hold each word in their text (after stemming by FTS5), and the number of chunks."""
        wanted = list(dict.fromkeys(words))
        tokens = dict(zip(wanted, self.tokenizer.tokens([w.replace('"', "") for w in wanted]), strict=True))
        index = self.bm25().chunks
        registry = self.registry
        with registry.lock:
            kept = registry.of_version()
            if "phrases" not in kept or len(kept["phrases"]) > _MAX_PHRASES:
                kept["phrases"] = {}
            phrases = kept["phrases"]
            df = {}
            for word, toks in tokens.items():
                if len(toks) == 1:
                    df[word] = index.df(toks[0], first_column=True)
                    continue
                if word not in phrases:  # a phrase: FTS5 counts it
                    row = registry.one("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (f'text:"{word}"',))
                    phrases[word] = int(row[0]) if row else 0
                df[word] = phrases[word]
            total = registry.chunk_count()
        return df, total

    def idf(self, words: Sequence[str]) -> dict[str, float]:
        """BM25's IDF of each word over the indexed chunks' text: rare words weigh more, words in every chunk
        weigh little."""
        df, total = self.document_frequency(words)
        return {w: math.log(1 + (total - n + 0.5) / (n + 0.5)) for w, n in df.items()}

    def close(self) -> None:
        """Release the query tokenizer's database."""
        if self._tokenizer is not None:
            self._tokenizer.db.close()
