"""`python -m benchmarks.calibrate_reader`: how the answer reader's settings trade answers for refusals.

Runs a question set (as `newsbot eval` does) through the extractive answerer once per setting of the reader's
knobs (`AnswerConfig.reader_*`) over an existing index, and prints one line per setting: evidence recall,
citation precision, unanswerable refused, answerable refused. The reader's scores are kept between settings,
so a grid costs little more than one run. Calibrate on training and dev sets only.

    python -m benchmarks.calibrate_reader --data-dir /tmp/nb-squad --questions ../shared/eval/squad/dev.jsonl
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Sequence
from dataclasses import replace

from bot.evaluate import load_questions, ours
from bot.settings import Settings
from rag.answer.extractive import AnswerConfig, ExtractiveAnswerer
from rag.answer.reader import Reader
from rag.eval import OVERALL, map_gold_ids, run, summarise


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    from bot.factory import open_pipeline

    p = argparse.ArgumentParser(prog="python -m benchmarks.calibrate_reader", description=__doc__)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--questions", required=True)
    p.add_argument("--refuse", type=_floats, default=[0.0], help="reader_refuse values, comma-separated")
    p.add_argument("--accept", type=_floats, default=[1.01], help="reader_accept values, comma-separated")
    p.add_argument("--weight", type=_floats, default=[0.0], help="reader_weight values, comma-separated")
    p.add_argument("--candidates", type=lambda t: [int(x) for x in t.split(",")], default=[5])
    p.add_argument("--no-reader", action="store_true", help="also run without the reader")
    a = p.parse_args(argv)

    settings = Settings(data_dir=a.data_dir, reader=False)  # type: ignore[call-arg]
    pipeline = open_pipeline(settings, create=False)
    pipeline.cache = None
    known = pipeline.registry.article_hash
    questions = [map_gold_ids(q, lambda d: known(d) is not None) for q in load_questions(a.questions)]
    reader = Reader()
    memo: dict[tuple[str, str], float] = {}

    def score(question: str, sentences: Sequence[str]) -> list[float]:
        fresh = [s for s in sentences if (question, s) not in memo]
        memo.update(zip(((question, s) for s in fresh), reader.score(question, fresh), strict=True))
        return [memo[(question, s)] for s in sentences]

    base = pipeline.reading_answerer(on=False)
    print("candidates refuse accept weight | ev.recall precision unans.refused ans.refused")
    grid: list[tuple[int, float, float, float] | None] = [None] if a.no_reader else []
    grid += list(itertools.product(a.candidates, a.refuse, a.accept, a.weight))
    for point in grid:
        if point is None:
            pipeline.answerer = base
            label = "reader off"
        else:
            n, refuse, accept, weight = point
            config = replace(
                AnswerConfig(), reader_candidates=n, reader_refuse=refuse, reader_accept=accept, reader_weight=weight
            )
            pipeline.answerer = ExtractiveAnswerer(config, base.idf, base.analysis, reader=score)
            label = f"{n} {refuse:.2f} {accept:.2f} {weight:.2f}"
        s = summarise(run(questions, ours(pipeline), 10, None))[OVERALL]
        print(
            f"{label} | {_f(s.evidence_recall)} {_f(s.citation_precision)} {_f(s.unanswerable_refused)} "
            f"{_f(s.answerable_refused)}",
            flush=True,
        )
    return 0


def _f(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


if __name__ == "__main__":
    raise SystemExit(main())
