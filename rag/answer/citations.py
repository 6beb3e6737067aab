"""Pure functions over citations: number passages, map markers back, verify, dedupe."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from rag.types import Citation, Passage

MARKER = re.compile(r"\[(\d+)\]")


def citation_for(n: int, passage: Passage) -> Citation:
    """The numbered citation of a passage: its text exactly as it stands in the article."""
    c = passage.chunk
    return Citation(n, c.doc_id, c.title, c.published, c.source, c.text, c.start, c.end, c.paragraphs, c.url)


def number_passages(passages: Sequence[Passage]) -> dict[int, Passage]:
    """Numbers 1..k for passages, first come first numbered; duplicate chunks keep one number."""
    numbered: dict[int, Passage] = {}
    seen: set[str] = set()
    for p in passages:
        if p.chunk.chunk_id not in seen:
            seen.add(p.chunk.chunk_id)
            numbered[len(numbered) + 1] = p
    return numbered


def markers(text: str) -> list[int]:
    """The citation numbers used in `text`, in order of first use."""
    return list(dict.fromkeys(int(m) for m in MARKER.findall(text)))


def drop_unknown(text: str, valid: Iterable[int]) -> str:
    """Remove markers that name no passage (e.g. an invented [7] when there are five)."""
    allowed = set(valid)
    cleaned = MARKER.sub(lambda m: m.group(0) if int(m.group(1)) in allowed else "", text)
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", cleaned)).strip()


def renumber(text: str, numbered: dict[int, Passage]) -> tuple[str, tuple[Citation, ...]]:
    """Renumber the markers of `text` 1..m in order of use and return the citations they name.

    Markers that name no passage are dropped first; a passage cited twice is listed once.
    """
    text = drop_unknown(text, numbered)
    used = markers(text)
    new_number = {old: i for i, old in enumerate(used, start=1)}
    text = MARKER.sub(lambda m: f"[{new_number[int(m.group(1))]}]", text)
    citations = tuple(citation_for(new_number[old], numbered[old]) for old in used)
    return text, citations


def verify(citations: Sequence[Citation], article_text: dict[str, str]) -> list[int]:
    """Numbers of citations whose text is not verbatim at [start:end) of its article."""
    return [c.n for c in citations if article_text.get(c.doc_id, "")[c.start : c.end] != c.text]
