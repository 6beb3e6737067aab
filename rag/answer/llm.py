"""Generative answers from any LangChain chat model, every sentence checked against the passages it cites.

The model sees the top passages numbered [1]..[k], quoted as data. Its draft is split into sentences;
each keeps only citation numbers that name a passage, and is removed unless its cited passages support
it (`rag.answer.support`). When too little survives, or the model fails, times out or declines, the extractive
answer is given instead, with a log line. With no passages there is no model call: the refusal comes
straight away. Imported only when a model is configured.
"""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate

from rag.answer import REFUSAL
from rag.answer.citations import markers, number_passages, renumber
from rag.answer.support import EncodeFn, Support, SupportChecker, claim_text, content_stems
from rag.config import ChatSetup
from rag.question.dates import publication_day
from rag.question.followups import resolve_followup
from rag.question.sentences import sentence_spans
from rag.question.words import stems
from rag.types import Answer, Passage

log = logging.getLogger(__name__)
OnPartial = Callable[[str], None]
_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL | re.IGNORECASE)
_MARKER_GROUP = re.compile(r"[\[【]\s*(?:passages?\s*)?(\d+(?:\s*(?:,|;|-|–|and)\s*\d+)*)\s*[\]】]", re.IGNORECASE)
_LEADING_MARKERS = re.compile(r"^(?:\s*\[\d+\])+")
_TAG = re.compile(r"<(/?\s*passages?\b)", re.IGNORECASE)
# Sentences about the prompt rather than the news ("The passage is about…", "the provided text does not…").
_META = re.compile(
    r"\bpassages?\b|\b(?:provided|given)\s+(?:texts?|context|information|articles?)\b"
    r"|\bthe\s+answer\s+(?:is|to\s+(?:the|your|this)\s+question)\b",
    re.IGNORECASE,
)
_REFUSAL_KEY = " ".join(REFUSAL.lower().split()[:5])  # "the indexed articles do not"


class Fallback(Protocol):
    """The answerer used when the model's answer cannot be given: the extractive one."""

    def answer(self, question: str, passages: Sequence[Passage]) -> Answer: ...


class ModelFailed(Exception):
    """The model gave nothing usable (error, time-out, empty or declined reply)."""


@dataclass(frozen=True)
class LLMConfig:
    """How many passages the model reads, how long it may take, and how much of its answer must survive."""

    passages: int = 6
    timeout: float = 60.0  # seconds for one answer, streaming included
    min_kept_share: float = 0.5  # fewer of the draft's sentences surviving than this → extractive answer


@dataclass(frozen=True)
class Sentence:
    """One sentence of a draft, as checked (`support` is None for a sentence about the passages themselves)."""

    text: str  # without markers
    cited: tuple[int, ...]  # the valid numbers the model gave it
    kept: tuple[int, ...]  # the numbers it keeps; empty when removed
    support: Support | None


def normalise_markers(text: str) -> str:
    """Citation forms small models write ([1, 2], [1-3], 【1】, [Passage 2]) as [1][2]… ; <think> blocks dropped."""

    def expand(m: re.Match[str]) -> str:
        numbers: list[int] = []
        for part in re.split(r"\s*(?:,|;|\band\b)\s*", m.group(1)):
            bounds = [int(x) for x in re.split(r"\s*[-–]\s*", part)]
            lo, hi = bounds[0], bounds[-1]
            numbers.extend(range(lo, hi + 1) if 0 <= hi - lo < 10 else bounds)
        return "".join(f"[{n}]" for n in numbers)

    return _MARKER_GROUP.sub(expand, _THINK.sub("", text)).strip()


def split_sentences(draft: str) -> list[str]:
    """Sentences of a draft; markers opening a sentence ("… positive. [1] Iran …") go back to the one before."""
    out: list[str] = []
    for s, e in sentence_spans(draft):
        sentence = draft[s:e]
        lead = _LEADING_MARKERS.match(sentence)
        if lead and out:
            out[-1] += " " + lead.group().strip()
            sentence = sentence[lead.end() :].strip()
        if sentence:
            out.append(sentence)
    return out


def is_refusal(sentence: str) -> bool:
    """True for the refusal sentence the prompt asks for (or its opening words)."""
    return _REFUSAL_KEY in " ".join(claim_text(sentence).lower().split())


