"""Answers as plain text, as rich terminal output, and as the JSON of `ask --json/--jsonl`."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

from rag.types import Answer, CheckReport, Citation

PASSAGE_PREVIEW = 300


def paragraphs_label(numbers: tuple[int, ...]) -> str:
    """'paragraph 3' or 'paragraphs 3–5'."""
    if not numbers:
        return ""
    if len(numbers) == 1:
        return f"paragraph {numbers[0]}"
    return f"paragraphs {numbers[0]}–{numbers[-1]}"


def source_details(c: Citation) -> str:
    """' — Source, 2025-11-01, paragraph 12' (empty when nothing is known)."""
    bits = [b for b in (c.source, (c.published or "")[:10], paragraphs_label(c.paragraphs)) if b]
    return f" — {', '.join(bits)}" if bits else ""


def source_line(c: Citation) -> str:
    """'[1] Title — Source, 2025-11-01, paragraph 12 <https://…>' (the URL where the article came from the web)."""
    link = f" <{c.url}>" if c.url else ""
    return f"[{c.n}] {c.title or c.doc_id}{source_details(c)}{link}"


def shorten(text: str, limit: int = PASSAGE_PREVIEW) -> str:
    """The text cut at a word boundary, with an ellipsis when cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else textwrap.shorten(flat, limit, placeholder=" …")


def answer_text(answer: Answer, *, full_passages: bool = True) -> str:
    """The answer and its sources as plain text (passages in full, or shortened)."""
    lines = [answer.text]
    if answer.citations:
        lines += ["", "Sources:"]
        for c in answer.citations:
            lines.append(source_line(c))
            for paragraph in (c.text if full_passages else shorten(c.text)).split("\n\n"):
                lines += ["    " + line for line in textwrap.wrap(paragraph, 96)]
    return "\n".join(lines)


def sources_text(answer: Answer | None) -> str:
    """The full cited passages of an answer."""
    if answer is None or not answer.citations:
        return "No sources yet: ask a question first."
    out = []
    for c in answer.citations:
        out += [source_line(c), c.text, ""]
    return "\n".join(out).rstrip()


def citation_dict(c: Citation) -> dict[str, Any]:
    """One citation of the JSON interface (and of the answers the Telegram bot keeps)."""
    return {
        "n": c.n,
        "doc_id": c.doc_id,
        "title": c.title,
        "published": c.published,
        "source": c.source,
        "paragraphs": list(c.paragraphs),
        "text": c.text,
        "start": c.start,
        "end": c.end,
        "url": c.url,
    }


def citation_from_dict(data: Mapping[str, Any]) -> Citation:
    """The inverse of `citation_dict`: paragraphs, a list in JSON, come back as a tuple."""
    return Citation(**{**data, "paragraphs": tuple(data["paragraphs"]), "url": data.get("url")})


def answer_dict(answer: Answer, qid: str | None = None) -> dict[str, Any]:
    """The JSON object of `ask --json` / `--jsonl` (a stable machine interface)."""
    return {
        "id": qid,
        "question": answer.question,
        "standalone_question": answer.standalone_question,
        "answer": answer.text,
        "refused": answer.refused,
        "citations": [citation_dict(c) for c in answer.citations],
        "retrieved": answer.retrieved_doc_ids,
        "latency_ms": round(answer.latency_ms, 2),
    }


def check_text(report: CheckReport) -> str:
    """What `newsbot check` found (and repaired), a line a finding."""
    lines = [f"{report.articles} articles, {report.chunks} chunks in the registry"]
    if report.vector_error:
        lines.append(f"vectors: unreadable — {report.vector_error}")
    else:
        lines.append(f"vectors: {report.vectors} held; {len(report.missing)} missing, {len(report.orphans)} orphans")
        lines.append(
            f"sampled {report.sampled} vectors: {len(report.damaged)} differ from a fresh embedding, "
            f"{len(report.unreachable)} not found by a search"
        )
    if report.stale:
        lines.append(f"{report.stale} vectors of replaced or removed articles still to delete")
    lines.append("BM25 index: " + ("current" if report.bm25_current else "out of date or unreadable"))
    if report.sound:
        lines.append("repaired: the index is whole" if report.repaired else "the index is whole")
    else:
        lines.append("repair failed: see above" if report.repaired else "run `newsbot check --repair` to fix it")
    return "\n".join(lines)
