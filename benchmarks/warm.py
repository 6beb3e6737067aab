"""Warm answers of one index, stage by stage: `python -m benchmarks.warm DATA_DIR [--questions 40] [--passes 2]`.

Serves the pipeline as the REPL does (`bot.factory.serving`) and asks the first MultiHop-RAG questions
(answer cache off) after three warm-up ones, `--passes` times; prints per pass the answer's p50 / p95
beside the query embedding's, then the median time of each stage (embedding, Chroma, BM25, hydrating
chunks, the extractive answer). Quicker than `python -m benchmarks`
for trying a change; the stage timers wrap the pipeline's own objects, so the answers are the product's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any

from benchmarks.corpora import MULTIHOP_QUESTIONS
from benchmarks.measure import percentile

STAGES = {
    "embed": ("retriever.embedder", "embed_query"),
    "chroma": ("retriever.vectors", "search"),
    "bm25": ("retriever.lexical", "search"),
    "articles": ("retriever.lexical", "search_articles"),
    "hydrate": ("retriever.chunks", "chunks"),
    "hydrate_articles": ("retriever.chunks", "article_chunks"),
    "retrieve": ("retriever", "retrieve"),
    "answer": ("answerer", "answer"),
}


def _timed(owner: Any, name: str, key: str, spent: dict[str, float]) -> None:
    """Wrap `owner.name` so that its time adds up in spent[key] (instance attribute: only this pipeline)."""
    inner: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[key] = spent.get(key, 0.0) + (time.perf_counter() - started) * 1000

    setattr(owner, name, wrapper)


def main(argv: list[str] | None = None) -> int:
    """Print the table."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.warm", description=__doc__)
    p.add_argument("data_dir", type=Path)
    p.add_argument("--questions", type=int, default=40)
    p.add_argument("--passes", type=int, default=2)
    args = p.parse_args(argv)
    if not (args.data_dir / "index.sqlite3").is_file():
        raise SystemExit(f"no index at {args.data_dir} — build one with `newsbot --data-dir {args.data_dir} ingest …`")
    if not MULTIHOP_QUESTIONS.is_file():
        raise SystemExit(f"the questions are missing: {MULTIHOP_QUESTIONS}")
    from bot.factory import open_pipeline, serving
    from bot.settings import Settings

    pipeline = open_pipeline(Settings(data_dir=args.data_dir, answer_cache_size=0))
    with MULTIHOP_QUESTIONS.open(encoding="utf-8") as f:
        questions = [json.loads(line)["question"] for line in f][: args.questions]
    with serving(pipeline):  # as the REPL, the Telegram bot and the benchmark's latency worker serve
        _passes(pipeline, questions, args.passes)
    return 0


def _passes(pipeline: Any, questions: list[str], passes: int) -> None:
    """Warm up, then time every question `passes` times, stage by stage."""
    for q in questions[:3]:
        pipeline.ask(q)
    spent: dict[str, float] = {}
    for key, (path, name) in STAGES.items():
        owner: Any = pipeline
        for part in path.split("."):
            owner = getattr(owner, part)
        _timed(owner, name, key, spent)
    embedder = pipeline.retriever.embedder
    for n in range(passes):
        answers, embeds, stages = [], [], []
        for q in questions:
            started = time.perf_counter()
            embedder.embed_query(q)
            embeds.append((time.perf_counter() - started) * 1000)
            spent.clear()
            started = time.perf_counter()
            pipeline.ask(q)
            answers.append((time.perf_counter() - started) * 1000)
            stages.append(dict(spent))
        print(
            f"pass {n + 1}: answer p50 {percentile(answers, 50):.1f} p95 {percentile(answers, 95):.1f} ms | "
            f"query embedding p50 {percentile(embeds, 50):.1f} p95 {percentile(embeds, 95):.1f} ms"
        )
        print("  stage medians (ms): " + ", ".join(f"{k} {median(s.get(k, 0.0) for s in stages):.1f}" for k in STAGES))


if __name__ == "__main__":
    sys.exit(main())
