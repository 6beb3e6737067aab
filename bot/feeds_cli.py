"""The feed commands: `newsbot feeds add|list|remove|import|export`, `newsbot refresh` and `newsbot watch`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from bot.settings import Settings, parse_duration

if TYPE_CHECKING:
    from rag.refresh import RefreshReport


def duration(text: str) -> float:
    """An argparse type: '15m' → 900.0 (argparse prints the one line when it is no duration)."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def days(text: str) -> int:
    """An argparse type: a whole number of days, at least 1."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is no number of days — give a whole number, 1 or more")
    return int(text)


def add_parsers(sub: Any) -> None:
    """Add the feed commands to the CLI's subparsers."""
    feeds = sub.add_parser("feeds", help="follow RSS, Atom and JSON feeds: add, list, remove, import, export")
    fsub = feeds.add_subparsers(dest="feeds_command", metavar="ACTION", required=True)
    add = fsub.add_parser("add", help="follow feeds: a feed URL, or a page that advertises one")
    add.add_argument("urls", nargs="+", metavar="URL")
    add.add_argument("--every", type=duration, metavar="DURATION", help="this feed's own refresh interval (e.g. 1h)")
    lst = fsub.add_parser("list", help="the followed feeds: id, url, title, articles, last fetch, status, next due")
    lst.add_argument("--json", action="store_true", help="print JSON lines")
    rm = fsub.add_parser("remove", help="stop following feeds (their articles stay unless --purge)")
    rm.add_argument("feeds", nargs="+", metavar="ID|URL")
    rm.add_argument("--purge", action="store_true", help="also remove the articles the feed brought")
    imp = fsub.add_parser("import", help="follow the feeds an OPML file lists")
    imp.add_argument("file", metavar="FILE.opml")
    fsub.add_parser("export", help="print the followed feeds as OPML")
    refresh = sub.add_parser("refresh", help="one pass over the feeds that are due; a summary line per feed")
    refresh.add_argument("--all", action="store_true", help="every feed, due or not")
    refresh.add_argument("--keep-days", type=days, metavar="N", help="then remove articles older than N days")
    watch = sub.add_parser("watch", help="refresh the feeds on a schedule until interrupted (SIGINT/SIGTERM)")
    watch.add_argument(
        "--every", type=duration, metavar="DURATION", help="time between passes (default $NEWSBOT_REFRESH_EVERY, 15m)"
    )
    watch.add_argument("--keep-days", type=days, metavar="N", help="after each pass remove articles older than N days")


def _error(message: str) -> None:
    print(f"newsbot: {message}", file=sys.stderr)


def _when(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp)) if stamp else "-"


def cmd_feeds(args: argparse.Namespace, settings: Settings) -> int:
    """`newsbot feeds ACTION`."""
    from rag.index.feedtable import FeedTable

    table = FeedTable(settings.pipeline_config().registry_path)
    try:
        action = args.feeds_command
        if action == "add":
            return _add(table, args.urls, settings, args.every)
        if action == "list":
            return _list(table, args.json)
        if action == "remove":
            return _remove(table, args.feeds, args.purge, settings)
        if action == "import":
            from rag.ingest.opml import read_opml

            return _add(table, read_opml(args.file), settings, None, discover=False)
        from rag.ingest.opml import write_opml

        sys.stdout.write(write_opml(table.feeds()))
        return 0
    finally:
        table.close()


def _add(table: Any, urls: list[str], settings: Settings, every: float | None, *, discover: bool = True) -> int:
    from rag.ingest.feeds import FeedError, resolve_feed
    from rag.ingest.guard import AddressGuard

    guard = AddressGuard(allow_private=settings.allow_private_urls)
    status = 0
    for url in urls:
        try:
            feed_url, title = resolve_feed(url, guard=guard, timeout=settings.fetch_timeout) if discover else (url, "")
        except FeedError as exc:
            _error(str(exc))
            status = 1
            continue
        feed, new = table.add(feed_url, title, every)
        via = f" (advertised by {url})" if feed_url != url else ""
        print(f"{'following' if new else 'already following'} {feed.id}: {feed.title or feed.url} — {feed.url}{via}")
    if status == 0:
        print("`newsbot refresh` fetches them now; `newsbot watch` keeps them fresh", file=sys.stderr)
    return status


