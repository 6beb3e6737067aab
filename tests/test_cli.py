"""The real `newsbot` entry point with the real model and a real Chroma in a tmp dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from rag.answer import REFUSAL
from tests.conftest import OMAN_QUOTE, ROOT, SEED_FILE

pytestmark = pytest.mark.slow
SEED_ID = "000_4c519add1ad1325c"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("NEWSBOT_"):
            monkeypatch.delenv(key)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def ask_json(capsys: pytest.CaptureFixture[str], data: Path, question: str) -> dict:
    code, out, _ = run(capsys, "--data-dir", str(data), "ask", "--json", question)
    assert code == 0
    return json.loads(out)


def test_oman_quote_is_answered_and_cited(capsys: pytest.CaptureFixture[str], seeded_copy: Path) -> None:
    result = ask_json(capsys, seeded_copy, "What did Dedov say about Oman?")
    assert result["refused"] is False
    assert OMAN_QUOTE in result["answer"]
    article_text = SEED_FILE.read_text(encoding="utf-8")
    cited = [c for c in result["citations"] if OMAN_QUOTE in c["text"]]
    assert [c["doc_id"] for c in cited] == [SEED_ID]
    assert f"[{cited[0]['n']}]" in result["answer"]
    for c in result["citations"]:
        assert c["text"] in article_text  # verbatim from the article
        assert set(c) >= {"n", "doc_id", "title", "published", "text", "start", "end"}
    assert result["retrieved"] == [SEED_ID]


def test_citation_offsets_locate_the_passage(capsys: pytest.CaptureFixture[str], seeded_copy: Path) -> None:
    from rag.index.registry import Registry

    result = ask_json(capsys, seeded_copy, "Who signed the Comprehensive Strategic Partnership Treaty?")
    stored = Registry(seeded_copy / "index.sqlite3").article(SEED_ID)
    assert stored is not None
    assert result["citations"]
    for c in result["citations"]:
        assert stored.text[c["start"] : c["end"]] == c["text"]


@pytest.mark.parametrize(
    "question",
    [
        "Who won the 2022 football World Cup?",  # nothing in the articles
        "What is the recipe for a good sourdough bread?",
    ],
)
def test_unanswerable_is_refused(capsys: pytest.CaptureFixture[str], seeded_copy: Path, question: str) -> None:
    result = ask_json(capsys, seeded_copy, question)
    assert (result["answer"], result["refused"], result["citations"]) == (REFUSAL, True, [])


def test_plain_output_lists_sources(capsys: pytest.CaptureFixture[str], seeded_copy: Path) -> None:
    code, out, _ = run(capsys, "--data-dir", str(seeded_copy), "ask", "What did Dedov say about Oman?")
    assert code == 0
    assert OMAN_QUOTE in out
    assert (
        "\nSources:\n[1] Tehran–Moscow partnership will not yield to foreign pressure: Russian envoy — 2025-11-01"
        in out
    )


def test_ingest_twice_same_index(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    code, out, err = run(capsys, "--data-dir", data, "ingest", str(SEED_FILE))
    assert code == 0
    assert out.startswith("1 added, 0 unchanged, 0 replaced, 0 failed; 10 chunks in ")
    assert (out.count("\n"), err) == (1, "")  # not a terminal: one summary line, no progress
    code, out, _ = run(capsys, "--data-dir", data, "ingest", str(SEED_FILE))
    assert code == 0
    assert out.startswith("0 added, 1 unchanged, 0 replaced, 0 failed; 0 chunks in ")
    code, out, _ = run(capsys, "--data-dir", data, "list")
    title = "Tehran–Moscow partnership will not yield to foreign pressure: Russian envoy"
    assert out == f"{SEED_ID}\t2025-11-01\t10 chunks\t{title}\n"


def test_fresh_index_is_seeded_before_answering(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(
        capsys, "--data-dir", str(tmp_path / "fresh"), "ask", "--json", "What did Dedov say about Oman?"
    )
    assert code == 0
    assert "Empty index: indexing the seed articles" in err
    assert OMAN_QUOTE in json.loads(out)["answer"]


def test_jsonl_round_trip(
    capsys: pytest.CaptureFixture[str], seeded_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    lines = [
        {"id": "q1", "question": "What did Dedov say about Oman?"},
        "this line is not json",
        {"id": "q2", "question": "When did he serve in Islamabad?", "history": ["Who is Alexey Yurievich Dedov?"]},
        {"id": "q3", "question": "Who won the 2022 football World Cup?"},
        {"id": "q4", "question": "   "},
    ]
    stdin = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code, out, err = run(capsys, "--data-dir", str(seeded_copy), "ask", "--jsonl")
    results = [json.loads(line) for line in out.splitlines()]
    assert code == 1  # two lines could not be answered
    assert err.splitlines() == ["newsbot: stdin line 2: not valid JSON (Expecting value) — skipped"]
    assert [r["id"] for r in results] == ["q1", "q2", "q3", "q4"]
    assert [r["refused"] for r in results[:3]] == [False, False, True]
    assert results[1]["standalone_question"] == "When did Alexey Yurievich Dedov serve in Islamabad?"
    for r in results[:3]:
        assert set(r) >= {"id", "answer", "refused", "citations", "retrieved", "latency_ms"}
        assert isinstance(r["latency_ms"], float)
    assert results[3] == {
        "id": "q4",
        "question": "   ",
        "error": "the question is empty — type a question about the articles",
    }


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["ask", ""], 1, "newsbot: the question is empty — type a question about the articles\n"),
        (
            ["ask", "x" * 20_000],
            1,
            "newsbot: the question is 20,000 characters long; the limit is 2,000 — shorten it\n",
        ),
        (["remove", "nope"], 1, "newsbot: no article 'nope' in the index — `newsbot list` shows the doc ids\n"),
        (
            ["ingest", "/no/such/file.txt"],
            1,
            "newsbot: /no/such/file.txt: no such file or directory — check the path\n",
        ),
        (
            ["ingest", "http://2130706433:9/x"],  # 127.0.0.1, written as one number
            1,
            "newsbot: http://2130706433:9/x: cannot fetch — check the address "
            "(newsbot fetches public http and https pages only)\n",
        ),
    ],
)
def test_bad_input_one_line_and_index_unchanged(
    capsys: pytest.CaptureFixture[str], seeded_copy: Path, argv: list[str], code: int, message: str
) -> None:
    from rag.index.registry import Registry

    before = Registry(seeded_copy / "index.sqlite3").articles()
    got, _, err = run(capsys, "--data-dir", str(seeded_copy), *argv)
    assert (got, err) == (code, message)
    assert Registry(seeded_copy / "index.sqlite3").articles() == before


def test_an_article_larger_than_the_warning_size_is_announced_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.progress.LARGE_INPUT_CHUNKS", 5)
    code, out, err = run(capsys, "--data-dir", str(tmp_path / "data"), "ingest", str(SEED_FILE))
    assert code == 0 and out.count("\n") == 1
    assert err == (
        f"newsbot: {SEED_ID} makes 10 chunks (~1 min to embed) — is it one article? "
        "Ctrl-C stops the ingest and keeps every article committed before\n"
    )


def test_colliding_file_names_become_distinct_articles(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder, data = tmp_path / "in", str(tmp_path / "data")
    for name, body in [
        ("a/report.txt", "Ferries sailed at dawn from the northern pier."),
        ("b/report.txt", "The southern pier stayed closed all week."),
        ("quake.txt", "A magnitude 5 earthquake shook the coast on Sunday."),
        ("quake.md", "Aftershocks followed the **earthquake** for two days."),
    ]:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(f"{name}\n\n{body}\n", encoding="utf-8")
    code, out, err = run(capsys, "--data-dir", data, "ingest", str(folder))
    assert code == 0
    assert out.startswith("4 added, 0 unchanged, 0 replaced, 0 failed; 4 chunks in ")
    assert err.startswith(f"newsbot: {folder / 'quake.txt'}: doc id 'quake' is taken by {folder / 'quake.md'} — ")
    code, out, _ = run(capsys, "--data-dir", data, "ingest", str(folder))
    assert out.startswith("0 added, 4 unchanged, 0 replaced, 0 failed; 0 chunks in ")
    _, listed, _ = run(capsys, "--data-dir", data, "list", "--json")
    ids = sorted(json.loads(line)["doc_id"] for line in listed.splitlines())
    assert ids[:3] == ["a-report", "b-report", "quake"] and ids[3].startswith("quake-")


HARBOUR_MD = """# Storm closes the harbour

