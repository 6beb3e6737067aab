"""Retrieval: rank fusion, article ranking and grouping, the outlets and dates a question names; over a real
Chroma and SQLite index with the fake embedder, and as pure functions."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from rag.answer import REFUSAL
from rag.errors import ConfigError
from rag.question.clauses import clauses, is_compound
from rag.question.constraints import constraints
from rag.question.dates import named_dates, published_on
from rag.question.outlets import named_sources, outlet_mentions, source_aliases, topic_words, unknown_outlets
from rag.retrieval.hybrid import HybridRetriever, doc_ranking, grouped, reciprocal_rank_fusion
from rag.types import Article, Chunk, Passage
from tests.conftest import FakeEmbedder, make_pipeline

SOURCES = [
    "TechCrunch",
    "The Verge",
    "BBC News - Technology",
    "Cnbc | World Business News Leader",
    "Fortune",
    "The New York Times",
    "The Age",
    "",
]


def test_reciprocal_rank_fusion() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a"]], [1.0, 2.0], k=1)
    assert [(i, round(s, 4)) for i, s in fused] == [("c", 1.25), ("a", 1.1667), ("b", 0.3333)]


def test_doc_ranking_and_grouping() -> None:
    doc_of = {"a1": "a", "a2": "a", "a3": "a", "b1": "b", "c1": "c"}
    assert doc_ranking(["a2", "b1", "a1", "zz", "c1"], doc_of) == ["a", "b", "c"]  # unknown chunks are skipped

    def p(cid: str) -> Passage:
        return Passage(Chunk(cid, doc_of[cid], cid, 0, 2, (1,)), score=0.0)

    found = [p("a1"), p("a2"), p("a3"), p("b1"), p("c1")]
    order = [pa.chunk.chunk_id for pa in grouped(found, ["b", "a", "c"], per_doc=2)]
    assert order == ["b1", "a1", "a2", "c1", "a3"]  # two of each article in article order, then the rest


def test_a_passage_is_the_frozen_value_its_fields_say() -> None:
    # Passage writes its fields itself (for speed): every field, by position or name, and still frozen
    import dataclasses

    chunk = Chunk("a:0", "a", "x", 0, 1, (1,))
    by_position, by_name = (
        Passage(chunk, 0.5, 0.9, 2, 3),
        Passage(chunk, score=0.5, dense=0.9, lexical_rank=2, dense_rank=3),
    )
    assert by_position == by_name and hash(by_position) == hash(by_name)
    assert {f.name: getattr(by_position, f.name) for f in dataclasses.fields(Passage)} == vars(by_position)
    assert vars(Passage(chunk, 0.0)) == {
        "chunk": chunk,
        "score": 0.0,
        "dense": None,
        "lexical_rank": None,
        "dense_rank": None,
    }
    assert dataclasses.replace(by_position, score=1.0).score == 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        by_position.score = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("source", "aliases"),
    [
        ("TechCrunch", {"techcrunch"}),
        ("BBC News - Technology", {"bbc news - technology", "bbc news", "bbc"}),
        ("Cnbc | World Business News Leader", {"cnbc | world business news leader", "cnbc"}),
        (
            "The Independent - Life and Style",
            {"the independent - life and style", "independent - life and style", "the independent"},
        ),
        ("The New York Times", {"the new york times", "new york times"}),  # "a New York Times article"
        ("The Age", {"the age"}),  # never plain "age"
    ],
)
def test_source_aliases(source: str, aliases: set[str]) -> None:
    assert source_aliases(source) == aliases


@pytest.mark.parametrize(
    ("question", "named", "unknown"),
    [
        ("Did TechCrunch report on the trial before The Verge did?", ("TechCrunch", "The Verge"), ()),
        ("Does the 'Cnbc | World Business News Leader' article say so?", ("Cnbc | World Business News Leader",), ()),
        ("What did a BBC article say about chips?", ("BBC News - Technology",), ()),
        ("Did he make a fortune from it?", (), ()),  # "fortune", lower-case, is a word, not the outlet
        ("According to Fortune, who won?", ("Fortune",), ()),
        ("What did a Bloomberg article and a Reuters report say about JPMorgan?", (), ("Bloomberg", "Reuters")),
        ("Considering an article from The Verge and a piece by CNET, which phone won?", ("The Verge",), ("CNET",)),
        ("As reported by both Forbes and TechCrunch, who is the CEO?", ("TechCrunch",), ("Forbes",)),
        ("Does the Times of India article agree?", (), ("Times of India",)),
        ("Did the FTX trial start in October?", (), ()),  # no outlet cue
        ("What did Dedov say about Oman?", (), ()),
        ("Did a New York Times article say so?", ("The New York Times",), ()),
        ("At the age of 30, who ran FTX?", (), ()),
        ("What did the report by the United Nations find?", (), ()),  # a report alone may be anyone's
        ("What did a Pentagon report say about the strike?", (), ()),
        ("According to Sam Altman, who runs OpenAI?", (), ()),  # "according to" names people as often
        ("What did the story from Monday say?", (), ()),
    ],
)
def test_named_and_unknown_outlets(question: str, named: tuple[str, ...], unknown: tuple[str, ...]) -> None:
    assert named_sources(question, SOURCES) == named
    assert unknown_outlets(question, SOURCES) == unknown


def test_outlet_mentions() -> None:
    question = "Considering an article in The Economic Times and another in YourStory, and a Hindustan Times report"
    assert outlet_mentions(question) == ["The Economic Times", "YourStory", "Hindustan Times"]


@pytest.mark.parametrize(
    ("question", "sources", "named"),
    [
        # the cheap test an ASCII question and alias go through first: case does not hide an outlet
        ("what did THE VERGE and TECHCRUNCH say?", ("TechCrunch", "The Verge"), ("The Verge", "TechCrunch")),
        # letters that match across ASCII's edge when case is ignored: the pattern still decides
        ("Did the Daily Sun say so?", ("Daıly Sun",), ("Daıly Sun",)),  # "ı" (dotless) and "i"
        ("Did the \u212aorea Herald say so?", ("Korea Herald",), ("Korea Herald",)),  # the Kelvin sign and "k"
        ("Did the Zürich Post say so?", ("Zürich Post", "The Verge"), ("Zürich Post",)),
        ("Did the Verge say so?", ("Zürich Post",), ()),
    ],
)
def test_outlets_are_named_whatever_the_case_and_the_script(
    question: str, sources: tuple[str, ...], named: tuple[str, ...]
) -> None:
    assert named_sources(question, sources) == named


@pytest.mark.parametrize(
    ("question", "dates"),
    [
        ("the TechCrunch report published on October 7, 2023, and", (date(2023, 10, 7),)),
        ("on Oct. 28, 2023 or on 1 November 2023", (date(2023, 10, 28), date(2023, 11, 1))),
        ("reported on 2023-12-15", (date(2023, 12, 15),)),
        ("on October 28 regarding Game 3", ()),  # no year: not a date we can match
        ("on February 30, 2023", ()),  # no such day
    ],
)
def test_named_dates(question: str, dates: tuple[date, ...]) -> None:
    assert named_dates(question) == dates


def test_constraints() -> None:
    got = constraints("Did The Verge's article of October 28, 2023, contradict a Reuters report?", SOURCES)
    assert (got.sources, got.unknown_outlets, got.dates) == (("The Verge",), ("Reuters",), (date(2023, 10, 28),))


@pytest.mark.parametrize(
    ("published", "expected"),
    [
        ("2023-10-07T10:00:00", True),
        ("2023-10-08T23:59:00", True),
        ("2023-10-09T00:00:00", False),
        (None, False),
        ("last Saturday", False),  # a source's free-text date: no day, no match, no error
    ],
)
def test_published_on(published: str | None, expected: bool) -> None:
    chunk = Chunk("a:0", "a", "x", 0, 1, (1,), published=published)
    assert published_on(chunk, [date(2023, 10, 7)]) is expected


def test_clauses_and_compound_questions() -> None:
    question = (
        "Does the TechCrunch article say that Meta changed its moderation rules, "
        "while the Verge article suggests that X fired its trust and safety staff?"
    )
    assert clauses(question) == [
        "Does the TechCrunch article say that Meta changed its moderation rules",
        "the Verge article suggests that X fired its trust and safety staff?",
    ]
    assert is_compound(question) is True
    assert clauses("Who signed the treaty, and when?") == ["Who signed the treaty, and when?"]  # too short to split
    assert is_compound("What did Dedov say about Oman?") is False
    assert (
        topic_words("Does the 'TechCrunch' article suggest that Meta won?", SOURCES)
        == "Does the ' ' article that Meta won?"
    )


# --- over a real index, with the fake embedder ------------------------------------------------------------------
def news(doc_id: str, source: str, text: str, published: str = "2023-10-01T00:00:00") -> Article:
    return Article(doc_id=doc_id, title=f"{source} story", text=text, source=source, published=published)


CORPUS = [
    news("alpha-1", "Alpha News", "The harbour reopened after the storm. Ferries sailed again at dawn."),
    news("beta-1", "Beta Times", "The harbour reopened after the storm, the council said.", "2023-10-07T09:00:00"),
    news("beta-2", "Beta Times", "Ferry fares rose by ten percent this winter."),
    news("gamma-1", "Gamma Post", "Storm damage closed three schools near the harbour."),
]


@pytest.fixture
def news_pipeline(tmp_path: Path):
    pipeline = make_pipeline(tmp_path / "data", FakeEmbedder())
    pipeline.ingest(CORPUS)
    return pipeline


@pytest.mark.parametrize(
    ("question", "first"),
    [
        ("Did ferries sail again after the storm?", "alpha-1"),
        ("Did ferries sail again after the storm, according to Beta Times?", "beta-2"),  # the named outlet
        ("Did ferries sail again after the storm, as reported on October 7, 2023?", "beta-1"),  # the named date
    ],
)
def test_named_outlet_and_date_lead_the_ranking(news_pipeline, question: str, first: str) -> None:
    found = news_pipeline.retriever.retrieve(question)
    assert found[0].chunk.doc_id == first


def test_every_retrieved_article_is_listed_once_best_first(news_pipeline) -> None:
    answer = news_pipeline.ask("When did the harbour reopen after the storm, according to Beta Times?")
    assert answer.retrieved_doc_ids[:2] == ["beta-1", "beta-2"]  # the named outlet's articles first
    assert sorted(answer.retrieved_doc_ids) == ["alpha-1", "beta-1", "beta-2", "gamma-1"]


def test_a_question_about_an_outlet_the_index_lacks_is_refused(news_pipeline) -> None:
    answer = news_pipeline.ask("What did a Reuters article say about the harbour after the storm?")
    assert (answer.text, answer.refused, answer.citations) == (REFUSAL, True, ())
    assert answer.retrieved_doc_ids  # retrieval still ranked the articles
    assert news_pipeline.unheld_outlets("What did a Reuters article say about the harbour?") == ("Reuters",)
    assert news_pipeline.ask("What did a Beta Times article say about the harbour after the storm?").refused is False
    assert news_pipeline.unheld_outlets("What did the council report say about the harbour?") == ()


def test_outlets_are_not_judged_when_some_article_has_no_source(news_pipeline) -> None:
    news_pipeline.ingest([Article(doc_id="plain", title="Harbour", text="The harbour reopened on Monday.")])
    assert news_pipeline.unheld_outlets("What did a Reuters article say about the harbour?") == ()


def test_every_chunk_of_the_top_articles_joins_a_compound_question(news_pipeline) -> None:
    found = news_pipeline.retriever.retrieve("When did the harbour reopen after the storm, and did fares rise?")
    assert sorted(p.chunk.doc_id for p in found) == ["alpha-1", "beta-1", "beta-2", "gamma-1"]
    assert news_pipeline.chunks.article_chunks(["beta-2", "alpha-1", "beta-2"]) == [
        *news_pipeline.chunks.chunks(news_pipeline.registry.chunk_ids("beta-2")).values(),
        *news_pipeline.chunks.chunks(news_pipeline.registry.chunk_ids("alpha-1")).values(),
    ]


class _BrokenEmbedder(FakeEmbedder):
    def embed_query(self, text: str) -> list[float]:
        raise ConfigError("cannot load the embedding model — check NEWSBOT_MODEL")


def test_the_dense_sides_error_reaches_the_caller(news_pipeline) -> None:
    """The query's embedding runs on a thread of its own beside BM25; what goes wrong there is raised here."""
    retriever = HybridRetriever(_BrokenEmbedder(), news_pipeline.store, news_pipeline.lexical, news_pipeline.chunks)
    with pytest.raises(ConfigError, match="NEWSBOT_MODEL"):
        retriever.retrieve("When did the harbour reopen?")


def test_a_given_query_vector_is_used_as_given(news_pipeline) -> None:
    """With the vector given (computed elsewhere), retrieval embeds nothing and ranks as with its own."""
    question = "When did the harbour reopen after the storm?"
    own = news_pipeline.retriever.retrieve(question)
    vector = news_pipeline.retriever.embedder.embed_query(question)
    given = HybridRetriever(
        _BrokenEmbedder(), news_pipeline.store, news_pipeline.lexical, news_pipeline.chunks
    ).retrieve(question, vector)
    assert [(p.chunk.chunk_id, p.score) for p in given] == [(p.chunk.chunk_id, p.score) for p in own]
