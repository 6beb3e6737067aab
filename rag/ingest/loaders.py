"""Loaders: files, directories, JSONL corpora and URLs → Article values.

Loading never raises for one bad source: problems come back as `ArticleUnreadable`
values beside the articles, so one broken file or line does not stop an ingest.

What an article's text is (every citation offset indexes it):
- plain text (.txt, and the "text" of a JSONL record) is kept verbatim: `Article.text` is a slice of the
  text as supplied, line breaks and blank-line runs included. A .txt body starts at the first non-blank
  character after the title (the file's first paragraph); a JSONL body starts at the start of the record's
  "text". Either ends where the last paragraph ends, trailing site furniture ("Leave a Comment") left out.
  So `supplied_body[start:end] == citation.text`.
- Markdown and HTML are markup, not prose: `Article.text` is their prose with the syntax removed (no `**`,
  `#`, link targets or list bullets), one paragraph per block, blocks separated by a blank line; offsets
  index that text.

Doc ids: a file's is its stem when it lies directly in the ingested folder or is named itself, and its path
below the folder otherwise ('a/report.txt' → 'a-report'); a JSONL record's is its "id"; a URL's comes from
its final address (`rag.ingest.fetch`). When two files of one ingest make the same id, the later one (in
name order) gets a short digest of its path and an `IngestNote` says so.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from rag.config import FETCH_TIMEOUT
from rag.errors import ArticleUnreadable
from rag.types import Article, IngestNote, paragraph_spans

log = logging.getLogger(__name__)

SUFFIXES = {".txt": "txt", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".jsonl": "jsonl"}
# Trailing site furniture seen under news articles; dropped only at the very end.
_BOILERPLATE = re.compile(
    r"^(leave a (comment|reply)|share( this)?( article)?:?|related( articles| posts)?:?|comments?|"
    r"print|tags?:.*|advertisement|read more:?.*)$",
    re.IGNORECASE,
)
_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_DATELINE = re.compile(
    rf"^(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day,?\s+)?(?P<month>{_MONTHS})\s+(?P<day>\d{{1,2}}),\s*(?P<year>\d{{4}})"
    r"(?:\s*[-–—,|]?\s*(?:at\s+)?(?P<time>\d{1,2}:\d{2}))?\s*$",
    re.IGNORECASE,
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
Loaded = Article | ArticleUnreadable | IngestNote
MIN_HTML_WORDS = 15


def slug(name: str) -> str:
    """A doc id from a file or page name: letters, digits, '-', '_' and '.' only."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    return s[:120] or "article"


def parse_dateline(line: str) -> str | None:
    """'November 1, 2025 - 19:37' → '2025-11-01T19:37:00'; None when the line is no dateline."""
    m = _DATELINE.match(line.strip())
    if not m:
        return None
    stamp = f"{m['month']} {m['day']} {m['year']} {m['time'] or '00:00'}"
    try:
        return datetime.strptime(stamp, "%B %d %Y %H:%M").isoformat()
    except ValueError:  # "November 41, 2025": shaped like a dateline, but no date
        return None


def normalise_date(value: object) -> str | None:
    """An ISO 8601 string for a date given as ISO text or a dateline; None when unknown."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()
    except ValueError:
        return parse_dateline(text)


def one_line(text: str) -> str:
    """Text on one line: control characters dropped, whitespace runs made one space (for titles)."""
    return " ".join(_CONTROL.sub("", text).split())


def body_spans(text: str, start: int = 0) -> list[tuple[int, int]]:
    """Paragraph spans of `text` from `start` on, trailing site furniture ("Leave a Comment") left out."""
    spans = [(s + start, e + start) for s, e in paragraph_spans(text[start:])]
    while spans and _BOILERPLATE.match(one_line(text[spans[-1][0] : spans[-1][1]])):
        spans.pop()
    return spans


def article_from_text(
    doc_id: str, raw: str, *, source: str = "", url: str | None = None, name: str | None = None
) -> Article:
    """An article in the seed's shape: a title paragraph, an optional dateline, body paragraphs (kept verbatim)."""
    spans = body_spans(raw)
    if len(spans) < 2:
        raise ArticleUnreadable(f"{name or doc_id}: too little text for an article (need a title line and a body)")
    (title_start, title_end), (body_start, dateline_end), body_end = spans[0], spans[1], spans[-1][1]
    return Article(
        doc_id=doc_id,
        title=one_line(raw[title_start:title_end]),
        text=raw[body_start:body_end],
        source=source,
        published=parse_dateline(raw[body_start:dateline_end]),
        url=url,
    )


