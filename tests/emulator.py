"""Local Telegram Bot API emulator for end-to-end tests.

Runs ``tests/telegram_emulator/launcher.js`` (telegram-test-api 4.2.1 plus a python-telegram-bot
compat layer, see ``tests/telegram_emulator/README.md``) on 127.0.0.1 and talks to its user side.

Typical use in a test module::

    from tests.emulator import emulator_fixture  # noqa: F401  (registers `telegram_emulator`)

    @pytest.mark.asyncio
    async def test_x(telegram_emulator):
        app = telegram_emulator.application_builder().build()
        ...
        await telegram_emulator.send_message(chat_id=10, user_id=10, text="hi")
        [reply] = await telegram_emulator.wait_for_bot_messages(chat_id=10, count=1)

The user-side helpers are coroutines, so a bot running in the same event loop keeps working while
a test waits. ``start``/``stop`` are synchronous (subprocess management).
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

EMULATOR_DIR = Path(__file__).resolve().parent / "telegram_emulator"
LAUNCHER = EMULATOR_DIR / "launcher.js"
DEFAULT_TOKEN = "123456:TEST-emulator-token"
BOT_USERNAME = "TestNameBot"  # what the emulator's getMe answers
HOST = "127.0.0.1"


@dataclass(frozen=True)
class BotMessage:
    """A message the bot sent (as stored in the emulator's history, latest edit applied)."""

    message_id: int
    chat_id: int
    text: str | None
    parse_mode: str | None
    reply_markup: dict[str, Any] | None
    caption: str | None
    document: dict[str, Any] | None
    raw: dict[str, Any]


def prerequisites_missing() -> str | None:
    """Why the emulator cannot run here (None if it can)."""
    if shutil.which("node") is None:
        return "`node` is not on PATH (the Telegram emulator needs Node.js >= 18)"
    if not (EMULATOR_DIR / "node_modules" / "telegram-test-api").is_dir():
        return f"{EMULATOR_DIR}/node_modules is missing: run `npm ci` in {EMULATOR_DIR}"
    return None


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


class TelegramEmulator:
    """A running (after :meth:`start`) emulator process bound to 127.0.0.1."""

    def __init__(self, token: str = DEFAULT_TOKEN, *, startup_timeout: float = 15.0, port: int = 0) -> None:
        self.token = token
        self.wanted_port = port  # 0: a free one
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self.returncode: int | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: list[str] = []

    # ---- process ------------------------------------------------------------------------------
    def start(self) -> TelegramEmulator:
        """Start ``node launcher.js PORT`` (0: a free port) and wait (bounded) for its ``READY <port>`` line."""
        if self._proc is not None:
            raise RuntimeError("emulator already started")
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not on PATH")
        self._proc = subprocess.Popen(
            [node, str(LAUNCHER), str(self.wanted_port)],
            cwd=EMULATOR_DIR,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        ready: list[str] = []
        got_line = threading.Event()

        def read_stdout() -> None:
            assert self._proc is not None and self._proc.stdout is not None
            ready.append(self._proc.stdout.readline())
            got_line.set()
            for _ in self._proc.stdout:  # drain, so the child never blocks on a full pipe
                pass

        def read_stderr() -> None:
            assert self._proc is not None and self._proc.stderr is not None
            for line in self._proc.stderr:
                if len(self._stderr) < 1000:
                    self._stderr.append(line.rstrip("\n"))

        threading.Thread(target=read_stdout, daemon=True).start()
        threading.Thread(target=read_stderr, daemon=True).start()
        if not got_line.wait(self.startup_timeout) or not ready[0].startswith("READY "):
            self.stop()
            raise RuntimeError(
                f"emulator did not become ready within {self.startup_timeout}s; "
                f"stdout={ready!r} stderr={self.stderr[-20:]!r}"
            )
        self.port = int(ready[0].split()[1])
        return self

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, wait at most ``timeout`` s, then SIGKILL. Returns the exit code."""
        proc, self._proc = self._proc, None
        if proc is None:
            return self.returncode
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        self.returncode = proc.returncode
        return self.returncode

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def stderr(self) -> list[str]:
        """The emulator's log lines (stderr) so far."""
        return list(self._stderr)

    def __enter__(self) -> TelegramEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- URLs for python-telegram-bot -----------------------------------------------------------
    @property
    def api_url(self) -> str:
        """``http://127.0.0.1:<port>``"""
        if self.port is None:
            raise RuntimeError("emulator not started")
        return f"http://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        """For PTB ``base_url``: PTB appends the token, then ``/<method>``."""
        return f"{self.api_url}/bot"

    @property
    def base_file_url(self) -> str:
        """For PTB ``base_file_url``: PTB appends the token, then ``/<file_path>``."""
        return f"{self.api_url}/file/bot"

    def application_builder(self) -> Any:
        """A ``telegram.ext.ApplicationBuilder`` with token, base_url and base_file_url set."""
        from telegram.ext import Application

        return Application.builder().token(self.token).base_url(self.base_url).base_file_url(self.base_file_url)

    # ---- user side ------------------------------------------------------------------------------
    async def _post(self, path: str, payload: dict[str, Any], timeout: float = 10.0) -> Any:
        async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
            response = await client.post(f"{self.api_url}{path}", json=payload)
        body = response.json()
        if response.status_code != 200 or not body.get("ok", False):
            raise RuntimeError(f"emulator {path} failed ({response.status_code}): {body}")
        return body["result"]

    @staticmethod
    def _people(
        chat_id: int, user_id: int, chat_type: str, first_name: str, username: str | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username:
            user["username"] = username
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat.update(first_name=first_name, **({"username": username} if username else {}))
        else:
            chat["title"] = f"Test {chat_type} {chat_id}"
        return user, chat

    def _from_user(
        self, chat_id: int, user_id: int, chat_type: str, first_name: str, username: str | None
    ) -> dict[str, Any]:
        """What every user message carries: the bot's token, the sender, the chat and the date."""
        user, chat = self._people(chat_id, user_id, chat_type, first_name, username)
        return {"botToken": self.token, "from": user, "chat": chat, "date": int(time.time())}

    async def send_message(
        self,
        chat_id: int,
        user_id: int,
        text: str | None,
        chat_type: str = "private",
        *,
        first_name: str = "Tester",
        username: str | None = "tester",
        entities: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A user message to the bot. Returns ``{"update_id", "message_id", ...}``.

        ``text=None`` sends no text; ``extra`` adds Message fields (``sticker``, ``photo``,
        ``reply_to_message``, ...) as given.
        """
        message = self._from_user(chat_id, user_id, chat_type, first_name, username)
        if text is not None:
            message["text"] = text
        if entities:
            message["entities"] = entities
        message.update(extra or {})
        return await self._post("/sendMessage", message)

    async def send_command(
        self,
        chat_id: int,
        user_id: int,
        command: str,
        args: str = "",
        chat_type: str = "private",
        *,
        first_name: str = "Tester",
        username: str | None = "tester",
    ) -> dict[str, Any]:
        """``/command args`` with its ``bot_command`` entity (``command`` with or without ``/``)."""
        cmd = command if command.startswith("/") else f"/{command}"
        text = f"{cmd} {args}" if args else cmd
        message = {
            **self._from_user(chat_id, user_id, chat_type, first_name, username),
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(cmd)}],
        }
        return await self._post("/sendCommand", message)

    async def send_channel_post(
        self,
        chat_id: int,
        text: str | None,
        *,
        title: str = "Test channel",
        username: str | None = None,
        message_id: int | None = None,
        edited: bool = False,
    ) -> dict[str, Any]:
        """A post in a channel the bot administers (`edited` with the post's `message_id`: its edit). Returns
        ``{"update_id", "message_id"}``."""
        chat: dict[str, Any] = {"id": chat_id, "type": "channel", "title": title}
        if username:
            chat["username"] = username
        payload: dict[str, Any] = {"botToken": self.token, "chat": chat, "edited": edited}
        if text is not None:
            payload["text"] = text
        if message_id is not None:
            payload["messageId"] = message_id
        return await self._post("/sendChannelPost", payload)

    async def send_callback(
        self,
        chat_id: int,
        user_id: int,
        data: str,
        message_id: int,
        chat_type: str = "private",
        *,
        first_name: str = "Tester",
        username: str | None = "tester",
        chat_instance: str | None = None,
    ) -> dict[str, Any]:
        """A press on an inline button of the bot's message ``message_id``.

        The emulator fills in the rest of that message (text, keyboard, date) from its history.
        ``chat_instance`` defaults to ``str(chat_id)``. Returns ``{"callback_query_id", ...}``.
        """
        user, chat = self._people(chat_id, user_id, chat_type, first_name, username)
        query: dict[str, Any] = {
            "botToken": self.token,
            "from": user,
            "data": data,
            "message": {"message_id": message_id, "chat": chat},
        }
        if chat_instance is not None:
            query["chat_instance"] = chat_instance
        return await self._post("/sendCallback", query)

    async def send_document(
        self,
        chat_id: int,
        user_id: int,
        file_name: str,
        content: bytes,
        mime_type: str = "application/octet-stream",
        caption: str | None = None,
        chat_type: str = "private",
        *,
        first_name: str = "Tester",
        username: str | None = "tester",
    ) -> dict[str, Any]:
        """A user uploads a document. Returns ``{"update_id", "message_id", "file_id"}``."""
        user, chat = self._people(chat_id, user_id, chat_type, first_name, username)
        payload: dict[str, Any] = {
            "botToken": self.token,
            "chatId": chat_id,
            "userId": user_id,
            "fileName": file_name,
            "mimeType": mime_type,
            "contentBase64": base64.b64encode(content).decode("ascii"),
            "from": user,
            "chat": chat,
        }
        if caption is not None:
            payload["caption"] = caption
        return await self._post("/sendDocument", payload, timeout=30.0)

    async def history(self, chat_id: int) -> list[BotMessage]:
        """The bot's messages in ``chat_id`` (oldest first; deleted ones are gone)."""
        items = await self._post("/getUpdatesHistory", {"token": self.token})
        out = []
        for item in items:
            msg = item.get("message") or {}
            if "chat_id" not in msg or str(msg["chat_id"]) != str(chat_id):
                continue  # user updates carry `chat`, bot messages `chat_id`
            out.append(
                BotMessage(
                    message_id=int(item["messageId"]),
                    chat_id=int(msg["chat_id"]),
                    text=msg.get("text"),
                    parse_mode=msg.get("parse_mode"),
                    reply_markup=msg.get("reply_markup"),
                    caption=msg.get("caption"),
                    document=msg.get("document"),
                    raw=msg,
                )
            )
        return sorted(out, key=lambda m: m.message_id)

    async def wait_for_bot_messages(
        self, chat_id: int, count: int, timeout: float = 10.0, interval: float = 0.05
    ) -> list[BotMessage]:
        """Poll (bounded by ``timeout``) until the bot has sent ``count`` messages to ``chat_id``.

        Returns the first ``count`` messages; raises ``TimeoutError`` with what it saw otherwise.
        """
        import asyncio

        deadline = time.monotonic() + timeout
        seen: list[BotMessage] = []
        for _ in range(max(1, int(timeout / interval) + 1)):
            seen = await self.history(chat_id)
            if len(seen) >= count:
                return seen[:count]
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(interval)
        raise TimeoutError(
            f"bot sent {len(seen)} of {count} messages to chat {chat_id} within {timeout}s: "
            f"{[m.text for m in seen]!r}; emulator log: {self.stderr[-10:]!r}"
        )

    async def records(self) -> dict[str, Any]:
        """Everything recorded besides messages: chatActions, commands, edits, deletions,
        callbackAnswers, webhookErrors."""
        return await self._post("/getRecords", {"token": self.token})

    async def chat_actions(self, chat_id: int) -> list[str]:
        """Actions (``"typing"``, ...) the bot sent to ``chat_id`` via sendChatAction, in order."""
        recs = (await self.records())["chatActions"]
        return [r["action"] for r in recs if str(r["chat_id"]) == str(chat_id)]

    async def commands(self, scope: dict[str, Any] | None = None, language_code: str = "") -> list[dict[str, str]]:
        """The command list the bot set with setMyCommands for ``scope`` (default scope)."""
        want_scope = scope or {"type": "default"}
        for entry in (await self.records())["commands"]:
            if entry["scope"] == want_scope and entry["language_code"] == language_code:
                return list(entry["commands"])
        return []

    async def edits(self, chat_id: int) -> list[dict[str, Any]]:
        """editMessageText / editMessageReplyMarkup calls for ``chat_id``, in order."""
        return [e for e in (await self.records())["edits"] if str(e.get("chat_id")) == str(chat_id)]


def require_emulator() -> None:
    """Skip the test if node / node_modules are missing; fail instead when ``CI`` is set."""
    reason = prerequisites_missing()
    if reason is None:
        return
    if in_ci():
        pytest.fail(f"Telegram emulator unavailable in CI: {reason}", pytrace=False)
    pytest.skip(f"Telegram emulator unavailable: {reason}")


@pytest.fixture(name="telegram_emulator")
def emulator_fixture() -> Iterator[TelegramEmulator]:
    """Pytest fixture ``telegram_emulator``: a started emulator, stopped afterwards.

    Import it into a test module (``from tests.emulator import emulator_fixture``) to use it.
    """
    require_emulator()
    emu = TelegramEmulator().start()
    try:
        yield emu
    finally:
        emu.stop()
