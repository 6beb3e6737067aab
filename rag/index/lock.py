"""One writer at a time on a data dir: an exclusive lock every ingest, removal and repair takes.

Chroma's embedded index is one process's at a time to write: two writers at once leave vectors unreachable (and
both say nothing). The lock is an advisory `flock` on `writer.lock` in the data dir, held for the whole write and
dropped by the kernel when the process ends, however it ends: a killed writer never leaves it held. The file also
says who holds it (process id, command, since when), so a second writer can say whom it waits for.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rag.errors import IndexBusy, IndexUnavailable

LOCK_FILE = "writer.lock"


class WriterLock:
    """The data dir's writer lock."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE

    def holder(self) -> str:
        """Who holds (or last held) the lock, in words: "pid 4242 (newsbot ingest, since 12:03:04)"."""
        try:
            held = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return "another process"
        since = time.strftime("%H:%M:%S", time.localtime(held.get("since", 0)))
        return f"pid {held.get('pid', '?')} ({held.get('what', 'newsbot')}, since {since})"

    @contextmanager
    def hold(self, what: str, *, wait: bool = True) -> Iterator[None]:
        """Hold the lock for `what` ("newsbot ingest"); IndexBusy at once when another process holds it and not
        `wait`, else block until it is free."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise IndexUnavailable(
                f"cannot write to the index at {self.path.parent} ({exc.strerror}) — check the data dir's "
                "permissions and free space"
            ) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not wait:
                    raise IndexBusy(
                        f"the index at {self.path.parent} is being written by {self.holder()} — wait for it to "
                        "finish, or run the command again without --no-wait",
                        holder=self.holder(),
                    ) from None
                fcntl.flock(fd, fcntl.LOCK_EX)
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps({"pid": os.getpid(), "what": what, "since": time.time()}).encode(), 0)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock
