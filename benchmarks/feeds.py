"""Feed benchmarks: `python -m benchmarks.feeds [--write docs/benchmarks.md]`.

1. A refresh of 50 unchanged feeds (every one answers 304): wall time, and embeddings made (should be none).
2. A feed of 100 new entries whose article pages (MultiHop-RAG articles) are served on 127.0.0.1: end-to-end
   chunks/s of the refresh (feed, pages, extraction, chunking, embedding, writes) against the encoder's own
   throughput on the same chunk texts in the same batches.
3. Near-duplicate detection on a labelled set from the MultiHop-RAG corpus: each article's perturbed copy (new
   headline, boilerplate added at both ends, 10% of sentences edited) must match its original; each original
   checked against all the others must match none; the same-topic pairs (the articles a multi-hop question's
   evidence comes from) are reported apart, as the hardest negatives.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.test_feeds import conditional, send, serve

CORPUS = Path("/work/shared/eval/multihop_rag")
BOILER_TOP = "Sign up for our morning newsletter and get the day's top stories in your inbox."
BOILER_END = "© 2023 Wire Services. All rights reserved. This material may not be published, broadcast or rewritten."


def load_corpus(limit: int | None = None) -> list[dict[str, Any]]:
    with (CORPUS / "corpus.jsonl").open() as f:
        rows = [json.loads(line) for line in f]
    return rows[:limit] if limit else rows


def rss(items: list[tuple[str, str, str, str]], title: str = "Bench") -> bytes:
    body = "".join(
        f"<item><title>{t}</title><link>{link}</link><guid>{guid}</guid><pubDate>{date}</pubDate></item>"
        for t, link, guid, date in items
    )
    return f'<rss version="2.0"><channel><title>{title}</title>{body}</channel></rss>'.encode()


def html_page(title: str, text: str) -> bytes:
    from html import escape

    paras = "".join(f"<p>{escape(p)}</p>" for p in text.split("\n\n") if p.strip())
    head = f"<html><head><title>{escape(title)}</title></head>"
    return f"{head}<body><article><h1>{escape(title)}</h1>{paras}</article></body></html>".encode()


class Counting:
    """The real embedder, counting the texts it embeds."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.texts = inner, 0

    def encode(self, texts: list[str]) -> Any:
        self.texts += len(texts)
        return self.inner.encode(texts)

    def embed_query(self, text: str) -> list[float]:
        return list(self.inner.embed_query(text))


def open_pipeline(data_dir: Path, embedder: Any) -> Any:
    from rag.config import PipelineConfig
    from rag.pipeline import Pipeline

    return Pipeline.open(PipelineConfig(data_dir, answer_cache_size=0), embedder=embedder)


def bench_unchanged(embedder: Any, feeds: int = 50, runs: int = 5) -> dict[str, Any]:
    from rag.config import FeedConfig
    from rag.index.feedtable import FeedTable
    from rag.refresh import refresh

    config = FeedConfig(allow_private=True)
    with serve({}) as site, tempfile.TemporaryDirectory() as tmp:
        for i in range(feeds):
            item = (f"Story {i}", f"{site.base}/p{i}", f"g{i}", "Mon, 03 Nov 2025 09:00:00 GMT")
            site.routes[f"/f{i}"] = conditional(rss([item], f"Feed {i}"), f'"e{i}"')
            site.routes[f"/p{i}"] = send(html_page(f"Story {i}", f"Paragraph of story {i}. " * 30), "text/html")
        counting = Counting(embedder)
        pipeline = open_pipeline(Path(tmp) / "data", counting)
        table = FeedTable(pipeline.registry.path)
        for i in range(feeds):
            table.add(f"{site.base}/f{i}")
        table.close()
        first = refresh(pipeline, config=config)
        before = counting.texts
        times, statuses = [], set()
        for _ in range(runs):
            started = time.perf_counter()
            report = refresh(pipeline, all=True, config=config)
            times.append(time.perf_counter() - started)
            statuses |= {o.status for o in report.outcomes}
        pipeline.close()
    return {
        "feeds": feeds,
        "first_added": len(first.new_doc_ids),
        "seconds": times,
        "embeddings": counting.texts - before,
        "statuses": sorted(statuses),
    }


