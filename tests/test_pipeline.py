"""The pipeline over a real Chroma and SQLite index, with the fake embedder: ingest, replace, remove, crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.answer import REFUSAL
from rag.errors import BadQuestion
from rag.ingest.loaders import iter_sources
from rag.pipeline import clean_question
from rag.types import Article
from tests.conftest import SEEDS, FakeEmbedder, make_pipeline


def article(doc_id: str, body: str, title: str = "Harbour news") -> Article:
    return Article(doc_id=doc_id, title=title, text=body, source="Coast News", published="2024-05-01T00:00:00")


def index_state(pipeline) -> tuple[list[tuple[str, str, int]], list[str], int]:
    """Registry rows, Chroma ids, FTS rows: everything an index holds."""
    rows = [(a.doc_id, a.content_hash, a.chunks) for a in pipeline.articles()]
    ids = sorted(pipeline.store.collection.get(include=[])["ids"])
    return rows, ids, pipeline.lexical.registry.chunk_count()


def test_reingest_adds_nothing(fake_pipeline) -> None:
    first = fake_pipeline.ingest(iter_sources([str(SEEDS)]))
    state = index_state(fake_pipeline)
    second = fake_pipeline.ingest(iter_sources([str(SEEDS)]))
    assert (first.added, first.chunks) == (["000_4c519add1ad1325c"], 10)
    assert (second.added, second.unchanged, second.replaced, second.chunks) == ([], ["000_4c519add1ad1325c"], [], 0)
    assert index_state(fake_pipeline) == state
    assert state[2] == len(state[1]) == 10


def test_changed_article_replaces_its_chunks(fake_pipeline) -> None:
    fake_pipeline.ingest([article("a", "Ferries sailed at dawn.\n\nThe port reopened.")])
    old_ids = index_state(fake_pipeline)[1]
    report = fake_pipeline.ingest([article("a", "Ferries stayed in port.\n\nThe storm went on.")])
    rows, ids, fts = index_state(fake_pipeline)
    assert report.replaced == ["a"]
    assert set(ids).isdisjoint(old_ids)
    assert (len(rows), fts, len(ids)) == (1, 1, 1)
    answer = fake_pipeline.ask("Did the ferries stay in port?")
    assert [c.text for c in answer.citations] == ["Ferries stayed in port.\n\nThe storm went on."]


def test_an_ingest_with_something_to_write_into_a_held_index_warms_its_vectors_first(
    fake_pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    warmed: list[str] = []
    real = fake_pipeline.store.warm

    def warm() -> None:
        warmed.append(threading.current_thread().name)  # off the ingesting thread, while the batch embeds
        real()

    monkeypatch.setattr(fake_pipeline.store, "warm", warm)
    fake_pipeline.ingest([article("a", "Ferries sailed at dawn.")])  # an empty index: nothing to load
    assert warmed == []
    before = index_state(fake_pipeline)
    fake_pipeline.ingest([article("a", "Ferries sailed at dawn.")])  # unchanged: nothing to write
    assert warmed == [] and index_state(fake_pipeline) == before
    report = fake_pipeline.ingest([article("b", "The port reopened."), article("c", "The storm went on.")])
    assert warmed == ["newsbot-warm"] and report.added == ["b", "c"]
    rows, ids, fts = index_state(fake_pipeline)
    assert (len(rows), len(ids), fts) == (3, 3, 3)


def test_a_warm_up_that_fails_leaves_the_ingest_to_the_writes(fake_pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_pipeline.ingest([article("a", "Ferries sailed at dawn.")])

    def broken() -> None:
        raise RuntimeError("the server went away")

    monkeypatch.setattr(fake_pipeline.store, "warm", broken)
    report = fake_pipeline.ingest([article("b", "The port reopened.")])
    assert report.added == ["b"] and len(index_state(fake_pipeline)[1]) == 2


def test_warming_an_empty_or_held_collection_changes_nothing(fake_pipeline) -> None:
    fake_pipeline.store.warm()  # no vector to ask with: nothing happens
    fake_pipeline.ingest([article("a", "Ferries sailed at dawn.")])
    before = fake_pipeline.store.collection.get(include=["embeddings", "metadatas", "documents"])
    fake_pipeline.store.warm()
    after = fake_pipeline.store.collection.get(include=["embeddings", "metadatas", "documents"])
    assert after["ids"] == before["ids"] and after["metadatas"] == before["metadatas"]
    assert (after["embeddings"] == before["embeddings"]).all()


def test_removing_saves_the_bm25_index_of_the_state_it_leaves(fake_pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    from rag.index.bm25 import files as bm25_files
    from rag.index.bm25 import levels as bm25_cache
    from rag.index.lexical import LexicalIndex
    from rag.index.registry import Registry

    fake_pipeline.ingest([article("a", "Ferries sailed at dawn."), article("b", "Rates were held.")])
    assert fake_pipeline.remove_all(["a", "nope", "a"]) == [True, False, False]  # a repeated id is gone already
    path = fake_pipeline.lexical.registry.path
    db = sqlite3.connect(str(path))
    _, key = bm25_cache.state_key(db, fake_pipeline.lexical.weights)
    db.close()
    assert bm25_files.load(bm25_cache.cache_path(path), key, bm25_cache.LEVELS) is not None  # the next process loads it

    def no_build(*_: object) -> None:
        raise AssertionError("the file of this state should have been loaded")

    monkeypatch.setattr(bm25_cache, "build_levels", no_build)
    next_process = LexicalIndex(Registry(path))
    assert next_process.search("rates held", 5) and not next_process.search("ferries", 5)


def test_remove(fake_pipeline) -> None:
    fake_pipeline.ingest([article("a", "Ferries sailed at dawn."), article("b", "Rates were held.")])
    version = fake_pipeline.version()
    assert fake_pipeline.remove("a") is True
    assert fake_pipeline.remove("a") is False
    rows, ids, fts = index_state(fake_pipeline)
    assert [r[0] for r in rows] == ["b"]
    assert [i.split(":")[0] for i in ids] == ["b"]
    assert fts == 1
    assert fake_pipeline.version() > version


def test_interrupted_ingest_then_rerun_equals_a_clean_run(tmp_path: Path) -> None:
    corpus = [article(f"doc{i}", f"Story {i} about the harbour.\n\nMore on story {i}.") for i in range(5)]

    class Crash(Exception):
        pass

    crashing = make_pipeline(tmp_path / "crashed", FakeEmbedder())
    real_replace = crashing.lexical.registry.replace_article
    calls = {"n": 0}

    def replace_then_crash(a, chunks, *rest):
        calls["n"] += 1
        if calls["n"] == 3:  # vectors of doc2 are in Chroma, its commit never happens
            raise Crash()
        real_replace(a, chunks, *rest)

    crashing.lexical.registry.replace_article = replace_then_crash  # type: ignore[method-assign]
    with pytest.raises(Crash):
        crashing.ingest(corpus)
    crashing.lexical.registry.replace_article = real_replace  # type: ignore[method-assign]
    assert [a.doc_id for a in crashing.articles()] == ["doc0", "doc1"]
    rerun = crashing.ingest(corpus)
    assert (rerun.unchanged, rerun.added) == (["doc0", "doc1"], ["doc2", "doc3", "doc4"])

    clean = make_pipeline(tmp_path / "clean", FakeEmbedder())
    clean.ingest(corpus)
    assert index_state(crashing) == index_state(clean)


def test_dense_hits_of_uncommitted_articles_are_not_served(fake_pipeline) -> None:
    from rag.ingest.chunking import chunk_article

    ghost = article("ghost", "Ferries sailed at dawn from the ghost harbour.")
    chunks = chunk_article(ghost)
    fake_pipeline.store.upsert(chunks, fake_pipeline.embedder.encode([c.text for c in chunks]))  # no commit
    fake_pipeline.ingest([article("real", "Rates were held by the bank.")])
    passages = fake_pipeline.retriever.retrieve("ferries ghost harbour")
    assert [p.chunk.doc_id for p in passages] == ["real"]


def test_empty_index_refuses_without_retrieval(fake_pipeline) -> None:
    answer = fake_pipeline.ask("What did Dedov say about Oman?")
    assert (answer.text, answer.refused, answer.citations, answer.passages) == (REFUSAL, True, (), ())


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  What\tdid   Dedov say?  ", "What did Dedov say?"),
        ("What\x00 did\x1b Dedov\u200b say?", "What did Dedov say?"),  # control and zero-width characters
        ("ما هو الاتفاق؟ 🇮🇷", "ما هو الاتفاق؟ 🇮🇷"),  # right-to-left and emoji are questions like any other
    ],
)
def test_clean_question(raw: str, expected: str) -> None:
    assert clean_question(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "the question is empty — type a question about the articles"),
        (" \n\t\x00 ", "the question is empty — type a question about the articles"),
        ("x" * 20_000, "the question is 20,000 characters long; the limit is 2,000 — shorten it"),
    ],
)
def test_bad_questions(fake_pipeline, raw: str, message: str) -> None:
    with pytest.raises(BadQuestion) as info:
        fake_pipeline.ask(raw)
    assert str(info.value) == message


def test_chunks_read_before_an_ingest_are_not_served_after_it(fake_pipeline) -> None:
    """The lexical index keeps the chunks it read, per index version: a new version reads them anew."""
    fake_pipeline.ingest([article("a", "Ferries sailed at dawn.\n\nThe port reopened.")])
    before = fake_pipeline.chunks.article_chunks(["a"])
    assert fake_pipeline.chunks.article_chunks(["a"]) == before  # served from memory the second time
    fake_pipeline.ingest([article("a", "Ferries stayed in port.\n\nThe storm went on.")])
    after = fake_pipeline.chunks.article_chunks(["a"])
    assert [c.text for c in after] == ["Ferries stayed in port.\n\nThe storm went on."]
    assert fake_pipeline.chunks.chunks([c.chunk_id for c in before]) == {}  # the old chunks are gone


# --- citations quote the text as supplied -------------------------------------------------------------------------
def test_a_citation_locates_its_text_in_the_record_as_supplied(fake_pipeline, tmp_path: Path) -> None:
    import json

    text = (
        "\n\nFerries sailed at dawn.\r\n\r\n\r\n\r\nThe port reopened on Monday\nafter the storm.\n\n\n\nTugs waited."
    )
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"id": "harbour", "title": "Harbour", "text": text}) + "\n", encoding="utf-8")
    assert fake_pipeline.ingest(iter_sources([str(corpus)])).added == ["harbour"]
    answer = fake_pipeline.ask("When did the port reopen after the storm?")
    assert answer.citations
    for c in answer.citations:
        assert text[c.start : c.end] == c.text


# --- one article once ----------------------------------------------------------------------------------------
def test_the_same_text_under_another_name_is_indexed_once(fake_pipeline, tmp_path: Path) -> None:
    from tests.test_documents import ARTICLE_HTML

    (tmp_path / "port.html").write_text(ARTICLE_HTML, encoding="utf-8")
    (tmp_path / "port-saved.htm").write_text(ARTICLE_HTML, encoding="utf-8")
    report = fake_pipeline.ingest(iter_sources([str(tmp_path / "port.html"), str(tmp_path / "port-saved.htm")]))
    assert (report.added, report.unchanged) == (["port"], ["port"])
    assert report.notes == ["port-saved: the same text is already indexed as 'port' — not indexed again"]
    again = fake_pipeline.ingest(iter_sources([str(tmp_path / "port-saved.htm")]))  # a later run: the registry knows
    assert (again.added, again.unchanged, again.notes) == (
        [],
        ["port"],
        ["port-saved: the same text is already indexed as 'port' — not indexed again"],
    )
    assert [a.doc_id for a in fake_pipeline.articles()] == ["port"]


def test_two_articles_with_one_doc_id_in_one_run_are_both_kept_or_reported(fake_pipeline) -> None:
    report = fake_pipeline.ingest(
        [article("a", "Ferries sailed at dawn."), article("a", "The port reopened.", title="Other"), article("b", "x")]
    )
    assert (report.added, report.failed) == (
        ["a", "b"],
        ["a: two articles of this ingest have this doc id; the second, “Other”, was skipped — "
         "give one of them another id or file name"],
    )  # fmt: skip
    again = fake_pipeline.ingest([article("a", "Ferries sailed at dawn."), article("a", "Ferries sailed at dawn.")])
    assert (again.unchanged, again.failed, again.replaced) == (["a", "a"], [], [])  # the same article twice: fine


def test_an_index_from_before_text_hashes_finds_its_articles_by_text(tmp_path: Path) -> None:
    import sqlite3

    from rag.index.registry import Registry

    path = tmp_path / "index.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(  # the articles table as indexes written before had it: no text_hash column
        "CREATE TABLE articles (doc_id TEXT PRIMARY KEY, title TEXT NOT NULL, source TEXT NOT NULL, published TEXT,"
        " url TEXT, content_hash TEXT NOT NULL, chunks INTEGER NOT NULL, text TEXT NOT NULL);"
        "INSERT INTO articles VALUES ('old', 'Old', '', NULL, NULL, 'h', 1, 'Ferries sailed at dawn.');"
    )
    db.commit()
    db.close()
    registry = Registry(path)
    assert registry.doc_with_text(article("new", "Ferries sailed at dawn.").text_hash, "new") == "old"
    assert registry.doc_with_text(article("old", "Ferries sailed at dawn.").text_hash, "old") is None
    registry.close()
