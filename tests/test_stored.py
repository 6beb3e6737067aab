"""What the index stores with each chunk at ingest, its stems and its sentences: written with the chunk, read back
by `PassageAnalysis`, forgotten and written again when the stemmer or the sentence splitter changes, and never a
reason for an answer to change."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from rag.answer.extractive import ExtractiveAnswerer
from rag.index.analysis import VERSION as SENTENCES_VERSION
from rag.index.analysis import PassageAnalysis, decode_sentences, encode_sentences, split_and_stem
from rag.index.registry import Registry
from rag.ingest.loaders import iter_sources
from rag.question.clauses import is_compound
from rag.question.words import STEMMER_VERSION, stems
from tests.conftest import SEEDS, make_pipeline


def stored(path: Path, column: str = "stems") -> list[str | None]:
    db = sqlite3.connect(path)
    try:
        return [row[0] for row in db.execute(f"SELECT {column} FROM chunks ORDER BY id")]
    finally:
        db.close()


def rewrite(path: Path, *statements: str) -> None:
    """Run `statements` on the index file itself, to leave it as another newsbot would have."""
    db = sqlite3.connect(path)
    with db:
        for statement in statements:
            db.execute(statement)
    db.close()


def all_chunks(pipeline) -> list:
    return pipeline.chunks.article_chunks([a.doc_id for a in pipeline.articles()])


def test_ingest_stores_each_chunks_stems_and_sentences(fake_pipeline) -> None:
    fake_pipeline.ingest(iter_sources([str(SEEDS)]))
    chunks = all_chunks(fake_pipeline)
    assert len(chunks) == 10
    held = {c.chunk_id: fake_pipeline.chunks.stored(c.chunk_id) for c in chunks}
    assert all(set(held[c.chunk_id][0].split()) == stems(c.text) and stems(c.text) for c in chunks)
    read = [decode_sentences(held[c.chunk_id][1], c.text, c.start) for c in chunks]
    assert read == [split_and_stem(c.text, c.start) for c in chunks] and all(read)
    # the offsets are the article's, the texts the article's own words
    article = fake_pipeline.registry.article(chunks[0].doc_id)
    assert article is not None
    assert all(article.text[s:e] == text for sentences in read for s, e, text, _ in sentences)


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
        assert decode_sentences(encode_sentences(text), text, offset) == split_and_stem(text, offset)


def test_stems_of_another_stemmer_are_forgotten_and_written_again_by_the_next_ingest(fake_pipeline) -> None:
    fake_pipeline.ingest(iter_sources([str(SEEDS)]))
    path = fake_pipeline.registry.path
    before = stored(path)
    fake_pipeline.close()
    rewrite(path, "UPDATE meta SET value = 'an older stemmer' WHERE key = 'stemmer'")
    reopened = make_pipeline(path.parent, fake_pipeline.embedder)
    assert stored(path) == [None] * 10
    assert reopened.registry.one("SELECT value FROM meta WHERE key='stemmer'") == (STEMMER_VERSION,)
    version, answer = reopened.version(), reopened.ask("What did Dedov say about Oman?")
    report = reopened.ingest(iter_sources([str(SEEDS)]))  # nothing changed: the stems are written anyway
    assert report.unchanged and not report.added
    assert stored(path) == before
    assert reopened.version() == version  # derived data: the answers' cache stays valid
    assert reopened.ask("What did Dedov say about Oman?").text == answer.text


def test_sentences_of_another_splitter_are_forgotten_and_the_stems_kept(fake_pipeline) -> None:
    fake_pipeline.ingest(iter_sources([str(SEEDS)]))
    path = fake_pipeline.registry.path
    stems_before, sentences_before = stored(path), stored(path, "sentences")
    rewrite(
        path, "UPDATE meta SET value = 'an older splitter' WHERE key = 'sentences'", "UPDATE chunks SET sentences = 'x'"
    )
    reopened = Registry(path)
    assert stored(path, "sentences") == [None] * 10 and stored(path) == stems_before
    assert reopened.one("SELECT value FROM meta WHERE key='sentences'") == (SENTENCES_VERSION,)
    assert reopened.fill_analysis() == 10
    assert stored(path, "sentences") == sentences_before


def test_a_record_that_does_not_parse_is_split_instead(fake_pipeline) -> None:
    fake_pipeline.ingest(iter_sources([str(SEEDS)]))
    chunk = all_chunks(fake_pipeline)[0]
    damaged = PassageAnalysis(lambda chunk_id: (None, "not a record"))
    assert damaged.sentences(chunk) == split_and_stem(chunk.text, chunk.start)


def test_opening_an_index_of_this_version_writes_nothing(fake_pipeline) -> None:
    fake_pipeline.ingest(iter_sources([str(SEEDS)]))
    fake_pipeline.close()
    path = fake_pipeline.registry.path
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    before = path.read_bytes()
    registry = Registry(path)  # nothing to change, so nothing written (a read-only data dir still opens)
    assert len(registry.articles()) == 1
    registry.close()
    wal = Path(f"{path}-wal")
    assert path.read_bytes() == before and (not wal.exists() or not wal.read_bytes())


def test_answers_are_the_same_with_stored_stems_and_sentences_or_without(fake_pipeline) -> None:
    fake_pipeline.ingest(iter_sources([str(SEEDS)]))
    question = (
        "What did the Russian ambassador Vladimir Dedov say about relations between Moscow and Muscat, "
        "and about the situation in the Red Sea and Yemen, in his interview?"
    )
    assert is_compound(question)  # answered part by part, from the stems of every passage
    short = "What did Dedov say about Oman?"  # answered from the sentences of the top passages
    read = fake_pipeline.chunks.stored
    for asked in (question, short):
        passages = fake_pipeline.retriever.retrieve(asked)
        assert passages and all(read(p.chunk.chunk_id)[0] and read(p.chunk.chunk_id)[1] for p in passages)
        got = ExtractiveAnswerer(analysis=PassageAnalysis(read)).answer(asked, passages)
        assert not got.refused
        for bare in (
            lambda cid: (None, read(cid)[1]),
            lambda cid: (read(cid)[0], None),
            lambda cid: (None, None),
        ):
            without = ExtractiveAnswerer(analysis=PassageAnalysis(bare)).answer(asked, passages)
            assert (got.text, got.citations) == (without.text, without.citations)
