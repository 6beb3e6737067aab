"""Settings → a LangChain chat model, for the pipeline's generative answers.

Imported only when NEWSBOT_LLM is set, so the default (extractive) setup never loads a chat-model package.
`ollama:` and `openai:` map to their provider classes directly; any other `PROVIDER:MODEL` goes through
`langchain.chat_models.init_chat_model` when the `langchain` package is installed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bot.settings import Settings
from rag.config import ChatSetup
from rag.errors import ConfigError

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

log = logging.getLogger(__name__)
MAX_RETRIES = 1  # one retry on a dropped connection; the extractive answer covers the rest
EXTRA = "pip install 'newsbot[llm]'"


def parse_llm(value: str) -> tuple[str, str]:
    """'ollama:llama3.1' → ('ollama', 'llama3.1'), or ConfigError saying the expected form."""
    provider, sep, model = value.partition(":")
    if not sep or not provider.strip() or not model.strip():
        raise ConfigError(
            f"NEWSBOT_LLM={value!r} is not PROVIDER:MODEL — e.g. ollama:llama3.1 or openai:gpt-4o-mini "
            "(with NEWSBOT_LLM_BASE_URL for an OpenAI-compatible server)"
        )
    return provider.strip().lower(), model.strip()


def chat_model(settings: Settings) -> BaseChatModel:
    """The chat model NEWSBOT_LLM names, configured with its URL, key and time-out, at temperature 0."""
    provider, model = parse_llm(settings.llm or "")
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    if provider == "openai":
        return _openai(model, settings.llm_base_url, key, settings.llm_timeout)
    if provider == "ollama":
        return _ollama(model, settings.llm_base_url, key, settings.llm_timeout)
    return _any(provider, model, settings.llm_base_url, key, settings.llm_timeout)


def _openai(model: str, base_url: str | None, key: str | None, timeout: float) -> BaseChatModel:
    try:
        from langchain_openai import ChatOpenAI
    except ImportError:
        raise ConfigError(f"NEWSBOT_LLM=openai:{model} needs langchain-openai — {EXTRA}") from None
    if key is None and base_url:
        key = "unused"  # local OpenAI-compatible servers (llama.cpp, vLLM) take any key, but the client wants one
    kwargs: dict[str, Any] = {"model": model, "temperature": 0, "timeout": timeout, "max_retries": MAX_RETRIES}
    if base_url:
        kwargs["base_url"] = base_url
    if key:
        kwargs["api_key"] = key
    try:
        return ChatOpenAI(**kwargs)
    except Exception as exc:  # pydantic validation: most often a missing key
        raise ConfigError(
            f"cannot set up openai:{model} ({str(exc).splitlines()[0]}) — set NEWSBOT_LLM_API_KEY, "
            "or NEWSBOT_LLM_BASE_URL for a local OpenAI-compatible server"
        ) from None


def _ollama(model: str, base_url: str | None, key: str | None, timeout: float) -> BaseChatModel:
    try:
        from langchain_ollama import ChatOllama
    except ImportError:
        raise ConfigError(f"NEWSBOT_LLM=ollama:{model} needs langchain-ollama — {EXTRA}") from None
    client: dict[str, Any] = {"timeout": timeout}
    if key:
        client["headers"] = {"Authorization": f"Bearer {key}"}  # an Ollama behind an authenticating proxy
    kwargs: dict[str, Any] = {"model": model, "temperature": 0, "client_kwargs": client}
    if base_url:
        kwargs["base_url"] = base_url
    return ChatOllama(**kwargs)


def _any(provider: str, model: str, base_url: str | None, key: str | None, timeout: float) -> BaseChatModel:
    try:
        from langchain.chat_models import init_chat_model
    except ImportError:
        raise ConfigError(
            f"NEWSBOT_LLM={provider}:{model}: only ollama: and openai: work without the `langchain` package — "
            f"pip install langchain langchain-{provider}, or use openai: with NEWSBOT_LLM_BASE_URL"
        ) from None
    kwargs: dict[str, Any] = {"model_provider": provider, "temperature": 0, "timeout": timeout}
    if base_url:
        kwargs["base_url"] = base_url
    if key:
        kwargs["api_key"] = key
    try:
        return init_chat_model(model, **kwargs)
    except (ImportError, ValueError) as exc:
        raise ConfigError(f"cannot set up {provider}:{model} ({exc}) — check NEWSBOT_LLM") from None


def chat_setup(settings: Settings, model: BaseChatModel | None = None) -> ChatSetup:
    """Generative answers as the settings describe them: the chat model (or `model`), the prompts and the time-out."""
    model = model if model is not None else chat_model(settings)
    log.info("generative answers from %s (prompts in %s)", settings.llm, settings.prompts_dir or "the package")
    return ChatSetup(model=model, prompts_dir=settings.prompts_dir, timeout=settings.llm_timeout)
