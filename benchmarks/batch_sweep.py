"""Which encode batch size is fastest here? `python -m benchmarks.batch_sweep [--texts 256]`.

Encodes the same chunk texts (title + chunk, the first articles of the MultiHop-RAG corpus, or the
seed article) with newsbot's engine for long calls (ONNX Runtime on every core) at each batch size,
in alternating order, and prints chunks per wall second and per CPU second (the latter is steadier
on a shared machine).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from benchmarks.corpora import MULTIHOP, SEEDS
from benchmarks.measure import median


def texts(limit: int) -> list[str]:
    """Up to `limit` chunk texts, as newsbot embeds them."""
    from rag.ingest.chunking import chunk_article
    from rag.ingest.loaders import iter_sources
    from rag.pipeline import embedding_text
    from rag.types import Article

    source = MULTIHOP if MULTIHOP.is_file() else SEEDS
    out: list[str] = []
    for article in iter_sources([str(source)]):
        if not isinstance(article, Article):
            continue
        out += [embedding_text(c, True) for c in chunk_article(article)]
        if len(out) >= limit:
            break
    return out[:limit]


def main(argv: list[str] | None = None) -> int:
    """Print chunks/s for each batch size."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.batch_sweep", description=__doc__)
    p.add_argument("--texts", type=int, default=256)
    p.add_argument("--sizes", default="8,16,32,64,128")
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args(argv)
    from rag.index.embedder import SentenceTransformerEmbeddings

    items = texts(args.texts)
    embedder = SentenceTransformerEmbeddings()
    engine = embedder.engine
    engine.short_tokens = 0  # type: ignore[union-attr]  # always the session for long calls
    embedder.encode(items[:32])
    sizes = [int(s) for s in args.sizes.split(",")]
    wall: dict[int, list[float]] = {s: [] for s in sizes}
    cpu: dict[int, list[float]] = {s: [] for s in sizes}
    for r in range(args.rounds):
        for size in sizes if r % 2 == 0 else list(reversed(sizes)):
            engine.batch_size = size
            c0, w0 = time.process_time(), time.perf_counter()
            embedder.encode(items)
            wall[size].append(len(items) / (time.perf_counter() - w0))
            cpu[size].append(len(items) / (time.process_time() - c0))
    print(f"{len(items)} texts, {os.cpu_count()} cores, {args.rounds} rounds (medians)")
    print("batch  chunks/s (wall)  chunks/s (per CPU second)")
    for size in sizes:
        print(f"{size:>5}  {median(wall[size]):>15.1f}  {median(cpu[size]):>25.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
