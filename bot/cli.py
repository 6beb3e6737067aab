"""The `newsbot` command: ingest, ask, repl, list, remove."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, ExitStack, nullcontext
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import ValidationError

from bot import __version__
from bot.settings import Settings
from rag.errors import NewsbotError

if TYPE_CHECKING:
    from rag.pipeline import Pipeline

log = logging.getLogger("newsbot")
T = TypeVar("T")


def parser() -> argparse.ArgumentParser:
    """The argument parser (its --help is the CLI reference)."""
    p = argparse.ArgumentParser(
        prog="newsbot", description="Question answering over news articles, with cited passages."
    )
    p.add_argument("--data-dir", help="index directory (default: $NEWSBOT_DATA_DIR or ./data)")
    p.add_argument("-v", "--verbose", action="count", default=0, help="-v: info logs, -vv: debug logs")
    p.add_argument(
        "--now", metavar="YYYY-MM-DD", help="the date questions are asked on (default: $NEWSBOT_NOW or today)"
    )
    p.add_argument("--version", action="version", version=f"newsbot {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    ingest = sub.add_parser("ingest", help="index articles: files, directories, JSONL corpora, http(s) URLs")
    ingest.add_argument("sources", nargs="+", metavar="PATH|URL")
    ingest.add_argument("--quiet", action="store_true", help="no progress bar")
    ingest.add_argument("--no-wait", action="store_true", help="fail at once when another process writes the index")

    ask = sub.add_parser("ask", help="answer one question (or --jsonl questions from stdin)")
    ask.add_argument("question", nargs="?", help="the question")
    mode = ask.add_mutually_exclusive_group()
    mode.add_argument("--json", action="store_true", help="print one JSON object")
    mode.add_argument("--jsonl", action="store_true", help='read {"id","question","history"} lines from stdin')

    sub.add_parser("repl", help="chat in the terminal (answers stdin line by line when it is not a terminal)")
    lst = sub.add_parser("list", help="list the indexed articles")
    lst.add_argument("--json", action="store_true", help="print JSON lines")
    remove = sub.add_parser("remove", help="delete articles from the index")
    remove.add_argument("doc_ids", nargs="+", metavar="DOC_ID")
    remove.add_argument("--no-wait", action="store_true", help="fail at once when another process writes the index")
    check = sub.add_parser("check", help="compare the article registry, the vectors and the BM25 index")
    check.add_argument("--repair", action="store_true", help="embed what is missing, delete orphans, rebuild BM25")
    check.add_argument("--sample", type=int, default=50, help="vectors compared with a fresh embedding (default 50)")
    check.add_argument("--no-wait", action="store_true", help="fail at once when another process writes the index")
    tg = sub.add_parser(
        "telegram", help="run the Telegram bot (token in TELEGRAM_BOT_TOKEN): long polling, or --webhook-url"
    )
    tg.add_argument("--webhook-url", metavar="URL", help="receive updates at this https URL instead of polling")
    tg.add_argument("--listen", default="0.0.0.0", help="webhook mode: address to listen on (default 0.0.0.0)")
    tg.add_argument("--port", type=int, default=8443, help="webhook mode: port to listen on (default 8443)")
    tg.add_argument(
        "--secret-token", help="webhook mode: secret Telegram sends back (default $NEWSBOT_WEBHOOK_SECRET, or random)"
    )
    evaluate = sub.add_parser("eval", help="score answers on a question set with gold evidence, beside a baseline")
    from bot.evaluate import add_arguments

    add_arguments(evaluate)
    from bot.feeds_cli import add_parsers as add_feed_parsers

    add_feed_parsers(sub)
    return p


def configure_logging(verbose: int, default: str) -> None:
    """Log to stderr: WARNING (or the setting), INFO with -v, DEBUG with -vv."""
    level = {0: default.upper(), 1: "INFO"}.get(verbose, "DEBUG")
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("httpx", "chromadb", "sentence_transformers", "urllib3", "httpcore"):
        if verbose < 2:
            logging.getLogger(noisy).setLevel(logging.WARNING)


def error(message: str) -> None:
    """One line on stderr."""
    print(f"newsbot: {message}", file=sys.stderr)


def ensure_seeded(pipeline: Pipeline, settings: Settings) -> None:
    """Index the shipped seed articles when the index is empty, so a first question has material."""
    if not pipeline.is_empty() or not settings.seeds_dir.is_dir():
        return
    from rag.ingest.loaders import iter_sources

    print(f"Empty index: indexing the seed articles in {settings.seeds_dir} first…", file=sys.stderr)
    report = pipeline.ingest(iter_sources([str(settings.seeds_dir)]))
    for failure in report.failed:
        error(failure)


def waiting(write: Callable[[bool], T], no_wait: bool) -> T:
    """`write(wait)` without waiting; when another process is writing, say for whom and wait (or, with --no-wait,
    let its IndexBusy be the command's one line)."""
    from rag.errors import IndexBusy

    try:
        return write(False)
    except IndexBusy as busy:
        if no_wait:
            raise
        print(f"newsbot: waiting for {busy.holder} to finish writing the index…", file=sys.stderr, flush=True)
        return write(True)


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    """Index the given sources, with a progress bar and a summary."""
    from bot.factory import open_pipeline
    from bot.progress import ingest_with_progress

    pipeline = open_pipeline(settings)
    quiet = args.quiet or not sys.stderr.isatty()
    report = waiting(
        lambda wait: ingest_with_progress(pipeline, args.sources, settings, quiet=quiet, wait=wait), args.no_wait
    )
    for line in report.notes + report.failed:
        error(line)
    print(
        f"{len(report.added)} added, {len(report.unchanged)} unchanged, {len(report.replaced)} replaced, "
        f"{len(report.failed)} failed; {report.chunks} chunks in {report.seconds:.1f} s"
    )
    return 1 if report.failed else 0


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    """Answer one question, or a JSONL stream of them."""
    from bot.factory import open_pipeline
    from bot.render import answer_dict, answer_text

    if not args.jsonl and args.question is None:
        error('give a question, e.g. newsbot ask "What did Dedov say about Oman?", or use --jsonl')
        return 2
    pipeline = open_pipeline(settings)
    ensure_seeded(pipeline, settings)
    if args.jsonl:
        return ask_jsonl(pipeline)
    answer = pipeline.ask(args.question)
    if args.json:
        print(json.dumps(answer_dict(answer), ensure_ascii=False))
    else:
        print(answer_text(answer))
    return 0


def parse_question_line(line: str, number: int) -> tuple[str, str, list[str]]:
    """(id, question, history) of one --jsonl line, or NewsbotError naming the line."""
    try:
        record: Any = json.loads(line)
    except json.JSONDecodeError as exc:
        raise NewsbotError(f"stdin line {number}: not valid JSON ({exc.msg}) — skipped") from None
    if not isinstance(record, dict) or not isinstance(record.get("question"), str):
        raise NewsbotError(f'stdin line {number}: expected {{"id": ..., "question": "..."}} — skipped')
    history = record.get("history") or []
    if not isinstance(history, list) or not all(isinstance(h, str) for h in history):
        raise NewsbotError(f"stdin line {number}: history must be a list of strings — skipped")
    return str(record.get("id", number)), record["question"], history


def ask_jsonl(pipeline: Pipeline) -> int:
    """One JSON line per JSON question line, in order: the answer, or `{"id", "question", "error"}` when that
    question cannot be answered (an empty one, an index unavailable for a moment) and the next one is read. A line
    that is not a question is reported on stderr and skipped."""
    from bot.render import answer_dict
    from rag.question.followups import Conversation

    status = 0
    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        try:
            qid, question, history = parse_question_line(line, number)
        except NewsbotError as exc:
            error(str(exc))
            status = 1
            continue
        try:
            record = answer_dict(pipeline.ask(question, Conversation.from_history(history)), qid)
        except NewsbotError as exc:
            record = {"id": qid, "question": question, "error": str(exc)}
            status = 1
        print(json.dumps(record, ensure_ascii=False), flush=True)
    return status


def cmd_repl(args: argparse.Namespace, settings: Settings) -> int:
    """The terminal chat."""
    from bot.factory import open_pipeline, serving
    from bot.repl import run_repl

    pipeline = open_pipeline(settings)
    ensure_seeded(pipeline, settings)
    loading: AbstractContextManager[object] = nullcontext()
    if sys.stdin.isatty() and sys.stdout.isatty():  # a person waits: say what the seconds before the prompt are
        from rich.console import Console

        chunks = pipeline.stats().chunks
        loading = Console(stderr=True).status(f"loading the model and the index ({chunks:,} chunks)…")
    with ExitStack() as stack:
        with loading:
            stack.enter_context(serving(pipeline))
        return run_repl(pipeline, settings)


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    """Print the indexed articles."""
    from bot.factory import open_pipeline
    from bot.feeds_cli import also_appeared

    articles = open_pipeline(settings, create=False).articles()
    also = also_appeared(settings)  # where else a story appeared (feeds: syndicated copies not indexed twice)
    for a in articles:
        if args.json:
            print(
                json.dumps({**a.__dict__, **({"also": also[a.doc_id]} if a.doc_id in also else {})}, ensure_ascii=False)
            )
        else:
            elsewhere = f"\talso: {'; '.join(also[a.doc_id])}" if a.doc_id in also else ""
            print(f"{a.doc_id}\t{(a.published or '')[:10]}\t{a.chunks} chunks\t{a.title}{elsewhere}")
    if not args.json:
        print(f"{len(articles)} articles in {settings.data_dir}", file=sys.stderr)
    return 0


def cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    """Delete articles by doc id, saying each as it goes (a removal cut short has said what it did); an id removed
    before (a removal run again) is no error."""
    from bot.factory import open_pipeline

    pipeline = open_pipeline(settings, create=False)

    def said(doc_id: str) -> None:
        print(f"removed {doc_id}", flush=True)

    found = waiting(lambda wait: pipeline.remove_all(args.doc_ids, wait=wait, removed=said), args.no_wait)
    status = 0
    for doc_id, removed in zip(args.doc_ids, found, strict=True):
        if removed:
            continue
        if pipeline.was_removed(doc_id):
            print(f"{doc_id} was removed before")
        else:
            error(f"no article {doc_id!r} in the index — `newsbot list` shows the doc ids")
            status = 1
    return status


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    """Compare the registry, the vectors and the BM25 index; with --repair, make them whole."""
    from bot.factory import open_pipeline
    from bot.render import check_text

    pipeline = open_pipeline(settings, create=False)
    report = waiting(lambda wait: pipeline.check(repair=args.repair, sample=args.sample, wait=wait), args.no_wait)
    print(check_text(report))
    return 0 if report.sound else 1


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    """Score answers on a question set (see bot/evaluate.py)."""
    from bot.evaluate import cmd_eval as run_eval

    return run_eval(args, settings)


def cmd_telegram(args: argparse.Namespace, settings: Settings) -> int:
    """Run the Telegram bot until interrupted."""
    from bot.factory import open_pipeline, serving
    from bot.telegram.app import require_token, run_telegram

    require_token(settings)  # before the model loads: a missing token fails fast
    pipeline = open_pipeline(settings)
    ensure_seeded(pipeline, settings)
    with serving(pipeline):
        return run_telegram(
            settings,
            pipeline,
            webhook_url=args.webhook_url,
            listen=args.listen,
            port=args.port,
            secret_token=args.secret_token,
        )


COMMANDS = {
    "ingest": cmd_ingest,
    "ask": cmd_ask,
    "repl": cmd_repl,
    "list": cmd_list,
    "remove": cmd_remove,
    "telegram": cmd_telegram,
    "eval": cmd_eval,
    "check": cmd_check,
}
from bot.feeds_cli import COMMANDS as FEED_COMMANDS  # noqa: E402 — feeds, refresh, watch

COMMANDS.update(FEED_COMMANDS)


def load_settings(args: argparse.Namespace) -> Settings:
    """Settings from the environment, with command-line overrides."""
    overrides: dict[str, Any] = {}
    if args.data_dir:
        overrides["data_dir"] = args.data_dir
    if args.now:
        overrides["now"] = args.now
    return Settings(**overrides)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `newsbot` console script."""
    args = parser().parse_args(argv)
    if args.command is None:
        parser().print_help()
        return 2
    try:
        settings = load_settings(args)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        if field and getattr(args, field, None):  # given on the command line
            error(f"bad --{field.replace('_', '-')}: {first['msg']} — fix the option")
        else:
            name = "NEWSBOT_" + field.upper() if field else "a setting"
            error(f"bad setting {name}: {first['msg']} — fix it in the environment or .env")
        return 2
    configure_logging(args.verbose, settings.log_level)
    try:
        code = COMMANDS[args.command](args, settings)
        sys.stdout.flush()  # here, so a reader that went away is met inside this try, not at exit
        return code
    except BrokenPipeError:  # `newsbot list | head -1`: the reader has all it wants
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # as a tool killed by SIGPIPE
    except NewsbotError as exc:
        error(str(exc))
        return 1
    except KeyboardInterrupt:
        error("interrupted — the index keeps every article committed so far; run the command again to finish")
        return 130
    except Exception as exc:  # a failure nothing above names: one line, and the traceback only when asked for
        if args.verbose >= 2:
            raise
        line = (str(exc).strip().splitlines() or [""])[0][:300]
        error(f"unexpected {type(exc).__name__}: {line} — run the command again with -vv for the details")
        return 1


if __name__ == "__main__":
    sys.exit(main())
