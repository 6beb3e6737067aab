"""One measurement per process: `python -m benchmarks.workers JOB '{json args}'` prints one JSON line.

A fresh process per job keeps imports, thread pools and peak memory of one measurement out of the next.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from benchmarks.corpora import Question, synthesise
from benchmarks.fake import HashEmbedder
from benchmarks.measure import progress

LONG_TEXT = "The ministers met in the capital to discuss trade, energy and security. " * 30  # > 256 tokens


def _settings(data_dir: str, **overrides: Any) -> Any:
    from bot.settings import Settings

    return Settings(data_dir=Path(data_dir), _env_file=None, **overrides)  # type: ignore[call-arg]


def _questions(raw: list[list[Any]]) -> list[Question]:
    return [Question(text, tuple(history)) for text, history in raw]


def _pipeline(data_dir: str, fake: bool, **overrides: Any) -> Any:
    """newsbot's pipeline as the CLI builds it; with `fake`, the hash embedder passed in for the model."""
    from bot.factory import open_pipeline

    pipeline = open_pipeline(_settings(data_dir, **overrides))
    if fake:
        pipeline.embedder = pipeline.retriever.embedder = HashEmbedder()
    return pipeline


def _plain_embeddings(fake: bool) -> Any:
    from benchmarks import plain

    return HashEmbedder() if fake else plain.embeddings()


def ingest(
    source: str, data_dir: str, texts_out: str = "", report_every: float = 0.0, fake: bool = False
) -> dict[str, Any]:
    """newsbot's ingest, files to persisted index (model loaded beforehand), and the texts it embedded."""
    from rag.ingest.chunking import chunk_article
    from rag.ingest.loaders import iter_sources
    from rag.pipeline import embedding_text
    from rag.types import Article, IngestProgress

    pipeline = _pipeline(data_dir, fake)
    if texts_out:
        cfg = pipeline.ingest_config
        articles = [a for a in iter_sources([source]) if isinstance(a, Article)]
        texts = [embedding_text(c, cfg.embed_title) for a in articles for c in chunk_article(a, cfg.chunking)]
        Path(texts_out).write_text(json.dumps(texts), encoding="utf-8")
    pipeline.embedder.encode([LONG_TEXT] * 16)  # load the model and the batch engine: not part of the throughput
    last = [time.monotonic()]

    def report(p: IngestProgress) -> None:
        if report_every and time.monotonic() - last[0] >= report_every:
            last[0] = time.monotonic()
            progress(f"  read {p.articles} articles, embedded {p.chunks_embedded:,} chunks")

    result = pipeline.ingest(iter_sources([source]), report)
    return {"chunks": result.chunks, "seconds": result.seconds, "failed": len(result.failed)}


def plain_ingest(source: str, persist_dir: str, texts_out: str, fake: bool = False) -> dict[str, Any]:
    """The plain pipeline's ingest (model loaded beforehand), and the texts it embedded."""
    from benchmarks import plain

    embedding = _plain_embeddings(fake)
    embedding.embed_documents([LONG_TEXT] * 16)
    texts = [d.page_content for d in plain.split(plain.load_documents(Path(source)))]
    Path(texts_out).write_text(json.dumps(texts), encoding="utf-8")
    started = time.perf_counter()
    chunks = plain.ingest(Path(source), Path(persist_dir), embedding)
    return {"chunks": chunks, "seconds": time.perf_counter() - started}


