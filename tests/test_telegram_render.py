"""Telegram rendering: escaping, [n] markers, the short source list, 4096-character splitting, plain twins."""

from __future__ import annotations

import re

import pytest

from bot.telegram.render import (
    LIMIT,
    NO_SOURCES,
    Outgoing,
    Span,
    answer_messages,
    cut_block,
    pack,
    sources_messages,
    text_messages,
    tg_len,
    with_markers,
)
from rag.types import Answer, Citation


def cite(n: int, text: str = "Passage text.", title: str = "Title", paragraphs: tuple[int, ...] = (3,)) -> Citation:
    return Citation(n, f"doc{n}", title, "2025-11-01T19:37:00", "Tehran Times", text, 0, len(text), paragraphs)


def answer(text: str, *citations: Citation, question: str = "Q?", standalone: str = "") -> Answer:
    return Answer(
        question, text, refused=not citations, citations=citations, standalone_question=standalone or question
    )


# --- spans and escaping ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("span", "html"),
    [
        (Span("plain"), "plain"),
        (Span("<b>bold?</b>"), "&lt;b&gt;bold?&lt;/b&gt;"),  # a user's tags stay text
        (Span("</a> & <i"), "&lt;/a&gt; &amp; &lt;i"),
        (Span("*_[markdown](x)`"), "*_[markdown](x)`"),  # Markdown means nothing in HTML mode
        (Span("&amp; already"), "&amp;amp; already"),  # escaped once more: shown as typed
        (Span("“quotes” 'single' \"double\""), "“quotes” 'single' \"double\""),
        (Span("x < y", "b"), "<b>x &lt; y</b>"),
        (Span("عمان 👋 שלום", "i"), "<i>عمان 👋 שלום</i>"),
    ],
)
def test_span_html_escapes_everything(span: Span, html: str) -> None:
    assert span.html == html


@pytest.mark.parametrize(
    ("text", "spans"),
    [
        ("No markers.", (Span("No markers."),)),
        ("A [1] and B [2].", (Span("A "), Span("[1]", "b"), Span(" and B "), Span("[2]", "b"), Span("."))),
        ("[1] first", (Span("[1]", "b"), Span(" first"))),
        ("last [12]", (Span("last "), Span("[12]", "b"))),
        ("not [a] marker [1a]", (Span("not [a] marker [1a]"),)),
    ],
)
def test_citation_markers_are_bold(text: str, spans: tuple[Span, ...]) -> None:
    assert with_markers(text) == spans


@pytest.mark.parametrize(
    ("text", "length"),
    [("abc", 3), ("é", 1), ("👋", 2), ("🇷🇺", 4), ("عمان", 4)],
)
def test_length_counts_utf16_units(text: str, length: int) -> None:
    assert tg_len(text) == length


# --- answers ------------------------------------------------------------------------------
SOURCE_LINE = "<b>[1]</b> Title — Tehran Times, 2025-11-01, paragraph 3"


@pytest.mark.parametrize(
    ("value", "html", "plain"),
    [
        # a cited answer: inline [n] in bold, a short source list
        (
            answer("Dedov said X. [1]", cite(1)),
            f"Dedov said X. <b>[1]</b>\n\n<b>Sources</b>\n{SOURCE_LINE}",
            "Dedov said X. [1]\n\nSources\n[1] Title — Tehran Times, 2025-11-01, paragraph 3",
        ),
        # the refusal: no source list
        (
            answer("I could not find this in the articles."),
            "I could not find this in the articles.",
            "I could not find this in the articles.",
        ),
        # a follow-up shows how it was understood; article text with markup is escaped
        (
            answer(
                "He said <script> & co. [1]\n\nMore [2].",
                cite(1, title="A <b>bold</b> title"),
                cite(2, paragraphs=(4, 5, 6)),
                question="And <him>?",
                standalone="And <Dedov>?",
            ),
            "<i>Understood as: And &lt;Dedov&gt;?</i>\n\n"
            "He said &lt;script&gt; &amp; co. <b>[1]</b>\n\nMore <b>[2]</b>.\n\n"
            "<b>Sources</b>\n<b>[1]</b> A &lt;b&gt;bold&lt;/b&gt; title — Tehran Times, 2025-11-01, paragraph 3\n"
            "<b>[2]</b> Title — Tehran Times, 2025-11-01, paragraphs 4–6",
            "Understood as: And <Dedov>?\n\nHe said <script> & co. [1]\n\nMore [2].\n\n"
            "Sources\n[1] A <b>bold</b> title — Tehran Times, 2025-11-01, paragraph 3\n"
            "[2] Title — Tehran Times, 2025-11-01, paragraphs 4–6",
        ),
    ],
    ids=["cited", "refusal", "follow-up-escaped"],
)
def test_answer_messages(value: Answer, html: str, plain: str) -> None:
    assert answer_messages(value) == [Outgoing(html, plain)]


