"""The trained answer reader: its shipped weights load and score, and damaged or missing ones say how to fix it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rag.answer.reader import READER_DIR, READER_FILE, SHA_FILE, Reader, verified_weights
from rag.errors import ConfigError


def test_the_shipped_weights_match_their_checksum() -> None:
    assert verified_weights() == READER_DIR / READER_FILE
    assert (READER_DIR / READER_FILE).stat().st_size < 25_000_000


def test_the_reader_scores_each_sentence_in_one_batch() -> None:
    question = "When did the railway open?"
    sentences = [
        "The railway opened to passengers in March 1998 after eight years of construction.",
        "The city is known for its bakeries and its river festival.",
        "Critics of the railway said its fares were too high.",
    ]
    scores = Reader().score(question, sentences)
    assert len(scores) == 3 and all(0.0 <= s <= 1.0 for s in scores)
    assert Reader().score(question, sentences[::-1]) == pytest.approx(scores[::-1], abs=1e-5)  # batch order only
    assert Reader().score(question, []) == []


def test_the_sentence_that_answers_scores_above_those_that_do_not() -> None:
    """A floor on what training taught (an untrained head scores every sentence alike)."""
    reader = Reader()
    railway = reader.score(
        "When did the railway open?",
        [
            "The railway opened to passengers in March 1998 after eight years of construction.",
            "The city is known for its bakeries and its river festival.",
            "Critics of the railway said its fares were too high.",
        ],
    )
    envoy = reader.score(
        "Who is Russia's ambassador to Iran?",
        [
            "Alexey Dedov, Russia's ambassador to Tehran, said ties would grow.",
            "Iran and Russia signed a treaty in January.",
            "The ambassador spoke at a press conference in Tehran.",
        ],
    )
    for scores in (railway, envoy):
        assert scores[0] > max(scores[1:]) + 0.1


def test_damaged_weights_name_the_fix(tmp_path: Path) -> None:
    shutil.copytree(READER_DIR, tmp_path / "reader")
    weights = tmp_path / "reader" / READER_FILE
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match=r"damaged \(sha256 differs\) — reinstall newsbot.*NEWSBOT_READER=off"):
        Reader(tmp_path / "reader").load()


def test_missing_weights_name_the_fix(tmp_path: Path) -> None:
    (tmp_path / SHA_FILE).write_text("0" * 64 + f"  {READER_FILE}\n")
    with pytest.raises(ConfigError, match=r"weights are missing from .* — reinstall newsbot.*train_reader"):
        Reader(tmp_path).load()