def encode(texts: str, engine: str, batch_size: int = 32, fake: bool = False) -> dict[str, Any]:
    """Raw `encode` throughput on a texts file: sentence-transformers' model.encode (at `batch_size`, its
    default 32), or newsbot's engine (at its own default batch size, as newsbot ingests)."""
    items = json.loads(Path(texts).read_text(encoding="utf-8"))
    if fake:
        run: Callable[[list[str]], Any] = HashEmbedder().encode
    elif engine == "sentence-transformers":
        from sentence_transformers import SentenceTransformer

        from rag.index.embedder import resolve_model_path

        model = SentenceTransformer(resolve_model_path(""), device="cpu")

        def run(batch: list[str]) -> Any:
            return model.encode(batch, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
    else:
        from rag.index.embedder import SentenceTransformerEmbeddings

        run = SentenceTransformerEmbeddings().encode
    run([LONG_TEXT] * 16)
    started = time.perf_counter()
    run(items)
    return {"n": len(items), "seconds": time.perf_counter() - started}


def _timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def latency(data_dir: str, questions: list[list[Any]], repeats: int, fake: bool = False) -> dict[str, Any]:
    """Warm answer times of newsbot (cache off), its query-embedding floor, and a repeated question (cache on)."""
    from bot.factory import serving
    from rag.answer.cache import AnswerCache
    from rag.question.followups import Conversation

    pipeline = _pipeline(data_dir, fake, answer_cache_size=0)
    qs = _questions(questions)

    def ask(q: Question) -> Any:
        return pipeline.ask(q.text, Conversation.from_history(list(q.history)) if q.history else None)

    started = time.perf_counter()
    with serving(pipeline):  # as the REPL and the Telegram bot serve
        ready_s = time.perf_counter() - started  # model, indexes and (within NEWSBOT_CHUNK_CACHE) chunks loaded
        first_ms = _timed(lambda: ask(qs[0]))  # what the first user after a start waits
        for q in qs[1:3]:
            ask(q)  # warm: SQLite pages, the answerer's caches
        answers, embeds = [], []
        for _ in range(repeats):
            answers.append([_timed(lambda q=q: ask(q)) for q in qs])
            embeds.append([_timed(lambda q=q: pipeline.embedder.embed_query(q.text)) for q in qs])
        pipeline.cache = AnswerCache(len(qs) + 1)
        for q in qs:
            ask(q)
        cached = [_timed(lambda q=q: ask(q)) for q in qs]
        refused = sum(ask(q).refused for q in qs)
    return {
        "answer_ms": answers,
        "embed_ms": embeds,
        "cached_ms": cached,
        "refused": refused,
        "n": len(qs),
        "ready_s": ready_s,
        "first_ms": first_ms,
    }


def plain_latency(persist_dir: str, questions: list[list[Any]], repeats: int, fake: bool = False) -> dict[str, Any]:
    """Warm similarity_search times of the plain pipeline, and its query-embedding floor (sentence-transformers)."""
    from benchmarks import plain

    embedding = _plain_embeddings(fake)
    store = plain.open_store(Path(persist_dir), embedding)
    qs = [q.text for q in _questions(questions)]
    for q in qs[:3]:
        plain.answer(store, q)
    answers, embeds = [], []
    for _ in range(repeats):
        answers.append([_timed(lambda q=q: plain.answer(store, q)) for q in qs])
        embeds.append([_timed(lambda q=q: embedding.embed_query(q)) for q in qs])
    return {"answer_ms": answers, "embed_ms": embeds, "n": len(qs)}


def plain_load(product_dir: str, persist_dir: str) -> dict[str, Any]:
    """The plain store filled with newsbot's chunks and vectors."""
    from benchmarks import plain

    return {"chunks": plain.load_product_index(Path(product_dir), Path(persist_dir))}


def bm25(data_dir: str, build: bool, add: bool = False) -> dict[str, Any]:
    """Time to bring an index's in-memory BM25 up in a fresh process: built from SQLite (its saved file
    removed first, as for a first ingest or a file of an older newsbot), or loaded from the file. With `add`,
    on a copy of the registry and the file: one more article's rows written, then the build an ingest ends
    with (on the file of the state before), which is what is timed."""
    from rag.index.bm25.levels import cache_path
    from rag.index.lexical import LexicalIndex
    from rag.index.registry import Registry
    from rag.ingest.chunking import chunk_article
    from rag.types import Article

    path = Path(data_dir) / "index.sqlite3"
    with tempfile.TemporaryDirectory(prefix="bm25-add-") as scratch:
        if add:
            copy = Path(scratch) / path.name
            with closing(sqlite3.connect(path)) as src, closing(sqlite3.connect(copy)) as dst:
                src.backup(dst)  # what the WAL holds too
            if cache_path(path).is_file():
                shutil.copyfile(cache_path(path), cache_path(copy))
            path = copy
        if build:
            cache_path(path).unlink(missing_ok=True)
        lexical = LexicalIndex(Registry(path))
        if add:
            article = Article("bench-added", "Ministers meet on trade", LONG_TEXT * 4, "Benchmark Wire", "2026-01-01")
            lexical.registry.replace_article(article, chunk_article(article))
        started = time.perf_counter()
        lexical.refresh()
        return {"seconds": time.perf_counter() - started, "saved": cache_path(path).is_file()}


def synth(base_dir: str, target_dir: str, chunks: int) -> dict[str, Any]:
    """The synthesised index (see benchmarks/corpora.py)."""
    return synthesise(Path(base_dir), Path(target_dir), chunks)


JOBS: dict[str, Callable[..., dict[str, Any]]] = {
    "ingest": ingest,
    "plain_ingest": plain_ingest,
    "encode": encode,
    "latency": latency,
    "plain_latency": plain_latency,
    "plain_load": plain_load,
    "synth": synth,
    "bm25": bm25,
}

if __name__ == "__main__":
    job, args = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(JOBS[job](**args)), flush=True)
