"""`newsbot watch`: refresh the feeds on a schedule until SIGINT or SIGTERM.

A stop signal lets the pass in progress finish the article in hand (everything indexed so far is committed) and
then ends the loop; a second signal is not needed. Between passes the loop sleeps on an event, so a stop is
immediate there too.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

from rag.config import FeedConfig

if TYPE_CHECKING:
    from rag.pipeline import Pipeline
    from rag.refresh import RefreshReport


def watch(
    pipeline: Pipeline,
    config: FeedConfig,
    *,
    every: float,
    keep_days: int | None = None,
    say: Callable[[str], None] = print,
    stop: threading.Event | None = None,
    passes: int | None = None,
    on_report: Callable[[RefreshReport], None] | None = None,
) -> int:
    """Refresh every `every` seconds (a pass that overruns starts the next at once) until `stop` is set, a
    signal arrives, or `passes` passes have run. 0 on a clean stop."""
    from bot.feeds_cli import summary_lines
    from rag.refresh import refresh

    stop = stop or threading.Event()
    installed: dict[signal.Signals, object] = {}
    if threading.current_thread() is threading.main_thread():

        def stopping(signum: int, frame: FrameType | None) -> None:
            say(f"stopping after the article in hand ({signal.Signals(signum).name})")
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            installed[sig] = signal.signal(sig, stopping)
    done = 0
    try:
        say(f"watching the feeds: a refresh every {every:g} s (Ctrl-C stops)")
        while not stop.is_set():
            started = time.monotonic()
            report = refresh(pipeline, keep_days=keep_days, config=config, stop=stop.is_set)
            for line in summary_lines(report) if report.outcomes else []:
                say(line)
            if on_report is not None:
                on_report(report)
            done += 1
            if passes is not None and done >= passes:
                break
            stop.wait(max(0.0, every - (time.monotonic() - started)))
    finally:
        for sig, handler in installed.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
    say("stopped")
    return 0
