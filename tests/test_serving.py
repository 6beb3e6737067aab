"""`Pipeline.warm` and `bot.factory.serving`: what a process that answers question after question loads before
the first (the REPL and the Telegram bot run inside it)."""

from __future__ import annotations

import logging
import threading

import pytest

from bot.factory import open_pipeline, serving
from bot.settings import Settings
from rag.config import CHUNK_CACHE
from rag.ingest.loaders import iter_sources
from tests.conftest import OMAN_QUOTE, SEEDS


class Counting:
    """An embedder wrapper that counts the questions embedded."""

    def __init__(self, inner: object) -> None:
        self.inner, self.queries = inner, 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def embed_query(self, text: str) -> list[float]:
        self.queries += 1
        return self.inner.embed_query(text)  # type: ignore[attr-defined]


def test_serving_loads_the_model_before_the_first_question(fake_pipeline) -> None:
    fake_pipeline.ingest(iter_sources([str(SEEDS)]))
    counting = fake_pipeline.embedder = fake_pipeline.retriever.embedder = Counting(fake_pipeline.embedder)
    with serving(fake_pipeline):
        assert counting.queries == 1  # the model is loaded before any question
        answer = fake_pipeline.ask("What did Dedov say about Oman?")
        assert OMAN_QUOTE in answer.text
    assert counting.queries == 2


def test_serving_an_empty_index_loads_no_model(fake_pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    counting = fake_pipeline.embedder = fake_pipeline.retriever.embedder = Counting(fake_pipeline.embedder)
    warmed: list[str] = []
    monkeypatch.setattr(fake_pipeline.store, "warm", lambda: warmed.append("warm"))
    with serving(fake_pipeline):
        assert counting.queries == 0 and warmed == []  # no vectors to load either
        assert fake_pipeline.ask("What did Dedov say about Oman?").refused


def test_serving_loads_the_vector_index_on_a_thread_of_its_own_before_the_first_question(
    fake_pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_pipeline.ingest(iter_sources([str(SEEDS)]))
    warmed: list[str] = []
    real = fake_pipeline.store.warm

    def warm() -> None:
        warmed.append(threading.current_thread().name)  # while the model, BM25 and the chunks load
        real()

    monkeypatch.setattr(fake_pipeline.store, "warm", warm)
    with serving(fake_pipeline):
        assert warmed == ["newsbot-warm"]  # done before serving begins, not by the first question
        assert OMAN_QUOTE in fake_pipeline.ask("What did Dedov say about Oman?").text
    assert warmed == ["newsbot-warm"]


def test_a_vector_index_that_fails_to_load_is_left_to_the_first_question(
    fake_pipeline, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fake_pipeline.ingest(iter_sources([str(SEEDS)]))

    def broken() -> None:
        raise RuntimeError("the server went away")

    monkeypatch.setattr(fake_pipeline.store, "warm", broken)
    with caplog.at_level(logging.DEBUG, logger="rag.background"), serving(fake_pipeline):
        assert "newsbot-warm failed: the server went away" in caplog.text  # logged, not raised
        assert OMAN_QUOTE in fake_pipeline.ask("What did Dedov say about Oman?").text


def test_a_small_index_is_read_ahead_whole_and_a_large_one_left_to_its_questions(fake_pipeline) -> None:
    fake_pipeline.ingest(iter_sources([str(SEEDS)]))
    chunks = fake_pipeline.chunks
    chunks.max_kept = 5
    assert fake_pipeline.warm() == 0  # 10 chunks: more than the cache would keep
    chunks.max_kept = 10
    assert fake_pipeline.warm() == 10
    assert fake_pipeline.ask("What did Dedov say about Oman?").citations
    chunks.max_kept = 0  # nothing kept: every question reads its chunks afresh, and is answered the same
    assert fake_pipeline.warm() == 0
    assert OMAN_QUOTE in fake_pipeline.ask("What did Dedov say about Oman?").text


def test_the_chunk_cache_bound_is_a_setting(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("NEWSBOT_CHUNK_CACHE", "7")
    assert open_pipeline(Settings(data_dir=tmp_path, _env_file=None)).chunks.max_kept == 7
    monkeypatch.delenv("NEWSBOT_CHUNK_CACHE")
    assert Settings(_env_file=None).chunk_cache == CHUNK_CACHE  # the same default as rag's own
