"""The in-memory BM25 (rag/bm25.py): the same rankings and scores as SQLite FTS5's bm25(), kept in step with
the registry, saved beside it and never trusted when it describes another index state."""

from __future__ import annotations

import json
import logging
import math
import shutil
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from rag.index.bm25 import files as bm25_files
from rag.index.bm25 import levels as bm25_cache
from rag.index.bm25.postings import QueryTokenizer
from rag.index.lexical import LexicalIndex
from rag.index.registry import Registry
from rag.ingest.chunking import chunk_article
from rag.question.words import terms
from rag.types import Article
from tests.conftest import SHARED_EVAL

Ranking = Sequence[tuple[str, float]]

ARTICLES = [
    Article(
        "sanctions",
        "EU widens sanctions on Iran",
        "The European Union widened its sanctions on Iran on Monday.\n\n"
        "Ministers said the sanctioned firms had supplied drones. Sanctioning more firms is possible, "
        "an official said, and the sanctions would be reviewed in March.",
        "Reuters",
        "2025-03-03",
    ),
    Article(
        "oman",
        "Oman mediates between Iran and the United States",
        "Oman’s mediation between Iran and the United States has been highly active and positive.\n\n"
        "The envoy visited Tehran and was received at the highest level.",
        "Tehran Times",
        "2025-11-01",
    ),
    Article(
        "cafe",
        "A café in Zürich serves running coffee",
        "The café opened in Zürich. Runners run past it every morning; running clubs meet there.\n\n"
        "Its coffee is roasted in Basel. The owner said the café would open a second shop.",
        "The Verge",
        "2024-05-02",
    ),
    Article(
        "drones",
        "Drone makers face new export rules",
        "Drone makers in Iran and elsewhere face new export rules. The rules cover drones and their parts.\n\n"
        "Officials in the United States said exports of drone parts fell in March.",
        "Reuters",
        "2025-03-10",
    ),
    Article(
        "markets",
        "Markets rally as oil falls",
        "Stock markets rallied on Tuesday as oil prices fell. Oil fell 3% after reports of higher supply.\n\n"
        "Analysts said markets would watch the Federal Reserve in March.",
        "CNBC",
        "2025-03-11",
    ),
    Article(
        "empty-source",
        "A note without an outlet",
        "Coffee prices rose. Iran exports coffee? No: Iran imports it.",
        "",
        None,
    ),
]
QUERIES = [
    "What did the EU say about sanctions on Iran?",
    "sanctioned sanctioning sanctions",  # three words, one stem: FTS5 counts the term three times
    "cafe Zurich running",  # diacritics removed, Porter stems
    "Did the United States say drone exports fell in March?",
    "Reuters report on Iran drones",  # a word of the source column (weight 0.2)
    "coffee oil markets Federal Reserve",
    "words nobody wrote anywhere",
]


def lexical_of(path: Path, articles: Sequence[Article] = ARTICLES) -> LexicalIndex:
    index = LexicalIndex(Registry(path))
    for article in articles:
        index.registry.replace_article(article, chunk_article(article))
    return index


def fts5_articles(index: LexicalIndex, query: str, k: int, sources: Sequence[str] | None) -> list[tuple[str, float]]:
    """The whole-article ranking as FTS5 computes it (the implementation before rag/bm25.py)."""
    db = index.registry.db
    db.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.articles_fts USING fts5(doc_id UNINDEXED, source UNINDEXED, "
        "title, text, tokenize='porter unicode61 remove_diacritics 2')"
    )
    db.execute("DELETE FROM temp.articles_fts")
    db.execute("INSERT INTO temp.articles_fts SELECT doc_id, source, title, text FROM main.articles")
    words = list(dict.fromkeys(terms(query)))
    if not words:
        return []
    where, args = "", ["OR".join(f' "{w}" ' for w in words)]
    if sources is not None:
        where = f" AND source IN ({','.join('?' * len(sources))})"
        args += list(sources)
    rows = db.execute(
        f"SELECT doc_id, -bm25(articles_fts, 0, 0, 1.0, 1.0) AS score FROM temp.articles_fts "
        f"WHERE articles_fts MATCH ?{where} ORDER BY score DESC LIMIT ?",
        (*args, k),
    ).fetchall()
    return [(d, float(s)) for d, s in rows]


