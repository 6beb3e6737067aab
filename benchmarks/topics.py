"""Calibrate topic matching: precision and recall of `TopicMatcher` on labelled topic/article pairs.

benchmarks/data/topics.jsonl holds topics written from MultiHop-RAG articles, each with articles about it
(label 1) and articles that are not (label 0): hard negatives that share a word or a name with the topic
("Fortnite" for the Epic v. Google case, "AI rules" in California for the EU's AI rules) and unrelated ones.
The articles are indexed in a temporary index with the real model; every pair is scored; the dense weight
and threshold that give the best F1 (ties: the higher threshold) are printed beside the shipped ones.

    .venv/bin/python -m benchmarks.topics
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from benchmarks.corpora import MULTIHOP
from benchmarks.measure import ROOT
from rag.config import PipelineConfig
from rag.pipeline import Pipeline
from rag.retrieval.topics import TopicConfig
from rag.types import Article

PAIRS = ROOT / "benchmarks" / "data" / "topics.jsonl"


def prf(scores: list[tuple[float, int]], threshold: float) -> tuple[float, float, float]:
    """Precision, recall and F1 of `score >= threshold` against the labels."""
    tp = sum(1 for s, y in scores if s >= threshold and y)
    fp = sum(1 for s, y in scores if s >= threshold and not y)
    fn = sum(1 for s, y in scores if s < threshold and y)
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def main(argv: list[str]) -> int:
    pairs = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines() if line.strip()]
    wanted = {p["doc_id"] for p in pairs}
    articles = []
    for line in MULTIHOP.read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        if d["id"] in wanted:
            articles.append(Article(d["id"], d["title"], d["text"], d.get("source", ""), d.get("published")))
    shipped = TopicConfig()
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = Pipeline.open(PipelineConfig(data_dir=Path(tmp)))
        pipeline.ingest(articles)
        matcher = pipeline.topics
        raw = []  # (dense, lexical, label)
        for p in pairs:
            (m,) = matcher.score(p["topic"], [p["doc_id"]], quote=False)
            raw.append((m.dense, m.lexical, int(p["label"])))
        pipeline.close()
    n_pos = sum(y for _, _, y in raw)
    print(f"{len(raw)} topic/article pairs ({n_pos} about the topic, {len(raw) - n_pos} not), {len(wanted)} articles")
    best = None
    for wi in range(0, 11):
        w = wi / 10
        scores = [(w * d + (1 - w) * lex, y) for d, lex, y in raw]
        for ti in range(20, 91):
            t = ti / 100
            p, r, f = prf(scores, t)
            if best is None or (f, t) > (best[4], best[1]):
                best = (w, t, p, r, f)
    s_scores = [(shipped.dense_weight * d + (1 - shipped.dense_weight) * lex, y) for d, lex, y in raw]
    p, r, f = prf(s_scores, shipped.threshold)
    print(f"shipped: dense_weight={shipped.dense_weight} threshold={shipped.threshold}: P={p:.2f} R={r:.2f} F1={f:.2f}")
    assert best is not None
    w, t, p, r, f = best
    print(f"best F1: dense_weight={w} threshold={t:.2f}: P={p:.2f} R={r:.2f} F1={f:.2f}")
    dense_only = max(prf([(d, y) for d, _, y in raw], ti / 100)[2] for ti in range(20, 91))
    print(f"dense similarity alone, best F1={dense_only:.2f}")
    cfg = replace(shipped, dense_weight=w, threshold=t)
    for (d, lex, y), pair in zip(raw, pairs, strict=True):
        score = cfg.dense_weight * d + (1 - cfg.dense_weight) * lex
        if (score >= cfg.threshold) != bool(y):
            kind = "missed" if y else "false alarm"
            print(f"  {kind}: {score:.2f} (dense {d:.2f}, words {lex:.2f}) {pair['topic']!r} vs {pair['title'][:60]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
