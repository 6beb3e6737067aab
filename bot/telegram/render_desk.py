"""The news desk's messages: /latest pages, alerts, follows and feeds, escaped like every answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.render import paragraphs_label
from bot.telegram.deps import FeedRow
from bot.telegram.follows import Follow
from bot.telegram.render import Block, Outgoing, Span, pack
from rag.types import Article


@dataclass(frozen=True)
class AlertItem:
    """One article of an alert: the article, the topic it matched, its quoted sentence and where that stands."""

    article: Article
    topic: str
    sentence: str
    paragraphs: tuple[int, ...] = ()


def article_line(article: Article, n: int | None = None) -> list[Span]:
    """'1. Title — Outlet, 2025-11-01' with the title linked to the article where its URL is known."""
    title = article.title or article.doc_id
    spans = [Span(f"{n}. ", "b")] if n is not None else []
    spans.append(Span(title, "a", article.url) if article.url else Span(title, "b"))
    bits = [b for b in (article.source, (article.published or "")[:10]) if b]
    if bits:
        spans.append(Span(f" — {', '.join(bits)}"))
    return spans


def latest_messages(articles: Sequence[Article], topic: str, offset: int, total: int) -> list[Outgoing]:
    """A page of /latest: the articles numbered from `offset + 1`, and where the page stands."""
    if not articles:
        if topic:
            return pack([(Span(f"No articles about “{topic}” yet."),)])
        return pack([(Span("No articles yet."),)])
    head = f"Latest about “{topic}”" if topic else "Latest articles"
    blocks: list[Block] = [(Span(head, "b"), Span(f" ({offset + 1}–{offset + len(articles)} of {total})"))]
    blocks += [tuple(article_line(a, offset + i)) for i, a in enumerate(articles, start=1)]
    return pack(blocks)


def alert_messages(items: Sequence[AlertItem], held: Sequence[AlertItem] = ()) -> list[Outgoing]:
    """One alert for a batch of matching articles: each linked, with its best sentence quoted and cited [n];
    then the articles held back by the hourly cap since the last alert, listed."""
    blocks: list[Block] = []
    if items:
        topics = list(dict.fromkeys(i.topic for i in items))
        noun = "article" if len(items) == 1 else "articles"
        blocks.append((Span(f"New {noun} on “{'”, “'.join(topics)}”", "b"),))
        for n, item in enumerate(items, start=1):
            blocks.append(tuple(article_line(item.article)))
            blocks.append((Span(f"“{item.sentence.strip()}”", "i"), Span(" "), Span(f"[{n}]", "b")))
        spans = [Span("Sources", "b")]
        for n, item in enumerate(items, start=1):
            a = item.article
            bits = [b for b in (a.source, (a.published or "")[:10], paragraphs_label(item.paragraphs)) if b]
            title = a.title or a.doc_id
            spans += [Span("\n"), Span(f"[{n}]", "b"), Span(" ")]
            spans += [Span(title, "a", a.url) if a.url else Span(title), Span(f" — {', '.join(bits)}" if bits else "")]
        blocks.append(tuple(spans))
    if held:
        noun = "article" if len(held) == 1 else "articles"
        blocks.append((Span(f"Also matched while alerts were paused (hourly limit): {len(held)} {noun}", "b"),))
        blocks += [tuple(article_line(i.article)) for i in held[:20]]
        if len(held) > 20:
            blocks.append((Span(f"… and {len(held) - 20} more: /latest shows them."),))
    return pack(blocks)


def following_text(follows: Sequence[Follow], limit: int) -> str:
    """The /following list, numbered for /unfollow."""
    if not follows:
        return "You follow no topics. /follow TOPIC, e.g. /follow EU rules on artificial intelligence"
    lines = [f"{n}. {f.topic}" for n, f in enumerate(follows, start=1)]
    return f"You follow ({len(follows)} of {limit}):\n" + "\n".join(lines) + "\n\n/unfollow N stops one."


def feeds_text(rows: Sequence[FeedRow]) -> str:
    """The /feeds list, numbered for /feed remove."""
    if not rows:
        return "No feeds yet. /feed add URL adds one."
    lines = []
    for n, r in enumerate(rows, start=1):
        status = f"error: {r.error}" if r.error else (r.status or "not refreshed yet")
        lines.append(f"{n}. {r.title or r.url} — {r.url}\n   {r.articles} articles; {status}")
    return "Feeds:\n" + "\n".join(lines) + "\n\n/feed remove N removes one; /refresh fetches them all now."
