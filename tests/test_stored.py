"""What the index stores with each chunk at ingest, its stems and its sentences: written with the chunk, read back
with it, filled in for older indexes, forgotten when the stemmer or the sentence splitter changes, and never a
reason for an answer to change."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest

from rag.answer import ExtractiveAnswerer, _read_or_split
from rag.documents import iter_sources
from rag.filters import is_compound
from rag.lexical import LexicalIndex
from rag.sentence_record import VERSION as SENTENCES_VERSION
from rag.sentence_record import decode_sentences, encode_sentences
from rag.terms import STEMMER_VERSION, stems
from tests.conftest import SEEDS, make_pipeline

# The chunks table as newsbot wrote it before stems were stored.
_OLD_CHUNKS = """CREATE TABLE chunks (
    id INTEGER PRIMARY KEY, chunk_id TEXT UNIQUE NOT NULL, doc_id TEXT NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, paragraphs TEXT NOT NULL)"""


def stored_stems(path: Path, column: str = "stems") -> list[str | None]:
    db = sqlite3.connect(path)
    try:
        return [row[0] for row in db.execute(f"SELECT {column} FROM chunks ORDER BY id")]
    finally:
        db.close()


def rewrite(path: Path, *statements: str) -> None:
    """Run `statements` on the index file itself, to leave it as an older or another newsbot would have."""
    db = sqlite3.connect(path)
    with db:
        for statement in statements:
            db.execute(statement)
    db.close()


def split_now(chunk) -> tuple:
    """The chunk's sentences as the answerer splits a chunk whose index stored none."""
    return _read_or_split.__wrapped__(chunk.text, chunk.start, None)


def sentences_held(chunk) -> tuple | None:
    """The chunk's stored sentences as the answerer reads them, or None when the index had none."""
    record = chunk.stored_sentences
    return decode_sentences(record, chunk.text, chunk.start) if record is not None else None


def held(chunk) -> frozenset[str] | None:
    """A chunk's stored stems as a set, or None when the index had none."""
    return frozenset(chunk.stored_stems.split()) if chunk.stored_stems is not None else None


def all_chunks(lexical: LexicalIndex) -> list:
    return lexical.article_chunks([a.doc_id for a in lexical.articles()])


def test_ingest_stores_each_chunks_stems_and_sentences(fake_pipeline) -> None:
    fake_pipeline.ingest(iter_sources([str(SEEDS)]))
    chunks = all_chunks(fake_pipeline.lexical)
    assert len(chunks) == 10
    assert all(held(c) == frozenset(stems(c.text)) and held(c) for c in chunks)
    assert all(sentences_held(c) == split_now(c) and split_now(c) for c in chunks)
    # the offsets are the article's, the texts the article's own words
    article = fake_pipeline.lexical.article(chunks[0].doc_id)
    assert article is not None
    assert all(article.text[s:e] == text for c in chunks for s, e, text, _ in sentences_held(c) or ())


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\n  ",
        "It was.",  # a sentence with no content word: no stems
        "Dedov spoke.\n\nOman’s envoy replied: “We agree.” Talks resumed in Muscat on 3 May.",
        "Ça va? Die Gespräche über Çanakkale gingen weiter. 東京の会議は続いた。",
    ],
)
def test_a_sentence_record_reads_back_as_the_text_splits(text: str) -> None:
    for offset in (0, 1234):
        assert decode_sentences(encode_sentences(text), text, offset) == _read_or_split.__wrapped__(text, offset, None)


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
    assert stored_stems(path) == [None] * 10  # the columns are there, empty
    assert stored_stems(path, "sentences") == [None] * 10
    assert all(held(c) is None and c.stored_sentences is None for c in all_chunks(reopened.lexical))
    version = reopened.version()
    before = reopened.ask("What did Dedov say about Oman?")
    report = reopened.ingest(iter_sources([str(SEEDS)]))  # nothing changed: the stems are filled in anyway
    assert report.unchanged and not report.added
    assert all(held(c) == frozenset(stems(c.text)) for c in all_chunks(reopened.lexical))
    assert all(sentences_held(c) == split_now(c) for c in all_chunks(reopened.lexical))
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


