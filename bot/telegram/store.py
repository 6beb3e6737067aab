"""Telegram conversations and answers kept in SQLite under the data directory, so they survive a restart.

A conversation is keyed by chat in private chats and by (chat, user) in groups (see `conversation_key`);
an answer gets an id that the inline "Sources" button carries (signed for its chat, `bot.telegram.buttons`), so
the button keeps working later, and only in the chat it was sent to.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from bot.render import citation_dict, citation_from_dict
from rag.question.followups import Conversation, Turn
from rag.types import Answer

_SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS conversations (key TEXT PRIMARY KEY, turns TEXT NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS answers (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL,
    answer TEXT NOT NULL, created REAL NOT NULL, chat_id INTEGER);
CREATE TABLE IF NOT EXISTS updates (update_id INTEGER PRIMARY KEY, body TEXT NOT NULL, received REAL NOT NULL,
    done INTEGER NOT NULL DEFAULT 0);
"""
KEEP_DONE_UPDATES = 86_400.0  # seconds a handled update's id is remembered (Telegram redelivers within hours)
KEEP_ANSWERS = 20_000  # answers whose Sources button still works; older ones are pruned


def conversation_key(chat_id: int, user_id: int | None, private: bool) -> str:
    """'42' for a private chat; '-100123:42' for user 42 in group -100123, so group members never mix."""
    return str(chat_id) if private or user_id is None else f"{chat_id}:{user_id}"


def answer_to_json(answer: Answer) -> dict[str, Any]:
    """What is kept of an answer: its words and citations (not the ranked passages)."""
    return {
        "question": answer.question,
        "text": answer.text,
        "refused": answer.refused,
        "standalone_question": answer.standalone_question,
        "citations": [citation_dict(c) for c in answer.citations],
    }


def answer_from_json(data: dict[str, Any]) -> Answer:
    """The inverse of `answer_to_json`."""
    return Answer(
        question=data["question"],
        text=data["text"],
        refused=data["refused"],
        citations=tuple(citation_from_dict(c) for c in data["citations"]),
        standalone_question=data.get("standalone_question", ""),
    )


class ChatStore:
    """Conversations and answers in one SQLite file (thread-safe)."""

    def __init__(self, path: Path, *, max_turns: int = 10) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), check_same_thread=False, timeout=30, isolation_level=None)
        self.db.executescript(_SCHEMA)
        if "chat_id" not in {row[1] for row in self.db.execute("PRAGMA table_info(answers)")}:
            self.db.execute("ALTER TABLE answers ADD COLUMN chat_id INTEGER")  # older rows: no chat, no button
        self.max_turns = max_turns
        self._lock = threading.Lock()

    def conversation(self, key: str) -> Conversation:
        """The stored conversation of `key` (empty when there is none)."""
        with self._lock:
            row = self.db.execute("SELECT turns FROM conversations WHERE key=?", (key,)).fetchone()
        conversation = Conversation(max_turns=self.max_turns)
        for t in json.loads(row[0]) if row else []:
            answer = answer_from_json(t["answer"]) if t.get("answer") else None
            conversation.turns.append(Turn(t["question"], t["standalone"], answer))
        return conversation

    def save(self, key: str, conversation: Conversation) -> None:
        """Store the conversation of `key`, replacing the old one."""
        turns = [
            {"question": t.question, "standalone": t.standalone, "answer": t.answer and answer_to_json(t.answer)}
            for t in conversation.turns[-self.max_turns :]
        ]
        with self._lock:
            self.db.execute(
                "INSERT OR REPLACE INTO conversations VALUES (?,?,?)", (key, json.dumps(turns), time.time())
            )

    def reset(self, key: str) -> None:
        """Forget the conversation of `key`."""
        with self._lock:
            self.db.execute("DELETE FROM conversations WHERE key=?", (key,))

    def add_answer(self, key: str, chat_id: int, answer: Answer) -> int:
        """Keep an answer sent to `chat_id`; returns its id."""
        with self._lock:
            cur = self.db.execute(
                "INSERT INTO answers (key, answer, created, chat_id) VALUES (?,?,?,?)",
                (key, json.dumps(answer_to_json(answer)), time.time(), chat_id),
            )
            answer_id = int(cur.lastrowid or 0)
            self.db.execute("DELETE FROM answers WHERE id <= ?", (answer_id - KEEP_ANSWERS,))
        return answer_id

    def answer(self, answer_id: int, chat_id: int) -> Answer | None:
        """A kept answer sent to `chat_id`, or None when it is unknown, pruned, or another chat's."""
        with self._lock:
            row = self.db.execute(
                "SELECT answer FROM answers WHERE id=? AND chat_id=?", (answer_id, chat_id)
            ).fetchone()
        return answer_from_json(json.loads(row[0])) if row else None

    # --- the update journal ------------------------------------------------------------------
    def record_update(self, update_id: int, body: dict[str, Any]) -> bool:
        """Journal an incoming update before it is handled; False when its id was journaled before (a
        redelivery of one already handled or already waiting: it must not be handled twice)."""
        with self._lock:
            cur = self.db.execute(
                "INSERT OR IGNORE INTO updates (update_id, body, received) VALUES (?,?,?)",
                (update_id, json.dumps(body), time.time()),
            )
        return cur.rowcount > 0

    def update_done(self, update_id: int) -> None:
        """Mark a journaled update handled."""
        with self._lock:
            self.db.execute("UPDATE updates SET done = 1 WHERE update_id = ?", (update_id,))

    def pending_updates(self) -> list[dict[str, Any]]:
        """The journaled updates not yet handled (a process stopped before it got to them), oldest first; handled
        ones older than a day are forgotten."""
        with self._lock:
            self.db.execute("DELETE FROM updates WHERE done = 1 AND received < ?", (time.time() - KEEP_DONE_UPDATES,))
            rows = self.db.execute("SELECT body FROM updates WHERE done = 0 ORDER BY update_id").fetchall()
        return [json.loads(body) for (body,) in rows]

    def close(self) -> None:
        """Close the database."""
        self.db.close()
