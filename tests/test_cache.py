"""The answer cache: hits, misses after an ingest or removal, LRU eviction, threads; alone and in the pipeline."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from rag.answer.cache import AnswerCache, normalise_question
from rag.index.registry import Registry
from rag.index.vectors import ChromaStore
from rag.pipeline import Pipeline
from rag.question.followups import Conversation
from rag.retrieval.hybrid import HybridRetriever
from rag.types import Answer, Article, Passage
from tests.conftest import FakeEmbedder


def answer(text: str) -> Answer:
    return Answer(question=text, text=f"answer to {text}", refused=False)


# --- the cache alone ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        ("What did Dedov say about Oman?", "what did dedov say about oman?"),
        ("  what did  DEDOV say\tabout Oman? ", "what did dedov say about oman?"),  # case and spacing fold
        ("What did Dedov say about Oman", "what did dedov say about oman"),  # punctuation does not: it is embedded
    ],
)
def test_normalise_question(asked: str, expected: str) -> None:
    assert normalise_question(asked) == expected


def test_hit_after_put_with_another_spelling() -> None:
    cache = AnswerCache(4)
    stored = answer("q")
    assert cache.get("Who is Dedov?", 1) is None
    cache.put("Who is Dedov?", 1, stored)
    assert cache.get("who is  DEDOV?", 1) is stored
    assert (cache.hits, cache.misses, len(cache)) == (1, 1, 1)


def test_new_version_misses_and_drops_the_old_answers() -> None:
    cache = AnswerCache(4)
    cache.get("a", 1)
    cache.put("a", 1, answer("a"))
    assert cache.get("a", 2) is None  # the index changed: no stale answer
    assert len(cache) == 0
    assert cache.get("a", 1) is None  # nor is the old one kept for a reader still at version 1


def test_put_for_a_version_no_longer_current_is_dropped() -> None:
    cache = AnswerCache(4)
    cache.get("a", 2)
    cache.put("a", 1, answer("a"))  # computed before the ingest that made version 2
    assert (cache.get("a", 2), len(cache)) == (None, 0)


def test_least_recently_used_goes_first() -> None:
    cache = AnswerCache(2)
    cache.get("a", 1)
    cache.put("a", 1, answer("a"))
    cache.put("b", 1, answer("b"))
    assert cache.get("a", 1) is not None  # a is now the most recently used
    cache.put("c", 1, answer("c"))
    assert [q for q in ("a", "b", "c") if cache.get(q, 1) is not None] == ["a", "c"]


def test_size_zero_keeps_nothing() -> None:
    cache = AnswerCache(0)
    cache.get("a", 1)
    cache.put("a", 1, answer("a"))
    assert (cache.get("a", 1), len(cache)) == (None, 0)


def test_threads_share_one_bounded_cache() -> None:
    cache = AnswerCache(50)
    cache.get("warm", 7)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(200):
                q = f"question {(n * 37 + i) % 120}"
                if cache.get(q, 7) is None:
                    cache.put(q, 7, answer(q))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(cache) == 50
    assert cache.hits + cache.misses == 8 * 200 + 1
    assert all(cache.get(q, 7) is not None and a.text == f"answer to {q}" for q, a in list(cache._answers.items()))


# --- in the pipeline ---------------------------------------------------------------------


class CountingRetriever:
    """The real retriever, counting the questions that reach it."""

    def __init__(self, inner: HybridRetriever) -> None:
        self.inner = inner
        self.queries: list[str] = []

    def retrieve(self, query: str, query_vector: object = None) -> list:
        self.queries.append(query)
        return self.inner.retrieve(query)


class TopPassageAnswerer:
    """Quotes the best passage whole (the cache must not depend on how answers are worded)."""

    def answer(self, question: str, passages: Sequence[Passage]) -> Answer:
        if not passages:
            return Answer(question=question, text="nothing", refused=True)
        return Answer(question=question, text=passages[0].chunk.text, refused=False, passages=tuple(passages))


def article(doc_id: str, body: str) -> Article:
    return Article(doc_id=doc_id, title="Harbour news", text=body, source="Coast News", published="2024-05-01T00:00:00")


@pytest.fixture
def cached_pipeline(tmp_path: Path) -> tuple[Pipeline, CountingRetriever]:
    embedder = FakeEmbedder()
    pipeline = Pipeline(
        embedder=embedder,
        store=ChromaStore(path=tmp_path / "chroma"),
        registry=Registry(tmp_path / "index.sqlite3"),
        answerer=TopPassageAnswerer(),
        cache=AnswerCache(8),
    )
    retriever = pipeline.retriever = CountingRetriever(pipeline.retriever)  # type: ignore[assignment]
    pipeline.ingest([article("a", "The ferries sailed at dawn from Port Talbot.")])
    return pipeline, retriever


def test_repeated_question_is_answered_from_the_cache(cached_pipeline) -> None:
    pipeline, retriever = cached_pipeline
    first = pipeline.ask("When did the ferries sail?")
    second = pipeline.ask("  when did the FERRIES sail? ")
    assert retriever.queries == ["When did the ferries sail?"]
    assert (second.text, second.passages) == (first.text, first.passages)
    assert first.text == "The ferries sailed at dawn from Port Talbot."
    assert second.question == "when did the FERRIES sail?"  # the question as asked this time
    assert (pipeline.cache.hits, pipeline.cache.misses) == (1, 1)


def test_ingest_and_removal_make_the_next_answer_fresh(cached_pipeline) -> None:
    pipeline, retriever = cached_pipeline
    before = pipeline.ask("When did the ferries sail?")
    pipeline.ingest([article("a", "The ferries sailed at noon, after the storm.")])  # a changed article
    after = pipeline.ask("When did the ferries sail?")
    pipeline.remove("a")
    gone = pipeline.ask("When did the ferries sail?")
    assert retriever.queries == ["When did the ferries sail?"] * 2  # the empty index refuses without retrieving
    assert before.text == "The ferries sailed at dawn from Port Talbot."
    assert after.text == "The ferries sailed at noon, after the storm."
    assert (gone.refused, gone.passages) == (True, ())


def test_followup_hits_the_cache_through_its_standalone_question(cached_pipeline) -> None:
    pipeline, retriever = cached_pipeline
    first = pipeline.ask("When did the ferries sail from Port Talbot?")
    chat = Conversation.from_history(["Which ferries use Port Talbot?"])
    followup = pipeline.ask("When did the ferries sail from it?", chat)
    assert followup.standalone_question == "When did the ferries sail from Port Talbot?"
    assert followup.text == first.text == "The ferries sailed at dawn from Port Talbot."
    assert retriever.queries == ["When did the ferries sail from Port Talbot?"]
    assert [t.question for t in chat.turns] == ["Which ferries use Port Talbot?", "When did the ferries sail from it?"]