The **harbour master** said the _northern pier_ would reopen on **Thursday**, after divers
[inspected](https://example.com/divers) the damaged moorings.

- Ferries will run a reduced timetable until Saturday.
- Fishing boats stay in port.
"""


def test_citations_quote_the_text_as_supplied(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from rag.index.registry import Registry

    body = SEED_FILE.read_text(encoding="utf-8").split("\n\n", 1)[1]
    supplied = "\n\n" + body.replace("\n\n", "\n\n\n").replace("\n", "\r\n", 3)  # blank-line runs, some CRLF
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"id": "envoy", "title": "Russian envoy", "text": supplied}) + "\n", "utf-8")
    (tmp_path / "harbour.md").write_text(HARBOUR_MD, encoding="utf-8")
    data = tmp_path / "data"
    assert run(capsys, "--data-dir", str(data), "ingest", str(corpus), str(tmp_path / "harbour.md"))[0] == 0

    oman = ask_json(capsys, data, "What did Dedov say about Oman?")
    assert OMAN_QUOTE in oman["answer"]
    for c in oman["citations"]:  # offsets into the record's text, exactly as supplied
        assert supplied[c["start"] : c["end"]] == c["text"]

    pier = ask_json(capsys, data, "When will the northern pier reopen?")
    stored = Registry(data / "index.sqlite3").article("harbour")
    assert stored is not None and pier["citations"]
    assert "The harbour master said the northern pier would reopen on Thursday" in pier["answer"]
    for c in pier["citations"]:  # Markdown: the prose, no syntax; offsets into the stored text
        assert not any(mark in c["text"] for mark in ("**", "_northern", "](", "- Ferries"))
        assert stored.text[c["start"] : c["end"]] == c["text"]


def test_remove_leaves_the_bm25_file_of_the_state_it_made(
    capsys: pytest.CaptureFixture[str], seeded_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from rag.index.bm25 import files as bm25_files
    from rag.index.bm25 import levels as bm25_cache
    from rag.index.lexical import LexicalIndex
    from rag.index.registry import Registry

    index = seeded_copy / "index.sqlite3"
    [seed] = [a.doc_id for a in Registry(index).articles()]
    assert main(["--data-dir", str(seeded_copy), "remove", seed, "nope"]) == 1  # one removed, one unknown
    assert capsys.readouterr().out == f"removed {seed}\n"
    db = sqlite3.connect(str(index))
    _, key = bm25_cache.state_key(db, LexicalIndex(Registry(index)).weights)
    db.close()
    assert (
        bm25_files.load(bm25_cache.cache_path(index), key, bm25_cache.LEVELS) is not None
    )  # the next process loads it

    def no_build(*_: object) -> None:
        raise AssertionError("the file of this state should have been loaded")

    monkeypatch.setattr(bm25_cache, "build_levels", no_build)
    assert LexicalIndex(Registry(index)).search("Dedov Oman", 5) == []


def test_odd_but_valid_questions_are_answered_or_refused(capsys: pytest.CaptureFixture[str], seeded_copy: Path) -> None:
    for question in ["ما هو موقف روسيا من العقوبات؟", "🇮🇷🤝🇷🇺 ??", "What\x07 did Dedov\x1b say about Oman?"]:
        result = ask_json(capsys, seeded_copy, question)
        assert result["refused"] in (True, False)
        assert (result["answer"] == REFUSAL) is result["refused"]
    assert OMAN_QUOTE in result["answer"]  # control characters are dropped, the question stands


def test_binary_and_non_utf8_files_fail_alone(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bad.txt").write_bytes(b"\xff\xfe\x00\x00binary")
    (tmp_path / "in" / "latin.txt").write_bytes("Título\n\nCafé\n".encode("latin-1"))
    (tmp_path / "in" / "good.txt").write_text("Good title\n\nThe ferry sailed at dawn.\n", encoding="utf-8")
    code, out, err = run(capsys, "--data-dir", str(tmp_path / "data"), "ingest", str(tmp_path / "in"))
    assert code == 1
    assert out.startswith("1 added, 0 unchanged, 0 replaced, 2 failed; 1 chunks in ")
    assert len(err.splitlines()) == 2
    assert "looks like a binary file" in err and "not UTF-8 text" in err


def test_console_script_runs(tmp_path: Path) -> None:
    """The installed `newsbot` script, as a user runs it."""
    exe = Path(sys.executable).parent / "newsbot"
    done = subprocess.run(
        [str(exe), "--data-dir", str(tmp_path / "d"), "ask", "What did Dedov say about Oman?"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")},
    )
    assert done.returncode == 0, done.stderr
    assert OMAN_QUOTE in done.stdout


def test_a_reader_that_goes_away_is_no_crash(seeded_data_dir: Path) -> None:
    """`newsbot list | head -1`: the pipe closes before newsbot writes; no traceback, SIGPIPE's exit code."""
    exe = Path(sys.executable).parent / "newsbot"
    proc = subprocess.Popen(
        [str(exe), "--data-dir", str(seeded_data_dir), "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")},
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert err == ""


def test_help_needs_no_model() -> None:
    code = (
        "import sys; from bot.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'chromadb', 'sentence_transformers', 'transformers') if m in sys.modules]\n"
        "print(heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.stdout.splitlines()[-1] == "[]"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["list"], "newsbot: no index at {d}/typo — check --data-dir (or NEWSBOT_DATA_DIR), or make one with "),
        (["remove", "x"], "newsbot: no index at {d}/typo — check --data-dir (or NEWSBOT_DATA_DIR), or make one with "),
        (["check"], "newsbot: no index at {d}/typo — check --data-dir (or NEWSBOT_DATA_DIR), or make one with "),
    ],
)
def test_reading_a_mistyped_data_dir_makes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], message: str
) -> None:
    assert main(["--data-dir", str(tmp_path / "typo"), *argv]) == 1
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and err.startswith(message.format(d=tmp_path))
    assert not (tmp_path / "typo").exists()