def assert_same_ranking(got: Ranking, want: Ranking) -> None:
    """Same scores in the same order (to 1e-9), each id with its score; only rows tied at the last score
    may differ (LIMIT can split a tie either way)."""
    assert [round(s, 9) for _, s in got] == [round(s, 9) for _, s in want]
    cutoff = round(want[-1][1], 9) if want else None

    def above(ranking: Ranking) -> set[tuple[str, float]]:
        return {(cid, round(s, 9)) for cid, s in ranking if round(s, 9) != cutoff}

    assert above(got) == above(want)


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("sources", [None, ["Reuters"], ["The Verge", ""], ["Nobody"]])
def test_chunk_ranking_is_fts5s(tmp_path: Path, query: str, sources: list[str] | None) -> None:
    index = lexical_of(tmp_path / "index.sqlite3")
    words = list(dict.fromkeys(terms(query)))
    for k in (3, 100):
        got = index.search(query, k, sources)
        assert_same_ranking(got, index._fts_search(words, k, sources))
    if query.startswith("words nobody"):
        assert got == []


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("sources", [None, ["Reuters"], ["", "CNBC"]])
def test_article_ranking_is_fts5s(tmp_path: Path, query: str, sources: list[str] | None) -> None:
    index = lexical_of(tmp_path / "index.sqlite3")
    for k in (2, 50):
        assert_same_ranking(index.search_articles(query, k, sources), fts5_articles(index, query, k, sources))


def test_scores_worked_by_hand(tmp_path: Path) -> None:
    """Three one-chunk articles: N = 3, 9 tokens, avgdl = 3; k1 = 1.2, b = 0.75."""
    three = [Article("a", "Oil", "oil oil gas"), Article("b", "Gas", "gas prices"), Article("c", "Tea", "tea")]
    index = lexical_of(tmp_path / "index.sqlite3", three)
    a, b = (chunk_article(x)[0].chunk_id for x in three[:2])
    idf_oil, idf_gas = math.log(2.5 / 1.5), 1e-6  # gas is in 2 of 3 rows: log(1.5 / 2.5) < 0, floored

    def term(f: float, tokens: int) -> float:
        return f * 2.2 / (f + 1.2 * (0.25 + 0.75 * tokens / 3))

    # Whole articles, title and text weighted 1: oil twice in a's text and once in its title.
    assert index.search_articles("oil gas", 5) == [
        ("a", pytest.approx(idf_oil * term(3, 4) + idf_gas * term(1, 4), abs=1e-12)),
        ("b", pytest.approx(idf_gas * term(2, 3), abs=1e-12)),
    ]
    # Chunks: text 1.0, title 0.4 (source 0.2, empty here).
    assert index.search("oil gas", 5) == [
        (a, pytest.approx(idf_oil * term(2.4, 4) + idf_gas * term(1, 4), abs=1e-12)),
        (b, pytest.approx(idf_gas * term(1.4, 3), abs=1e-12)),
    ]


def test_a_row_matched_only_in_a_column_weighted_zero_is_still_a_hit_as_in_fts5(tmp_path: Path) -> None:
    """Title weighted 0: "serves" is only in the café article's title, so its chunk matches with score 0. FTS5 lists
    it; so must the in-memory index, which otherwise takes the rows scoring above 0 as the matches."""
    path = tmp_path / "index.sqlite3"
    lexical_of(path).registry.close()
    index = LexicalIndex(Registry(path), weights=(1.0, 0.0, 0.2))
    assert not index.bm25().chunks._positive
    for query in ("serves", "serves sanctions"):
        words = list(dict.fromkeys(terms(query)))
        got = index.search(query, 100)
        assert_same_ranking(got, index._fts_search(words, 100, None))
        assert got and got[-1][1] == 0.0  # the title-only match is there, last
    assert lexical_of(tmp_path / "other.sqlite3").bm25().chunks._positive  # the usual weights: none is 0


