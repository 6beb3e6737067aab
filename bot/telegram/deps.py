"""What the news-desk handlers are given: the feed manager seam, and the desk's own state.

`FeedDesk` is what admins manage from the chat (/feeds, /feed add URL, /feed remove N, /refresh); the
application is built with one, or with None, when the desk's feed commands say feeds are not set up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class FeedRow:
    """One feed as the admins see it."""

    id: int
    url: str
    title: str = ""
    articles: int = 0
    status: str = ""  # the last refresh's outcome ("ok", "not modified", …)
    error: str = ""  # the last refresh's error, when it failed


@dataclass(frozen=True)
class Refreshed:
    """What a refresh of every feed did."""

    feeds: int
    added: int
    failed: int
    new_doc_ids: Sequence[str] = field(default_factory=tuple)


class FeedDesk(Protocol):
    """Feed management (implemented by the feeds module). Bad input raises an exception whose message says
    what to do."""

    async def list(self) -> list[FeedRow]: ...

    async def add(self, url: str) -> FeedRow: ...

    async def remove(self, number_or_url: str) -> FeedRow: ...

    async def refresh(self) -> Refreshed: ...
