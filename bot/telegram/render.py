"""Answers as Telegram messages: HTML with everything escaped, a plain-text twin, at most 4096 characters each.

A message is built from blocks (paragraphs) of styled spans. Rendering escapes every span, so
nothing from an article or a user can become markup; splitting packs whole blocks into messages
and cuts a block only when it alone is too long, re-opening its tags in the next piece.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.render import source_details
from rag.types import Answer, Citation

LIMIT = 4096  # Telegram's limit for one message's text
_MARKER = re.compile(r"\[\d+\]")
_TOKEN = re.compile(r"\S+\s*|\s+")
NO_SOURCES = "No sources yet: ask a question first."


@dataclass(frozen=True)
class Span:
    """A run of text and its one HTML tag (b, i, code, blockquote, or a with `href`), or None for plain text."""

    text: str
    tag: str | None = None
    href: str | None = None  # the link of an "a" span

    @property
    def html(self) -> str:
        """The span as escaped HTML."""
        escaped = html.escape(self.text, quote=False)
        if self.tag == "a" and self.href:
            return f'<a href="{html.escape(self.href, quote=True)}">{escaped}</a>'
        return f"<{self.tag}>{escaped}</{self.tag}>" if self.tag else escaped

    def with_text(self, text: str) -> Span:
        """The same markup around other text."""
        return Span(text, self.tag, self.href)


Block = tuple[Span, ...]


@dataclass(frozen=True)
class Outgoing:
    """One message to send: its HTML, and the same words as plain text for when the markup is refused."""

    html: str
    plain: str


def tg_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def block_html(block: Block) -> str:
    """A block as HTML."""
    return "".join(span.html for span in block)


def block_plain(block: Block) -> str:
    """A block as plain text."""
    return "".join(span.text for span in block)


def _pieces(span: Span, limit: int) -> Iterable[str]:
    """The span's text in tokens (a word and its trailing space); a token too long alone is cut by characters."""
    room = limit - tg_len(span.with_text("").html)
    for token in _TOKEN.findall(span.text):
        while tg_len(html.escape(token, quote=False)) > room:
            cut = room
            while tg_len(html.escape(token[:cut], quote=False)) > room:
                cut -= 1
            yield token[:cut]
            token = token[cut:]
        if token:
            yield token


def cut_block(block: Block, limit: int = LIMIT) -> list[Block]:
    """The block in pieces whose HTML fits in `limit`, cut between words (inside a word only when it must be)."""
    if tg_len(block_html(block)) <= limit:
        return [block]
    pieces: list[Block] = []
    current: list[Span] = []
    used = 0
    for span in block:
        for token in _pieces(span, limit):
            same_run = bool(current) and (current[-1].tag, current[-1].href) == (span.tag, span.href)
            cost = tg_len(html.escape(token, quote=False)) + (0 if same_run else tg_len(span.with_text("").html))
            if current and used + cost > limit:
                pieces.append(_rstrip(current))
                current, used, same_run = [], 0, False
                cost = tg_len(span.with_text(token).html)
            if same_run:
                current[-1] = span.with_text(current[-1].text + token)
            else:
                current.append(span.with_text(token))
            used += cost
    if current:
        pieces.append(_rstrip(current))
    return pieces


def _rstrip(spans: list[Span]) -> Block:
    """A cut piece without the space it was cut at."""
    last = spans[-1]
    return (*spans[:-1], last.with_text(last.text.rstrip())) if last.text.strip() else tuple(spans)


def pack(blocks: Sequence[Block], limit: int = LIMIT) -> list[Outgoing]:
    """Blocks joined by blank lines into as few messages as fit in `limit`, split only between blocks
    (or inside a block too long for a message of its own)."""
    messages: list[Outgoing] = []
    group: list[Block] = []
    used = 0
    for block in (piece for b in blocks for piece in cut_block(b, limit)):
        size = tg_len(block_html(block))
        if group and used + 2 + size > limit:
            messages.append(_outgoing(group))
            group, used = [], 0
        used += size + (2 if group else 0)
        group.append(block)
    if group:
        messages.append(_outgoing(group))
    return messages


def _outgoing(blocks: list[Block]) -> Outgoing:
    return Outgoing(html="\n\n".join(map(block_html, blocks)), plain="\n\n".join(map(block_plain, blocks)))


def with_markers(text: str) -> Block:
    """A paragraph of an answer with its [n] citation markers in bold."""
    spans: list[Span] = []
    last = 0
    for m in _MARKER.finditer(text):
        if m.start() > last:
            spans.append(Span(text[last : m.start()]))
        spans.append(Span(m.group(), "b"))
        last = m.end()
    if last < len(text):
        spans.append(Span(text[last:]))
    return tuple(spans)


def source_entry(c: Citation) -> list[Span]:
    """'[1] Title — Source, date, paragraphs 3–5' with its number in bold and its title linked to the article
    where its URL is known."""
    title = c.title or c.doc_id
    return [
        Span(f"[{c.n}]", "b"),
        Span(" "),
        Span(title, "a", c.url) if c.url else Span(title),
        Span(source_details(c)),
    ]


def answer_blocks(answer: Answer) -> list[Block]:
    """An answer: how a follow-up was understood, its paragraphs with [n] markers, a short source list."""
    blocks: list[Block] = []
    if answer.standalone_question and answer.standalone_question != answer.question:
        blocks.append((Span(f"Understood as: {answer.standalone_question}", "i"),))
    blocks += [with_markers(p) for p in answer.text.split("\n\n") if p.strip()]
    if answer.citations:
        spans = [Span("Sources", "b")]
        for c in answer.citations:
            spans += [Span("\n"), *source_entry(c)]
        blocks.append(tuple(spans))
    return blocks


def sources_blocks(answer: Answer | None) -> list[Block]:
    """The full cited passages of an answer, each under its source line."""
    if answer is None or not answer.citations:
        return [(Span(NO_SOURCES),)]
    blocks: list[Block] = [(Span("Sources of: ", "b"), Span(answer.question))]
    for c in answer.citations:
        blocks.append(tuple(source_entry(c)))
        blocks.append((Span(c.text.strip(), "blockquote"),))
    return blocks


def answer_messages(answer: Answer, limit: int = LIMIT) -> list[Outgoing]:
    """The messages of an answer."""
    return pack(answer_blocks(answer), limit)


def sources_messages(answer: Answer | None, limit: int = LIMIT) -> list[Outgoing]:
    """The messages showing an answer's cited passages in full."""
    return pack(sources_blocks(answer), limit)


def text_messages(text: str, limit: int = LIMIT) -> list[Outgoing]:
    """Plain text (paragraphs separated by blank lines) as escaped messages."""
    return pack([(Span(p),) for p in text.split("\n\n") if p.strip()] or [(Span(text),)], limit)
