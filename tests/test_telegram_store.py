"""The Telegram bot's SQLite store: answers and conversations round-trip, and rows written by older versions load."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from bot.render import citation_dict
from bot.telegram.store import ChatStore, answer_from_json, answer_to_json
from rag.question.followups import Conversation
from tests.telegram_fakes import FakePipeline

QUESTION = "What did Dedov say about Oman?"
ANSWER = FakePipeline().ask(QUESTION)  # one citation, of paragraphs 11–12
# That answer as the store wrote it before it shared `citation_dict` (dataclasses.asdict: another key order).
OLD_ANSWER_ROW = (
    '{"question": "What did Dedov say about Oman?", "text": "\\u201cOman\\u2019s mediation \\u2026 has been highly'
    ' active and positive,\\u201d Dedov added. [1]", "refused": false, "standalone_question": "What did Dedov say'
    ' about Oman?", "citations": [{"n": 1, "doc_id": "seed", "title": "Tehran\\u2013Moscow partnership will not'
    ' yield to foreign pressure: Russian envoy", "published": "2025-11-01T19:37:00", "source": "", "text": "Under'
    " the agreement, Iran and Russia aim to enhance collaboration.\\n\\n\\u201cOman\\u2019s mediation between Iran"
    ' and the United States has been highly active and positive,\\u201d Dedov added.", "start": 0, "end": 171,'
    ' "paragraphs": [11, 12]}]}'
)


def test_answers_round_trip_with_the_json_interfaces_citations(tmp_path: Path) -> None:
    stored = answer_to_json(ANSWER)
    assert stored["citations"] == [citation_dict(c) for c in ANSWER.citations]  # the same shape as `ask --json`
    assert answer_from_json(json.loads(json.dumps(stored))) == ANSWER
    store = ChatStore(tmp_path / "telegram.sqlite3")
    conversation = Conversation()
    conversation.add("Who is Alexey Yurievich Dedov?", "Who is Alexey Yurievich Dedov?", None)
    conversation.add(QUESTION, QUESTION, ANSWER)
    store.save("42", conversation)
    answer_id = store.add_answer("42", 42, ANSWER)
    loaded = store.conversation("42")
    assert [(t.question, t.standalone, t.answer) for t in loaded.turns] == [
        ("Who is Alexey Yurievich Dedov?", "Who is Alexey Yurievich Dedov?", None),
        (QUESTION, QUESTION, ANSWER),
    ]
    assert store.answer(answer_id, 42) == ANSWER
    assert store.answer(answer_id, 43) is None  # another chat's answer is not theirs to see
    store.close()


def test_rows_written_by_the_old_store_still_load(tmp_path: Path) -> None:
    path = tmp_path / "telegram.sqlite3"
    old_turns = f'[{{"question": "And Oman?", "standalone": "{QUESTION}", "answer": {OLD_ANSWER_ROW}}}]'
    with sqlite3.connect(path) as db:  # the store as it was before answers were kept with their chat
        db.execute("CREATE TABLE conversations (key TEXT PRIMARY KEY, turns TEXT NOT NULL, updated REAL NOT NULL)")
        db.execute(
            "CREATE TABLE answers (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, answer TEXT NOT NULL, "
            "created REAL NOT NULL)"
        )
        db.execute("INSERT INTO answers (key, answer, created) VALUES ('42', ?, 1.0)", (OLD_ANSWER_ROW,))
        db.execute("INSERT INTO conversations VALUES ('42', ?, 1.0)", (old_turns,))
    db.close()
    store = ChatStore(path)
    turns = store.conversation("42").turns
    assert [(t.question, t.standalone, t.answer) for t in turns] == [("And Oman?", QUESTION, ANSWER)]
    assert turns[0].answer is not None and turns[0].answer.citations[0].paragraphs == (11, 12)  # a tuple again
    assert store.answer(1, 42) is None  # an answer kept without its chat: its button has expired
    assert store.add_answer("42", 42, ANSWER) == 2 and store.answer(2, 42) == ANSWER
    store.close()
