"""The index survives what operators do to it: two writers at once, a serving process beside a cron ingest, a kill
between two stores, lost or damaged vectors, a full disk; and `newsbot check` sees and repairs what went wrong.
Real processes where processes are the point; the real model and a real embedded Chroma throughout."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.reliability import corpus, newsbot
from bot.cli import main
from rag.errors import IndexBusy, IndexUnavailable
from rag.ingest.loaders import iter_sources
from rag.types import Article
from tests.conftest import OMAN_QUOTE, ROOT, SEED_FILE, SHARED_EVAL, make_pipeline

pytestmark = pytest.mark.slow
MULTIHOP = SHARED_EVAL / "multihop_rag" / "corpus.jsonl"
needs_multihop = pytest.mark.skipif(not MULTIHOP.is_file(), reason="needs ../shared/eval/multihop_rag/corpus.jsonl")


def check(data: Path, *extra: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["--data-dir", str(data), "check", "--sample", "100000", *extra])
    return code, capsys.readouterr().out


@needs_multihop
def test_two_writers_at_once_leave_every_vector_reachable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    a = corpus(tmp_path / "a.jsonl", 25, first=0, paragraphs=4)
    b = corpus(tmp_path / "b.jsonl", 25, first=25, paragraphs=4)
    first, second = (
        newsbot("--data-dir", str(data), "ingest", str(a)),
        newsbot("--data-dir", str(data), "ingest", str(b)),
    )
    outs = [p.communicate(timeout=600) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outs
    assert sum("waiting for pid" in err for _, err in outs) == 1  # one of them waited, and said for whom
    code, found = check(data, capsys=capsys)
    assert code == 0, found
    assert "0 missing, 0 orphans" in found and "0 differ from a fresh embedding, 0 not found by a search" in found
    assert "50 articles" in found


def test_a_second_writer_that_would_not_wait_gets_one_line(
    fake_pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = fake_pipeline.registry.path.parent
    with fake_pipeline.writer.hold("ingest"):
        with pytest.raises(IndexBusy, match=rf"^the index at {data} is being written by pid {os.getpid()} \(ingest"):
            make_pipeline(data, fake_pipeline.embedder).ingest([], wait=False)
        code = main(["--data-dir", str(data), "remove", "--no-wait", "x"])
    err = capsys.readouterr().err
    assert code == 1 and len(err.splitlines()) == 1
    assert err.startswith(f"newsbot: the index at {data} is being written by pid {os.getpid()} (ingest, since ")
    assert err.rstrip().endswith("wait for it to finish, or run the command again without --no-wait")


def test_a_serving_process_answers_about_what_another_process_added_and_keeps_it_when_it_writes(
    seeded_copy: Path, real_embedder, capsys: pytest.CaptureFixture[str]
) -> None:
    serving = make_pipeline(seeded_copy, real_embedder)
    serving.warm()
    assert OMAN_QUOTE in serving.ask("What did Dedov say about Oman?").text
    cron = tmp_article(seeded_copy.parent / "cron.md", "Harbour of Port Talbot reopens", "ferries")
    done = newsbot("--data-dir", str(seeded_copy), "ingest", str(cron))  # a cron ingest, in another process
    assert done.communicate(timeout=300)[0].startswith("1 added"), done.stderr
    answer = serving.ask("When did the ferries of Port Talbot sail again?")
    assert not answer.refused and answer.citations[0].doc_id == "cron"  # no restart needed
    report = serving.ingest(
        [Article("upload", "Airport of Cardiff adds flights", "Flights to Dublin resumed on Friday at the airport.")]
    )
    assert report.added == ["upload"]  # an admin upload, by the serving process itself
    code, found = check(seeded_copy, capsys=capsys)
    assert code == 0, found  # the cron ingest's vectors were not lost by the serving process's write
    assert "3 articles" in found


def tmp_article(path: Path, title: str, topic: str) -> Path:
    path.write_text(
        f"# {title}\n\nThe {topic} of Port Talbot sailed again on Monday after the storm, the harbour master said.\n\n"
        f"Repairs to the quay took three weeks, and the {topic} now run twice a day.\n",
        encoding="utf-8",
    )
    return path


def test_a_kill_between_the_commit_and_the_deletion_of_the_old_vectors_orphans_nothing(
    fake_pipeline, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_pipeline.ingest([Article("a", "Harbour", "The harbour reopened on Monday. Ferries sailed.")])

    def killed(chunk_ids: object) -> None:
        raise KeyboardInterrupt  # the process dies right after the registry committed the new version

    monkeypatch.setattr(fake_pipeline.store, "delete", killed)
    with pytest.raises(KeyboardInterrupt):
        fake_pipeline.ingest([Article("a", "Harbour", "The harbour reopened on Tuesday. Ferries sailed at dawn.")])
    monkeypatch.undo()
    data = fake_pipeline.registry.path.parent
    after = make_pipeline(data, fake_pipeline.embedder)
    assert after.check().stale == 1 and len(after.check().orphans) == 1  # the old version's vector, listed
    after.ingest([])  # the next writer takes it out
    report = after.check()
    assert report.sound, report


def test_lost_vectors_are_repaired_from_the_registry(
    seeded_copy: Path, real_embedder, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.rmtree(seeded_copy / "chroma")
    code, found = check(seeded_copy, capsys=capsys)
    assert code == 1 and "vectors: 0 held; 10 missing" in found and "newsbot check --repair" in found
    code, repaired = check(seeded_copy, "--repair", capsys=capsys)
    assert code == 0 and "repaired: the index is whole" in repaired
    assert main(["--data-dir", str(seeded_copy), "ask", "What did Dedov say about Oman?"]) == 0
    assert OMAN_QUOTE in capsys.readouterr().out


def test_an_unchanged_article_whose_vectors_are_gone_is_embedded_again(
    seeded_copy: Path, real_embedder, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline = make_pipeline(seeded_copy, real_embedder)
    lost = pipeline.registry.all_chunk_ids()[:4]
    pipeline.store.delete(lost)
    report = pipeline.ingest(iter_sources([str(SEED_FILE)]))
    assert report.unchanged == ["000_4c519add1ad1325c"] and not report.added
    assert pipeline.store.missing(pipeline.registry.all_chunk_ids()) == []
    assert pipeline.check().sound


def test_a_damaged_vector_index_is_one_line_and_repaired(
    seeded_copy: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSBOT_EXACT_LIMIT", "0")  # questions go to the vector store (a small index: exact here)
    damaged = seeded_copy / "chroma" / "chroma.sqlite3"
    damaged.write_bytes(b"\0" * 4096 + damaged.read_bytes()[4096:])  # its header overwritten
    code = main(["--data-dir", str(seeded_copy), "ask", "What did Dedov say about Oman?"])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1 and err.rstrip().endswith("run `newsbot check --repair`")
    code, repaired = check(seeded_copy, "--repair", capsys=capsys)
    assert code == 0 and "repaired: the index is whole" in repaired
    assert main(["--data-dir", str(seeded_copy), "ask", "What did Dedov say about Oman?"]) == 0
    assert OMAN_QUOTE in capsys.readouterr().out


def test_a_full_disk_is_one_line_and_loses_nothing(fake_pipeline) -> None:
    fake_pipeline.ingest([Article("a", "Harbour", "The harbour reopened on Monday. Ferries sailed.")])
    db = fake_pipeline.registry.db
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "database or disk is full", as on a full disk
    with pytest.raises(IndexUnavailable, match=r"the disk is full — free some space and run the command again$"):
        fake_pipeline.ingest([Article("b", "Fares", "Fares rose by ten percent. " * 400)])
    assert [a.doc_id for a in fake_pipeline.articles()] == ["a"]


def test_a_removal_run_again_is_no_error(seeded_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data-dir", str(seeded_copy), "remove", "000_4c519add1ad1325c"]) == 0
    assert capsys.readouterr().out == "removed 000_4c519add1ad1325c\n"
    assert main(["--data-dir", str(seeded_copy), "remove", "000_4c519add1ad1325c", "nope"]) == 1
    out, err = capsys.readouterr()
    assert out == "000_4c519add1ad1325c was removed before\n"
    assert err == "newsbot: no article 'nope' in the index — `newsbot list` shows the doc ids\n"


def test_the_index_file_is_sqlite_and_its_stale_list_is_empty_after_a_clean_run(seeded_copy: Path) -> None:
    db = sqlite3.connect(seeded_copy / "index.sqlite3")
    assert db.execute("SELECT count(*) FROM stale_vectors").fetchone() == (0,)
    db.close()


ASK_IN_A_FRESH_PROCESS = """
import json, sys
from pathlib import Path
from tests.conftest import FakeEmbedder, make_pipeline
pipeline = make_pipeline(Path(sys.argv[1]), FakeEmbedder())
questions = [json.loads(line)["question"] for line in open(sys.argv[2], encoding="utf-8")][:60]
answers = [pipeline.ask(q) for q in questions]
print(json.dumps([[a.text, [c.text for c in a.citations], [p.chunk.chunk_id for p in a.passages]] for a in answers]))
"""


@pytest.fixture(scope="module")
def multihop_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 609 MultiHop-RAG articles (16,600 chunks) indexed with the fake embedder: large enough for the vector
    index's approximate search to matter."""
    from tests.conftest import FakeEmbedder

    data = tmp_path_factory.mktemp("multihop") / "data"
    pipeline = make_pipeline(data, FakeEmbedder())
    assert pipeline.ingest(iter_sources([str(MULTIHOP)])).chunks == 16_600
    pipeline.close()
    return data


@needs_multihop
def test_the_same_questions_get_the_same_answers_in_every_process(multihop_index: Path) -> None:
    questions = SHARED_EVAL / "multihop_rag" / "questions.jsonl"
    runs = []
    for _ in range(4):  # fresh processes: each opens the vector index and adds what its saved graph lacks
        done = subprocess.run(
            [sys.executable, "-c", ASK_IN_A_FRESH_PROCESS, str(multihop_index), str(questions)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        runs.append(done.stdout)
    assert len(json.loads(runs[0])) == 60
    assert runs[1:] == [runs[0]] * 3  # byte for byte: answers, citations and every passage's rank