def _list(table: Any, as_json: bool) -> int:
    feeds = table.feeds()
    for f in feeds:
        if as_json:
            print(json.dumps(f.__dict__, ensure_ascii=False))
        else:
            health = f.status + (f" ({f.failures}×: {f.error})" if f.status == "failed" else "")
            print(
                f"{f.id}\t{f.url}\t{f.title or '-'}\t{f.articles} articles\tfetched {_when(f.fetched_at)}\t"
                f"{health}\tnext {_when(f.next_due) if f.next_due else 'now'}"
            )
    if not as_json:
        print(f"{len(feeds)} feeds followed", file=sys.stderr)
    return 0


def _remove(table: Any, keys: list[str], purge: bool, settings: Settings) -> int:
    status = 0
    purged: list[str] = []
    for key in keys:
        feed = table.find(key)
        if feed is None:
            _error(f"no feed {key!r} — `newsbot feeds list` shows the ids and URLs")
            status = 1
            continue
        docs = table.remove(feed.id)
        purged += docs
        print(f"stopped following {feed.id}: {feed.url}" + ("" if purge else f" ({len(docs)} articles stay)"))
    if purge and purged:
        from bot.factory import open_pipeline

        pipeline = open_pipeline(settings, create=False)
        found = pipeline.remove_all(purged)
        table.forget(purged)
        print(f"removed {sum(found)} articles")
    return status


def also_appeared(settings: Settings) -> dict[str, list[str]]:
    """Doc id → where else its story appeared (near-duplicates not indexed again); empty without feeds."""
    from rag.index.feedtable import also_at

    return also_at(settings.pipeline_config().registry_path)


def summary_lines(report: RefreshReport) -> list[str]:
    """A line per feed, then the totals."""
    lines = []
    for o in report.outcomes:
        name = o.title or o.url
        if o.status == "failed":
            lines.append(f"{o.feed_id} {name}: failed — {o.error}")
        elif o.status == "unchanged":
            lines.append(f"{o.feed_id} {name}: unchanged")
        else:
            lines.append(
                f"{o.feed_id} {name}: {o.added} new, {o.skipped} skipped" + (f" — {o.error}" if o.error else "")
            )
    removed = f", {len(report.removed)} removed (older than kept)" if report.removed else ""
    lines.append(
        f"{len(report.outcomes)} feeds, {len(report.new_doc_ids)} articles added or updated, "
        f"{len(report.failed)} failed{removed}; {report.chunks} chunks in {report.seconds:.1f} s"
    )
    return lines


def cmd_refresh(args: argparse.Namespace, settings: Settings) -> int:
    """One refresh pass, a summary line per feed."""
    from bot.factory import open_pipeline
    from rag.refresh import refresh

    pipeline = open_pipeline(settings)
    report = refresh(pipeline, all=args.all, keep_days=args.keep_days, config=settings.feed_config())
    for line in report.failed:
        _error(line)
    for line in summary_lines(report):
        print(line)
    if not report.outcomes:
        print("no feed is due — `newsbot feeds list` shows when; --all refreshes every feed", file=sys.stderr)
    return 1 if any(o.status == "failed" for o in report.outcomes) else 0


def _say(line: str) -> None:
    print(line, flush=True)  # a log reader sees each pass as it ends


def cmd_watch(args: argparse.Namespace, settings: Settings) -> int:
    """Refresh on a schedule until SIGINT/SIGTERM."""
    from bot.factory import open_pipeline
    from bot.watch import watch

    every = args.every or settings.refresh_every
    pipeline = open_pipeline(settings)
    return watch(pipeline, settings.feed_config(), every=every, keep_days=args.keep_days, say=_say)


COMMANDS = {"feeds": cmd_feeds, "refresh": cmd_refresh, "watch": cmd_watch}
