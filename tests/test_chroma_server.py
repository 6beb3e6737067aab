"""Index and answer through a real Chroma server (`chroma run` on 127.0.0.1), as shared deployments do."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.cli import main
from tests.conftest import OMAN_QUOTE, SEED_FILE

pytestmark = pytest.mark.slow
CHROMA = Path(sys.executable).parent / "chroma"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[str]:
    """A `chroma run` server on a free loopback port, stopped after the test."""
    if not CHROMA.exists():
        pytest.fail(f"{CHROMA} missing: chromadb's server CLI is part of the install")
    port = free_port()
    log = (tmp_path / "chroma.log").open("w")
    proc = subprocess.Popen(
        [str(CHROMA), "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(tmp_path / "server")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"chroma server did not start: {(tmp_path / 'chroma.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def test_ingest_and_answer_through_a_server(
    chroma_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in list(os.environ):
        if key.startswith("NEWSBOT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("NEWSBOT_CHROMA_URL", chroma_server)
    data = str(tmp_path / "data")
    assert main(["--data-dir", data, "ingest", str(SEED_FILE)]) == 0
    assert capsys.readouterr().out.startswith("1 added, 0 unchanged, 0 replaced, 0 failed; 10 chunks")
    assert main(["--data-dir", data, "ask", "--json", "What did Dedov say about Oman?"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert OMAN_QUOTE in result["answer"]
    assert any(OMAN_QUOTE in c["text"] for c in result["citations"])
    assert not (tmp_path / "data" / "chroma").exists()  # the vectors live on the server

    import chromadb

    host, port = chroma_server.removeprefix("http://").split(":")
    collection = chromadb.HttpClient(host=host, port=int(port)).get_collection("newsbot")
    assert collection.count() == 10


def test_unreachable_server_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSBOT_CHROMA_URL", f"http://127.0.0.1:{free_port()}")
    assert main(["--data-dir", str(tmp_path / "d"), "ask", "What did Dedov say about Oman?"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("newsbot: cannot reach the Chroma server at http://127.0.0.1:")
    assert err.rstrip().endswith("start it (`chroma run`) or unset NEWSBOT_CHROMA_URL")
    assert len(err.splitlines()) == 1
