"""Does a passage support a sentence? Lexical overlap, names and numbers, and embedding similarity.

A generated sentence is supported by the passages it cites when
- its names and numbers (capitalised words inside the sentence, any token with a digit) all occur in them,
- enough of its content words occur in them (`overlap`: share of its stemmed content words), and
- it is close in meaning to some sentence, pair of sentences or whole passage among them (`similarity`: cosine).
Sentences of a passage that give a model instructions (prompt injections) are no evidence for anything.
The thresholds were calibrated on the seed questions (see docs/llm.md and benchmarks/calibrate_support.py).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rag.answer.citations import MARKER
from rag.question.sentences import sentence_spans
from rag.question.words import STOPWORDS, stem, terms, words

EncodeFn = Callable[[list[str]], Any]  # texts → unit vectors, one row a text
_TOKEN = re.compile(r"\w+", re.UNICODE)
_ANSWER_WORDS = frozenset({"yes"})  # "Yes, …": the verdict is not a fact the passage must contain
# Sentences that address the reader as a model ("ignore previous instructions", "you are now …"): an article
# quoting them may say they were written, but they support no claim.
_INSTRUCTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b[^.!?]{0,40}\b(?:instructions?|prompts?|rules|directions|guidelines)\b"
    r"|\byou\s+(?:are|act)\s+(?:now|no\s+longer)\b|\bsystem\s+prompt\b|\bnew\s+instructions?\b"
    r"|\b(?:AI|assistant|chatbot|language\s+model|LLM)s?\b[^.!?]{0,30}\b(?:must|should|shall)\s+(?:now\s+)?"
    r"(?:say|answer|reply|respond|tell|write|state)\b",
    re.IGNORECASE,
)
_CAPITALISED_RUN = re.compile(r"\b[A-Z][\w’'-]*(?:\s+(?:(?:of|the|and|for)\s+)?[A-Z][\w’'-]*)+")


@dataclass(frozen=True)
class SupportConfig:
    """Thresholds a sentence must meet against its cited passages."""

    min_overlap: float = 0.7  # calibrated: 0.65–0.75 is one plateau on the seed questions
    min_similarity: float = 0.28  # calibrated: a floor; terse true sentences score 0.28–0.45
    check_specifics: bool = True
    min_marker_overlap: float = 0.25  # a cited passage sharing less than this of the sentence's words loses its marker


@dataclass(frozen=True)
class Support:
    """How well some passages support one sentence."""

    overlap: float  # share of the sentence's content words found in the passages together
    similarity: float  # best cosine between the sentence and a unit (sentence, pair, whole) of one passage
    missing: tuple[str, ...]  # names and numbers of the sentence that no passage contains
    supported: bool
    each: tuple[tuple[float, float], ...] = ()  # (overlap, similarity) per passage, in the order given


def claim_text(sentence: str) -> str:
    """The sentence without its [n] markers."""
    return re.sub(r"\s+([.,;:!?])", r"\1", MARKER.sub("", sentence)).strip()


def content_stems(text: str) -> set[str]:
    """Stemmed content words of a claim (verdict words like "yes" left out)."""
    return {stem(w) for w in terms(text) if w not in _ANSWER_WORDS}


def specifics(text: str) -> list[str]:
    """Names and numbers of a sentence: tokens with a digit, capitalised words but the first."""
    out = []
    for i, m in enumerate(_TOKEN.finditer(text)):
        token = m.group()
        low = token.lower()
        if any(ch.isdigit() for ch in token) or (
            i > 0 and token[0].isupper() and low not in STOPWORDS and low not in _ANSWER_WORDS
        ):
            out.append(token)
    return list(dict.fromkeys(out))


def without_instructions(passage: str) -> str:
    """The passage less its sentences that give a model instructions (prompt injections)."""
    spans = sentence_spans(passage)
    if not any(_INSTRUCTION.search(passage[s:e]) for s, e in spans):
        return passage
    return "\n".join(passage[s:e] for s, e in spans if not _INSTRUCTION.search(passage[s:e]))


def units(passage: str) -> list[str]:
    """What a sentence is compared with: each sentence of the passage, each adjacent pair, and the whole."""
    spans = sentence_spans(passage)
    sentences = [passage[s:e] for s, e in spans]
    pairs = [passage[spans[i][0] : spans[i + 1][1]] for i in range(len(spans) - 1)]
    whole = [passage] if len(spans) > 2 else []
    return list(dict.fromkeys([*sentences, *pairs, *whole])) or [passage]


def acronyms(text: str) -> set[str]:
    """Initials of the capitalised runs of a text ("United Kingdom" → "uk"), so "UK" counts as named."""
    out: set[str] = set()
    for m in _CAPITALISED_RUN.finditer(text):
        initials = "".join(w[0] for w in m.group().split() if w[0].isupper()).lower()
        out.update(initials[i:j] for i in range(len(initials)) for j in range(i + 2, len(initials) + 1))
    return out


def _token(word: str) -> str:
    """A word as compared: lower-cased, numbers without leading zeros ("07" = "7")."""
    low = word.lower()
    return (low.lstrip("0") or "0") if low.isdigit() else low


def _overlap(claim: set[str], evidence: set[str]) -> float:
    return len(claim & evidence) / len(claim) if claim else 0.0


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    return float(sum(x * y for x, y in zip(a, b, strict=True)))  # the embedder returns unit vectors


class SupportChecker:
    """Scores sentences against passages, encoding everything of one call in one batch."""

    def __init__(self, encode: EncodeFn, config: SupportConfig | None = None, cache_size: int = 4096) -> None:
        self.encode = encode
        self.config = config or SupportConfig()
        self.cache_size = cache_size
        self._vectors: dict[str, Sequence[float]] = {}  # passage units seen before: a streamed answer rechecks them
        self._lock = threading.Lock()  # the Telegram bot answers in several threads

    def _encode_units(self, texts: list[str]) -> dict[str, Sequence[float]]:
        with self._lock:
            known = {t: self._vectors[t] for t in texts if t in self._vectors}
        fresh = [t for t in texts if t not in known]
        if fresh:
            new = dict(zip(fresh, self.encode(fresh), strict=True))
            with self._lock:
                if len(self._vectors) + len(new) > self.cache_size:
                    self._vectors.clear()
                self._vectors.update(new)
            known.update(new)
        return known

    def check(self, claims: Sequence[tuple[str, Sequence[str]]]) -> list[Support]:
        """For each (sentence, passages) pair, how well those passages support the sentence."""
        texts = [claim_text(sentence) for sentence, _ in claims]
        claims = [(sentence, [without_instructions(p) for p in passages]) for sentence, passages in claims]
        passage_units: dict[str, list[str]] = {}
        for _, passages in claims:
            for p in passages:
                passage_units.setdefault(p, units(p))
        unit_list = list(dict.fromkeys(u for us in passage_units.values() for u in us))
        vectors = self.encode(texts) if texts else []
        unit_vector = self._encode_units(unit_list) if texts else {}
        out = []
        for text, vector, (_, passages) in zip(texts, vectors, claims, strict=True):
            sims = [max(_cosine(vector, unit_vector[u]) for u in passage_units[p]) for p in passages]
            out.append(self._judge(text, passages, sims))
        return out

    def _judge(self, text: str, passages: Sequence[str], sims: list[float]) -> Support:
        cfg = self.config
        claim = content_stems(text)
        stems_each = [{stem(w) for w in words(p)} for p in passages]
        together = set().union(*stems_each) if stems_each else set()
        overlap = _overlap(claim, together)
        similarity = max(sims, default=0.0)
        known = {_token(w) for p in passages for w in words(p)} | together
        initials = {a for p in passages for a in acronyms(p)}
        missing = tuple(
            s
            for s in specifics(text)
            if _token(s) not in known and stem(_token(s)) not in known and not (s.isupper() and s.lower() in initials)
        )
        ok = (
            bool(passages)
            and bool(claim)
            and overlap >= cfg.min_overlap
            and similarity >= cfg.min_similarity
            and not (cfg.check_specifics and missing)
        )
        each = tuple((_overlap(claim, s), sim) for s, sim in zip(stems_each, sims, strict=True))
        return Support(overlap, similarity, missing, ok, each)
