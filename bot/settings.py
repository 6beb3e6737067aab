"""One settings object, read from NEWSBOT_* environment variables and an optional .env file.

Only entry points build it; `rag/` receives plain values.
"""

from __future__ import annotations

from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from rag import config as defaults
from rag.config import FeedConfig, PipelineConfig

SHIPPED_SEEDS = Path(str(files("bot") / "seeds"))  # the seed article, package data


def parse_duration(value: str) -> float:
    """'15m' → 900.0, '1h' → 3600.0, '90s' or '90' → 90.0; ValueError for anything else."""
    text = value.strip().lower()
    scale = {"s": 1, "m": 60, "h": 3600, "d": 86400}.get(text[-1:])
    number = text[:-1] if scale else text
    try:
        seconds = float(number) * (scale or 1)
    except ValueError:
        raise ValueError(f"{value!r} is no duration — write e.g. 15m, 1h or 900") from None
    if seconds <= 0:
        raise ValueError(f"{value!r} is no duration — write e.g. 15m, 1h or 900")
    return seconds


class Settings(BaseSettings):
    """Every knob of newsbot. Environment: NEWSBOT_<NAME> (e.g. NEWSBOT_DATA_DIR)."""

    model_config = SettingsConfigDict(env_prefix="NEWSBOT_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Where the index lives (Chroma, SQLite, history).")
    chroma_url: str | None = Field(None, description="http://host:port of a Chroma server; unset = embedded.")
    model: str = Field(defaults.PACKAGED_MODEL, description="Sentence-transformers model path or name.")
    seeds_dir: Path = Field(SHIPPED_SEEDS, description="Articles indexed first when the index is empty.")
    batch_size: int = Field(
        defaults.BATCH_SIZE, ge=1, le=1024, description="Embedding batch size (docs/performance.md)."
    )
    answer_cache_size: int = Field(
        defaults.ANSWER_CACHE_SIZE, ge=0, description="Answers kept for repeated questions; 0 = no cache."
    )
    chunk_cache: int = Field(
        defaults.CHUNK_CACHE,
        ge=0,
        description="Chunks a process keeps in memory (~2 KB each; 0 = none); a serving one reads them all first "
        "when the index holds no more.",
    )
    exact_limit: int = Field(
        defaults.EXACT_LIMIT,
        ge=0,
        description="Chunks up to which dense search compares every vector (exact, the same in every process); "
        "above, Chroma's HNSW searches. 0 = always HNSW.",
    )
    now: date | None = Field(
        None, description="The date questions are asked on ('yesterday', 'the latest'), YYYY-MM-DD; unset = today."
    )
    reader: bool = Field(
        defaults.READER, description="The trained answer reader (on/off) has its say on which sentences answer."
    )
    fetch_timeout: float = Field(
        defaults.FETCH_TIMEOUT, gt=0, description="Seconds one URL may take in all: connecting, redirects, reading."
    )
    allow_private_urls: bool = Field(
        False, description="Fetch URLs on loopback and private networks too; unset = public addresses only."
    )
    refresh_every: float = Field(
        defaults.REFRESH_EVERY, gt=0, description="Seconds (or 15m, 1h) between feed refreshes; a feed may set its own."
    )
    keep_days: int | None = Field(
        None,
        ge=1,
        description="Remove articles published more than this many days ago after each refresh; unset = keep.",
    )
    per_host: int = Field(defaults.PER_HOST, ge=1, description="Feed and page requests at once to one host.")
    log_level: str = Field("WARNING", description="Logging level when -v is not given.")
    # --- Chat model (optional generative answers; see docs/llm.md) ---
    llm: str | None = Field(
        None, description="PROVIDER:MODEL, e.g. ollama:llama3.1 or openai:gpt-4o-mini; unset = extractive answers."
    )
    llm_base_url: str | None = Field(None, description="The provider's URL, e.g. http://127.0.0.1:8080/v1.")
    llm_api_key: SecretStr | None = Field(None, description="API key for the provider; never printed or logged.")
    llm_timeout: float = Field(
        defaults.LLM_TIMEOUT, gt=0, description="Seconds one model reply may take before the fallback."
    )
    prompts_dir: Path | None = Field(
        None, description="Folder holding answer.md and condense.md; unset = the shipped prompts."
    )
    # --- Telegram (`newsbot telegram`) ---
    telegram_bot_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("TELEGRAM_BOT_TOKEN", "NEWSBOT_TELEGRAM_BOT_TOKEN", "telegram_bot_token"),
        description="The bot's token from @BotFather (TELEGRAM_BOT_TOKEN, no prefix); never printed or logged.",
    )
    telegram_base_url: str = Field(
        "https://api.telegram.org",
        description="Bot API server: Telegram's, a self-hosted telegram-bot-api, or a test one.",
    )
    allowed_chats: Annotated[frozenset[int], NoDecode] = Field(
        frozenset(), description="Comma-separated chat ids the bot answers in; empty = every chat."
    )
    admins: Annotated[frozenset[int], NoDecode] = Field(
        frozenset(), description="Comma-separated user ids allowed to /ingest and upload articles."
    )
    ingest_chats: Annotated[frozenset[int], NoDecode] = Field(
        frozenset(), description="Comma-separated channel and group ids whose posts are indexed as articles."
    )
    alerts_per_hour: int = Field(6, ge=0, description="Alerts one user gets per hour at most; 0 = no limit.")
    rate_limit: int = Field(10, ge=0, description="Questions one user may ask per rate window; 0 = no limit.")
    rate_window: float = Field(60.0, gt=0, description="The rate limit's window, in seconds.")
    max_upload_bytes: int = Field(1_000_000, ge=1, description="Largest document an admin may upload.")
    webhook_secret: SecretStr | None = Field(
        None, description="Webhook mode: the secret Telegram sends back in a header (random when unset)."
    )

    @field_validator("allowed_chats", "admins", "ingest_chats", mode="before")
    @classmethod
    def _id_list(cls, value: object) -> object:
        """'123, -100456' → {123, -100456} (ids from the environment come comma-separated)."""
        if isinstance(value, str):
            return frozenset(int(part) for part in value.replace(";", ",").split(",") if part.strip())
        return value

    @field_validator("refresh_every", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        """'15m', '1h', '90s' or '900' → seconds."""
        return parse_duration(value) if isinstance(value, str) else value

    def feed_config(self) -> FeedConfig:
        """How feeds are refreshed."""
        return FeedConfig(
            every=self.refresh_every,
            per_host=self.per_host,
            timeout=self.fetch_timeout,
            allow_private=self.allow_private_urls,
            keep_days=self.keep_days,
        )

    def pipeline_config(self) -> PipelineConfig:
        """What the pipeline is built from (generative answers are added by `bot.factory`)."""
        return PipelineConfig(
            data_dir=self.data_dir,
            chroma_url=self.chroma_url,
            model=self.model,
            batch_size=self.batch_size,
            answer_cache_size=self.answer_cache_size,
            chunk_cache=self.chunk_cache,
            exact_limit=self.exact_limit,
            now=self.now,
            reader=self.reader,
        )
