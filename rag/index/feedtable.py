"""The followed feeds, in the registry's SQLite file: each feed's address, HTTP validators, schedule and health,
the entries already seen (an unchanged entry is skipped without fetching its page again), and where else a
story appeared when a near-duplicate of it was not indexed twice.

A feed that fails waits longer each time (exponential backoff from the refresh interval, capped at a day);
its next success puts it back on the normal schedule.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.index.registry import unwritable

MAX_BACKOFF = 24 * 3600.0  # seconds: the longest a failing feed waits

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    id INTEGER PRIMARY KEY, url TEXT UNIQUE NOT NULL, title TEXT NOT NULL DEFAULT '',
    etag TEXT, last_modified TEXT, fetched_at REAL, status TEXT NOT NULL DEFAULT 'new', error TEXT,
    failures INTEGER NOT NULL DEFAULT 0, next_due REAL NOT NULL DEFAULT 0, every REAL, added_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS feed_entries (
    feed_id INTEGER NOT NULL, entry_key TEXT NOT NULL, digest TEXT NOT NULL, doc_id TEXT NOT NULL,
    seen_at REAL NOT NULL, PRIMARY KEY (feed_id, entry_key));
CREATE INDEX IF NOT EXISTS feed_entries_doc ON feed_entries(doc_id);
CREATE TABLE IF NOT EXISTS sketches (doc_id TEXT PRIMARY KEY, signature BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS duplicates (
    doc_id TEXT NOT NULL, url TEXT NOT NULL, source TEXT NOT NULL, seen_at REAL NOT NULL,
    PRIMARY KEY (doc_id, url));
"""


@dataclass(frozen=True)
class Feed:
    """One followed feed as stored."""

    id: int
    url: str
    title: str
    etag: str | None
    last_modified: str | None
    fetched_at: float | None
    status: str  # 'new', 'ok', 'unchanged' or 'failed'
    error: str | None
    failures: int
    next_due: float
    every: float | None  # the feed's own interval, seconds; None: the refresh interval
    articles: int = 0


_COLUMNS = "id, url, title, etag, last_modified, fetched_at, status, error, failures, next_due, every"


