"""Build the pipeline from Settings: the one place that turns settings into collaborators."""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from bot.settings import Settings

if TYPE_CHECKING:
    from rag.lexical import LexicalIndex
    from rag.pipeline import Pipeline

log = logging.getLogger(__name__)


def open_lexical(settings: Settings) -> LexicalIndex:
    """The SQLite side of the index alone (enough for `list`; no model, no Chroma)."""
    from rag.lexical import LexicalIndex

    return LexicalIndex(settings.lexical_path, chunk_cache=settings.chunk_cache)


def build_pipeline(settings: Settings) -> Pipeline:
    """The whole pipeline; the embedding model itself loads on first use."""
    from rag.cache import AnswerCache
    from rag.embeddings import SentenceTransformerEmbeddings
    from rag.pipeline import Pipeline
    from rag.retrieval import HybridRetriever
    from rag.store import ChromaStore, chroma_client

    embedder = SentenceTransformerEmbeddings(settings.model, batch_size=settings.batch_size)
    client = chroma_client(path=settings.chroma_path, url=settings.chroma_url)
    store = ChromaStore(client)
    lexical = open_lexical(settings)
    retriever = HybridRetriever(embedder, store, lexical)
    cache = AnswerCache(settings.answer_cache_size)
    pipeline = Pipeline(embedder=embedder, store=store, lexical=lexical, retriever=retriever, cache=cache)
    if settings.llm:  # generative answers: LangChain's chat-model packages are imported only then
        from bot.llm_factory import enable_llm

        enable_llm(pipeline, settings)
    return pipeline


# While serving, a thread waiting for the GIL gets it within 0.5 ms instead of CPython's 5: the question's
# embedding runs on a thread of its own while this one reads and parses the chunks the answer will need, and
# each time it comes back from ONNX Runtime or Chroma it waits for the GIL (docs/performance.md).
SWITCH_INTERVAL = 0.0005


@contextmanager
def serving(pipeline: Pipeline) -> Iterator[None]:
    """While a process answers question after question (the REPL, the Telegram bot, the benchmark's latency
    worker): the embedding model, the BM25 index, Chroma's vector index and, when the index holds no more than its
    chunk cache keeps (NEWSBOT_CHUNK_CACHE), every chunk are loaded first, so that no question waits for them
    (Chroma's on a thread of its own meanwhile: a first query loads it, 0.1 s at 609 articles and 0.4–1.4 s at
    100k chunks, which the first question used to wait for); then what start-up
    left is collected and everything alive is moved out of the cycle collector's sight (`gc.freeze`) until the
    block ends. The modules, the Chroma client and the index live as long as the serving does, and a full
    collection that walked them cost the question it fell in ~60 ms more at 100k chunks. The GIL is handed over
    every SWITCH_INTERVAL seconds meanwhile (docs/performance.md)."""
    if not pipeline.is_empty():  # an empty index: the model loads with the first ingest
        from rag.background import InBackground

        vectors = InBackground(pipeline.store.warm, name="newsbot-warm")
        pipeline.embedder.embed_query("warm-up")
        pipeline.lexical.bm25()
        read = pipeline.lexical.preload()  # every chunk, when the index holds no more than its cache keeps
        log.debug("serving: %d chunks read ahead", read)
        vectors.settle()  # a failure is the first question's to report, as it would be without the warm-up
    gc.collect()
    gc.freeze()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    log.debug("serving: %d objects frozen", gc.get_freeze_count())
    try:
        yield
    finally:
        sys.setswitchinterval(interval)
        gc.unfreeze()
