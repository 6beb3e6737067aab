"""Topic matching on the real pipeline (real model, real Chroma): an article about a topic matches it, one that
only shares a word does not; /latest's query keeps the relevant articles, newest first."""

from __future__ import annotations

import pytest

from rag.config import PipelineConfig
from rag.pipeline import Pipeline
from rag.retrieval.topics import lexical_coverage, sentences, topic_words
from rag.types import Article, Chunk

BRIDGE = Article(
    "bridge",
    "Harbour bridge reopens after repairs",
    "The Kestrel Harbour bridge reopened on Monday after eight months of repairs costing 40 million euros.\n\n"
    "Mayor Ilse Varga said traffic on the bridge would be limited to buses for the first week.",
    "City Times",
    "2025-03-03T09:00:00",
    "https://news.example/bridge",
)
CARDS = Article(
    "cards",
    "Bridge club wins national title",
    "The Kestrel bridge club won the national card game championship on Sunday.\n\n"
    "Players said the final hand of the tournament was the hardest of the season.",
    "City Times",
    "2025-03-04T09:00:00",
)
TUNNEL = Article(
    "tunnel",
    "Harbour tunnel to close for repairs",
    "Engineers will repair the Kestrel harbour crossing next: the tunnel under the harbour closes in April.\n\n"
    "Bridge and tunnel repairs together cost the city 55 million euros this year.",
    "City Times",
    "2025-03-05T09:00:00",
)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    built = Pipeline.open(PipelineConfig(data_dir=tmp_path_factory.mktemp("topics")))
    report = built.ingest([BRIDGE, CARDS, TUNNEL])
    assert sorted(report.added) == ["bridge", "cards", "tunnel"]
    return built


def test_an_article_about_the_topic_matches_and_one_sharing_a_word_does_not(pipeline: Pipeline) -> None:
    matches = pipeline.topic_matches("Kestrel Harbour bridge repairs", ["bridge", "cards"])
    assert [m.doc_id for m in matches] == ["bridge"]
    (m,) = matches
    assert m.sentence == BRIDGE.text[m.start : m.end]
    assert "repairs" in m.sentence and m.score >= pipeline.topics.config.threshold


def test_scores_rank_the_articles(pipeline: Pipeline) -> None:
    scored = pipeline.topics.score("Kestrel Harbour bridge repairs", ["cards", "bridge"], quote=False)
    assert [s.doc_id for s in scored] == ["bridge", "cards"]
    assert scored[0].score > scored[1].score


def test_latest_about_a_topic_is_newest_first_among_the_relevant(pipeline: Pipeline) -> None:
    page, total = pipeline.latest("harbour repairs", limit=5)
    assert [a.doc_id for a in page] == ["tunnel", "bridge"] and total == 2
    page, total = pipeline.latest("", limit=2, offset=1)
    assert [a.doc_id for a in page] == ["cards", "bridge"] and total == 3
    assert page[1].url == "https://news.example/bridge"


def test_words_sentences_and_coverage() -> None:
    assert topic_words("The EU's rules on AI, and the AI Act") == ["eu's", "rules", "ai", "act"]
    chunk = Chunk(
        "c", "d", "Short. A sentence long enough to quote here. Another one that is long enough.", 10, 87, (1,)
    )
    assert sentences(chunk) == [(17, 54), (55, 87)]
    assert lexical_coverage(["bridge", "repairs"], "The bridge repair", lambda ws: dict.fromkeys(ws, 1.0)) == 1.0
    assert lexical_coverage(["bridge", "tunnel"], "The bridge", lambda ws: {"bridge": 1.0, "tunnel": 3.0}) == 0.25