def test_an_index_that_stored_stems_but_not_sentences_gets_them(fake_pipeline) -> None:
    # the schema before sentences were stored: a stems column, no sentences column and no version for one
    fake_pipeline.ingest(iter_sources([str(SEEDS)]))
    path = fake_pipeline.lexical.path
    fake_pipeline.lexical.close()
    rewrite(path, "ALTER TABLE chunks DROP COLUMN sentences", "DELETE FROM meta WHERE key='sentences'")
    stems_before = stored_stems(path)
    reopened = LexicalIndex(path)
    assert stored_stems(path, "sentences") == [None] * 10 and stored_stems(path) == stems_before
    reopened.refresh()
    assert all(sentences_held(c) == split_now(c) for c in all_chunks(reopened))


def test_sentences_of_another_splitter_are_forgotten_and_the_stems_kept(fake_pipeline) -> None:
    fake_pipeline.ingest(iter_sources([str(SEEDS)]))
    path = fake_pipeline.lexical.path
    stems_before = stored_stems(path)
    rewrite(
        path, "UPDATE meta SET value = 'an older splitter' WHERE key = 'sentences'", "UPDATE chunks SET sentences = 'x'"
    )
    reopened = LexicalIndex(path)
    assert stored_stems(path, "sentences") == [None] * 10 and stored_stems(path) == stems_before
    assert reopened.db.execute("SELECT value FROM meta WHERE key='sentences'").fetchone() == (SENTENCES_VERSION,)
    reopened.refresh()
    assert all(sentences_held(c) == split_now(c) for c in all_chunks(reopened))


def test_a_record_that_does_not_parse_is_split_instead(fake_pipeline) -> None:
    fake_pipeline.ingest(iter_sources([str(SEEDS)]))
    chunk = all_chunks(fake_pipeline.lexical)[0]
    damaged = dataclasses.replace(chunk, stored_sentences="not a record")
    assert _read_or_split(damaged.text, damaged.start, damaged.stored_sentences) == split_now(chunk)


def test_a_read_only_index_of_this_schema_opens(fake_pipeline) -> None:
    fake_pipeline.ingest(iter_sources([str(SEEDS)]))
    path = fake_pipeline.lexical.path
    fake_pipeline.lexical.close()
    index = LexicalIndex.__new__(LexicalIndex)  # the migration check alone, on a read-only connection
    index.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    index._migrate()  # nothing to change, so nothing written (a write would raise: read-only)
    assert stored_stems(path)[0] and stored_stems(path, "sentences")[0]


def test_answers_are_the_same_with_stored_stems_and_sentences_or_without(fake_pipeline) -> None:
    fake_pipeline.ingest(iter_sources([str(SEEDS)]))
    question = (
        "What did the Russian ambassador Vladimir Dedov say about relations between Moscow and Muscat, "
        "and about the situation in the Red Sea and Yemen, in his interview?"
    )
    assert is_compound(question)  # answered part by part, from the stems of every passage
    short = "What did Dedov say about Oman?"  # answered from the sentences of the top passages
    for asked in (question, short):
        passages = fake_pipeline.retriever.retrieve(asked)
        assert passages and all(held(p.chunk) is not None and p.chunk.stored_sentences for p in passages)
        answerer = ExtractiveAnswerer()
        got = answerer.answer(asked, passages)
        assert not got.refused
        for bare_of in (
            {"stored_stems": None},
            {"stored_sentences": None},
            {"stored_stems": None, "stored_sentences": None},
        ):
            bare = [dataclasses.replace(p, chunk=dataclasses.replace(p.chunk, **bare_of)) for p in passages]
            without = answerer.answer(asked, bare)
            assert (got.text, got.citations) == (without.text, without.citations)
