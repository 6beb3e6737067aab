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


class Terminal:
    """`newsbot repl` on a pseudo-terminal that is its controlling terminal (so Ctrl-C there is its SIGINT); what
    it shows, read with bounded waits."""

    def __init__(self, data_dir: Path, **env: str) -> None:
        import pty
        import subprocess

        environ = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
        environ.update(TERM="xterm", COLUMNS="200", LINES="50", **env)
        self.leader, follower = pty.openpty()

        def own_terminal() -> None:
            import fcntl
            import termios

            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "--data-dir", str(data_dir), "repl"],
            stdin=follower,
            stdout=follower,
            stderr=follower,
            env=environ,
            cwd=Path(__file__).resolve().parents[1],
            preexec_fn=own_terminal,
        )
        os.close(follower)
        self.raw = b""

    def seen(self) -> bytes:
        """Everything shown so far, without the terminal's escape sequences."""
        import re

        return re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", self.raw)

    def since(self, after: bytes) -> bytes:
        return self.seen().partition(after)[2] if after else self.seen()

    def read_until(self, marker: bytes, seconds: float = 120.0, after: bytes = b"") -> None:
        """Read until `marker` is shown (after `after`), at most `seconds`; fails with what was shown."""
        import select
        import time

        deadline = time.monotonic() + seconds
        while marker not in self.since(after) and time.monotonic() < deadline:
            if select.select([self.leader], [], [], 0.2)[0]:
                try:
                    self.raw += os.read(self.leader, 65536)
                except OSError:  # the child closed the terminal
                    break
        assert marker in self.since(after), self.seen().decode(errors="replace")[-2000:]

    def type(self, keys: bytes) -> None:
        os.write(self.leader, keys)

    def exit_code(self, seconds: float = 60.0) -> int:
        """Wait for the REPL to end (reading what it shows, so it never blocks on a full terminal)."""
        import select
        import time

        deadline = time.monotonic() + seconds
        while self.proc.poll() is None and time.monotonic() < deadline:
            if select.select([self.leader], [], [], 0.2)[0]:
                try:
                    os.read(self.leader, 65536)
                except OSError:
                    break
        return self.proc.wait(timeout=10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        os.close(self.leader)


@pytest.mark.slow
def test_repl_on_a_terminal_says_it_is_loading_then_answers(seeded_copy: Path) -> None:
    """The real entry point on a pseudo-terminal: a line while the model and the index load, the banner, an
    answer, and Ctrl-D to leave (every read bounded in time)."""
    terminal = Terminal(seeded_copy)
    try:
        terminal.read_until(b"article(s) indexed")
        assert b"loading the model and the index (10 chunks)" in terminal.seen().split(b"article(s) indexed")[0]
        terminal.type(b"What did Dedov say about Oman?\r")
        terminal.read_until(b"highly active and positive")
        terminal.read_until("›".encode(), after=b"highly active and positive")  # the next prompt, ready for input
        terminal.type(b"\x04")  # Ctrl-D: end of input
        assert terminal.exit_code() == 0
    finally:
        terminal.close()


class SlowChatServer:
    """An OpenAI-compatible chat endpoint on 127.0.0.1 that holds every request until released (at most 60 s)."""

    def __init__(self) -> None:
        import http.server
        import json
        import threading

        self.asked = threading.Event()
        self.release = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                server.asked.set()
                server.release.wait(60)
                body = {
                    "id": "c1",
                    "object": "chat.completion",
                    "created": 0,
                    "model": "slow",
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": "Late."}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.slow
def test_ctrl_c_cancels_a_pending_answer_and_keeps_the_repl(seeded_copy: Path) -> None:
    """A chat model that takes its time: Ctrl-C while the answer is pending cancels that answer only, the prompt
    comes back, the conversation is as before the question, and `exit` leaves (every read bounded in time)."""
    slow = SlowChatServer()
    terminal = Terminal(seeded_copy, NEWSBOT_LLM="openai:slow", NEWSBOT_LLM_BASE_URL=slow.url)
    try:
        terminal.read_until(b"article(s) indexed")
        terminal.type(b"What did Dedov say about Oman?\r")
        assert slow.asked.wait(60)  # the question reached the chat model, which holds it
        terminal.type(b"\x03")  # Ctrl-C
        terminal.read_until(b"(cancelled)", seconds=10)
        terminal.type(b"/sources\r")
        terminal.read_until(b"No sources yet", seconds=10)  # the cancelled question left no turn behind
        terminal.type(b"exit\r")
        assert terminal.exit_code(30) == 0
    finally:
        terminal.close()
        slow.close()


def test_a_question_the_index_cannot_answer_now_keeps_the_conversation(session: Session, monkeypatch) -> None:
    from rag.errors import IndexUnavailable

    first = session.handle("When did the port of Westhaven reopen?")
    assert first is not None and "[1]" in first
    turns = list(session.conversation.turns)

    def down(*args: object, **kwargs: object) -> list:
        raise IndexUnavailable("cannot search the Chroma server at http://127.0.0.1:9 (down) — check that it runs")

    monkeypatch.setattr(session.pipeline.retriever, "retrieve", down)
    assert session.handle("And when did the ferries sail?") == (
        "⚠ cannot search the Chroma server at http://127.0.0.1:9 (down) — check that it runs"
    )
    assert session.conversation.turns == turns  # the earlier turns kept, the failed one not added
    monkeypatch.undo()
    assert "[1]" in (session.handle("When did the port of Westhaven reopen?") or "")