def format_passages(numbered: dict[int, Passage]) -> str:
    """The passages as the model reads them: delimited, numbered data with their article's title and date."""
    blocks = []
    for n, p in numbered.items():
        c = p.chunk
        attrs = f'n="{n}" title="{html.escape(c.title)}"'
        if c.source:
            attrs += f' source="{html.escape(c.source)}"'
        if c.published:
            attrs += f' published="{html.escape(c.published[:10])}"'
        text = _TAG.sub(r"‹\1", c.text)  # a passage cannot close the quoting around it
        blocks.append(f"<passage {attrs}>\n{text}\n</passage>")
    return "\n\n".join(blocks)


def evidence_text(passage: Passage) -> str:
    """What a sentence citing the passage is checked against: its text, and its article's title, outlet and date."""
    c = passage.chunk
    when = ""
    if c.published:
        d = publication_day(c.published)
        when = f"{d.isoformat()} ({d:%B} {d.day}, {d.year})" if d else c.published
    head = "\n".join(x for x in (c.title, " ".join(x for x in (c.source, when) if x)) if x)
    return f"{head}\n\n{c.text}" if head else c.text


def reply_text(message: BaseMessage) -> str:
    """The text of a chat model's reply, or ModelFailed when the provider declined to answer."""
    refusal = message.additional_kwargs.get("refusal")
    if refusal:
        raise ModelFailed(f"the provider declined: {refusal}")
    if message.response_metadata.get("finish_reason") == "content_filter":
        raise ModelFailed("the provider's content filter stopped the reply")
    return message.text


