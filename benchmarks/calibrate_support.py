"""Calibrate the sentence-support thresholds of rag/support.py on the seed questions.

Positives: each sentence of a reference answer against the chunks of the seed article that hold its
gold evidence. Negatives: the same sentence against every other chunk of the article, one at a time
(same article, same people, same topic: the distractors a model is most tempted by). For each pair of
thresholds the script counts positives kept and negatives let through.

    .venv/bin/python benchmarks/calibrate_support.py [/work/shared/eval/seed_questions.jsonl]
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from rag.answer.support import Support, SupportChecker, SupportConfig
from rag.index.embedder import SentenceTransformerEmbeddings
from rag.ingest.chunking import ChunkingConfig, chunk_article
from rag.ingest.loaders import iter_file
from rag.question.sentences import sentence_spans
from rag.types import Article

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "bot" / "seeds" / "000_4c519add1ad1325c.txt"
DEFAULT_QUESTIONS = Path("/work/shared/eval/seed_questions.jsonl")


def _norm(text: str) -> str:
    return " ".join(text.split())


def pairs(questions: list[dict], article: Article) -> tuple[list[tuple[str, list[str]]], list[tuple[str, list[str]]]]:
    """(positives, negatives): (sentence, [chunk texts]) pairs."""
    chunks = [c.text for c in chunk_article(article, ChunkingConfig())]
    positives, negatives = [], []
    for q in questions:
        gold = [_norm(g) for g in q.get("gold_evidence", [])]
        if not q.get("answerable") or not gold:
            continue
        holding = [c for c in chunks if any(g in _norm(c) for g in gold)]
        others = [c for c in chunks if c not in holding]
        answer = q["answer"]
        for s, e in sentence_spans(answer):
            sentence = answer[s:e]
            positives.append((sentence, holding))
            negatives.extend((sentence, [c]) for c in others)
    return positives, negatives


def sweep(pos: list[Support], neg: list[Support], base: SupportConfig) -> list[tuple[float, float, int, int]]:
    """(min_overlap, min_similarity, positives kept, negatives kept) for a grid of thresholds."""
    rows = []
    for lo in [x / 20 for x in range(0, 20)]:
        for si in [x / 40 for x in range(0, 40)]:
            cfg = replace(base, min_overlap=lo, min_similarity=si)
            kept = sum(_passes(s, cfg) for s in pos)
            leaked = sum(_passes(s, cfg) for s in neg)
            rows.append((lo, si, kept, leaked))
    return rows


def _passes(s: Support, cfg: SupportConfig) -> bool:
    return (
        s.overlap >= cfg.min_overlap and s.similarity >= cfg.min_similarity and not (cfg.check_specifics and s.missing)
    )


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else DEFAULT_QUESTIONS
    questions = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    article = next(a for a in iter_file(SEED) if isinstance(a, Article))
    positives, negatives = pairs(questions, article)
    embedder = SentenceTransformerEmbeddings()
    checker = SupportChecker(embedder.encode)
    pos, neg = checker.check(positives), checker.check(negatives)
    cfg = checker.config
    print(f"{len(positives)} positive pairs, {len(negatives)} negative pairs; shipped {cfg}")
    for (sentence, _), s in zip(positives, pos, strict=True):
        flag = "ok  " if s.supported else "MISS"
        print(f"  {flag} overlap={s.overlap:.2f} sim={s.similarity:.2f} missing={list(s.missing)} {sentence[:70]!r}")
    leaked = [(p, s) for p, s in zip(negatives, neg, strict=True) if s.supported]
    print(
        f"shipped thresholds: {sum(s.supported for s in pos)}/{len(pos)} positives kept, "
        f"{len(leaked)}/{len(neg)} negatives let through"
    )
    for (sentence, chunk), s in leaked:
        print(f"  LEAK overlap={s.overlap:.2f} sim={s.similarity:.2f} {sentence[:50]!r} vs {chunk[0][:50]!r}")
    no_names = [s for s in neg if not s.missing]
    print(f"negatives without a missing name or number (the hard ones): {len(no_names)}")
    print("best grid points (positives kept - negatives let through, ties → stricter):")
    rows = sweep(pos, neg, cfg)
    rows.sort(key=lambda r: (-(r[2] / len(pos) - r[3] / max(len(neg), 1)), -r[0] - r[1]))
    for lo, si, kept, leak in rows[:10]:
        print(f"  min_overlap={lo:.2f} min_similarity={si:.2f}: {kept}/{len(pos)} kept, {leak}/{len(neg)} leaked")
    lo, si = rows[0][0], rows[0][1]
    best = replace(cfg, min_overlap=lo, min_similarity=si)
    for (sentence, chunk), s in zip(negatives, neg, strict=True):
        if _passes(s, best):
            print(
                f"  leak at best: overlap={s.overlap:.2f} sim={s.similarity:.2f} {sentence[:60]!r} vs {chunk[0][:60]!r}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
