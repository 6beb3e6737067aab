"""Chunk stems stored at ingest: written with each chunk, read back with it, filled in for older indexes,
forgotten when the stemmer changes, and never a reason for an answer to change."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

from rag.answer import ExtractiveAnswerer
from rag.documents import iter_sources
from rag.filters import is_compound
from rag.lexical import LexicalIndex
from rag.terms import STEMMER_VERSION, stems
from tests.conftest import SEEDS, make_pipeline

# The chunks table as newsbot wrote it before stems were stored.
_OLD_CHUNKS = """CREATE TABLE chunks (
    id INTEGER PRIMARY KEY, chunk_id TEXT UNIQUE NOT NULL, doc_id TEXT NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, paragraphs TEXT NOT NULL)"""


def stored_stems(path: Path) -> list[str | None]:
    db = sqlite3.connect(path)
    try:
        return [row[0] for row in db.execute("SELECT stems FROM chunks ORDER BY id")]
    finally:
        db.close()


def held(chunk) -> frozenset[str] | None:
    """A chunk's stored stems as a set, or None when the index had none."""
    return frozenset(chunk.stored_stems.split()) if chunk.stored_stems is not None else None


def all_chunks(lexical: LexicalIndex) -> list:
    return lexical.article_chunks([a.doc_id for a in lexical.articles()])


def test_ingest_stores_each_chunks_stems(fake_pipeline) -> None:
    fake_pipeline.ingest(iter_sources([str(SEEDS)]))
    chunks = all_chunks(fake_pipeline.lexical)
    assert len(chunks) == 10
    assert all(held(c) == frozenset(stems(c.text)) and held(c) for c in chunks)


def test_an_older_index_opens_and_gets_its_stems_on_the_next_ingest(tmp_path: Path, fake_embedder) -> None:
    data = tmp_path / "data"
    pipeline = make_pipeline(data, fake_embedder)
    pipeline.ingest(iter_sources([str(SEEDS)]))
    path = data / "index.sqlite3"
    pipeline.lexical.close()
    db = sqlite3.connect(path)  # make it an index of the older schema: no stems column, no stemmer
    with db:
        db.execute("ALTER TABLE chunks RENAME TO chunks_new")
        db.execute(_OLD_CHUNKS)
        db.execute('INSERT INTO chunks SELECT id, chunk_id, doc_id, start, "end", paragraphs FROM chunks_new')
        db.execute("DROP TABLE chunks_new")
        db.execute("DELETE FROM meta WHERE key='stemmer'")
    db.close()

    reopened = make_pipeline(data, fake_embedder)
    assert stored_stems(path) == [None] * 10  # the column is there, empty
    assert all(held(c) is None for c in all_chunks(reopened.lexical))
    version = reopened.version()
    before = reopened.ask("What did Dedov say about Oman?")
    report = reopened.ingest(iter_sources([str(SEEDS)]))  # nothing changed: the stems are filled in anyway
    assert report.unchanged and not report.added
    assert all(held(c) == frozenset(stems(c.text)) for c in all_chunks(reopened.lexical))
    assert reopened.version() == version  # derived data: the answers' cache stays valid
    assert reopened.ask("What did Dedov say about Oman?").text == before.text


def test_stems_of_another_stemmer_are_forgotten(fake_pipeline) -> None:
    fake_pipeline.ingest(iter_sources([str(SEEDS)]))
    path = fake_pipeline.lexical.path
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE meta SET value = 'an older stemmer' WHERE key = 'stemmer'")
    db.close()
    reopened = LexicalIndex(path)
    assert stored_stems(path) == [None] * 10
    assert reopened.db.execute("SELECT value FROM meta WHERE key='stemmer'").fetchone() == (STEMMER_VERSION,)
    reopened.refresh()
    assert all(held(c) == frozenset(stems(c.text)) for c in all_chunks(reopened))


def test_a_read_only_index_of_this_schema_opens(fake_pipeline) -> None:
    fake_pipeline.ingest(iter_sources([str(SEEDS)]))
    path = fake_pipeline.lexical.path
    fake_pipeline.lexical.close()
    index = LexicalIndex.__new__(LexicalIndex)  # the migration check alone, on a read-only connection
    index.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    index._migrate()  # nothing to change, so nothing written (a write would raise: read-only)
    assert stored_stems(path)[0]


def test_answers_are_the_same_with_stored_stems_or_without(fake_pipeline) -> None:
    fake_pipeline.ingest(iter_sources([str(SEEDS)]))
    question = (
        "What did the Russian ambassador Vladimir Dedov say about relations between Moscow and Muscat, "
        "and about the situation in the Red Sea and Yemen, in his interview?"
    )
    assert is_compound(question)  # answered part by part, from the stems of every passage
    passages = fake_pipeline.retriever.retrieve(question)
    assert passages and all(held(p.chunk) is not None for p in passages)
    bare = [dataclasses.replace(p, chunk=dataclasses.replace(p.chunk, stored_stems=None)) for p in passages]
    answerer = ExtractiveAnswerer()
    with_stems, without = answerer.answer(question, passages), answerer.answer(question, bare)
    assert not with_stems.refused
    assert (with_stems.text, with_stems.citations) == (without.text, without.citations)
