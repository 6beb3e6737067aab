"""The SQLite side of the index: the article registry and a BM25 (FTS5) index of chunks.

The registry is the commit point of an ingest: an article counts as indexed once its row
is here, written in one transaction with its lexical rows, after its vectors reached Chroma.
Searches score from an in-memory copy of the FTS5 postings (rag/bm25.py), rebuilt or reloaded
when the index version moves (rag/bm25_cache.py): the same ranking, without FTS5 scoring every match.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import IndexUnavailable
from rag.sentence_record import VERSION as SENTENCES_VERSION
from rag.sentence_record import encode_sentences
from rag.terms import STEMMER_VERSION, stems, terms
from rag.types import Article, ArticleInfo, Chunk

if TYPE_CHECKING:
    from rag.bm25_cache import Bm25Levels
    from rag.fts_postings import QueryTokenizer

log = logging.getLogger(__name__)
_MAX_COUNTS = 50_000  # cached document frequencies before the cache starts afresh
# Hydrated chunks kept (per index version) before the cache starts afresh: ~2 KB each (text, stems, offsets), so
# ~400 MB at most. A serving process reads them all at start when the index holds no more (`preload`): at 100k
# chunks its first questions then read nothing from SQLite (docs/performance.md). NEWSBOT_CHUNK_CACHE sets it.
CHUNK_CACHE = 200_000

_SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    doc_id TEXT PRIMARY KEY, title TEXT NOT NULL, source TEXT NOT NULL, published TEXT,
    url TEXT, content_hash TEXT NOT NULL, chunks INTEGER NOT NULL, text TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY, chunk_id TEXT UNIQUE NOT NULL, doc_id TEXT NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, paragraphs TEXT NOT NULL, stems TEXT, sentences TEXT);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, title, source, tokenize='porter unicode61 remove_diacritics 2');
"""


