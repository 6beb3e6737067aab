"""The REPL: commands and follow-ups through a Session, and the piped mode through the real entry point."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.repl import HELP, Session, run_piped
from rag.answer import REFUSAL
from rag.types import Article
from tests.conftest import OMAN_QUOTE


@pytest.fixture
def session(fake_pipeline) -> Session:
    fake_pipeline.ingest(
        [
            Article("port", "Port reopens", "The port of Westhaven reopened on Monday after the storm.", "Coast News"),
            Article("rates", "Rates held", "The central bank held interest rates at four percent.", "Money Wire"),
        ]
    )
    return Session(fake_pipeline)


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("/help", HELP),
        ("/sources", "No sources yet: ask a question first."),
        ("/reset", "Conversation forgotten."),
        ("/frobnicate", "Unknown command /frobnicate — try /help."),
        ("   ", "⚠ the question is empty — type a question about the articles"),
        ("/quit", None),
        ("/exit", None),
    ],
)
def test_commands(session: Session, line: str, reply: str | None) -> None:
    assert session.handle(line) == reply


def test_question_sources_and_reset(session: Session) -> None:
    reply = session.handle("When did the port of Westhaven reopen?")
    assert reply is not None
    assert reply.startswith("The port of Westhaven reopened on Monday after the storm. [1]")
    assert "[1] Port reopens — Coast News, paragraph 1" in reply
    assert session.handle("/sources") == (
        "[1] Port reopens — Coast News, paragraph 1\nThe port of Westhaven reopened on Monday after the storm."
    )
    assert len(session.conversation.turns) == 1
    session.handle("/reset")
    assert session.conversation.turns == []


def test_piped_mode_answers_each_line_in_one_conversation(session: Session) -> None:
    out = io.StringIO()
    assert (
        run_piped(session, io.StringIO("When did the port of Westhaven reopen?\n\n/sources\n/quit\nignored\n"), out)
        == 0
    )
    text = out.getvalue()
    assert text.count("> ") == 2
    assert "> /sources\n[1] Port reopens" in text
    assert "ignored" not in text


@pytest.mark.slow
def test_repl_entry_point_with_piped_stdin(
    seeded_copy: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in list(os.environ):
        if key.startswith("NEWSBOT_"):
            monkeypatch.delenv(key)
    questions = "What did Dedov say about Oman?\nWho won the 2022 football World Cup?\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(questions))
    assert main(["--data-dir", str(seeded_copy), "repl"]) == 0
    out = capsys.readouterr().out
    first, second = out.split("> Who won the 2022 football World Cup?\n")
    assert first.startswith("> What did Dedov say about Oman?\n")
    assert OMAN_QUOTE in first
    assert second.startswith(REFUSAL)
