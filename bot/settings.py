"""One settings object, read from NEWSBOT_* environment variables and an optional .env file.

Only entry points build it; `rag/` receives plain values.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGED_MODEL = "packaged:all-MiniLM-L6-v2"  # same value as rag.embeddings.PACKAGED_MODEL
DEFAULT_SEEDS = Path(__file__).resolve().parent.parent / "seeds"


class Settings(BaseSettings):
    """Every knob of newsbot. Environment: NEWSBOT_<NAME> (e.g. NEWSBOT_DATA_DIR)."""

    model_config = SettingsConfigDict(env_prefix="NEWSBOT_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Where the index lives (Chroma, SQLite, history).")
    chroma_url: str | None = Field(None, description="http://host:port of a Chroma server; unset = embedded.")
    model: str = Field(PACKAGED_MODEL, description="Sentence-transformers model path or name.")
    seeds_dir: Path = Field(DEFAULT_SEEDS, description="Articles indexed first when the index is empty.")
    batch_size: int = Field(32, ge=1, le=1024, description="Embedding batch size.")
    fetch_timeout: float = Field(15.0, gt=0, description="Seconds to wait for a URL.")
    log_level: str = Field("WARNING", description="Logging level when -v is not given.")

    @property
    def chroma_path(self) -> Path:
        """The embedded Chroma directory."""
        return self.data_dir / "chroma"

    @property
    def lexical_path(self) -> Path:
        """The SQLite registry + BM25 index."""
        return self.data_dir / "index.sqlite3"
