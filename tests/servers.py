"""Server processes for tests, on 127.0.0.1 only: a free port, and a server started, awaited and always stopped.

port = free_port()
command = ["chroma", "run", "--host", LOOPBACK, "--port", str(port), ...]
with server_process("chroma server", command, port, "/api/v2/heartbeat", tmp_path / "chroma.log") as url:
    ...  # url is "http://127.0.0.1:<port>"
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port nothing listens on at the moment, on the loopback interface."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server_process(
    name: str,
    command: Sequence[str],
    port: int,
    ready_path: str,
    log_path: Path,
    *,
    start_timeout: float = 60.0,
    poll_every: float = 0.2,
    stop_timeout: float = 15.0,
) -> Iterator[str]:
    """Run `command` (its output in `log_path`) until GET http://127.0.0.1:`port``ready_path` answers 200;
    yield http://127.0.0.1:`port`.

    The test fails, with the log's tail, when the process exits or does not answer within `start_timeout`
    seconds; the process is stopped (terminated, killed if it lingers) whatever happens.
    """
    url = f"http://{LOOPBACK}:{port}"
    with log_path.open("w") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(list(command), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_ready(name, proc, url + ready_path, log_path, start_timeout, poll_every)
        yield url
    finally:
        _stop(proc, stop_timeout)


def _wait_until_ready(
    name: str, proc: subprocess.Popen[bytes], ready_url: str, log_path: Path, timeout: float, every: float
) -> None:
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        try:
            if httpx.get(ready_url, timeout=min(2.0, timeout), trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass  # not listening yet
        if time.monotonic() > deadline:
            pytest.fail(
                f"the {name} did not answer within {timeout:.0f} s:\n{log_path.read_text(errors='replace')[-2000:]}"
            )
        time.sleep(every)
    pytest.fail(f"the {name} exited with {proc.returncode}:\n{log_path.read_text(errors='replace')[-2000:]}")


def _stop(proc: subprocess.Popen[bytes], timeout: float) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)