def markdown_blocks(source: str) -> list[str]:
    """The prose of Markdown, one string per block (heading, paragraph, list item, quote, code), syntax removed."""
    from markdown_it import MarkdownIt  # rich's Markdown parser

    blocks = []
    for token in MarkdownIt("commonmark").parse(source):
        if token.type == "inline":
            text = _inline_text(token.children or [])
        elif token.type in ("fence", "code_block"):
            text = token.content
        else:
            continue  # structure (opening and closing tags), HTML blocks, rules
        if text.split():
            blocks.append(" ".join(text.split()))
    return blocks


def _inline_text(children: list[Any]) -> str:
    parts = []
    for child in children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":  # its alt text
            parts.append(_inline_text(child.children or []))
    return "".join(parts)


def article_from_markdown(
    doc_id: str, raw: str, *, source: str = "", url: str | None = None, name: str | None = None
) -> Article:
    """A Markdown article: optional `key: value` front matter, '# Title', body blocks as plain prose."""
    meta: dict[str, str] = {}
    lines = raw.splitlines()
    if lines and lines[0].strip() == "---" and "---" in (s.strip() for s in lines[1:]):
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
        for line in lines[1:end]:
            key, _, value = line.partition(":")
            meta[key.strip().lower()] = value.strip().strip("\"'")
        lines = lines[end + 1 :]
    blocks = markdown_blocks("\n".join(lines))
    while blocks and _BOILERPLATE.match(blocks[-1]):
        blocks.pop()
    title = meta.get("title") or (blocks.pop(0) if blocks else "")
    if not blocks:
        raise ArticleUnreadable(f"{name or doc_id}: no body text under the title — add the article's paragraphs")
    published = normalise_date(meta.get("date") or meta.get("published")) or parse_dateline(blocks[0])
    return Article(
        doc_id=doc_id,
        title=title,
        text="\n\n".join(blocks),
        source=meta.get("source", source),
        published=published,
        url=meta.get("url", url),
    )


# trafilatura's output tree: elements that hold blocks of their own, and cells, which sit side by side in a row.
_HTML_BLOCKS = frozenset({"p", "head", "list", "item", "quote", "table", "row", "code", "div"})


def html_blocks(element: Any) -> list[str]:
    """The prose of trafilatura's extracted tree, one string per paragraph, heading, list item, quote or row."""
    blocks = []
    own = " ".join(_flat_text(element).split())
    if own:
        blocks.append(own)
    for child in element:
        if child.tag in _HTML_BLOCKS:
            blocks += html_blocks(child)
    return blocks


def _flat_text(element: Any) -> str:
    """The text of an element outside its nested blocks; line breaks and cell borders become spaces."""
    parts = [element.text or ""]
    for child in element:
        if child.tag not in _HTML_BLOCKS:
            parts.append(_flat_text(child) + (" " if child.tag in ("lb", "cell") else ""))
        parts.append(child.tail or "")
    return "".join(parts)


