"""Followed topics, kept in the chat store's SQLite file so they survive a restart.

A follow belongs to a private chat (the user's); it is numbered for /unfollow by its place in /following.
Saved /latest searches live here too: the "More" button carries a search's id, not its topic.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from bot.telegram.store import ChatStore

MAX_FOLLOWS = 20
MAX_TOPIC_CHARS = 200
KEEP_SEARCHES = 5_000  # /latest searches whose "More" button still works

_SCHEMA = """
CREATE TABLE IF NOT EXISTS follows (id INTEGER PRIMARY KEY AUTOINCREMENT, chat_id INTEGER NOT NULL,
    topic TEXT NOT NULL, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS follows_chat ON follows (chat_id);
CREATE TABLE IF NOT EXISTS latest_searches (id INTEGER PRIMARY KEY AUTOINCREMENT, chat_id INTEGER NOT NULL,
    topic TEXT NOT NULL, created REAL NOT NULL);
"""


@dataclass(frozen=True)
class Follow:
    """A followed topic of a chat."""

    id: int
    chat_id: int
    topic: str


class FollowStore:
    """Follows and saved /latest searches in the chat store's database (thread-safe)."""

    def __init__(self, store: ChatStore) -> None:
        self.db = store.db
        self._lock = threading.Lock()
        with self._lock:
            self.db.executescript(_SCHEMA)

    def follows(self, chat_id: int) -> list[Follow]:
        """The chat's follows, oldest first (the order /following numbers them in)."""
        with self._lock:
            rows = self.db.execute(
                "SELECT id, chat_id, topic FROM follows WHERE chat_id=? ORDER BY id", (chat_id,)
            ).fetchall()
        return [Follow(*row) for row in rows]

    def everyone(self) -> list[Follow]:
        """Every follow of every chat."""
        with self._lock:
            rows = self.db.execute("SELECT id, chat_id, topic FROM follows ORDER BY chat_id, id").fetchall()
        return [Follow(*row) for row in rows]

    def add(self, chat_id: int, topic: str) -> Follow | None:
        """Follow `topic` (already checked for length); None when the chat has MAX_FOLLOWS already. Following a
        topic twice keeps one follow."""
        with self._lock:
            same = self.db.execute(
                "SELECT id FROM follows WHERE chat_id=? AND lower(topic)=lower(?)", (chat_id, topic)
            ).fetchone()
            if same:
                return Follow(same[0], chat_id, topic)
            (count,) = self.db.execute("SELECT count(*) FROM follows WHERE chat_id=?", (chat_id,)).fetchone()
            if count >= MAX_FOLLOWS:
                return None
            cur = self.db.execute(
                "INSERT INTO follows (chat_id, topic, created) VALUES (?,?,?)", (chat_id, topic, time.time())
            )
        return Follow(int(cur.lastrowid or 0), chat_id, topic)

    def remove(self, chat_id: int, number: int) -> Follow | None:
        """Stop the chat's follow number `number` (1-based, as /following lists them); None when there is none."""
        follows = self.follows(chat_id)
        if not 1 <= number <= len(follows):
            return None
        gone = follows[number - 1]
        with self._lock:
            self.db.execute("DELETE FROM follows WHERE id=?", (gone.id,))
        return gone

    def remove_chat(self, chat_id: int) -> int:
        """Drop every follow of a chat (it blocked the bot); how many."""
        with self._lock:
            return self.db.execute("DELETE FROM follows WHERE chat_id=?", (chat_id,)).rowcount

    def save_search(self, chat_id: int, topic: str) -> int:
        """Keep a /latest search for its "More" button; its id."""
        with self._lock:
            cur = self.db.execute(
                "INSERT INTO latest_searches (chat_id, topic, created) VALUES (?,?,?)", (chat_id, topic, time.time())
            )
            search_id = int(cur.lastrowid or 0)
            self.db.execute("DELETE FROM latest_searches WHERE id <= ?", (search_id - KEEP_SEARCHES,))
        return search_id

    def search(self, search_id: int, chat_id: int) -> str | None:
        """The topic of a saved /latest search made in `chat_id` ("" for none), or None when it is unknown."""
        with self._lock:
            row = self.db.execute(
                "SELECT topic FROM latest_searches WHERE id=? AND chat_id=?", (search_id, chat_id)
            ).fetchone()
        return row[0] if row else None