def bench_new_entries(embedder: Any, entries: int = 100, passes: int = 2) -> dict[str, Any]:
    from rag.config import FeedConfig
    from rag.index.feedtable import FeedTable
    from rag.pipeline import embedding_text
    from rag.refresh import refresh

    rows = load_corpus(entries)
    config = FeedConfig(allow_private=True)
    out: dict[str, Any] = {"entries": entries, "refresh_cps": [], "encoder_cps": [], "chunks": 0}
    with serve({}) as site:
        items = []
        for i, row in enumerate(rows):
            site.routes[f"/a{i}"] = send(html_page(row["title"], row["text"]), "text/html")
            items.append((row["title"].replace("&", "and").replace("<", ""), f"{site.base}/a{i}", f"g{i}", ""))
        site.routes["/feed"] = send(rss(items))
        for _ in range(passes):
            with tempfile.TemporaryDirectory() as tmp:
                pipeline = open_pipeline(Path(tmp) / "data", embedder)
                table = FeedTable(pipeline.registry.path)
                table.add(f"{site.base}/feed")
                table.close()
                started = time.perf_counter()
                report = refresh(pipeline, config=config)
                seconds = time.perf_counter() - started
                assert len(report.new_doc_ids) == entries, report.failed
                ids = [cid for d in report.new_doc_ids for cid in pipeline.registry.chunk_ids(d)]
                found = pipeline.chunks.chunks(ids)
                texts = [embedding_text(found[c], True) for c in ids]
                step = pipeline.ingest_config.batch_chunks
                started = time.perf_counter()
                for i in range(0, len(texts), step):
                    embedder.encode(texts[i : i + step])
                encode_seconds = time.perf_counter() - started
                out["chunks"] = report.chunks
                out["refresh_cps"].append(report.chunks / seconds)
                out["encoder_cps"].append(len(texts) / encode_seconds)
                pipeline.close()
    return out


