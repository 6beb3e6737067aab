"""Prompt files → LangChain chat prompt templates, their placeholders checked when loaded.

A prompt file is text in sections, each opened by a line `## system`, `## human` (or `## user`)
or `## ai` (or `## assistant`); lines before the first section describe the file and are not
sent. Placeholders are `{name}`; a literal brace is written `{{` or `}}`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from langchain_core.prompts import ChatPromptTemplate

from rag.errors import ConfigError

_SECTION = re.compile(r"^##[ \t]+(system|human|user|ai|assistant)[ \t]*$", re.MULTILINE)
_ROLE = {"system": "system", "human": "human", "user": "human", "ai": "ai", "assistant": "ai"}


@dataclass(frozen=True)
class PromptSpec:
    """A prompt's file name and the placeholders it must, and may, use."""

    name: str
    required: frozenset[str]
    optional: frozenset[str] = frozenset()

    @property
    def filename(self) -> str:
        """The file that holds it: `<name>.md`."""
        return f"{self.name}.md"


ANSWER = PromptSpec("answer", frozenset({"question", "passages"}), frozenset({"refusal"}))
CONDENSE = PromptSpec("condense", frozenset({"question", "history"}))


def parse_messages(text: str) -> list[tuple[str, str]]:
    """(role, template) pairs of a prompt file's sections, in order; empty when it has none."""
    heads = list(_SECTION.finditer(text))
    out = []
    for i, head in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        out.append((_ROLE[head.group(1)], text[head.end() : end].strip("\n")))
    return out


def load_prompt(directory: Path | str, spec: PromptSpec) -> ChatPromptTemplate:
    """The template in `directory/<spec.name>.md`, or ConfigError naming the file and the fix."""
    path = Path(directory) / spec.filename
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read the prompt {path} ({exc.strerror or exc}) — set NEWSBOT_PROMPTS_DIR to a folder "
            f"holding {spec.filename}, or unset it to use the shipped prompts"
        ) from None
    messages = parse_messages(text)
    if not messages:
        raise ConfigError(f"the prompt {path} has no '## system' or '## human' section — see docs/llm.md, \"Prompts\"")
    try:
        template = ChatPromptTemplate.from_messages(messages)
    except (ValueError, KeyError) as exc:
        raise ConfigError(
            f"the prompt {path} is not a valid template ({exc}) — write a literal brace as {{{{ or }}}}"
        ) from None
    check_placeholders(path, set(template.input_variables), spec)
    return template


def check_placeholders(path: Path, found: set[str], spec: PromptSpec) -> None:
    """ConfigError when a required placeholder is missing or an unknown one is used."""
    missing = sorted(spec.required - found)
    unknown = sorted(found - spec.required - spec.optional)
    if missing:
        names = ", ".join("{" + m + "}" for m in missing)
        raise ConfigError(f'the prompt {path} lacks the placeholder {names} — add it (see docs/llm.md, "Prompts")')
    if unknown:
        names = ", ".join("{" + u + "}" for u in unknown)
        allowed = ", ".join("{" + a + "}" for a in sorted(spec.required | spec.optional))
        raise ConfigError(
            f"the prompt {path} uses the unknown placeholder {names}; it may use {allowed} — "
            "write a literal brace as {{ or }}"
        )


@dataclass(frozen=True)
class Prompts:
    """The templates the LLM answerer and condenser use."""

    answer: ChatPromptTemplate
    condense: ChatPromptTemplate


def shipped_prompts() -> Path:
    """The folder of the templates that ship with newsbot (package data)."""
    return Path(str(files("rag.answer") / "templates"))


def load_prompts(directory: Path | str | None = None) -> Prompts:
    """Both templates from `directory` (the shipped ones when None), checked."""
    directory = shipped_prompts() if directory is None else directory
    return Prompts(answer=load_prompt(directory, ANSWER), condense=load_prompt(directory, CONDENSE))
