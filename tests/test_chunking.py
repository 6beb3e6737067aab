"""Chunks are exact spans of the article, packed by paragraph, split at sentences, with overlap."""

from __future__ import annotations

import itertools

import pytest

from rag.ingest.chunking import ChunkingConfig, chunk_article
from rag.ingest.loaders import iter_path
from rag.question.sentences import sentence_spans
from rag.types import Article
from tests.conftest import SEED_FILE


def seed() -> Article:
    [article] = list(iter_path(SEED_FILE))
    assert isinstance(article, Article)
    return article


def test_seed_chunks_are_exact_spans() -> None:
    article = seed()
    chunks = chunk_article(article)
    assert [c.paragraphs for c in chunks] == [
        (1, 2, 3), (4,), (5, 6, 7), (8,), (9, 10), (11, 12), (13, 14, 15), (16,), (17,), (18, 19, 20, 21)
    ]  # fmt: skip
    for c in chunks:
        assert article.text[c.start : c.end] == c.text
        assert c.chunk_id.startswith(f"{article.doc_id}:{article.content_hash[:12]}:")
    assert chunks[0].text.startswith("November 1, 2025 - 19:37\n\nTEHRAN")  # the dateline travels with the lead
    assert chunks[2].text.startswith("‘Snapback sanctions unacceptable and illegal’")  # a subhead opens a chunk


def test_chunk_ids_are_deterministic_and_follow_content() -> None:
    article = seed()
    first = [c.chunk_id for c in chunk_article(article)]
    assert first == [c.chunk_id for c in chunk_article(article)]
    changed = Article(article.doc_id, article.title, article.text + "\n\nA new closing paragraph.")
    assert {c.chunk_id for c in chunk_article(changed)}.isdisjoint(first)


def test_long_paragraph_splits_at_sentences_with_overlap() -> None:
    sentences = [f"Sentence number {i} says something about the harbour and the ferries." for i in range(12)]
    article = Article("long", "Long", " ".join(sentences))
    chunks = chunk_article(article, ChunkingConfig(max_chars=200, overlap_sentences=1))
    assert len(chunks) > 3
    for before, after in itertools.pairwise(chunks):
        last_sentence = article.text[sentence_spans(before.text, before.start)[-1][0] : before.end]
        assert after.text.startswith(last_sentence)  # one sentence of overlap
        assert after.end > before.end
    assert chunks[-1].end == len(article.text)
    assert all(len(c.text) <= 200 for c in chunks)


def test_overlong_sentence_is_cut_at_spaces() -> None:
    text = " ".join(["word"] * 400)  # 1,999 characters, no sentence end
    chunks = chunk_article(Article("blob", "Blob", text), ChunkingConfig(max_chars=300))
    assert all(len(c.text) <= 300 for c in chunks)
    assert " ".join(c.text for c in chunks).split() == text.split()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One. Two.", ["One.", "Two."]),
        ("“It is positive,” Dedov added. “Iran agrees.”", ["“It is positive,” Dedov added.", "“Iran agrees.”"]),
        (
            "Mr. Smith met Dr. Jones in the U.S. today. Then left.",
            ["Mr. Smith met Dr. Jones in the U.S. today.", "Then left."],
        ),
        ("J. K. Rowling wrote it. Fine.", ["J. K. Rowling wrote it.", "Fine."]),
        ("A line\nanother line", ["A line", "another line"]),
        ("Costs rose 2.5 percent. Prices fell.", ["Costs rose 2.5 percent.", "Prices fell."]),
        ("", []),
    ],
)
def test_sentence_spans(text: str, expected: list[str]) -> None:
    assert [text[s:e] for s, e in sentence_spans(text)] == expected
