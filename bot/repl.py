"""The terminal chat: line editing and history on a terminal, one answer per line from a pipe."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from bot.render import answer_text, sources_text
from bot.settings import Settings
from rag.background import InBackground
from rag.errors import NewsbotError
from rag.question.followups import Conversation

if TYPE_CHECKING:
    from rag.pipeline import Pipeline

log = logging.getLogger(__name__)
HELP = """Ask anything about the indexed articles; follow-up questions work ("When did he serve there?").
  /sources  the full passages cited by the last answer
  /reset    forget this conversation
  /help     this text
  /quit     leave (or quit, exit, Ctrl-D); Ctrl-C cancels an answer still coming"""


@dataclass(frozen=True)
class Reply:
    """What one input line comes to: the text to show (None: leave), and the conversation after it."""

    text: str | None
    conversation: Conversation


class Session:
    """One REPL conversation: commands and questions in, text out."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.conversation = Conversation()

    def handle(self, line: str) -> str | None:
        """The reply to one input line; None means quit."""
        reply = self.prepare(line)
        self.commit(reply)
        return reply.text

    def prepare(self, line: str) -> Reply:
        """The reply to one input line, the session left as it is: a question is asked on a copy of the
        conversation, which `commit` adopts (an answer cancelled half-way leaves no trace)."""
        text = line.strip()
        command = text.split()[0].lower() if text.startswith("/") else ""
        if command in ("/quit", "/exit") or text.lower() in ("quit", "exit"):
            return Reply(None, self.conversation)
        if command == "/help":
            return Reply(HELP, self.conversation)
        if command == "/reset":
            return Reply("Conversation forgotten.", Conversation(max_turns=self.conversation.max_turns))
        if command == "/sources":
            return Reply(sources_text(self.conversation.last_answer), self.conversation)
        if command:
            return Reply(f"Unknown command {command} — try /help.", self.conversation)
        draft = Conversation(list(self.conversation.turns), self.conversation.max_turns)
        try:
            answer = self.pipeline.ask(text, draft)
        except NewsbotError as exc:  # this question could not be answered (a server down): the conversation stays
            return Reply(f"⚠ {exc}", self.conversation)
        prefix = (
            f"(understood as: {answer.standalone_question})\n" if answer.standalone_question != answer.question else ""
        )
        return Reply(prefix + answer_text(answer), draft)

    def commit(self, reply: Reply) -> None:
        """Make the reply's conversation the session's."""
        self.conversation = reply.conversation


def run_piped(session: Session, stdin: TextIO, stdout: TextIO) -> int:
    """Answer each non-empty stdin line in turn (one conversation), then exit."""
    for line in stdin:
        if not line.strip():
            continue
        reply = session.handle(line)
        if reply is None:
            break
        print(f"> {line.strip()}\n{reply}\n", file=stdout, flush=True)
    return 0


def run_terminal(session: Session, settings: Settings) -> int:
    """The interactive loop with prompt_toolkit (history kept under the data dir) and rich output."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory
    from rich.console import Console

    console = Console()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    prompt: PromptSession[str] = PromptSession(history=FileHistory(str(settings.data_dir / "repl_history")))
    n = len(session.pipeline.articles())
    console.print(f"[bold]newsbot[/bold] — {n} article(s) indexed. Ask a question; /help for commands.")
    while True:
        try:
            line = prompt.prompt("› ")
        except KeyboardInterrupt:
            continue
        except EOFError:
            return 0
        if not line.strip():
            continue
        pending = InBackground(session.prepare, line, name="newsbot-answer")
        try:
            with console.status("thinking… (Ctrl-C cancels)"):
                reply = pending.result()  # Ctrl-C lands here: the answer's thread is left to finish unheard
        except KeyboardInterrupt:
            console.print("(cancelled)")
            continue
        session.commit(reply)
        if reply.text is None:
            return 0
        console.print(reply.text, markup=False, highlight=False)
        console.print()


def run_repl(pipeline: Pipeline, settings: Settings) -> int:
    """The REPL on a terminal; line-by-line answers when stdin is a pipe or file."""
    session = Session(pipeline)
    if sys.stdin.isatty() and sys.stdout.isatty():
        return run_terminal(session, settings)
    return run_piped(session, sys.stdin, sys.stdout)
