"""Every Bot API call retried on flood control (`RetryAfter`) and network errors, with backoff.

Plugged into python-telegram-bot as its rate limiter (`ApplicationBuilder.rate_limiter`), the one hook
that wraps every request the bot makes (`getUpdates` excepted: the updater retries that itself).
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[None]]


def retry_seconds(exc: RetryAfter) -> float:
    """How long Telegram asks to wait (PTB 22 gives an int or a timedelta, and warns about the change)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return float(value.total_seconds()) if isinstance(value, timedelta) else float(value)


class RetryingLimiter(BaseRateLimiter[dict[str, Any]]):
    """Retries a call up to `attempts` times in all: after `RetryAfter` it waits as told (up to `max_wait`),
    after a network error (not a `BadRequest`, which would fail again) it waits 0.5 s, 1 s, 2 s, …
    A call made with `rate_limit_args={"attempts": 1}` is tried once (a best-effort message)."""

    def __init__(
        self, attempts: int = 4, base_delay: float = 0.5, max_wait: float = 60.0, sleep: Sleep = asyncio.sleep
    ) -> None:
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_wait = max_wait
        self.sleep = sleep

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: dict[str, Any] | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        """Call `callback`, retrying as described above; the last error is raised."""
        attempts = int((rate_limit_args or {}).get("attempts", self.attempts))
        for attempt in range(1, attempts + 1):
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                delay = retry_seconds(exc)
                if attempt == attempts or delay > self.max_wait:
                    raise
                log.warning("%s: flood control, retrying in %.0f s", endpoint, delay)
            except BadRequest:
                raise
            except NetworkError as exc:
                if attempt == attempts:
                    raise
                delay = self.base_delay * 2 ** (attempt - 1)
                log.warning("%s: cannot reach Telegram (%s), retrying in %.1f s", endpoint, exc.message, delay)
            await self.sleep(delay)
        raise AssertionError("unreachable")  # the loop returns or raises
