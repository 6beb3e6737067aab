"""Chunks read back from the registry: by id or by article, each read once per index version and then kept.

A chunk is rebuilt from its row (offsets, paragraphs) and its article's text, so `text == article.text[start:end]`
holds by construction. What the index stored of each chunk's analysis (stems, sentences) is kept beside the chunks
read, keyed by chunk id, for `PassageAnalysis` to parse when an answer first needs it.
"""

from __future__ import annotations

from collections.abc import Sequence

from rag.config import CHUNK_CACHE
from rag.index.analysis import PassageAnalysis, Stored
from rag.index.registry import Registry
from rag.types import Chunk

_NONE: Stored = (None, None)


class ChunkReader:
    """Indexed chunks by id and by article, kept per index version (up to `max_kept` of them, ~2 KB each: the
    default keeps ~400 MB at most). A serving process reads them all at start when the index holds no more
    (`preload`): at 100k chunks its first questions then read nothing from SQLite."""

    def __init__(self, registry: Registry, max_kept: int = CHUNK_CACHE) -> None:
        self.registry = registry
        self.max_kept = max_kept
        self.analysis = PassageAnalysis(self.stored, max_chunks=max(max_kept, 1))

    def chunks(self, chunk_ids: Sequence[str]) -> dict[str, Chunk]:
        """Indexed chunks by id; ids not (or no longer) indexed are absent."""
        by_id, _, _ = self._kept()
        missing = [c for c in chunk_ids if c not in by_id]
        if missing:
            found = self._read(f"chunk_id IN ({','.join('?' * len(missing))})", tuple(missing))
            by_id.update((c.chunk_id, c) for c in found)
        return {c: by_id[c] for c in chunk_ids if c in by_id}

    def article_chunks(self, doc_ids: Sequence[str]) -> list[Chunk]:
        """Every chunk of these articles: article by article as given, each in text order."""
        by_id, by_doc, _ = self._kept()
        missing = [d for d in doc_ids if d not in by_doc]
        if missing:
            found = self._read(f"doc_id IN ({','.join('?' * len(missing))})", tuple(missing))
            grouped: dict[str, list[Chunk]] = {d: [] for d in missing}
            for c in found:
                grouped[c.doc_id].append(by_id.setdefault(c.chunk_id, c))
            by_doc.update((d, tuple(cs)) for d, cs in grouped.items())  # whole articles only, for other threads
        return [c for d in dict.fromkeys(doc_ids) for c in by_doc[d]]

    def stored(self, chunk_id: str) -> Stored:
        """What the index stored of a chunk read so far: its stems and sentence record (None where it holds none)."""
        return self._kept()[2].get(chunk_id, _NONE)

    def preload(self) -> int:
        """Read every chunk, with its stems parsed, when the index holds no more than `max_kept`; how many were read
        (0 when the index is larger). A serving process does it once, so that its first questions read no chunk
        from SQLite either."""
        if not 0 < self.registry.chunk_count() <= self.max_kept:
            return 0
        docs = sorted(a.doc_id for a in self.registry.articles())
        read = 0
        for i in range(0, len(docs), 500):  # a few hundred SQL parameters at a time
            for chunk in self.article_chunks(docs[i : i + 500]):
                self.analysis.stem_ids(chunk)
                read += 1
        return read

    def _kept(self) -> tuple[dict[str, Chunk], dict[str, tuple[Chunk, ...]], dict[str, Stored]]:
        """Chunks already read, by id and by article, and what was stored of them, of the current index version
        (started afresh when more than `max_kept` were read): a passage is read from SQLite once per version."""
        kept = self.registry.of_version()
        if "chunks" not in kept or len(kept["chunks"]) > self.max_kept:
            kept["stored"] = {}  # first: another thread that finds "chunks" finds these too
            kept["article_chunks"] = {}
            kept["chunks"] = {}
        return kept["chunks"], kept["article_chunks"], kept["stored"]

    def _read(self, where: str, args: tuple) -> list[Chunk]:
        """Chunks of the rows `where` selects, each article's text read once (one snapshot for both reads)."""
        registry = self.registry
        with registry.lock, registry.transaction("BEGIN"):
            rows = registry.db.execute(
                f'SELECT chunk_id, doc_id, start, "end", paragraphs, stems, sentences FROM chunks WHERE {where} '
                "ORDER BY id",
                args,
            ).fetchall()
            docs = list(dict.fromkeys(r[1] for r in rows))
            articles = {
                doc_id: rest
                for doc_id, *rest in registry.db.execute(
                    f"SELECT doc_id, text, title, source, published, url FROM articles "
                    f"WHERE doc_id IN ({','.join('?' * len(docs))})",
                    docs,
                )
            }
        stored = self._kept()[2]
        out = []
        for cid, doc_id, start, end, paras, stems, sentences in rows:
            if doc_id in articles:
                text, title, source, published, url = articles[doc_id]
                numbers = tuple(int(p) for p in paras.split(",") if p)
                out.append(Chunk(cid, doc_id, text[start:end], start, end, numbers, title, source, published, url))
                stored[cid] = (stems, sentences)
        return out
