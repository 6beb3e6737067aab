"""Build the pipeline from Settings: the one place that turns settings into collaborators."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.settings import Settings

if TYPE_CHECKING:
    from rag.lexical import LexicalIndex
    from rag.pipeline import Pipeline

log = logging.getLogger(__name__)


def open_lexical(settings: Settings) -> LexicalIndex:
    """The SQLite side of the index alone (enough for `list`; no model, no Chroma)."""
    from rag.lexical import LexicalIndex

    return LexicalIndex(settings.lexical_path)


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
