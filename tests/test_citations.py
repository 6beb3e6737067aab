"""Citations are pure functions: number, map back, drop invented numbers, dedupe, verify."""

from __future__ import annotations

import pytest

from rag.answer.citations import drop_unknown, markers, number_passages, renumber, verify
from rag.types import Chunk, Passage


def passage(cid: str, text: str = "text", doc: str = "d", start: int = 0) -> Passage:
    return Passage(Chunk(cid, doc, text, start, start + len(text), (1,), "T"), 1.0)


def test_number_passages_dedupes_chunks() -> None:
    numbered = number_passages([passage("a"), passage("b"), passage("a"), passage("c")])
    assert {n: p.chunk.chunk_id for n, p in numbered.items()} == {1: "a", 2: "b", 3: "c"}


@pytest.mark.parametrize(
    ("text", "valid", "expected"),
    [
        ("Fact [1]. Other [7].", {1, 2}, "Fact [1]. Other."),  # [7] names nothing
        ("A [2][3] b.", {2}, "A [2] b."),
        ("None [0].", {1}, "None."),
        ("Plain.", {1}, "Plain."),
    ],
)
def test_drop_unknown(text: str, valid: set[int], expected: str) -> None:
    assert drop_unknown(text, valid) == expected


def test_renumber_in_order_of_use() -> None:
    numbered = number_passages([passage("a", "alpha"), passage("b", "beta"), passage("c", "gamma")])
    text, citations = renumber("First [3]. Second [1]. Again [3]. Bogus [9].", numbered)
    assert text == "First [1]. Second [2]. Again [1]. Bogus."
    assert [(c.n, c.text) for c in citations] == [(1, "gamma"), (2, "alpha")]
    assert markers(text) == [1, 2]


def test_verify_flags_citations_not_verbatim() -> None:
    article = "Zero. The quoted passage. End."
    numbered = number_passages([passage("a", "The quoted passage.", start=6), passage("b", "Not there.", start=0)])
    _, citations = renumber("x [1] y [2]", numbered)
    assert verify(citations, {"d": article}) == [2]
