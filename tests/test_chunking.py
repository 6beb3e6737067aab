"""Chunks are exact spans of the article, packed by paragraph, split at sentences, with overlap."""

from __future__ import annotations

import itertools
import json

import pytest

from rag.ingest.chunking import ChunkingConfig, chunk_article
from rag.ingest.loaders import article_from_record, iter_path
from rag.question.sentences import sentence_spans
from rag.types import Article, paragraph_spans
from tests.conftest import SEED_FILE, SHARED_EVAL


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


# --- offsets index the text as supplied --------------------------------------------------------------------------
MULTIHOP_CORPUS = SHARED_EVAL / "multihop_rag" / "corpus.jsonl"


@pytest.mark.parametrize(
    ("text", "paragraphs"),
    [
        ("One.\n\nTwo.", ["One.", "Two."]),
        ("One.\n\n\n\nTwo.", ["One.", "Two."]),  # a run of blank lines is one break
        ("One.\r\n\r\nTwo.\r\n", ["One.", "Two."]),  # Windows line ends
        ("One.\n \t\n  Two.  \n\n", ["One.", "Two."]),  # blank lines holding spaces; padding trimmed
        ("A line\nwrapped.\n\nNext.", ["A line\nwrapped.", "Next."]),  # a single line break stays inside
        ("\n\n  \n", []),
    ],
)
def test_paragraphs_are_runs_of_non_blank_lines(text: str, paragraphs: list[str]) -> None:
    assert [text[s:e] for s, e in paragraph_spans(text)] == paragraphs
    assert Article("x", "X", text).paragraphs == paragraphs


def test_chunks_of_text_with_blank_line_runs_and_crlf_are_exact_spans() -> None:
    text = "Dateline\r\n\r\n\r\nThe port reopened on Monday.\r\nFerries sailed.\n\n\n\nThe storm went on.  \n \n\nEnd."
    article = Article("runs", "Runs", text)
    chunks = chunk_article(article, ChunkingConfig(max_chars=40))
    assert [(c.text, c.paragraphs) for c in chunks] == [
        ("Dateline", (1,)),  # a heading-like line opens a chunk of its own
        ("The port reopened on Monday.", (2,)),  # paragraph 2 is too long: split at its sentences
        ("Ferries sailed.\n\n\n\nThe storm went on.", (2, 3)),  # the blank lines between, as they are
        ("End.", (4,)),
    ]
    assert all(text[c.start : c.end] == c.text for c in chunks)


def test_a_txt_body_is_the_file_verbatim_after_the_title() -> None:
    raw = SEED_FILE.read_text(encoding="utf-8")
    article = seed()
    body = raw.split("\n\n", 1)[1].lstrip()  # the body starts at the first non-blank character after the title
    assert body.startswith(article.text) and body[len(article.text) :].strip() == "Leave a Comment"
    assert all(body[c.start : c.end] == c.text for c in chunk_article(article))


@pytest.mark.skipif(not MULTIHOP_CORPUS.is_file(), reason="needs ../shared/eval/multihop_rag/corpus.jsonl")
def test_every_multihop_chunk_is_a_slice_of_its_record_text() -> None:
    records = [json.loads(line) for line in MULTIHOP_CORPUS.read_text(encoding="utf-8").splitlines()]
    shifted = []
    for record in records:
        article = article_from_record(record, record["id"])
        assert record["text"].startswith(article.text)  # a JSONL body starts where the record's text starts
        shifted += [c.chunk_id for c in chunk_article(article) if record["text"][c.start : c.end] != c.text]
    assert (len(records), shifted) == (609, [])
