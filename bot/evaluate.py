"""`newsbot eval`: run a question set through `ask --jsonl`'s path and a plain dense baseline, and score both.

Our side asks exactly as `ask --jsonl` does (`pipeline.ask(question, Conversation.from_history(history))`,
then `answer_dict`); the baseline is LangChain's `Chroma.similarity_search` over the very vectors of our
collection (no re-embedding), citing its top passages as they come and never refusing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.settings import Settings
from rag.errors import NewsbotError
from rag.eval import (
    OVERALL,
    EvalQuestion,
    Response,
    Score,
    map_gold_ids,
    parse_questions,
    run,
    summarise,
    summary_dict,
)

if TYPE_CHECKING:
    from rag.pipeline import Pipeline

BASELINE_CITES = 4  # LangChain's default k for similarity_search
SYSTEMS = ("ours", "ours reader on", "ours reader off", "baseline")
READER_MODES = {"on": ("on",), "off": ("off",), "both": ("on", "off")}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `newsbot eval`."""
    p.add_argument("--questions", required=True, metavar="FILE.jsonl", help="questions with gold evidence")
    p.add_argument("--corpus", metavar="FILE_OR_DIR", help="ingest this first (unchanged articles are skipped)")
    p.add_argument("--data-dir", default=argparse.SUPPRESS, help="index directory (as before the command)")
    p.add_argument("--k", type=int, default=10, help="doc recall@k cut-off (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON object (summaries and per-question scores)")
    p.add_argument("--no-baseline", action="store_true", help="skip the dense baseline")
    p.add_argument(
        "--reader",
        choices=sorted(READER_MODES),
        help="answer with the trained answer reader on, off or both (one run each); default: as NEWSBOT_READER",
    )
    p.add_argument("--baseline-cites", type=int, default=BASELINE_CITES, help="passages the baseline cites (default 4)")


def load_questions(path: str) -> list[EvalQuestion]:
    """The questions of a JSONL file, or NewsbotError naming the problem."""
    file = Path(path)
    if not file.is_file():
        raise NewsbotError(f"no question file at {path} — give a JSONL file of questions with --questions")
    try:
        with file.open(encoding="utf-8") as fh:
            questions = parse_questions(fh)
    except UnicodeDecodeError:
        raise NewsbotError(f"{path} is not UTF-8 text — give a JSONL file of questions") from None
    if not questions:
        raise NewsbotError(f"{path} holds no questions")
    return questions


def ours(pipeline: Pipeline) -> Callable[[EvalQuestion], Response]:
    """Ask as `ask --jsonl` does, and read the answer line it would print."""
    from bot.render import answer_dict
    from rag.question.followups import Conversation

    def ask(q: EvalQuestion) -> Response:
        answer = pipeline.ask(q.question, Conversation.from_history(list(q.history)))
        return Response.from_record(answer_dict(answer, q.id))

    return ask


def baseline(pipeline: Pipeline, k: int, cites: int) -> Callable[[EvalQuestion], Response]:
    """LangChain's Chroma over our collection: top passages cited as they come, never refusing."""
    plain = pipeline.plain_baseline()
    fetch = max(cites, 5 * k)  # enough chunks to name k distinct articles

    def ask(q: EvalQuestion) -> Response:
        started = time.perf_counter()
        hits = plain.search(q.question, fetch)
        latency = (time.perf_counter() - started) * 1000
        retrieved = tuple(dict.fromkeys(h.doc_id for h in hits))
        return Response(False, tuple(h.text for h in hits[:cites]), retrieved, latency)

    return ask


def warm(pipeline: Pipeline) -> None:
    """Load the model and touch the indexes, so the first timed question pays no start-up cost."""
    for question in ("warm-up question about the articles", "what did they say?"):
        pipeline.ask(question)


