"""`bot.factory.serving`: what a process that answers question after question does before the first and after
the last (the REPL and the Telegram bot run inside it)."""

from __future__ import annotations

import gc
import logging
import sys
import threading

import pytest

from bot.factory import SWITCH_INTERVAL, open_lexical, serving
from bot.settings import Settings
from rag.documents import iter_sources
from rag.lexical import CHUNK_CACHE
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


def test_serving_loads_first_and_keeps_what_start_up_made_out_of_the_collectors_walk(fake_pipeline) -> None:
    fake_pipeline.ingest(iter_sources([str(SEEDS)]))
    counting = fake_pipeline.embedder = fake_pipeline.retriever.embedder = Counting(fake_pipeline.embedder)
    before, interval = gc.get_freeze_count(), sys.getswitchinterval()
    with serving(fake_pipeline):
        assert counting.queries == 1  # the model is loaded before any question
        assert gc.get_freeze_count() > before  # the pipeline and the modules: no full collection walks them
        assert sys.getswitchinterval() == SWITCH_INTERVAL < interval  # the dense thread waits less for the GIL
        answer = fake_pipeline.ask("What did Dedov say about Oman?")
        assert OMAN_QUOTE in answer.text
    assert gc.get_freeze_count() == before  # given back to the collector when serving ends
    assert sys.getswitchinterval() == interval


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
    lexical = fake_pipeline.lexical
    lexical.chunk_cache = 5
    assert lexical.preload() == 0  # 10 chunks: more than the cache would keep
    lexical.chunk_cache = 10
    assert lexical.preload() == 10
    kept, _ = lexical._hydrated_now()
    assert len(kept) == 10 and all("stem_ids" in c.__dict__ for c in kept.values())  # read, stems parsed
    assert fake_pipeline.ask("What did Dedov say about Oman?").citations
    lexical.chunk_cache = 0  # nothing kept: every question reads its chunks afresh, and is answered the same
    assert lexical.preload() == 0
    assert OMAN_QUOTE in fake_pipeline.ask("What did Dedov say about Oman?").text


def test_the_chunk_cache_bound_is_a_setting(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("NEWSBOT_CHUNK_CACHE", "7")
    assert open_lexical(Settings(data_dir=tmp_path, _env_file=None)).chunk_cache == 7
    monkeypatch.delenv("NEWSBOT_CHUNK_CACHE")
    assert Settings(_env_file=None).chunk_cache == CHUNK_CACHE  # the same default as rag's own