class FeedTable:
    """Feeds, seen entries, near-duplicate sketches and duplicates, beside the registry's tables."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(path), check_same_thread=False, timeout=30, isolation_level=None)
            self.db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise unwritable(path, exc) from None

    def _run(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        with self.lock:
            try:
                return self.db.execute(sql, args)
            except sqlite3.IntegrityError:
                raise
            except sqlite3.Error as exc:
                raise unwritable(self.path, exc) from None

    # --- feeds ----------------------------------------------------------------------------------------------
    def add(self, url: str, title: str = "", every: float | None = None) -> tuple[Feed, bool]:
        """Follow a feed (due at once); the feed and whether it is new (an already followed URL is no error)."""
        known = self.find(url)
        if known is not None:
            return known, False
        self._run(
            "INSERT INTO feeds (url, title, every, added_at) VALUES (?, ?, ?, ?)", (url, title, every, time.time())
        )
        found = self.find(url)
        assert found is not None
        return found, True

    def find(self, key: str) -> Feed | None:
        """A feed by id (digits) or URL."""
        if key.isdigit():
            row = self._run(f"SELECT {_COLUMNS} FROM feeds WHERE id = ?", (int(key),)).fetchone()
        else:
            row = self._run(f"SELECT {_COLUMNS} FROM feeds WHERE url = ?", (key,)).fetchone()
        return Feed(*row) if row else None

    def feeds(self) -> list[Feed]:
        """Every followed feed, with how many articles it brought."""
        rows = self._run(
            f"SELECT {', '.join('f.' + c for c in _COLUMNS.split(', '))}, "
            "(SELECT COUNT(DISTINCT doc_id) FROM feed_entries e WHERE e.feed_id = f.id) FROM feeds f ORDER BY f.id"
        ).fetchall()
        return [Feed(*row) for row in rows]

    def due(self, now: float, every: float, *, everything: bool = False) -> list[Feed]:
        """The feeds a refresh at `now` fetches: those whose time has come, or all."""
        return [f for f in self.feeds() if everything or f.next_due <= now]

    def remove(self, feed_id: int) -> list[str]:
        """Stop following a feed; the doc ids of the articles it brought."""
        docs = [r[0] for r in self._run("SELECT DISTINCT doc_id FROM feed_entries WHERE feed_id = ?", (feed_id,))]
        with self.lock:
            self._run("BEGIN IMMEDIATE")
            self._run("DELETE FROM feed_entries WHERE feed_id = ?", (feed_id,))
            self._run("DELETE FROM feeds WHERE id = ?", (feed_id,))
            self._run("COMMIT")
        return docs

    def fetched(
        self,
        feed: Feed,
        now: float,
        every: float,
        *,
        status: str,
        title: str | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        url: str | None = None,
    ) -> None:
        """Record a successful fetch (200 or 304) and schedule the next one."""
        interval = feed.every or every
        self._run(
            "UPDATE feeds SET fetched_at = ?, status = ?, error = NULL, failures = 0, next_due = ?, "
            "title = COALESCE(?, title), etag = ?, last_modified = ?, url = COALESCE(?, url) WHERE id = ?",
            (now, status, now + interval, title, etag, last_modified, url, feed.id),
        )

    def failed(self, feed: Feed, now: float, every: float, error: str) -> float:
        """Record a failure; the feed waits twice as long after each one in a row (capped). The next due time."""
        failures = feed.failures + 1
        wait = min((feed.every or every) * 2 ** (failures - 1), MAX_BACKOFF)
        self._run(
            "UPDATE feeds SET fetched_at = ?, status = 'failed', error = ?, failures = ?, next_due = ? WHERE id = ?",
            (now, error, failures, now + wait, feed.id),
        )
        return now + wait

    def unfinished(self, feed_id: int) -> None:
        """Forget a feed's validators: some of its entries wait (a pass cut short, an entry that failed), so the
        next fetch must get the whole feed rather than a 304."""
        self._run("UPDATE feeds SET etag = NULL, last_modified = NULL WHERE id = ?", (feed_id,))

    # --- entries --------------------------------------------------------------------------------------------
    def seen(self, feed_id: int) -> dict[str, str]:
        """Entry key → digest of the entries of a feed already handled."""
        rows = self._run("SELECT entry_key, digest FROM feed_entries WHERE feed_id = ?", (feed_id,)).fetchall()
        return {k: d for k, d in rows}

    def mark_seen(self, feed_id: int, entries: Sequence[tuple[str, str, str]]) -> None:
        """Remember entries as handled: (entry key, digest, doc id)."""
        now = time.time()
        with self.lock:
            self._run("BEGIN IMMEDIATE")
            for key, digest, doc_id in entries:
                self._run(
                    "INSERT OR REPLACE INTO feed_entries (feed_id, entry_key, digest, doc_id, seen_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (feed_id, key, digest, doc_id, now),
                )
            self._run("COMMIT")

    # --- near-duplicates ------------------------------------------------------------------------------------
    def sketches(self) -> list[tuple[str, bytes]]:
        """(doc id, MinHash signature bytes) of every sketched article."""
        return [(d, bytes(s)) for d, s in self._run("SELECT doc_id, signature FROM sketches").fetchall()]

    def keep_sketch(self, doc_id: str, signature: bytes) -> None:
        self._run("INSERT OR REPLACE INTO sketches (doc_id, signature) VALUES (?, ?)", (doc_id, signature))

    def forget(self, doc_ids: Sequence[str]) -> None:
        """Drop the sketches and duplicate records of removed articles."""
        for doc_id in doc_ids:
            self._run("DELETE FROM sketches WHERE doc_id = ?", (doc_id,))
            self._run("DELETE FROM duplicates WHERE doc_id = ?", (doc_id,))

    def duplicate(self, doc_id: str, url: str, source: str) -> None:
        """Record that the story indexed as `doc_id` also appeared at `url` (from `source`)."""
        self._run(
            "INSERT OR IGNORE INTO duplicates (doc_id, url, source, seen_at) VALUES (?, ?, ?, ?)",
            (doc_id, url, source, time.time()),
        )

    def also_at(self) -> dict[str, list[str]]:
        """Doc id → the other places (source: url) the story appeared."""
        return _also_at(self._run(_ALSO_AT))

    def close(self) -> None:
        with self.lock:
            self.db.close()


_ALSO_AT = "SELECT doc_id, url, source FROM duplicates ORDER BY seen_at"


def _also_at(rows: Iterable[tuple[str, str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for doc_id, url, source in rows:
        out.setdefault(doc_id, []).append(f"{source}: {url}" if source else url)
    return out


def also_at(path: Path) -> dict[str, list[str]]:
    """`FeedTable.also_at` read without writing anything: empty when there is no index, or it never followed a
    feed (for `newsbot list`, which must not create a data dir or tables)."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return _also_at(db.execute(_ALSO_AT))
        finally:
            db.close()
    except sqlite3.Error:
        return {}