def test_document_frequency_is_fts5s(tmp_path: Path) -> None:
    index = lexical_of(tmp_path / "index.sqlite3")
    words = ["sanctions", "Iran", "café", "running", "coffee", "nowhere", "a_b"]
    df, total = index.document_frequency(words)
    want = {
        w: index.registry.db.execute(
            "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (f'text:"{w}"',)
        ).fetchone()[0]
        for w in words
    }
    assert (df, total) == (want, index.registry.chunk_count())
    assert df["Iran"] == 4 and df["nowhere"] == 0


def test_query_tokenizer_is_fts5s() -> None:
    got = QueryTokenizer().tokens(["Sanctions", "café", "Zürich", "running", "a_b", "Oman", "Sanctions"])
    assert got == [("sanction",), ("cafe",), ("zurich",), ("run",), ("a", "b"), ("oman",), ("sanction",)]


def test_a_word_fts5_splits_is_searched_as_a_phrase(tmp_path: Path) -> None:
    snake = Article("snake", "snake_case names", "a_b and b a")
    index = lexical_of(tmp_path / "index.sqlite3", [*ARTICLES, snake])
    assert index.search("a_b", 5) == index._fts_search(["a_b"], 5, None)
    assert [cid for cid, _ in index.search("a_b", 5)] == [c.chunk_id for c in chunk_article(snake)]


# --- kept in step with SQLite, saved, never trusted blindly -------------------------------------
def test_saved_beside_the_index_and_loaded_by_the_next_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "index.sqlite3"
    first = lexical_of(path)
    want = first.search("sanctions on Iran", 10)
    assert (tmp_path / "index.bm25.npz").stat().st_mode & 0o777 == path.stat().st_mode & 0o666  # as the index
    first.close()

    def no_build(*_: object) -> None:
        raise AssertionError("the saved index should have been loaded")

    monkeypatch.setattr(bm25_cache, "build_levels", no_build)
    assert LexicalIndex(Registry(path)).search("sanctions on Iran", 10) == want


def test_an_ingest_moves_the_index_on(tmp_path: Path) -> None:
    index = lexical_of(tmp_path / "index.sqlite3")
    assert index.search("glacier", 5) == []
    other = LexicalIndex(Registry(tmp_path / "index.sqlite3"))  # another process writes
    glacier = Article("glacier", "Glacier melts", "The glacier lost ice.", "BBC")
    other.registry.replace_article(glacier, chunk_article(glacier))
    assert [cid for cid, _ in index.search("glacier", 5)] == [c.chunk_id for c in chunk_article(glacier)]
    assert index.search_articles("glacier", 5)[0][0] == "glacier"
    other.registry.remove("glacier")
    assert index.search("glacier", 5) == []
    assert index.bm25().version == index.registry.version() == len(ARTICLES) + 2