class LLMAnswerer:
    """Asks a chat model for a cited answer and keeps only the sentences its citations support."""

    streams = True  # answer() takes on_partial: Pipeline.ask passes its callback through

    def __init__(
        self,
        model: BaseChatModel,
        prompt: ChatPromptTemplate,
        checker: SupportChecker,
        fallback: Fallback,
        config: LLMConfig | None = None,
    ) -> None:
        self.model = model
        self.prompt = prompt
        self.checker = checker
        self.fallback = fallback
        self.config = config or LLMConfig()

    def answer(self, question: str, passages: Sequence[Passage], on_partial: OnPartial | None = None) -> Answer:
        """A checked generated answer, the extractive one when the model's cannot stand, or the refusal.

        `on_partial(text)` (optional) receives the checked answer so far each time a streamed sentence
        survives the check; the returned Answer is final and may differ (e.g. the extractive one).
        """
        if not passages:
            return Answer(question=question, text=REFUSAL, refused=True)
        top = list(passages[: self.config.passages])
        numbered = number_passages(top)
        try:
            draft = self._draft(question, numbered, on_partial)
        except Exception as exc:  # any provider error (HTTP, time-out, parsing): the user still gets an answer
            log.warning("chat model failed (%s: %s); giving the extractive answer", type(exc).__name__, exc)
            return replace(self.fallback.answer(question, passages), stand_in=True)  # asked again, it may reply
        sentences = split_sentences(draft)
        if sentences and all(is_refusal(s) for s in sentences):
            log.info("chat model found no answer in %d passages; refusing", len(numbered))
            return Answer(question=question, text=REFUSAL, refused=True, passages=tuple(passages))
        checked = self.check(sentences, numbered, question)
        kept = [s for s in checked if s.kept]
        if not kept or len(kept) < self.config.min_kept_share * len(checked):
            log.warning(
                "chat model answer: %d of %d sentences supported by their passages; giving the extractive answer",
                len(kept),
                len(checked),
            )
            return self.fallback.answer(question, passages)
        text, citations = renumber(render(kept), numbered)
        return Answer(question=question, text=text, refused=False, citations=citations, passages=tuple(passages))

    def messages(self, question: str, numbered: dict[int, Passage]) -> list[BaseMessage]:
        """The prompt filled in: passages, question and, when the template asks for it, the refusal."""
        values = {"question": question, "passages": format_passages(numbered), "refusal": REFUSAL}
        return self.prompt.format_messages(**{k: v for k, v in values.items() if k in self.prompt.input_variables})

    def _draft(self, question: str, numbered: dict[int, Passage], on_partial: OnPartial | None) -> str:
        messages = self.messages(question, numbered)
        started = time.perf_counter()
        if on_partial is None:
            text = reply_text(self.model.invoke(messages))
        else:
            text = self._stream(messages, numbered, question, on_partial)
        draft = normalise_markers(text)
        log.info("chat model drafted %d characters in %.1f s", len(draft), time.perf_counter() - started)
        if not draft:
            raise ModelFailed("empty reply")
        return draft

    def _stream(
        self, messages: list[BaseMessage], numbered: dict[int, Passage], question: str, on_partial: OnPartial
    ) -> str:
        """The streamed reply; each sentence that completes and survives the check is passed on at once.

        The time limit counts the wait for the model, not the checking in between.
        """
        text, done, kept, waited = "", 0, [], 0.0
        chunks = iter(self.model.stream(messages))
        while True:
            before = time.perf_counter()
            chunk = next(chunks, None)
            waited += time.perf_counter() - before
            if waited > self.config.timeout:
                raise TimeoutError(f"no complete answer within {self.config.timeout:.0f} s")
            if chunk is None:
                break
            text += reply_text(chunk)
            sentences = split_sentences(normalise_markers(text))
            complete = len(sentences) - 1  # the last may still grow, or gain its markers
            if complete > done:
                fresh = [s for s in self.check(sentences[done:complete], numbered, question) if s.kept]
                done = complete
                if fresh:
                    kept.extend(fresh)
                    on_partial(renumber(render(kept), numbered)[0])
        return text

    def check(self, sentences: Sequence[str], numbered: dict[int, Passage], question: str = "") -> list[Sentence]:
        """Each sentence with the citation numbers it keeps (none: removed). Refusal sentences are left out.

        A kept sentence passes the support check against exactly the passages it keeps citing. Sentences
        about the passages themselves, and sentences that only repeat the question, are removed unchecked.
        """
        sentences = [s for s in sentences if not is_refusal(s) and claim_text(s)]
        asked = stems(question)
        about = [s for s in sentences if _META.search(claim_text(s)) or not (content_stems(claim_text(s)) - asked)]
        for sentence in about:
            log.info("removed (about the passages, or the question repeated): %r", claim_text(sentence)[:120])
        sentences = [s for s in sentences if s not in about]
        cited = [tuple(n for n in markers(s) if n in numbered) for s in sentences]
        # What to check against: the model's citations; for an uncited sentence, each passage alone.
        options = [[c] if c else [(n,) for n in numbered] for c in cited]
        picks = [_pick(o, s) for o, s in zip(options, self._score(sentences, options, numbered), strict=True)]
        # Markers whose passage shares too little of the sentence go, if the rest still supports it.
        trimmed = [self._trim(numbers, support) for numbers, support in picks]
        recheck = self._score(sentences, [[t] if t else [] for t in trimmed], numbered)
        out = []
        for sentence, numbers, (kept, support), trim, again in zip(
            sentences, cited, picks, trimmed, recheck, strict=True
        ):
            if trim and again[0].supported:
                kept, support = trim, again[0]
            out.append(Sentence(claim_text(sentence), numbers, kept if support.supported else (), support))
            log.info(
                "%s (overlap %.2f, similarity %.2f, missing %s, cited %s → %s): %r",
                "kept" if support.supported else "removed",
                support.overlap,
                support.similarity,
                list(support.missing),
                list(numbers),
                list(out[-1].kept),
                out[-1].text[:120],
            )
        return out + [Sentence(claim_text(s), (), (), None) for s in about]  # removed, but counted

    def _score(
        self, sentences: Sequence[str], options: Sequence[Sequence[tuple[int, ...]]], numbered: dict[int, Passage]
    ) -> list[list[Support]]:
        """For each sentence, its support by each of its options (sets of passage numbers), in one batch."""
        pairs = [
            (s, [evidence_text(numbered[n]) for n in o])
            for s, opts in zip(sentences, options, strict=True)
            for o in opts
        ]
        flat = iter(self.checker.check(pairs))
        return [[next(flat) for _ in opts] for opts in options]

    def _trim(self, numbers: tuple[int, ...], support: Support) -> tuple[int, ...] | None:
        """The cited numbers less those whose passage shares little of the sentence; None when nothing changes."""
        if not support.supported or len(numbers) < 2:
            return None
        useful = tuple(
            n
            for n, (overlap, _) in zip(numbers, support.each, strict=True)
            if overlap >= self.checker.config.min_marker_overlap
        )
        return useful if useful and useful != numbers else None


