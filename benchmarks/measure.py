"""Timing helpers: percentiles, child processes with their peak memory, time to a first printed line."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) by linear interpolation between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def median(values: Sequence[float]) -> float:
    """The median (nan for no values)."""
    return percentile(values, 50)


def progress(message: str) -> None:
    """One progress line on stderr, with the time of day."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class ChildRun:
    """A finished child process: its result, wall time, peak RSS and, when asked, the time to its first line."""

    result: Any
    seconds: float
    peak_rss_mb: float
    first_line_seconds: float | None = None
    first_line: str = ""


def _wait(proc: subprocess.Popen[str]) -> tuple[int, float]:
    """Wait for a child; (exit status, peak RSS in MB) from the kernel's own accounting."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def run_child(argv: Sequence[str], *, first_line: bool = False, show_stderr: bool = False) -> ChildRun:
    """Run a command; its last stdout line is parsed as JSON unless `first_line` (time to the first line) is asked."""
    started = time.perf_counter()
    stderr = None if show_stderr else subprocess.PIPE
    proc = subprocess.Popen(list(argv), cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True)
    assert proc.stdout is not None
    first_at, line = None, ""
    if first_line:
        line = proc.stdout.readline()
        first_at = time.perf_counter() - started
    out = line + proc.stdout.read()
    err = proc.stderr.read() if proc.stderr else ""
    code, rss = _wait(proc)
    seconds = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {code}:\n{err[-3000:]}")
    result = None if first_line else json.loads(out.strip().splitlines()[-1])
    return ChildRun(result, seconds, rss, first_at, line.rstrip("\n"))


def run_worker(job: str, *, show_stderr: bool = False, **kwargs: Any) -> ChildRun:
    """Run one job of benchmarks/workers.py in a fresh interpreter."""
    return run_child([sys.executable, "-m", "benchmarks.workers", job, json.dumps(kwargs)], show_stderr=show_stderr)