def evaluate(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """Ingest (if asked), run both systems and return the report as JSON-ready values."""
    from bot.factory import open_pipeline

    questions = load_questions(args.questions)
    pipeline = open_pipeline(settings)
    if args.corpus:
        ingest(pipeline, args.corpus)
    if pipeline.is_empty():
        raise NewsbotError(f"the index at {settings.data_dir} is empty — give --corpus or run `newsbot ingest` first")
    known = pipeline.registry.article_hash
    questions = [map_gold_ids(q, lambda d: known(d) is not None) for q in questions]
    runs: dict[str, list[Score]] = {}
    reader = getattr(args, "reader", None)
    for mode in READER_MODES[reader] if reader else ("",):
        name = f"ours reader {mode}" if mode else "ours"
        if mode:  # the extractive answerer with or without the reader; no answer carried over from another run
            if settings.llm:
                raise NewsbotError("--reader compares extractive answers — unset NEWSBOT_LLM to use it")
            pipeline.answerer = pipeline.reading_answerer(on=mode == "on")
            pipeline.cache = None
        warm(pipeline)
        runs[name] = run(questions, ours(pipeline), args.k, progress(len(questions), name))
    if not args.no_baseline:
        ask = baseline(pipeline, args.k, args.baseline_cites)
        runs["baseline"] = run(questions, ask, args.k, progress(len(questions), "baseline"))
    return {
        "questions": args.questions,
        "k": args.k,
        "n": len(questions),
        "summary": {name: {kind: summary_dict(s) for kind, s in summarise(sc).items()} for name, sc in runs.items()},
        "scores": {name: [s.__dict__ for s in sc] for name, sc in runs.items()},
    }


def ingest(pipeline: Pipeline, corpus: str) -> None:
    """Index the corpus, reporting on stderr; unchanged articles are skipped."""
    from rag.ingest.loaders import iter_sources

    report = pipeline.ingest(iter_sources([corpus]))
    for failure in report.failed:
        print(f"newsbot: {failure}", file=sys.stderr)
    print(
        f"corpus: {len(report.added)} added, {len(report.unchanged)} unchanged, {len(report.replaced)} replaced, "
        f"{len(report.failed)} failed; {report.chunks} chunks in {report.seconds:.1f} s",
        file=sys.stderr,
    )


def progress(total: int, label: str) -> Callable[[int], None] | None:
    """A one-line counter on stderr when it is a terminal."""
    if not sys.stderr.isatty():
        return None

    def show(done: int) -> None:
        print(f"\r{label}: {done}/{total}", end="\n" if done == total else "", file=sys.stderr, flush=True)

    return show


# --- rendering ---------------------------------------------------------------------------------
_COLUMNS = (
    ("doc recall@k", "doc_recall"),
    ("evidence recall", "evidence_recall"),
    ("citation precision", "citation_precision"),
    ("unanswerable refused", "unanswerable_refused"),
    ("answerable refused", "answerable_refused"),
    ("follow-ups resolved", "followups_resolved"),
    ("p50 ms", "latency_p50_ms"),
    ("p95 ms", "latency_p95_ms"),
)


def _cell(value: Any, key: str) -> str:
    if value is None:
        return "–"
    return f"{value:.0f}" if key.startswith("latency") else f"{value:.2f}"


def markdown_table(report: dict[str, Any]) -> str:
    """The report as one Markdown table: a row per question kind and system, overall last."""
    summary: dict[str, dict[str, dict[str, Any]]] = report["summary"]
    first = next(s for s in SYSTEMS if s in summary)
    kinds = [k for k in summary[first] if k != OVERALL] + [OVERALL]
    header = ["kind", "n", "system"] + [name.replace("@k", f"@{report['k']}") for name, _ in _COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for kind in kinds:
        for system in (s for s in SYSTEMS if s in summary):
            row = summary[system][kind]
            label = f"**{kind}**" if kind == OVERALL else kind
            cells = [label, str(row["n"]), system] + [_cell(row[key], key) for _, key in _COLUMNS]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    """Run the evaluation and print the table (or JSON)."""
    report = evaluate(args, settings)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(markdown_table(report))
    return 0
