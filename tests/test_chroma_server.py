"""Index and answer through a real Chroma server (`chroma run` on 127.0.0.1), as shared deployments do."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from tests.conftest import OMAN_QUOTE, SEED_FILE
from tests.servers import LOOPBACK, free_port, server_process

pytestmark = pytest.mark.slow
CHROMA = Path(sys.executable).parent / "chroma"


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[str]:
    """A `chroma run` server on a free loopback port, stopped after the test."""
    if not CHROMA.exists():
        pytest.fail(f"{CHROMA} missing: chromadb's server CLI is part of the install")
    port = free_port()
    command = [str(CHROMA), "run", "--host", LOOPBACK, "--port", str(port), "--path", str(tmp_path / "server")]
    with server_process("chroma server", command, port, "/api/v2/heartbeat", tmp_path / "chroma.log") as url:
        yield url


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


def test_a_server_outage_is_an_error_line_for_each_question_it_meets_and_then_goes_away(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ask --jsonl` under a stream of questions: the Chroma server stops, and the questions meanwhile get an error
    line each; it comes back, and the next questions are answered by the same process."""
    import subprocess

    port = free_port()
    command = [str(CHROMA), "run", "--host", LOOPBACK, "--port", str(port), "--path", str(tmp_path / "server")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    env["NEWSBOT_CHROMA_URL"] = f"http://{LOOPBACK}:{port}"
    env["NEWSBOT_EXACT_LIMIT"] = "0"  # every question searches the server (a small index is otherwise searched here)
    data = str(tmp_path / "data")
    questions = iter(
        [
            "What did Dedov say about Oman?",
            "Who is Alexey Yurievich Dedov?",
            "When did he serve in Islamabad as ambassador?",
            "What did Dedov say about the treaty?",
        ]
    )

    def ask(proc: subprocess.Popen[str], qid: str) -> dict:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps({"id": qid, "question": next(questions)}) + "\n")
        proc.stdin.flush()
        return json.loads(proc.stdout.readline())

    with server_process("chroma server", command, port, "/api/v2/heartbeat", tmp_path / "chroma1.log"):
        monkeypatch.setenv("NEWSBOT_CHROMA_URL", env["NEWSBOT_CHROMA_URL"])
        assert main(["--data-dir", data, "ingest", str(SEED_FILE)]) == 0
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "--data-dir", data, "ask", "--jsonl"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        before = ask(proc, "q1")
    during = [ask(proc, "q2"), ask(proc, "q3")]
    with server_process("chroma server", command, port, "/api/v2/heartbeat", tmp_path / "chroma2.log"):
        after = ask(proc, "q4")
        out, err = proc.communicate(timeout=60)
    assert OMAN_QUOTE in before["answer"]
    for line in during:
        assert set(line) == {"id", "question", "error"}
        assert line["error"].startswith(f"cannot search the Chroma server at http://{LOOPBACK}:{port} (")
    assert after["id"] == "q4" and not after["refused"] and after["citations"]
    assert proc.returncode == 1 and out == "" and err == ""  # alive to the end; the errors were the lines above
