"""The in-memory BM25 against FTS5's bm25(): `python -m benchmarks.bm25_check DATA_DIR [--questions N]`.

For each question: the top 100 chunks and top 50 articles from `LexicalIndex` (rag/bm25.py) and from
FTS5 itself, which must agree (scores to 1e-9; ids may differ only among rows tied at the last
score), and the time of each. It loads DATA_DIR/index.bm25.npz, or builds and writes it: run it on a
copy of an index you must not change.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks.corpora import MULTIHOP_QUESTIONS, read_questions
from benchmarks.measure import median, progress

Ranking = list[tuple[str, float]]


def same(got: Ranking, want: Ranking) -> bool:
    """Equal scores in order, each id with its score, except rows tied at the last score."""
    if [round(s, 9) for _, s in got] != [round(s, 9) for _, s in want]:
        return False
    cutoff = round(want[-1][1], 9) if want else None
    return {(c, round(s, 9)) for c, s in got if round(s, 9) != cutoff} == {
        (c, round(s, 9)) for c, s in want if round(s, 9) != cutoff
    }


def fts5_articles(db: object, words: list[str], k: int) -> Ranking:
    """Whole-article BM25 as FTS5 computes it over a (doc_id, source, title, text) table, weights 0, 0, 1, 1."""
    match = " OR ".join(f'"{w}"' for w in words)
    rows = db.execute(  # type: ignore[attr-defined]
        "SELECT doc_id, -bm25(articles_fts, 0, 0, 1.0, 1.0) AS score FROM temp.articles_fts "
        "WHERE articles_fts MATCH ? ORDER BY score DESC LIMIT ?",
        (match, k),
    ).fetchall()
    return [(d, float(s)) for d, s in rows]


def main(argv: list[str] | None = None) -> None:
    from rag.index.lexical import LexicalIndex
    from rag.index.registry import Registry
    from rag.question.words import terms

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data_dir", type=Path)
    p.add_argument("--questions", type=int, default=40, help="how many questions (the first N)")
    p.add_argument("--questions-file", type=Path, default=MULTIHOP_QUESTIONS, help="JSONL with a 'question' field")
    args = p.parse_args(argv)
    lexical = LexicalIndex(Registry(args.data_dir / "index.sqlite3"))
    started = time.perf_counter()
    lexical.refresh()
    progress(f"BM25 index ready in {time.perf_counter() - started:.2f} s")
    lexical.registry.db.execute(
        "CREATE VIRTUAL TABLE temp.articles_fts USING fts5(doc_id UNINDEXED, source UNINDEXED, title, text, "
        "tokenize='porter unicode61 remove_diacritics 2')"
    )
    lexical.registry.db.execute("INSERT INTO temp.articles_fts SELECT doc_id, source, title, text FROM main.articles")
    times: dict[str, list[float]] = {"memory": [], "fts5": [], "memory_articles": [], "fts5_articles": []}
    differ = 0
    for q in read_questions(args.questions_file, args.questions):
        words = list(dict.fromkeys(w.replace('"', "") for w in terms(q.text)))
        runs = {}
        for name, fn, arg, k in (
            ("memory", lexical.search, q.text, 100),
            ("fts5", lambda ws, k: lexical._fts_search(ws, k, None), words, 100),
            ("memory_articles", lexical.search_articles, q.text, 50),
            ("fts5_articles", lambda ws, k: fts5_articles(lexical.registry.db, ws, k), words, 50),
        ):
            t = time.perf_counter()
            runs[name] = fn(arg, k)
            times[name].append((time.perf_counter() - t) * 1000)
        differ += not same(runs["memory"], runs["fts5"]) or not same(runs["memory_articles"], runs["fts5_articles"])
    n = len(times["memory"])
    print(json.dumps({"questions": n, "differ": differ, **{k: median(v) for k, v in times.items()}}))


if __name__ == "__main__":
    main()
