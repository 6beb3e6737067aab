"""Inline-button callback data bound to the chat it was sent to: signed with a per-install secret, parsed strictly.

A client can send any callback data it likes, so a button's data is never trusted as it comes: it carries the
answer's id and an HMAC of (chat, answer id) under a secret kept in the data dir. The data of another chat's
button, a guessed id, an old unsigned button or anything of another shape parses to nothing, and the handler
answers "this button has expired".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

SOURCES = "src"
_DATA = re.compile(r"^src:(\d{1,12}):([A-Za-z0-9_-]{16})$")  # bounded: no long number is ever converted
_SECRET_FILE = "telegram.secret"


def install_secret(data_dir: Path) -> bytes:
    """The install's signing secret, made (readable by its owner only) the first time it is asked for."""
    path = data_dir / _SECRET_FILE
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (FileNotFoundError, ValueError):
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(secret.hex())
    return secret


def _signature(secret: bytes, chat_id: int, answer_id: int) -> str:
    digest = hmac.new(secret, f"{SOURCES}:{chat_id}:{answer_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")[:16]


def sources_data(secret: bytes, chat_id: int, answer_id: int) -> str:
    """The callback data of the Sources button under an answer sent to `chat_id` (31 bytes at most)."""
    return f"{SOURCES}:{answer_id}:{_signature(secret, chat_id, answer_id)}"


def sources_answer_id(secret: bytes, chat_id: int, data: str | None) -> int | None:
    """The answer id a Sources button pressed in `chat_id` names, or None when the data is not one of ours for
    that chat (another chat's button, a forged or old one, or another shape)."""
    m = _DATA.match(data or "")
    if m is None:
        return None
    answer_id = int(m[1])
    return answer_id if hmac.compare_digest(m[2], _signature(secret, chat_id, answer_id)) else None


MORE = "more"
_MORE_DATA = re.compile(r"^more:(\d{1,12}):(\d{1,6}):([A-Za-z0-9_-]{16})$")


def _more_signature(secret: bytes, chat_id: int, search_id: int, offset: int) -> str:
    digest = hmac.new(secret, f"{MORE}:{chat_id}:{search_id}:{offset}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")[:16]


def more_data(secret: bytes, chat_id: int, search_id: int, offset: int) -> str:
    """The callback data of the "More" button under a /latest page sent to `chat_id` (≤ 41 bytes)."""
    return f"{MORE}:{search_id}:{offset}:{_more_signature(secret, chat_id, search_id, offset)}"


def more_target(secret: bytes, chat_id: int, data: str | None) -> tuple[int, int] | None:
    """(search id, offset) a "More" button pressed in `chat_id` names, or None when it is not one of ours."""
    m = _MORE_DATA.match(data or "")
    if m is None:
        return None
    search_id, offset = int(m[1]), int(m[2])
    ok = hmac.compare_digest(m[3], _more_signature(secret, chat_id, search_id, offset))
    return (search_id, offset) if ok else None