def test_pipeline_ingest_leaves_the_saved_index_current(fake_pipeline) -> None:
    fake_pipeline.ingest(ARTICLES)
    path = bm25_cache.cache_path(fake_pipeline.lexical.registry.path)
    db = sqlite3.connect(str(fake_pipeline.lexical.registry.path))
    _, key = bm25_cache.state_key(db, fake_pipeline.lexical.weights)

    assert bm25_files.load(path, key, ("chunks", "articles")) is not None


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "wrong-array"])
def test_a_damaged_file_is_rebuilt(tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "index.sqlite3"
    want = lexical_of(path).search("drone exports", 10)
    saved = tmp_path / "index.bm25.npz"
    data = saved.read_bytes()
    if damage == "garbage":
        saved.write_bytes(b"not a zip file at all" * 100)
    elif damage == "truncated":
        saved.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        saved.write_bytes(b"")
    else:  # a well-formed file whose arrays do not fit together
        import numpy as np

        with np.load(saved) as npz:
            arrays = dict(npz)
        arrays["chunks.rows"] = arrays["chunks.rows"] + 10_000
        with saved.open("wb") as out:
            np.savez(out, **arrays)
    with caplog.at_level(logging.WARNING, logger="rag.bm25"):
        assert LexicalIndex(Registry(path)).search("drone exports", 10) == want
    assert "unreadable" in caplog.text
    assert saved.read_bytes() != b"" and LexicalIndex(Registry(path)).search("drone exports", 10) == want


def test_a_file_of_another_index_at_the_same_version_is_not_trusted(tmp_path: Path) -> None:
    """A re-created index counts its versions from 1 again: the version alone does not identify a state."""
    a = lexical_of(tmp_path / "a" / "index.sqlite3")
    swapped = [
        Article(x.doc_id, x.title.replace("Iran", "Peru"), x.text.replace("Iran", "Peru"), x.source, x.published)
        for x in ARTICLES
    ]
    b = lexical_of(tmp_path / "b" / "index.sqlite3", swapped)
    assert a.registry.version() == b.registry.version()
    a.search("Iran", 5)
    b.close()
    shutil.copy(tmp_path / "a" / "index.bm25.npz", tmp_path / "b" / "index.bm25.npz")
    b = LexicalIndex(Registry(tmp_path / "b" / "index.sqlite3"))
    assert b.search("Iran", 5) == [] and b.search_articles("Iran", 5) == []
    assert [d for d, _ in b.search_articles("Peru", 2)] == [d for d, _ in a.search_articles("Iran", 2)]


def test_a_data_dir_it_cannot_write_still_answers(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "index.sqlite3"
    want = lexical_of(path).search("coffee", 10)
    (tmp_path / "index.bm25.npz").unlink()
    (tmp_path / "index.bm25.npz").mkdir()  # os.replace onto a directory fails like a read-only dir would
    with caplog.at_level(logging.WARNING, logger="rag.bm25_cache"):
        assert LexicalIndex(Registry(path)).search("coffee", 10) == want
    assert "cannot save the BM25 index" in caplog.text
    assert sorted(p.name for p in tmp_path.iterdir() if "bm25" in p.name) == ["index.bm25.npz"]  # no temp file left


def test_an_index_built_before_the_bm25_file_existed_works_as_it_is(seeded_copy: Path) -> None:
    """Data dirs from before rag/bm25.py hold no .npz: the first search builds it from what SQLite holds."""
    (seeded_copy / "index.bm25.npz").unlink(missing_ok=True)
    index = LexicalIndex(Registry(seeded_copy / "index.sqlite3"))
    words = list(dict.fromkeys(terms("What did Dedov say about Oman?")))
    assert_same_ranking(index.search("What did Dedov say about Oman?", 10), index._fts_search(words, 10, None))
    assert (seeded_copy / "index.bm25.npz").is_file()


# --- a state's build starts from the last state's file ----------------------------------------------
def assert_same_levels(got: dict, want: dict) -> None:
    """Two builds of one state, level by level: every array the same, bit for bit."""
    import numpy as np

    for name in bm25_cache.LEVELS:
        (gi, gp, gr), (wi, wp, wr) = got[name], want[name]
        assert (gi.terms, gi.labels, gi.group_names) == (wi.terms, wi.labels, wi.group_names), name
        for array in ("offsets", "rows", "impacts", "idf", "first_df", "label_offsets", "groups"):
            a, b = getattr(gi, array), getattr(wi, array)
            assert a.dtype == b.dtype and np.array_equal(a, b), (name, array)
        for array in ("freqs", "first", "lengths"):
            assert np.array_equal(getattr(gp, array), getattr(wp, array)), (name, array)
        assert np.array_equal(gr.rowids, wr.rowids) and (gr.labels, gr.groups, gr.idents) == (
            wr.labels,
            wr.groups,
            wr.idents,
        )


def test_a_build_on_the_last_states_file_reads_only_the_rows_it_lacks_and_equals_a_full_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    path = tmp_path / "index.sqlite3"
    index = lexical_of(path, ARTICLES[:4])
    index.refresh()  # the first file: every row read
    read: list[int] = []
    real = bm25_cache.read_postings

    def spy(db, schema, table, columns, weights, rowids):  # type: ignore[no-untyped-def]
        read.append(len(rowids))
        return real(db, schema, table, columns, weights, rowids)

    monkeypatch.setattr(bm25_cache, "read_postings", spy)
    last, middle = ARTICLES[-1], ARTICLES[3]
    steps: list[tuple[str, list[Article] | str]] = [
        ("two added", ARTICLES[4:]),
        ("the newest changed (its rows' rowids come back)", [replace(last, text=last.text + " Oil fell again.")]),
        ("one's source changed, not its text", [replace(ARTICLES[0], source="Reuters Wire")]),
        ("one removed", "cafe"),
        ("other scripts", [Article("scripts", "Дедов об Омане", "Дедов сказал: 中文 Ωmega naïve Ölpreis.", "ТАСС")]),
        ("one in the middle changed", [replace(middle, title=middle.title + " again")]),
    ]
    for what, change in steps:
        if isinstance(change, str):
            index.registry.remove(change)
        for article in change if isinstance(change, list) else []:
            index.registry.replace_article(article, chunk_article(article))
        read.clear()
        index.refresh()  # as `newsbot ingest` ends: this state's build on the last state's file
        written = change if isinstance(change, list) else []
        assert read == [sum(len(chunk_article(a)) for a in written), len(written)], what
        db = sqlite3.connect(str(path))
        db.execute("BEGIN")
        full = bm25_cache.build_levels(db, index.weights)  # every row read again
        _, key = bm25_cache.state_key(db, index.weights)
        db.close()
        file = bm25_cache.cache_path(path)
        loaded = bm25_files.load(file, key, bm25_cache.LEVELS)
        sources = bm25_files.load_sources(file, bm25_cache.params(index.weights), bm25_cache.LEVELS)
        assert loaded is not None and sources is not None, what
        assert_same_levels({n: (loaded[n], *sources[n]) for n in bm25_cache.LEVELS}, full)
    monkeypatch.undo()
    for query in [*QUERIES, "Дедов Омане", "olpreis naive"]:
        words = list(dict.fromkeys(terms(query)))
        assert_same_ranking(index.search(query, 20), index._fts_search(words, 20, None))
        assert_same_ranking(index.search_articles(query, 20), fts5_articles(index, query, 20, None))


def test_rows_are_matched_by_rowid_id_source_and_content_and_a_kept_row_never_follows_an_added_one() -> None:
    import numpy as np

    from rag.index.bm25.merge import Rows, match

    def rows(*listed: tuple[int, str, str]) -> Rows:
        return Rows(
            np.array([r for r, _, _ in listed], dtype=np.int64),
            [d for _, d, _ in listed],
            ["S"] * len(listed),
            [h for _, _, h in listed],
        )

    base = rows((1, "a", "h1"), (2, "b", "h2"), (3, "c", "h3"))
    m = match(base, rows((1, "a", "h1"), (3, "c", "h3"), (4, "d", "h4"), (5, "b", "h2")))
    assert m is not None and m.at.tolist() == [0, -1, 1] and m.added.tolist() == [2, 3]  # b went, d and b came
    assert match(base, rows((1, "a", "h1"), (2, "b", "new"), (3, "c", "h3"))) is None  # an added row before a kept one
    assert match(base, rows((7, "x", "h7"))) is None  # nothing kept: a full build
    assert match(rows(), base) is None


def test_a_file_whose_sources_are_damaged_is_no_base(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import numpy as np

    path = tmp_path / "index.sqlite3"
    index = lexical_of(path, ARTICLES[:4])
    index.refresh()
    saved = bm25_cache.cache_path(path)
    with np.load(saved) as npz:
        arrays = dict(npz)
    arrays["chunks.freqs"] = arrays["chunks.freqs"][:-1]  # the levels still load; what they came from does not fit
    with saved.open("wb") as out:
        np.savez(out, **arrays)
    for article in ARTICLES[4:]:
        index.registry.replace_article(article, chunk_article(article))
    with caplog.at_level(logging.WARNING, logger="rag.bm25"):
        index.refresh()
    assert "building from the index" in caplog.text
    words = list(dict.fromkeys(terms("coffee oil markets")))
    assert_same_ranking(index.search("coffee oil markets", 10), index._fts_search(words, 10, None))
    assert bm25_files.load_sources(saved, bm25_cache.params(index.weights), bm25_cache.LEVELS) is not None  # rewritten


def test_a_file_built_with_other_weights_is_no_base(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite3"
    lexical_of(path).refresh()
    file = bm25_cache.cache_path(path)
    assert bm25_files.load_sources(file, bm25_cache.params((1.0, 0.4, 0.2)), bm25_cache.LEVELS) is not None
    assert bm25_files.load_sources(file, bm25_cache.params((1.0, 0.5, 0.2)), bm25_cache.LEVELS) is None
    other = LexicalIndex(Registry(path), weights=(1.0, 0.5, 0.2))
    words = list(dict.fromkeys(terms("Reuters report on Iran drones")))
    assert_same_ranking(other.search("Reuters report on Iran drones", 10), other._fts_search(words, 10, None))


# --- the real corpus ------------------------------------------------------------------------------
MULTIHOP = SHARED_EVAL / "multihop_rag"


@pytest.mark.skipif(not (MULTIHOP / "corpus.jsonl").is_file(), reason="needs ../shared/eval/multihop_rag")
def test_rankings_on_multihop_rag_articles_are_fts5s(tmp_path: Path) -> None:
    """80 real articles (about 2,000 chunks) and 40 real questions, overall and within named outlets."""
    with (MULTIHOP / "corpus.jsonl").open(encoding="utf-8") as lines:
        records = [json.loads(line) for _, line in zip(range(80), lines, strict=False)]
    articles = [Article(r["id"], r["title"], r["text"], r.get("source") or "", r.get("published")) for r in records]
    index = lexical_of(tmp_path / "index.sqlite3", articles)
    with (MULTIHOP / "questions.jsonl").open(encoding="utf-8") as lines:
        questions = [json.loads(line)["question"] for _, line in zip(range(40), lines, strict=False)]
    outlets = sorted({a.source for a in articles})
    for i, question in enumerate(questions):
        words = list(dict.fromkeys(terms(question)))
        sources = [outlets[i % len(outlets)]] if i % 3 == 0 else None
        assert_same_ranking(index.search(question, 100, sources), index._fts_search(words, 100, sources))
        assert_same_ranking(index.search_articles(question, 50, sources), fts5_articles(index, question, 50, sources))


def test_an_empty_index_searches_to_nothing(tmp_path: Path) -> None:
    index = LexicalIndex(Registry(tmp_path / "index.sqlite3"))
    assert (index.search("Iran", 5), index.search_articles("Iran", 5)) == ([], [])
    assert index.document_frequency(["Iran"]) == ({"Iran": 0}, 0)
    assert (
        LexicalIndex(Registry(tmp_path / "index.sqlite3")).search("Iran", 5, ["Reuters"]) == []
    )  # loaded from the file


def test_a_save_cut_short_leaves_nothing_behind_for_long(tmp_path: Path) -> None:
    import os
    import time

    from rag.index.bm25.files import ABANDONED

    index = lexical_of(tmp_path / "index.sqlite3")
    index.refresh()
    killed = tmp_path / "index.bm25.npz.x1y2z3.tmp"  # what a save killed half-way leaves
    in_progress = tmp_path / "index.bm25.npz.a1b2c3.tmp"  # another process's save, going on now
    for tmp in (killed, in_progress):
        tmp.write_bytes(b"half a file")
    old = time.time() - ABANDONED - 60
    os.utime(killed, (old, old))
    index.registry.replace_article(ARTICLES[0], chunk_article(ARTICLES[0]))  # a new state: the next save sweeps
    index.refresh()
    assert not killed.exists() and in_progress.exists()
