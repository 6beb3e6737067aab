"""Who may use the bot, and how often: allowed chats, admins, a per-user rate limit."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Access:
    """NEWSBOT_ALLOWED_CHATS (empty = every chat) and NEWSBOT_ADMINS (may add articles, and use any chat)."""

    allowed_chats: frozenset[int] = frozenset()
    admins: frozenset[int] = frozenset()

    def allows(self, chat_id: int | None, user_id: int | None) -> bool:
        """True when the bot may answer `user_id` in `chat_id`."""
        if not self.allowed_chats or self.is_admin(user_id):
            return True
        return chat_id in self.allowed_chats

    def is_admin(self, user_id: int | None) -> bool:
        """True for the admins."""
        return user_id is not None and user_id in self.admins


class RefusalPacer:
    """At most one refusal to a chat outside the allowlist per `every` seconds: a chat flooding the bot gets no
    flood of refusals back (and none of them decides whether the update is stopped: the gate stops it anyway)."""

    def __init__(self, every: float = 60.0, clock: Callable[[], float] = time.monotonic, max_chats: int = 10_000):
        self.every = every
        self.clock = clock
        self.max_chats = max_chats
        self._last: dict[int, float] = {}

    def due(self, chat_id: int) -> bool:
        """True (and the refusal counted) when this chat may be told it is refused now."""
        now = self.clock()
        last = self._last.get(chat_id)
        if last is not None and now - last < self.every:
            return False
        if len(self._last) >= self.max_chats:
            self._last.clear()
        self._last[chat_id] = now
        return True


class RateLimiter:
    """At most `limit` questions per user in any `window` seconds (a sliding window); limit 0 = no limit."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._asked: dict[int, deque[float]] = {}

    def wait(self, user_id: int) -> int:
        """0 and the question counted when the user may ask now, else whole seconds until they may."""
        if self.limit <= 0:
            return 0
        now = self.clock()
        times = self._asked.setdefault(user_id, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= self.limit:
            return max(1, math.ceil(times[0] + self.window - now))
        times.append(now)
        return 0
