"""Shared fixtures: a deterministic fake embedder beside the real model, and real indexes in tmp dirs."""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "bot" / "seeds"
SEED_FILE = SEEDS / "000_4c519add1ad1325c.txt"
SHARED_EVAL = ROOT.parent / "shared" / "eval"
OMAN_QUOTE = "Oman’s mediation between Iran and the United States has been highly active and positive"


class FakeEmbedder:
    """Bag of hashed words: texts sharing words are close; same input, same vector, no model."""

    dimension = 64

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dimension, dtype=np.float32)
        for word in re.findall(r"\w+", text.lower()):
            v[int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dimension] += 1.0
        norm = np.linalg.norm(v)
        return v / norm if norm else v

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dimension))

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text).tolist()


def make_pipeline(data_dir: Path, embedder: object):
    """A pipeline over a real embedded Chroma and SQLite index in `data_dir` (no answer cache)."""
    from rag.config import PipelineConfig
    from rag.pipeline import Pipeline

    return Pipeline.open(PipelineConfig(data_dir, answer_cache_size=0), embedder=embedder)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def private_urls_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test servers listen on 127.0.0.1: settings read from the environment may fetch from it. Tests of the
    address guard pass their own setting; `settings_for` and the CLI tests clear every NEWSBOT_* variable."""
    monkeypatch.setenv("NEWSBOT_ALLOW_PRIVATE_URLS", "1")


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def fake_pipeline(tmp_path: Path, fake_embedder: FakeEmbedder):
    """A real Chroma + SQLite index in a tmp dir, with the fake embedder."""
    return make_pipeline(tmp_path / "data", fake_embedder)


@pytest.fixture(scope="session")
def real_embedder():
    """The packaged all-MiniLM-L6-v2, loaded once per test session."""
    from rag.index.embedder import SentenceTransformerEmbeddings

    embedder = SentenceTransformerEmbeddings()
    embedder.embed_query("warm up")
    return embedder


@pytest.fixture(scope="session")
def seeded_data_dir(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Path:
    """A data dir holding the seed article, indexed once with the real model (copy it before writing)."""
    data_dir = tmp_path_factory.mktemp("seeded") / "data"
    from rag.ingest.loaders import iter_sources

    pipeline = make_pipeline(data_dir, real_embedder)
    report = pipeline.ingest(iter_sources([str(SEEDS)]))
    assert report.failed == []
    pipeline.close()
    return data_dir


@pytest.fixture
def seeded_copy(seeded_data_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the seeded data dir, free to change."""
    target = tmp_path / "data"
    shutil.copytree(seeded_data_dir, target)
    return target


@pytest.fixture
def settings_for(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """Settings pointing at a given data dir, with no .env or NEWSBOT_* leaking in from the host."""
    import os

    for key in list(os.environ):
        if key.startswith("NEWSBOT_"):
            monkeypatch.delenv(key)

    def build(data_dir: Path, **overrides: object) -> Settings:
        return Settings(data_dir=data_dir, _env_file=None, **overrides)  # type: ignore[call-arg]

    yield build