def test_sources_messages_show_full_passages() -> None:
    value = answer("X [1] Y [2]", cite(1, "First <passage>.\n\nIts second paragraph."), cite(2, "Second & last."))
    assert sources_messages(value) == [
        Outgoing(
            "<b>Sources of: </b>Q?\n\n"
            f"{SOURCE_LINE}\n\n<blockquote>First &lt;passage&gt;.\n\nIts second paragraph.</blockquote>\n\n"
            "<b>[2]</b> Title — Tehran Times, 2025-11-01, paragraph 3\n\n<blockquote>Second &amp; last.</blockquote>",
            "Sources of: Q?\n\n[1] Title — Tehran Times, 2025-11-01, paragraph 3\n\nFirst <passage>.\n\n"
            "Its second paragraph.\n\n[2] Title — Tehran Times, 2025-11-01, paragraph 3\n\nSecond & last.",
        )
    ]


@pytest.mark.parametrize("value", [None, answer("I could not find this in the articles.")])
def test_sources_of_nothing(value: Answer | None) -> None:
    assert sources_messages(value) == [Outgoing(NO_SOURCES, NO_SOURCES)]


# --- splitting ------------------------------------------------------------------------------
P = "word " * 199 + "end."  # 999 characters


@pytest.mark.parametrize(
    ("paragraphs", "limit", "expected"),
    [
        # fits: one message
        (["a", "b"], 10, ["a\n\nb"]),
        # exactly the limit: still one
        (["aaaa", "bbbb"], 10, ["aaaa\n\nbbbb"]),
        # one over: split between paragraphs, never inside one
        (["aaaa", "bbbbb"], 10, ["aaaa", "bbbbb"]),
        (["aa", "bb", "cc", "dd"], 6, ["aa\n\nbb", "cc\n\ndd"]),
        # a paragraph too long alone is cut between words
        (["one two three four"], 9, ["one two", "three", "four"]),
        # a word too long alone is cut inside it
        (["abcdefghij"], 4, ["abcd", "efgh", "ij"]),
        # escaping counts: '&' becomes '&amp;' (5 characters), and is never cut in half
        (["& & &"], 7, ["&amp;", "&amp;", "&amp;"]),
        # an emoji counts 2 and is never cut in half
        (["👋👋👋"], 4, ["👋👋", "👋"]),
    ],
)
def test_pack_splits_on_paragraph_boundaries(paragraphs: list[str], limit: int, expected: list[str]) -> None:
    assert [m.html for m in pack([(Span(p),) for p in paragraphs], limit)] == expected


def test_a_cut_block_reopens_its_tags() -> None:
    # "x <b>bold</b>" is 13 characters; "<b>words here</b>" would be 17
    assert cut_block((Span("x "), Span("bold words here", "b")), 14) == [
        (Span("x "), Span("bold", "b")),
        (Span("words", "b"),),
        (Span("here", "b"),),
    ]


def test_long_answer_is_split_under_4096_with_balanced_tags_and_plain_twins() -> None:
    text = "\n\n".join(f"{P} [{i % 3 + 1}]" for i in range(12))  # ~12,000 characters
    value = answer(text, cite(1), cite(2), cite(3))
    messages = answer_messages(value)
    assert len(messages) == 4
    assert all(tg_len(m.html) <= LIMIT for m in messages)
    for m in messages:
        assert m.html.count("<b>") == m.html.count("</b>")
        assert re.sub(r"</?b>", "", m.html) == m.plain  # nothing here needed escaping
    joined = "\n\n".join(m.plain for m in messages)
    assert joined == text + "\n\nSources\n" + "\n".join(
        f"[{n}] Title — Tehran Times, 2025-11-01, paragraph 3" for n in (1, 2, 3)
    )
    assert messages[-1].html.endswith("<b>[3]</b> Title — Tehran Times, 2025-11-01, paragraph 3")


def test_a_10000_character_paragraph_of_markup_is_split_safely() -> None:
    nasty = "<b>&</b> " * 1250  # 11,250 characters, 3× longer escaped
    messages = text_messages(nasty)
    assert all(tg_len(m.html) <= LIMIT for m in messages)
    assert "<" not in "".join(m.html for m in messages)
    assert " ".join(m.plain for m in messages) == nasty.strip()
    assert len(messages) == 8


@pytest.mark.parametrize(("text", "expected"), [("", [""]), ("one\n\n\n\ntwo", ["one\n\ntwo"]), ("a<b", ["a&lt;b"])])
def test_text_messages(text: str, expected: list[str]) -> None:
    assert [m.html for m in text_messages(text)] == expected


def test_a_source_with_a_url_links_its_title_and_a_cut_keeps_the_link() -> None:
    from bot.telegram.render import Span, cut_block, source_entry

    linked = Citation(1, "d", "Port <reopens>", None, "Coast News", "x", 0, 1, (2,), url="https://e.example/a?b=1&c=2")
    html = "".join(span.html for span in source_entry(linked))
    assert html == (
        '<b>[1]</b> <a href="https://e.example/a?b=1&amp;c=2">Port &lt;reopens&gt;</a> — Coast News, paragraph 2'
    )
    plain = Citation(1, "d", "Port", None, "", "x", 0, 1, (2,))
    assert "".join(span.html for span in source_entry(plain)) == "<b>[1]</b> Port — paragraph 2"
    long_link = Span("word " * 40, "a", "https://e.example/x")
    pieces = cut_block((long_link,), limit=120)
    assert len(pieces) > 1 and all(p[0].href == "https://e.example/x" for p in pieces)
    assert all(len("".join(span.html for span in p)) <= 120 for p in pieces)
