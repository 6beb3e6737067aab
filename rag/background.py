"""A call run on a thread of its own while the caller goes on (ONNX Runtime and Chroma release the GIL)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class InBackground(Generic[T]):
    """`fn(*args)` started on a thread of its own: `result()` waits for its value (or raises its error)."""

    def __init__(self, fn: Callable[..., T], *args: object, name: str = "newsbot-background") -> None:
        self._box: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._run, args=(fn, args), name=name, daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[..., T], args: tuple[object, ...]) -> None:
        try:
            self._box["value"] = fn(*args)
        except BaseException as exc:  # handed to the caller, who re-raises it
            self._box["error"] = exc

    def done(self) -> bool:
        """True once the call has returned or raised (its outcome is in the box: a dict read, where asking the
        thread takes a lock, and retrieval asks between every chunk it reads ahead)."""
        return bool(self._box)

    def result(self) -> T:
        """The call's value, once it is there; its error raised here."""
        self._thread.join()
        if "error" in self._box:
            raise self._box["error"]
        return self._box["value"]

    def settle(self) -> None:
        """Wait for a warm-up call without its outcome: an error it raised is logged, not raised, since the call
        that needs what it loads meets the same error and says what to do."""
        try:
            self.result()
        except Exception as exc:  # e.g. Chroma's own errors: the call that needs the index meets them too
            log.debug("%s failed: %s", self._thread.name, exc)