@pytest.mark.parametrize("argv", [["ask", "What did Dedov say about Oman?"], ["ingest", "seeds"], ["list"]])
def test_a_data_dir_that_is_a_file_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path, argv) -> None:
    (tmp_path / "afile").write_text("not a folder")
    assert main(["--data-dir", str(tmp_path / "afile"), *argv]) == 1
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1, err
    assert f"{tmp_path}/afile is a file, not a folder" in err or f"no index at {tmp_path}/afile" in err


def test_a_citation_of_a_fetched_article_carries_its_url(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    corpus = tmp_path / "c.jsonl"
    record = {
        "id": "port",
        "title": "Port reopens",
        "text": "The port of Westhaven reopened on Monday after the storm.",
        "url": "https://news.example/port",
    }
    corpus.write_text(json.dumps(record) + "\n")
    data = str(tmp_path / "data")
    assert main(["--data-dir", data, "ingest", str(corpus)]) == 0
    capsys.readouterr()
    assert main(["--data-dir", data, "ask", "--json", "When did the port of Westhaven reopen?"]) == 0
    [citation] = json.loads(capsys.readouterr().out)["citations"]
    assert citation["url"] == "https://news.example/port"
    assert main(["--data-dir", data, "ask", "When did the port of Westhaven reopen?"]) == 0
    assert "[1] Port reopens — paragraph 1 <https://news.example/port>" in capsys.readouterr().out


def test_an_unexpected_failure_is_one_line_and_its_traceback_comes_with_vv(
    capsys: pytest.CaptureFixture[str], seeded_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag.pipeline import Pipeline

    def broken(self: object) -> list:
        raise RuntimeError("the registry went away\nsecond line")

    monkeypatch.setattr(Pipeline, "articles", broken)
    assert main(["--data-dir", str(seeded_copy), "list"]) == 1
    out, err = capsys.readouterr()
    assert (out, err) == (
        "",
        "newsbot: unexpected RuntimeError: the registry went away — run the command again with -vv for the details\n",
    )
    with pytest.raises(RuntimeError, match="the registry went away"):
        main(["-vv", "--data-dir", str(seeded_copy), "list"])