_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def perturb(row: dict[str, Any], rng: random.Random) -> str:
    """A syndicated copy: boilerplate at both ends and 10% of the sentences edited (a word changed in each)."""
    sentences = _SENTENCE.split(row["text"])
    for i in rng.sample(range(len(sentences)), max(1, len(sentences) // 10)):
        words = sentences[i].split()
        if words:
            j = rng.randrange(len(words))
            words[j] = rng.choice(["reportedly", "officials", "on Tuesday", "according to sources", "however"])
            sentences[i] = " ".join(words)
    return f"{BOILER_TOP}\n\n{' '.join(sentences)}\n\n{BOILER_END}"


def bench_dedupe(seed: int = 7) -> dict[str, Any]:
    from rag.ingest import dedupe

    rows = load_corpus()
    rng = random.Random(seed)
    sigs = {r["id"]: dedupe.signature(r["text"]) for r in rows}
    index = dedupe.Sketches([(d, s.tobytes()) for d, s in sigs.items()])
    tp = fn = fp_copy = 0
    started = time.perf_counter()
    for r in rows:  # positives: the copy must match its original
        found = index.match(dedupe.signature(perturb(r, rng)))
        if found == r["id"]:
            tp += 1
        else:
            fn += 1
            fp_copy += found is not None
    seconds = (time.perf_counter() - started) / len(rows)
    fp = sum(index.match(s, other_than=d) is not None for d, s in sigs.items())  # originals vs all the others
    pairs: set[tuple[str, str]] = set()
    with (CORPUS / "questions.jsonl").open() as f:
        for line in f:
            gold = sorted(set(json.loads(line).get("gold_doc_ids", [])))
            pairs |= {(a, b) for i, a in enumerate(gold) for b in gold[i + 1 :] if a in sigs and b in sigs}
    topic = [dedupe.similarity(sigs[a], sigs[b]) for a, b in pairs]
    topic_fp = sum(s >= dedupe.THRESHOLD for s in topic)
    predicted = tp + fp + fp_copy
    return {
        "articles": len(rows),
        "threshold": dedupe.THRESHOLD,
        "tp": tp,
        "fn": fn,
        "fp": fp + fp_copy,
        "precision": tp / predicted if predicted else 1.0,
        "recall": tp / (tp + fn),
        "topic_pairs": len(pairs),
        "topic_fp": topic_fp,
        "topic_max": max(topic) if topic else 0.0,
        "ms_per_check": seconds * 1000,
    }


def section(r: dict[str, Any]) -> str:
    u, n, d = r["unchanged"], r["new"], r["dedupe"]
    med = statistics.median(u["seconds"])
    ratios = [a / b for a, b in zip(n["refresh_cps"], n["encoder_cps"], strict=True)]
    lines = [
        "## Feeds",
        "",
        f"Measured with `python -m benchmarks.feeds --write docs/benchmarks.md` on {r['machine']}.",
        "",
        "| measure | result | target |",
        "|---|---|---|",
        f"| refresh of {u['feeds']} unchanged feeds (all 304), loopback | {med * 1000:.0f} ms median of "
        f"{len(u['seconds'])} ({', '.join(f'{s * 1000:.0f}' for s in u['seconds'])} ms); "
        f"{u['embeddings']} embeddings | < 1 s, 0 embeddings |",
        f"| feed of {n['entries']} new entries, pages on loopback ({n['chunks']} chunks) | "
        f"{', '.join(f'{c:.0f}' for c in n['refresh_cps'])} chunks/s end to end vs "
        f"{', '.join(f'{c:.0f}' for c in n['encoder_cps'])} chunks/s encoder alone: "
        f"{', '.join(f'{x:.2f}×' for x in ratios)} | ≥ 0.9× |",
        f"| near-duplicates, {d['articles']} MultiHop-RAG articles + perturbed copies (MinHash 128, 3-word "
        f"shingles, threshold {d['threshold']}) | precision {d['precision']:.3f}, recall {d['recall']:.3f} "
        f"({d['tp']} found, {d['fn']} missed, {d['fp']} false); same-topic pairs: {d['topic_fp']} of "
        f"{d['topic_pairs']} matched (highest similarity {d['topic_max']:.2f}); "
        f"{d['ms_per_check']:.1f} ms a check | — |",
        "",
        "Perturbed copy: boilerplate added before and after the text, one word changed in 10% of the sentences, a new",
        "headline (titles are not part of the sketch). Negatives: every original against all the other 608, and",
        "apart the pairs of articles one multi-hop question draws its evidence from (same story, other outlets).",
        "",
    ]
    return "\n".join(lines)


def write_section(path: Path, text: str) -> None:
    old = path.read_text() if path.exists() else ""
    start = old.find("\n## Feeds\n")
    if start >= 0:
        end = old.find("\n## ", start + 1)
        new = old[: start + 1] + text + (old[end + 1 :] if end >= 0 else "")
    else:
        marker = old.find("\n## How it is measured")
        new = old[: marker + 1] + text + "\n" + old[marker + 1 :] if marker >= 0 else old.rstrip() + "\n\n" + text
    path.write_text(new)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--write", type=Path, help="put the Feeds section into this Markdown file")
    p.add_argument("--passes", type=int, default=2, help="passes of the 100-entry measure (default 2)")
    args = p.parse_args()
    from rag.index.embedder import SentenceTransformerEmbeddings

    embedder = SentenceTransformerEmbeddings()
    embedder.embed_query("warm up")
    results = {
        "machine": "a shared 2-core machine (other work running: absolute times are noisy, the ratios are the "
        "figures to read)",
        "dedupe": bench_dedupe(),
        "unchanged": bench_unchanged(embedder),
        "new": bench_new_entries(embedder, passes=args.passes),
    }
    print(json.dumps(results, indent=1, default=str))
    text = section(results)
    print(text)
    if args.write:
        write_section(args.write, text)


if __name__ == "__main__":
    main()
