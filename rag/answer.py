"""The extractive answerer: the sentences of the retrieved passages that answer, cited.

Every word of an answer (but the [n] markers) is quoted from an article; when no sentence
answers well enough the answer is the one refusal, `REFUSAL`, citing nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag.citations import number_passages, renumber
from rag.sentences import sentence_spans
from rag.terms import stem, terms
from rag.types import Answer, Passage

REFUSAL = "The indexed articles do not say: I found nothing in them that answers this question."

_SPEAKER_QUESTION = re.compile(
    r"\bwhat\s+(?:did|does|do|has|have|had)\s+(?P<who>.+?)\s+"
    r"(?:say|said|tell|told|think|thought|mean|claim|argue|write|stress|add|describe|call|announce)\b"
    r"(?:\s+(?:about|on|of|regarding|concerning)\s+(?P<topic>.+))?",
    re.IGNORECASE,
)
_QUOTE_MARKS = '“”"«»'
_SPEECH_VERBS = re.compile(
    r"\b(?:said|says|added|stressed|noted|told|emphasi[sz]ed|described|insisted|warned|explained|argued|"
    r"claimed|according to|reiterated|highlighted|wrote|asked)\b",
    re.IGNORECASE,
)
IdfFn = Callable[[Sequence[str]], dict[str, float]]


@dataclass(frozen=True)
class AnswerConfig:
    """Knobs of sentence selection and of the refusal."""

    passages: int = 6  # read sentences from this many top passages
    max_sentences: int = 3
    keep_ratio: float = 0.75  # a further sentence needs this share of the best sentence's score
    min_support: float = 0.5  # refuse when the best sentence covers less of the question than this
    quote_bonus: float = 0.25


@dataclass(frozen=True)
class _Scored:
    score: float
    support: float
    rank: int  # passage rank
    start: int
    end: int
    text: str


def parse_speaker(question: str) -> tuple[str, str] | None:
    """(speaker, topic) of a "what did X say about Y" question, else None."""
    m = _SPEAKER_QUESTION.search(question)
    if not m:
        return None
    return m["who"].strip(), (m["topic"] or "").strip(" ?.!")


def _weights(question: str, idf: IdfFn | None) -> dict[str, float]:
    """Stemmed question terms with their weights (IDF when known, else 1)."""
    words = list(dict.fromkeys(terms(question)))
    known = idf(words) if idf else {}
    weights: dict[str, float] = {}
    for w in words:
        s = stem(w)
        weights[s] = max(weights.get(s, 0.0), known.get(w, 1.0))
    return weights


def _coverage(weights: dict[str, float], text_stems: set[str]) -> float:
    total = sum(weights.values())
    return sum(w for s, w in weights.items() if s in text_stems) / total if total else 0.0


def _stems_of(text: str) -> set[str]:
    return {stem(w) for w in terms(text)}


class ExtractiveAnswerer:
    """Scores the sentences of the top passages against the question and quotes the best."""

    def __init__(self, config: AnswerConfig | None = None, idf: IdfFn | None = None) -> None:
        self.config = config or AnswerConfig()
        self.idf = idf

    def answer(self, question: str, passages: Sequence[Passage]) -> Answer:
        """An Answer quoting the best sentences with [n] markers, or the refusal."""
        scored = self._score(question, passages[: self.config.passages])
        if not scored or scored[0].support < self.config.min_support:
            return Answer(question=question, text=REFUSAL, refused=True, passages=tuple(passages))
        chosen = self._choose(scored)
        top = passages[: self.config.passages]
        numbered = number_passages(top)
        number_of = {p.chunk.chunk_id: n for n, p in numbered.items()}
        parts: list[str] = []
        previous: tuple[int, int] | None = None  # (passage rank, end) of the sentence before
        for s in chosen:
            n = number_of[top[s.rank].chunk.chunk_id]
            if previous and previous[0] == s.rank and parts:
                parts[-1] = parts[-1][: -len(f" [{n}]")]  # same passage, next sentence: one marker at the end
            parts.append(f"{s.text} [{n}]")
            previous = (s.rank, s.end)
        text, citations = renumber(" ".join(parts), numbered)
        return Answer(question=question, text=text, refused=False, citations=citations, passages=tuple(passages))

    def _score(self, question: str, passages: Sequence[Passage]) -> list[_Scored]:
        speaker = parse_speaker(question)
        focus = speaker[1] if speaker and speaker[1] else question
        weights = _weights(focus, self.idf)
        speaker_stems = _stems_of(speaker[0]) if speaker else set()
        seen: set[tuple[str, int]] = set()
        out = []
        for rank, p in enumerate(passages):
            chunk = p.chunk
            context = _stems_of(chunk.text)
            prior = 0.15 * (p.dense if p.dense is not None else 0.0) - 0.02 * rank
            for start, end in sentence_spans(chunk.text, offset=chunk.start):
                if (chunk.doc_id, start) in seen:
                    continue
                seen.add((chunk.doc_id, start))
                text = chunk.text[start - chunk.start : end - chunk.start]
                own = _stems_of(text)
                support = 0.8 * _coverage(weights, own) + 0.2 * _coverage(weights, context)
                score = support + prior + self._speaker_bonus(text, speaker_stems, context)
                out.append(_Scored(score, support, rank, start, end, text))
        out.sort(key=lambda s: -s.score)
        return out

    def _speaker_bonus(self, text: str, speaker: set[str], context: set[str]) -> float:
        """Favour the speaker's own words: quoted, or attributed with a speech verb."""
        if not speaker or not (speaker & context):
            return 0.0
        quoted = any(q in text for q in _QUOTE_MARKS)
        attributed = bool(_SPEECH_VERBS.search(text)) and bool(speaker & _stems_of(text))
        return self.config.quote_bonus if (quoted or attributed) else 0.0

    def _choose(self, scored: list[_Scored]) -> list[_Scored]:
        """The best sentence and the close runners-up, in reading order within each passage."""
        best = scored[0]
        chosen = [best]
        for s in scored[1:]:
            if len(chosen) >= self.config.max_sentences:
                break
            if s.score >= self.config.keep_ratio * best.score and s.support >= self.config.min_support:
                chosen.append(s)
        order = {s.rank: i for i, s in reversed(list(enumerate(chosen)))}
        return sorted(chosen, key=lambda s: (order[s.rank], s.start))


def idf_from_counts(df: dict[str, int], total: int) -> dict[str, float]:
    """BM25's IDF for each word: rare words weigh more, words in every chunk weigh little."""
    return {w: math.log(1 + (total - n + 0.5) / (n + 0.5)) for w, n in df.items()}
