"""Article → [Chunk]: paragraphs packed up to a size, long paragraphs split at sentences.

Every chunk is a contiguous span of `article.text` (`text == article.text[start:end]`), so
a citation can be shown verbatim and located. Paragraphs are runs of non-blank lines; a chunk
that packs several keeps the blank lines between them as they are in the text. Consecutive
chunks inside one paragraph share their boundary sentence (the overlap), so no sentence loses
its neighbour.
"""

from __future__ import annotations

from dataclasses import dataclass

from rag.question.sentences import is_heading, sentence_spans
from rag.types import Article, Chunk, paragraph_spans


@dataclass(frozen=True)
class ChunkingConfig:
    """Target and hard sizes, in characters."""

    max_chars: int = 700
    overlap_sentences: int = 1


def _split_long(text: str, start: int, end: int, limit: int) -> list[tuple[int, int]]:
    """Pieces of one over-long sentence, cut at the last space before the limit."""
    pieces = []
    while end - start > limit:
        cut = text.rfind(" ", start + limit // 2, start + limit)
        cut = cut if cut > start else start + limit
        pieces.append((start, cut))
        start = cut + 1 if text[cut : cut + 1] == " " else cut
    pieces.append((start, end))
    return pieces


def _units(text: str, spans: list[tuple[int, int]], limit: int) -> list[tuple[int, int, int]]:
    """(start, end, paragraph number) of packable units: whole paragraphs or their sentences."""
    units = []
    for number, (ps, pe) in enumerate(spans, start=1):
        if pe - ps <= limit:
            units.append((ps, pe, number))
            continue
        for ss, se in sentence_spans(text[ps:pe], offset=ps):
            units.extend((a, b, number) for a, b in _split_long(text, ss, se, limit))
    return units


def chunk_article(article: Article, config: ChunkingConfig | None = None) -> list[Chunk]:
    """Split an article into chunks of at most about `max_chars` characters."""
    config = config or ChunkingConfig()
    text = article.text
    spans = paragraph_spans(text)
    units = _units(text, spans, config.max_chars)
    heading_starts = {s for s, e in spans if is_heading(text[s:e])}
    groups: list[list[tuple[int, int, int]]] = []
    current: list[tuple[int, int, int]] = []
    for unit in units:
        opens = unit[0] in heading_starts
        if current and (opens or unit[1] - current[0][0] > config.max_chars):
            groups.append(current)
            # Overlap only inside a paragraph: carry its last sentence(s) into the next chunk.
            tail = [u for u in current[len(current) - config.overlap_sentences :] if u[2] == unit[2]]
            current = tail if tail and unit[1] - tail[0][0] <= config.max_chars else []
        current.append(unit)
    if current:
        groups.append(current)
    chunks = []
    for i, group in enumerate(groups):
        start, end = group[0][0], group[-1][1]
        chunks.append(
            Chunk(
                chunk_id=f"{article.doc_id}:{article.content_hash[:12]}:{i:04d}",
                doc_id=article.doc_id,
                text=text[start:end],
                start=start,
                end=end,
                paragraphs=tuple(sorted({u[2] for u in group})),
                title=article.title,
                source=article.source,
                published=article.published,
                url=article.url,
            )
        )
    return chunks
