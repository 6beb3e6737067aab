"""The measurements of one corpus size, each beside its reference from the same run."""

from __future__ import annotations

import shutil
import sqlite3
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.corpora import Size, fingerprint, write_subset
from benchmarks.measure import percentile, progress, run_child, run_worker

NEWSBOT = [sys.executable, "-m", "bot.cli"]  # what the `newsbot` console script runs


@dataclass(frozen=True)
class Options:
    """What to measure and how often."""

    cache_dir: Path
    repeats: int = 3  # process-level repeats of every measurement
    passes: int = 2  # passes over the questions inside one latency process
    ingest_articles: int = 100
    parts: frozenset[str] = frozenset({"ingest", "latency", "cold"})
    engine_reference: bool = True  # also time newsbot's own engine on the ingest texts
    fake: bool = False  # a hash embedder instead of the model (the smoke test)


def _fresh(parent: Path, name: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=parent))
    shutil.rmtree(path)
    return path


def measure_ingest(size: Size, work: Path, opts: Options) -> dict[str, Any]:
    """Chunks/s of newsbot's and the plain ingest against model.encode on the same texts, per repeat."""
    limit = opts.ingest_articles
    subset = write_subset(size.source, limit, work / ("subset" if size.source.is_dir() else f"subset-{limit}.jsonl"))
    texts, plain_texts = work / "texts.json", work / "plain-texts.json"
    runs: dict[str, list[float]] = {k: [] for k in ("newsbot", "reference", "engine", "plain", "plain_reference")}
    chunks = plain_chunks = 0
    for r in range(opts.repeats):
        progress(f"{size.name}: ingest run {r + 1}/{opts.repeats} (newsbot)")
        target = _fresh(work, "ingest")
        got = run_worker(
            "ingest", source=str(subset), data_dir=str(target), texts_out=str(texts), fake=opts.fake
        ).result
        shutil.rmtree(target, ignore_errors=True)
        chunks = got["chunks"]
        runs["newsbot"].append(chunks / got["seconds"])
        progress(f"{size.name}: ingest run {r + 1}: {runs['newsbot'][-1]:.1f} chunks/s; model.encode on its texts")
        ref = run_worker("encode", texts=str(texts), engine="sentence-transformers", fake=opts.fake).result
        runs["reference"].append(ref["n"] / ref["seconds"])
        if opts.engine_reference:
            own = run_worker("encode", texts=str(texts), engine="newsbot", fake=opts.fake).result
            runs["engine"].append(own["n"] / own["seconds"])
        progress(f"{size.name}: ingest run {r + 1}: plain LangChain ingest")
        target = _fresh(work, "plain-ingest")
        got = run_worker(
            "plain_ingest", source=str(subset), persist_dir=str(target), texts_out=str(plain_texts), fake=opts.fake
        ).result
        shutil.rmtree(target, ignore_errors=True)
        plain_chunks = got["chunks"]
        runs["plain"].append(plain_chunks / got["seconds"])
        ref = run_worker("encode", texts=str(plain_texts), engine="sentence-transformers", fake=opts.fake).result
        runs["plain_reference"].append(ref["n"] / ref["seconds"])
    articles = 1 if size.source.is_dir() else limit
    return {"articles": articles, "chunks": chunks, "plain_chunks": plain_chunks, "runs": runs}


def product_index(size: Size, opts: Options, base: Path | None) -> Path:
    """newsbot's index of the whole size, built once and kept under the cache dir."""
    key = fingerprint(size.source, f"synthetic={size.synthetic_chunks} fake={opts.fake}")
    target = opts.cache_dir / f"newsbot-{size.name}-{key}"
    if (target / "complete").is_file():
        progress(f"{size.name}: reusing the index at {target}")
        return target
    shutil.rmtree(target, ignore_errors=True)
    if size.synthetic_chunks:
        assert base is not None, "the synthetic size starts from the 609-article index"
        progress(f"{size.name}: synthesising {size.synthetic_chunks:,} chunks from {base} into {target}")
        run_worker("synth", show_stderr=True, base_dir=str(base), target_dir=str(target), chunks=size.synthetic_chunks)
    else:
        progress(f"{size.name}: indexing {size.source} into {target} (once; reused by later runs)")
        run_worker(
            "ingest", show_stderr=True, source=str(size.source), data_dir=str(target), report_every=30.0, fake=opts.fake
        )
    (target / "complete").write_text("ok\n")
    return target


def plain_index(product_dir: Path) -> Path:
    """The plain pipeline's store holding newsbot's chunks and vectors, built once beside newsbot's."""
    target = product_dir.with_name(product_dir.name.replace("newsbot-", "plain-", 1))
    if not (target / "complete").is_file():
        shutil.rmtree(target, ignore_errors=True)
        progress(f"loading the same chunks and vectors into the plain LangChain store at {target}")
        run_worker("plain_load", product_dir=str(product_dir), persist_dir=str(target))
        (target / "complete").write_text("ok\n")
    return target


