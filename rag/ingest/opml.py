"""Feed lists in OPML: the feeds an OPML file names, and the followed feeds written as one."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import quoteattr

from rag.errors import ArticleUnreadable
from rag.index.feedtable import Feed


def read_opml(path: str | Path) -> list[str]:
    """The feed URLs (xmlUrl) of an OPML file, in order, each once; ArticleUnreadable naming the fix."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ArticleUnreadable(f"{path}: cannot read it ({exc.strerror}) — check the path") from None
    if re.search(rb"<!ENTITY", data, re.IGNORECASE):
        raise ArticleUnreadable(f"{path}: declares XML entities — not read; export the list again")
    from xml.etree import ElementTree

    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise ArticleUnreadable(f"{path}: not valid OPML ({exc}) — export the list again") from None
    urls = [o.get("xmlUrl") or o.get("xmlurl") or "" for o in root.iter("outline")]
    found = list(dict.fromkeys(u.strip() for u in urls if u.strip()))
    if not found:
        raise ArticleUnreadable(f"{path}: no feeds in it (no outline with an xmlUrl) — is it an OPML feed list?")
    return found


def write_opml(feeds: Sequence[Feed], title: str = "newsbot feeds") -> str:
    """An OPML 2.0 document listing the feeds."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        f"  <head><title>{title}</title></head>",
        "  <body>",
    ]
    for f in feeds:
        name = quoteattr(f.title or f.url)
        lines.append(f'    <outline type="rss" text={name} title={name} xmlUrl={quoteattr(f.url)}/>')
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)