def _pick(options: Sequence[tuple[int, ...]], supports: Sequence[Support]) -> tuple[tuple[int, ...], Support]:
    """The best-supported option: a supported one first, then by word overlap and similarity."""
    best = max(range(len(options)), key=lambda i: (supports[i].supported, supports[i].overlap, supports[i].similarity))
    return options[best], supports[best]


def render(sentences: Sequence[Sentence]) -> str:
    """Kept sentences joined, each followed by its markers, as the extractive answerer writes them."""
    return " ".join(f"{s.text} " + "".join(f"[{n}]" for n in s.kept) for s in sentences)


class LLMCondenser:
    """Makes a follow-up standalone with the chat model, in the user's language; rule-based when it fails."""

    def __init__(
        self,
        model: BaseChatModel,
        prompt: ChatPromptTemplate,
        fallback: Callable[[str, list[str]], str] = resolve_followup,
        max_chars: int = 2000,
    ) -> None:
        self.model = model
        self.prompt = prompt
        self.fallback = fallback
        self.max_chars = max_chars

    def __call__(self, question: str, history: list[str]) -> str:
        """The standalone form of `question` given the earlier (standalone) questions; no call without history."""
        if not history:
            return question
        lines = "\n".join(f"{i}. {q}" for i, q in enumerate(history[-6:], start=1))
        try:
            reply = reply_text(self.model.invoke(self.prompt.format_messages(question=question, history=lines)))
            standalone = clean_condensed(reply)
        except Exception as exc:  # any provider error: the rule-based resolver still works
            log.warning("chat model could not condense (%s: %s); resolving by rule", type(exc).__name__, exc)
            return self.fallback(question, history)
        if standalone.casefold() == question.casefold():  # "already standalone": the rules may still see a pronoun
            return self.fallback(question, history)
        problem = condensing_problem(question, history, standalone, self.max_chars)
        if problem:
            log.warning("chat model condensed %r to %r (%s); resolving by rule", question, standalone, problem)
            return self.fallback(question, history)
        log.info("condensed %r → %r", question, standalone)
        return standalone


def condensing_problem(question: str, history: list[str], standalone: str, max_chars: int) -> str | None:
    """Why a condensed question cannot replace the user's, or None when it can."""
    if not standalone or len(standalone) > max_chars:
        return "empty or too long"
    if "?" in question and "?" not in standalone:
        return "not a question"
    if standalone.casefold() != question.casefold() and standalone.casefold() in {h.casefold() for h in history}:
        return "an earlier question repeated"
    own = stems(question)
    if own and len(own & stems(standalone)) < 0.5 * len(own):
        return "the follow-up's own words lost"
    return None


def clean_condensed(reply: str) -> str:
    """The first line of a condensing reply, without labels, quotes or list marks."""
    text = _THINK.sub("", reply).strip()
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = re.sub(r"^(?:standalone question|question|rewritten question)\s*:\s*", "", line, flags=re.IGNORECASE)
    line = re.sub(r"^\d+[.)]\s+", "", line.strip(" \t*-"))
    return line.strip(" \t\"'“”«»*-").strip()


def generative(chat: ChatSetup, encode: EncodeFn, extractive: Fallback) -> tuple[LLMAnswerer, LLMCondenser]:
    """The answerer and condenser of checked generative answers: the chat model drafts, the support checker (on
    `encode`) keeps what the passages support, and `extractive` stands in when the draft cannot. The prompts are
    loaded, and their placeholders checked, here: a broken template stops the start with the file named."""
    from rag.answer.prompts import load_prompts

    prompts = load_prompts(chat.prompts_dir)
    answerer = LLMAnswerer(
        chat.model, prompts.answer, SupportChecker(encode), extractive, LLMConfig(timeout=chat.timeout)
    )
    return answerer, LLMCondenser(chat.model, prompts.condense)