def _spread(runs: list[list[float]]) -> dict[str, list[float]]:
    """Per-run p50 and p95 of per-question times (each run: every pass over the questions)."""
    return {"p50": [percentile(r, 50) for r in runs], "p95": [percentile(r, 95) for r in runs]}


def measure_latency(size: Size, product_dir: Path, plain_dir: Path, opts: Options) -> dict[str, Any]:
    """Warm answer times of newsbot and of the plain pipeline, each with its query-embedding floor."""
    questions = [[q.text, list(q.history)] for q in size.questions]
    mine: dict[str, list[list[float]]] = {"answer": [], "embed": [], "cached": []}
    plain: dict[str, list[list[float]]] = {"answer": [], "embed": []}
    rss, ready, first, refused = [], [], [], 0
    for r in range(opts.repeats):
        progress(f"{size.name}: warm latency run {r + 1}/{opts.repeats} ({len(questions)} questions × {opts.passes})")
        run = run_worker("latency", data_dir=str(product_dir), questions=questions, repeats=opts.passes, fake=opts.fake)
        mine["answer"].append([t for p in run.result["answer_ms"] for t in p])
        mine["embed"].append([t for p in run.result["embed_ms"] for t in p])
        mine["cached"].append(run.result["cached_ms"])
        rss.append(run.peak_rss_mb)
        ready.append(run.result["ready_s"])
        first.append(run.result["first_ms"])
        refused = run.result["refused"]
        other = run_worker(
            "plain_latency", persist_dir=str(plain_dir), questions=questions, repeats=opts.passes, fake=opts.fake
        )
        plain["answer"].append([t for p in other.result["answer_ms"] for t in p])
        plain["embed"].append([t for p in other.result["embed_ms"] for t in p])
    return {
        "questions": len(questions),
        "refused": refused,
        "newsbot": {k: _spread(v) for k, v in mine.items()},
        "plain": {k: _spread(v) for k, v in plain.items()},
        "newsbot_rss_mb": rss,
        "newsbot_ready_s": ready,
        "newsbot_first_ms": first,
    }


def measure_cold(size: Size, product_dir: Path, plain_dir: Path, opts: Options) -> dict[str, Any]:
    """Process start → first answer line printed, `newsbot ask` against the plain pipeline, interleaved."""
    question = size.questions[0].text
    work = Path(tempfile.mkdtemp(prefix="cold-", dir=opts.cache_dir))
    mine_dir = work / "newsbot"
    shutil.copytree(product_dir, mine_dir)  # `ask` may write (WAL, seeding): never into the cached index
    newsbot = [*NEWSBOT, "--data-dir", str(mine_dir), "ask", question]
    other = [sys.executable, "-m", "benchmarks.plain", str(plain_dir), question]
    run_child(newsbot, first_line=True), run_child(other, first_line=True)  # page cache warm, as after any first run
    out: dict[str, list[float]] = {"newsbot": [], "plain": [], "newsbot_rss_mb": [], "plain_rss_mb": []}
    for r in range(opts.repeats):
        progress(f"{size.name}: cold start run {r + 1}/{opts.repeats}")
        for name, argv in (("newsbot", newsbot), ("plain", other)):
            run = run_child(argv, first_line=True)
            out[name].append(run.first_line_seconds or 0.0)
            out[f"{name}_rss_mb"].append(run.peak_rss_mb)
    out["bm25_build_s"], out["bm25_load_s"], out["bm25_add_s"] = [], [], []
    for r in range(opts.repeats):
        progress(f"{size.name}: BM25 index build, load, and build after one more article, run {r + 1}/{opts.repeats}")
        for build in (True, False):
            got = run_worker("bm25", data_dir=str(mine_dir), build=build).result
            out["bm25_build_s" if build else "bm25_load_s"].append(got["seconds"])
        got = run_worker("bm25", data_dir=str(mine_dir), build=False, add=True).result
        out["bm25_add_s"].append(got["seconds"])
    shutil.rmtree(work, ignore_errors=True)
    return out


def measure_size(size: Size, opts: Options, base: Path | None) -> tuple[dict[str, Any], Path]:
    """Every figure of one size; also returns newsbot's index (the 609 index is the 100k size's base)."""
    work = opts.cache_dir / f"work-{size.name}"
    work.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"name": size.name, "label": size.label}
    if "ingest" in opts.parts and not size.synthetic_chunks:
        out["ingest"] = measure_ingest(size, work, opts)
    product_dir = product_index(size, opts, base)
    out["index_chunks"] = _count_chunks(product_dir)
    if {"latency", "cold"} & opts.parts:
        plain_dir = plain_index(product_dir)
        if "latency" in opts.parts:
            out["latency"] = measure_latency(size, product_dir, plain_dir, opts)
        if "cold" in opts.parts:
            out["cold"] = measure_cold(size, product_dir, plain_dir, opts)
    return out, product_dir


def _count_chunks(data_dir: Path) -> int:
    db = sqlite3.connect(data_dir / "index.sqlite3")
    try:
        return int(db.execute("SELECT count(*) FROM chunks").fetchone()[0])
    finally:
        db.close()