class LexicalIndex:
    """Article registry + FTS5 chunk index in one SQLite file (safe across threads and processes)."""

    def __init__(
        self, path: Path, *, weights: tuple[float, float, float] = (1.0, 0.4, 0.2), chunk_cache: int = CHUNK_CACHE
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(str(path), check_same_thread=False, timeout=30, isolation_level=None)
            self.db.executescript(_SCHEMA)
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise IndexUnavailable(f"cannot open the index at {path} ({exc}) — check NEWSBOT_DATA_DIR") from None
        self.path = path
        self.weights = weights
        self.chunk_cache = chunk_cache  # chunks kept per index version (CHUNK_CACHE)
        self._lock = threading.RLock()
        self._levels: Bm25Levels | None = None  # the in-memory BM25 of one index version (rag/bm25.py)
        self._build_lock = threading.Lock()
        self._tokenizer: QueryTokenizer | None = None
        self._derived: tuple[int, dict[str, Any]] = (-1, {})  # (index version, values read from it: _of_version)

    def _migrate(self) -> None:
        """Bring an index written by an older newsbot up to this schema: chunks get the `stems` and `sentences`
        columns (empty until `refresh` fills them), and what another stemmer or sentence splitter wrote there is
        forgotten. Writes only when there is something to change (a read-only index of this schema still opens)."""
        stored = {"stems": ("stemmer", STEMMER_VERSION), "sentences": ("sentences", SENTENCES_VERSION)}

        def current() -> dict[str, tuple[bool, str | None]]:
            columns = {row[1] for row in self.db.execute("PRAGMA table_info(chunks)")}
            versions = dict(self.db.execute("SELECT key, value FROM meta WHERE key IN ('stemmer', 'sentences')"))
            return {column: (column in columns, versions.get(key)) for column, (key, _) in stored.items()}

        wanted = {column: (True, version) for column, (_, version) in stored.items()}
        if current() == wanted:
            return
        with _Transaction(self.db):
            for column, (has_column, version) in current().items():  # again: another process may have migrated
                key, wanted_version = stored[column]
                if not has_column:
                    self.db.execute(f"ALTER TABLE chunks ADD COLUMN {column} TEXT")
                if version != wanted_version:
                    if version is not None:
                        self.db.execute(f"UPDATE chunks SET {column} = NULL")
                    self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, wanted_version))

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

    def sources(self) -> tuple[str, ...]:
        """The sources of the indexed articles ("" for an article without one), sorted; kept per index version."""
        kept = self._of_version()
        if "sources" not in kept:
            kept["sources"] = tuple(sorted({a.source for a in self.articles()}))
        return kept["sources"]

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
                    'INSERT INTO chunks (chunk_id, doc_id, start, "end", paragraphs, stems, sentences) '
                    "VALUES (?,?,?,?,?,?,?)",
                    (
                        c.chunk_id,
                        c.doc_id,
                        c.start,
                        c.end,
                        ",".join(map(str, c.paragraphs)),
                        " ".join(stems(c.text)),
                        encode_sentences(c.text),
                    ),
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

        An OR query of the query's content words, scored as FTS5's bm25() with the column weights
        (text, title, source), from the in-memory index (rag/bm25.py). With `sources`, only chunks of
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
        rows = self._all(
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
            from rag.fts_postings import QueryTokenizer

            self._tokenizer = QueryTokenizer()
        return self._tokenizer

    def bm25(self) -> Bm25Levels:
        """The in-memory BM25 index of the current index version: kept, loaded from its file, or built."""
        levels = self._levels
        if levels is not None and levels.version == self.version():
            return levels
        with self._build_lock:
            levels = self._levels
            if levels is None or levels.version != self.version():
                from rag.bm25_cache import open_levels  # numpy: not for `newsbot list`

                levels = self._levels = open_levels(self.path, self.weights)
        return levels

    def refresh(self) -> None:
        """Bring the in-memory BM25 up to the current version now (and save it), not on the next search; and
        store the stems and sentences of chunks an older newsbot indexed without them."""
        self.bm25()
        self.fill_stored()

    def fill_stored(self, batch: int = 2000) -> None:
        """Stems and sentences for the chunks that lack them (an index from before they were stored, or another
        stemmer's or splitter's), a batch per transaction. Answers do not change (the answerer splits and stems
        such chunks itself), so neither does the version."""
        while True:
            with self._lock, self._transaction():
                rows = self.db.execute(
                    'SELECT c.id, c.start, c."end", c.stems, c.sentences, a.text FROM chunks c '
                    "JOIN articles a USING (doc_id) WHERE c.stems IS NULL OR c.sentences IS NULL LIMIT ?",
                    (batch,),
                ).fetchall()
                self.db.executemany(  # only what a row lacks is made: an index of the stems' era has them all
                    "UPDATE chunks SET stems = ?, sentences = ? WHERE id = ?",
                    [
                        (
                            held if held is not None else " ".join(stems(text[start:end])),
                            record if record is not None else encode_sentences(text[start:end]),
                            rowid,
                        )
                        for rowid, start, end, held, record, text in rows
                    ],
                )
            if rows:
                self._of_version().pop("chunks", None)  # chunks read before now lack what was stored
            if len(rows) < batch:
                return

    def chunks(self, chunk_ids: Sequence[str]) -> dict[str, Chunk]:
        """Indexed chunks by id; ids not (or no longer) indexed are absent."""
        by_id, _ = self._hydrated_now()
        missing = [c for c in chunk_ids if c not in by_id]
        if missing:
            found = self._hydrate(f"chunk_id IN ({','.join('?' * len(missing))})", tuple(missing))
            by_id.update((c.chunk_id, c) for c in found)
        return {c: by_id[c] for c in chunk_ids if c in by_id}

    def article_chunks(self, doc_ids: Sequence[str]) -> list[Chunk]:
        """Every chunk of these articles: article by article as given, each in text order."""
        by_id, by_doc = self._hydrated_now()
        missing = [d for d in doc_ids if d not in by_doc]
        if missing:
            found = self._hydrate(f"doc_id IN ({','.join('?' * len(missing))})", tuple(missing))
            grouped: dict[str, list[Chunk]] = {d: [] for d in missing}
            for c in found:
                grouped[c.doc_id].append(by_id.setdefault(c.chunk_id, c))
            by_doc.update((d, tuple(cs)) for d, cs in grouped.items())  # whole articles only, for other threads
        return [c for d in dict.fromkeys(doc_ids) for c in by_doc[d]]

    def preload(self) -> int:
        """Read every chunk into the per-version cache, with its stored stems parsed, when the index holds no
        more than the cache keeps (`chunk_cache`); returns how many were read (0 when the index is larger).
        A serving process does it once, so that its first questions read no chunk from SQLite either."""
        if not 0 < self.chunk_count() <= self.chunk_cache:
            return 0
        docs = sorted(a.doc_id for a in self.articles())
        read = 0
        for i in range(0, len(docs), 500):  # a few hundred SQL parameters at a time
            for chunk in self.article_chunks(docs[i : i + 500]):
                chunk.stem_ids  # noqa: B018 -- read for its cache
                read += 1
        return read

    def _hydrated_now(self) -> tuple[dict[str, Chunk], dict[str, tuple[Chunk, ...]]]:
        """Chunks already read, by id and by article, of the current index version (started afresh when the
        cache grew past `chunk_cache`): a passage is read from SQLite once per version."""
        kept = self._of_version()
        if "chunks" not in kept or len(kept["chunks"]) > self.chunk_cache:
            kept["article_chunks"] = {}  # first: another thread that finds "chunks" finds this too
            kept["chunks"] = {}
        return kept["chunks"], kept["article_chunks"]

    def _hydrate(self, where: str, args: tuple) -> list[Chunk]:
        """Chunks of the rows `where` selects, each article's text read once (one snapshot for both reads)."""
        with self._lock, _Transaction(self.db, "BEGIN"):
            rows = self.db.execute(
                f'SELECT chunk_id, doc_id, start, "end", paragraphs, stems, sentences FROM chunks WHERE {where} '
                "ORDER BY id",
                args,
            ).fetchall()
            docs = list(dict.fromkeys(r[1] for r in rows))
            articles = {
                doc_id: rest
                for doc_id, *rest in self.db.execute(
                    f"SELECT doc_id, text, title, source, published FROM articles "
                    f"WHERE doc_id IN ({','.join('?' * len(docs))})",
                    docs,
                )
            }
        out = []
        for cid, doc_id, start, end, paras, held, sentences in rows:
            if doc_id in articles:
                text, title, source, published = articles[doc_id]
                numbers = tuple(int(p) for p in paras.split(",") if p)
                out.append(
                    Chunk(cid, doc_id, text[start:end], start, end, numbers, title, source, published, held, sentences)
                )
        return out

    def document_frequency(self, words: Sequence[str]) -> tuple[dict[str, int], int]:
        """How many chunks hold each word in their text (after stemming by FTS5), and the number of chunks."""
        wanted = list(dict.fromkeys(words))
        tokens = dict(zip(wanted, self.tokenizer.tokens([w.replace('"', "") for w in wanted]), strict=True))
        index = self.bm25().chunks
        with self._lock:
            counts = self._counts_now()
            df = {}
            for word, toks in tokens.items():
                if len(toks) == 1:
                    df[word] = index.df(toks[0], first_column=True)
                    continue
                if word not in counts:  # a phrase: FTS5 counts it
                    row = self._one("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (f'text:"{word}"',))
                    counts[word] = int(row[0]) if row else 0
                df[word] = counts[word]
            total = counts[""]
        return df, total

    def chunk_count(self) -> int:
        """Number of chunks indexed."""
        with self._lock:
            return self._counts_now()[""]

    def _counts_now(self) -> dict[str, int]:
        """Document frequencies of the current index version, "" → the chunk count (started afresh when the
        cache grew past _MAX_COUNTS)."""
        kept = self._of_version()
        if "counts" not in kept or len(kept["counts"]) > _MAX_COUNTS:
            row = self._one("SELECT count(*) FROM chunks", ())
            kept["counts"] = {"": int(row[0]) if row else 0}
        return kept["counts"]

    def _of_version(self) -> dict[str, Any]:
        """Values read from the current index version (its sources, counts, the chunks read), kept until an
        ingest or removal moves the version."""
        version = self.version()
        if self._derived[0] != version:
            self._derived = (version, {})
        return self._derived[1]

    def close(self) -> None:
        """Close the database."""
        self.db.close()
        if self._tokenizer is not None:
            self._tokenizer.db.close()

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
    """BEGIN IMMEDIATE (or `begin`) … COMMIT, rolled back on any error."""

    def __init__(self, db: sqlite3.Connection, begin: str = "BEGIN IMMEDIATE") -> None:
        self.db = db
        self.begin = begin

    def __enter__(self) -> None:
        self.db.execute(self.begin)

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