_LINK = re.compile(r"<link\b[^>]*>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"""([A-Za-z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")


def canonical_url(html: str, url: str) -> str | None:
    """The page's `<link rel="canonical">`, made absolute against `url`, when it names one on the same host
    (a page must not take the place of another site's article); None otherwise."""
    from html import unescape
    from urllib.parse import urljoin, urlsplit

    for tag in _LINK.findall(html, 0, 500_000):
        attributes = {m[0].lower(): m[1] or m[2] or m[3] for m in _ATTRIBUTE.findall(tag)}
        if "canonical" in attributes.get("rel", "").lower().split() and attributes.get("href"):
            found = urljoin(url, unescape(attributes["href"].strip()))
            same = urlsplit(found).hostname == urlsplit(url).hostname
            return found if same and urlsplit(found).scheme in ("http", "https") else None
    return None


def article_from_html(
    doc_id: str, html: str, *, source: str = "", url: str | None = None, name: str | None = None
) -> Article:
    """The main text of an HTML page, found by trafilatura (boilerplate, menus and ads dropped), as paragraphs.

    With a `url`, the article's URL is the page's canonical one (`<link rel="canonical">`) when that names the
    same host; a canonical link elsewhere is ignored (a page must not claim another site's article)."""
    import trafilatura  # slow import: only when HTML is read

    doc = trafilatura.bare_extraction(html, url=url, with_metadata=True, include_comments=False, favor_precision=True)
    body = getattr(doc, "body", None)
    blocks = html_blocks(body) if body is not None else []
    while blocks and _BOILERPLATE.match(blocks[-1]):
        blocks.pop()
    title = one_line(getattr(doc, "title", None) or "")
    if blocks and title and blocks[0].casefold() == title.casefold():  # the headline: the title, not paragraph 1
        blocks.pop(0)
    if sum(len(b.split()) for b in blocks) < MIN_HTML_WORDS:  # menus and link lists are not articles
        raise ArticleUnreadable(f"{name or doc_id}: no article text found in the HTML — is this an article page?")
    return Article(
        doc_id=doc_id,
        title=title or blocks[0][:120],
        text="\n\n".join(blocks),
        source=getattr(doc, "sitename", None) or source,
        published=normalise_date(getattr(doc, "date", None)),
        url=(canonical_url(html, url) or url) if url else None,
    )


def article_from_record(record: object, where: str) -> Article:
    """One JSONL record {"id","title","source","published","text"} → Article (its text kept verbatim)."""
    if not isinstance(record, dict):
        raise ArticleUnreadable(f"{where}: expected a JSON object with id, title and text")
    missing = [k for k in ("id", "text") if not str(record.get(k) or "").strip()]
    if missing:
        raise ArticleUnreadable(f"{where}: missing {', '.join(missing)} — every record needs an id and a text")
    text = str(record["text"])
    spans = body_spans(text)
    if not spans:
        raise ArticleUnreadable(f"{where}: the text is empty")
    return Article(
        doc_id=slug(str(record["id"])),
        title=one_line(str(record.get("title") or "")),
        text=text[: spans[-1][1]],
        source=str(record.get("source") or "").strip(),
        published=normalise_date(record.get("published")),
        url=record.get("url") or None,
    )


def decode(data: bytes, name: str) -> str:
    """UTF-8 text of a file, or ArticleUnreadable naming why not."""
    if b"\x00" in data[:8192]:
        raise ArticleUnreadable(f"{name}: looks like a binary file — newsbot reads .txt, .md, .html and .jsonl")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArticleUnreadable(
            f"{name}: not UTF-8 text (byte {exc.start}) — convert it, e.g. `iconv -t UTF-8`, and ingest again"
        ) from None


def iter_jsonl(text: str, name: str) -> Iterator[Loaded]:
    """Articles of a JSONL corpus; a bad line, or a record repeating an earlier one's id, yields an error."""
    lines_of: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            article = article_from_record(json.loads(line), where)
        except json.JSONDecodeError as exc:
            yield ArticleUnreadable(f"{where}: not valid JSON ({exc.msg}) — fix or remove that line")
            continue
        except ArticleUnreadable as exc:
            yield exc
            continue
        first = lines_of.setdefault(article.doc_id, number)
        if first != number:
            yield ArticleUnreadable(
                f"{where}: id {article.doc_id!r} is also on line {first} — give every record its own id"
            )
            continue
        yield article


def parse(kind: str, doc_id: str, text: str, *, name: str, url: str | None = None) -> Iterator[Loaded]:
    """Articles from text of a known kind ('txt', 'md', 'html', 'jsonl')."""
    if kind == "jsonl":
        yield from iter_jsonl(text, name)
        return
    reader = {"txt": article_from_text, "md": article_from_markdown, "html": article_from_html}[kind]
    try:
        yield reader(doc_id, text, url=url, name=name)
    except ArticleUnreadable as exc:
        yield exc


class DocIds:
    """The file doc ids handed out in one ingest: a later file whose id is taken gets a digest of its path."""

    def __init__(self) -> None:
        self._owners: dict[str, str] = {}

    def claim(self, doc_id: str, owner: str, key: str) -> tuple[str, IngestNote | None]:
        """`doc_id` for the file `owner`, or, when another file holds it, a new id made with a digest of `key`
        (the file's path below the ingested folder) and a note saying so."""
        holder = self._owners.setdefault(doc_id, owner)
        if holder == owner:
            return doc_id, None
        new, salt = doc_id, ""
        while new in self._owners:
            new = slug(f"{doc_id[:113]}-{hashlib.sha1((key + salt).encode('utf-8')).hexdigest()[:6]}")
            salt += "+"
        self._owners[new] = owner
        return new, IngestNote(f"{owner}: doc id {doc_id!r} is taken by {holder} — indexed as {new!r}")


def file_doc_id(path: Path, root: Path | None = None) -> str:
    """A file's doc id: its stem, with its folders below `root` in front ('a/report.txt' → 'a-report')."""
    below = path.relative_to(root) if root is not None else Path(path.name)
    return slug("-".join([*below.parent.parts, below.stem]))


def iter_file(path: Path, doc_id: str | None = None) -> Iterator[Loaded]:
    """Articles of one file, by its suffix."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        yield ArticleUnreadable(f"{path}: unsupported file type — newsbot reads .txt, .md, .html and .jsonl")
        return
    try:
        text = decode(path.read_bytes(), str(path))
    except ArticleUnreadable as exc:
        yield exc
        return
    except OSError as exc:
        yield ArticleUnreadable(f"{path}: cannot read ({exc.strerror}) — check the path and its permissions")
        return
    yield from parse(kind, doc_id or file_doc_id(path), text, name=str(path))


def iter_path(path: Path, ids: DocIds | None = None) -> Iterator[Loaded]:
    """Articles of a file or, recursively and in name order, of a directory's article files."""
    ids = ids or DocIds()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        if not files:
            yield ArticleUnreadable(f"{path}: no .txt, .md, .html or .jsonl files in this directory")
        for file in files:
            yield from _claimed(file, file_doc_id(file, path), file.relative_to(path).as_posix(), ids)
    elif path.exists():
        yield from _claimed(path, file_doc_id(path), str(path.resolve()), ids)
    else:
        yield ArticleUnreadable(f"{path}: no such file or directory — check the path")


def _claimed(file: Path, doc_id: str, key: str, ids: DocIds) -> Iterator[Loaded]:
    if file.suffix.lower() == ".jsonl":  # its records carry their own ids
        yield from iter_file(file)
        return
    doc_id, note = ids.claim(doc_id, str(file), key)
    if note is not None:
        yield note
    yield from iter_file(file, doc_id)


def is_url(source: str) -> bool:
    """True for http(s) URLs."""
    return source.startswith(("http://", "https://"))


def has_scheme(source: str) -> bool:
    """True for anything shaped like a URL ('ftp://…', 'file://…'): the fetcher reads or refuses it, not the disk."""
    return re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", source) is not None


def iter_sources(
    sources: list[str], *, timeout: float = FETCH_TIMEOUT, allow_private_urls: bool = False
) -> Iterator[Loaded]:
    """Articles of every path or URL given, in order. URLs are fetched from public addresses only unless
    `allow_private_urls` (`rag.ingest.fetch`); `timeout` is each URL's whole deadline, in seconds."""
    ids = DocIds()
    for source in sources:
        if has_scheme(source):
            from rag.ingest.fetch import iter_url
            from rag.ingest.guard import AddressGuard

            yield from iter_url(source, timeout=timeout, guard=AddressGuard(allow_private=allow_private_urls))
        else:
            yield from iter_path(Path(source), ids)
