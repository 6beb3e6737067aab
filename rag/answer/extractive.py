"""The extractive answerer: the sentences of the retrieved passages that answer, cited.

Every word of an answer (but the [n] markers) is quoted from an article; when no sentence
answers well enough the answer is the one refusal, `REFUSAL`, citing nothing.

A sentence answers when it covers enough of the question's content words (weighted by how rare
they are in the index and among the candidate sentences, so a name that every sentence repeats
counts less than the one word that singles the answer out) and, for a question that asks for a
kind of thing (a date, a number, a person, a name), when it holds such a thing (`rag.question.kinds`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from rag.answer import REFUSAL
from rag.answer.citations import number_passages, renumber
from rag.answer.coverage import Weights
from rag.answer.parts import PartsAnswerer
from rag.index.analysis import PassageAnalysis, sentence_stems
from rag.question.clauses import is_compound
from rag.question.kinds import ASKING, expectation, fits, parse_speaker, question_words
from rag.question.sentences import is_heading
from rag.question.words import FRAMING, stem, stems, terms
from rag.types import Answer, Passage

_QUOTE_MARKS = '“”"«»'
_SPEECH_VERBS = re.compile(
    r"\b(?:said|says|added|stressed|noted|told|emphasi[sz]ed|described|insisted|warned|explained|argued|"
    r"claimed|according to|reiterated|highlighted|wrote|asked)\b",
    re.IGNORECASE,
)
_SPEAKER_PRONOUN = re.compile(
    r"\b(?:he|she)\s+(?:said|says|added|stressed|noted|told|emphasi[sz]ed|insisted|warned)\b", re.I
)
# What says things in news without being quoted: "what did a Beta Times article say".
_PUBLICATION = re.compile(
    r"\b(?:article|report|story|piece|post|blog|column|editorial|coverage|outlet|newspaper|magazine|site|website"
    r"|paper|news|press|headline|statement|document|treaty|agreement|resolution|law|study|survey)s?\b",
    re.IGNORECASE,
)
_PRONOUN_START = re.compile(r"^[“\"‘']?(?:he|she|they|it|this|these|that|his|her|their|its)\b", re.IGNORECASE)
IdfFn = Callable[[Sequence[str]], dict[str, float]]
ReadFn = Callable[[str, Sequence[str]], list[float]]  # (question, sentences) → how well each answers, 0–1


@dataclass(frozen=True)
class AnswerConfig:
    """Knobs of sentence selection and of the refusal."""

    passages: int = 6  # read sentences from this many top passages
    max_sentences: int = 3
    keep_ratio: float = 0.8  # a further sentence of a passage already cited needs this share of the best score
    other_passage_ratio: float = 0.9  # ... and of a passage not yet cited, this share
    min_support: float = 0.25  # refuse when the best fitting sentence covers less of the question than this
    unfit_ratio: float = 0.6  # ... or less than this share of what the best sentence lacking the answer covers
    quote_bonus: float = 0.25
    part_docs: int = 10  # a question of several parts is answered from the passages of this many top articles
    part_min_support: float = 0.25  # a part is answered only by a passage covering this much of it
    part_min_terms: int = 3  # ... and only a part with this many words of its own (outlets and framing aside)
    part_sentence: float = 0.5  # weight of a passage's best sentence beside the passage as a whole
    part_doc_rank: float = 0.01  # taken off per place its article stands below the first
    own_weight: float = 0.75  # support = own · coverage by the sentence + (1 − own) · by its passage and title
    # The trained reader (rag.answer.reader), when the answerer has one: it scores the best few fitting sentences.
    # The defaults: the blend alone, the setting that helped on SQuAD dev without answering an unanswerable seed
    # question (docs/reader.md).
    reader_candidates: int = 5  # how many of the best fitting sentences it reads
    reader_refuse: float = 0.0  # refuse when none of them scores this much (0: the reader never refuses)
    reader_accept: float = 1.01  # answer a question the lexical scores refuse when one scores this much (>1: never)
    reader_weight: float = 1.0  # added to a sentence's score, times its reader score (0: the reader picks nothing)


@dataclass(frozen=True)
class _Sentence:
    rank: int  # passage rank
    start: int
    end: int
    text: str
    own: frozenset[str]  # stems of the sentence (and of the one before, when it opens with a pronoun)
    context: frozenset[str]  # stems of its passage and article title


@dataclass(frozen=True)
class _Scored:
    score: float
    support: float
    fits: bool  # holds the kind of thing the question asks for
    sentence: _Sentence
    said: bool = False  # quotes or reports the words of the speaker the question names


def _weights(focus: str, idf: IdfFn | None, sentences: Sequence[_Sentence]) -> Weights:
    """Stemmed focus terms weighted by IDF in the index times their rarity among the candidate sentences."""
    words = [w for w in dict.fromkeys(terms(ASKING.sub(" ", focus))) if w not in FRAMING]
    known = idf(words) if idf else {}
    weights: dict[str, float] = {}
    for w in words:
        s = stem(w)
        weights[s] = max(weights.get(s, 0.0), known.get(w, 1.0))
    n = len(sentences)
    for s in weights:
        df = sum(1 for c in sentences if s in c.own)
        if df and n > 1:
            weights[s] *= math.log(1 + n / df) / math.log(1 + n)
    return Weights(weights)


def _is_person(speaker: str) -> bool:
    """A named speaker whose words an article would quote: "Putin", "Dedov" — not "a Beta Times article"."""
    return any(w[:1].isupper() for w in speaker.split()) and not _PUBLICATION.search(speaker)


class ExtractiveAnswerer:
    """Scores the sentences of the top passages against the question and quotes the best."""

    def __init__(
        self,
        config: AnswerConfig | None = None,
        idf: IdfFn | None = None,
        analysis: PassageAnalysis | None = None,
        reader: ReadFn | None = None,
    ) -> None:
        self.config = config or AnswerConfig()
        self.reader = reader  # the trained reader's scores (None: lexical scores alone)
        self.idf = idf  # the index's IDF of question words (None: every word weighs 1)
        self.analysis = analysis or PassageAnalysis()  # the passages' stems and sentences, as the index stored them
        self.parts = PartsAnswerer(self.config, self.analysis)

    def answer(self, question: str, passages: Sequence[Passage]) -> Answer:
        """An Answer quoting the best sentences with [n] markers, or the refusal."""
        if is_compound(question):
            return self.parts.answer(question, passages)
        top = passages[: self.config.passages]
        scored = self._score(question, top)
        fitting = [s for s in scored if s.fits]
        refused = self._refuses(scored, fitting)
        if self.reader is not None and scored:
            # refused on lexical scores: the reader may still find the answer among all the best sentences
            fitting, refused = self._read(question, scored if refused else fitting, refused)
        if refused:
            return Answer(question=question, text=REFUSAL, refused=True, passages=tuple(passages))
        chosen = self._choose(fitting)
        numbered = number_passages(top)
        number_of = {p.chunk.chunk_id: n for n, p in numbered.items()}
        parts: list[str] = []
        previous_rank: int | None = None
        for s in chosen:
            n = number_of[top[s.rank].chunk.chunk_id]
            if previous_rank == s.rank and parts:
                parts[-1] = parts[-1][: -len(f" [{n}]")]  # same passage, next sentence: one marker at the end
            parts.append(f"{s.text} [{n}]")
            previous_rank = s.rank
        text, citations = renumber(" ".join(parts), numbered)
        return Answer(question=question, text=text, refused=False, citations=citations, passages=tuple(passages))

    def _refuses(self, scored: list[_Scored], fitting: list[_Scored]) -> bool:
        """Refuse when no fitting sentence covers enough of the question, or when the sentences that
        cover it best lack what it asks for and the fitting ones are far behind them."""
        if not fitting:
            return True
        best_fit = max(s.support for s in fitting)
        best_unfit = max((s.support for s in scored if not s.fits), default=0.0)
        return best_fit < max(self.config.min_support, self.config.unfit_ratio * best_unfit)

    def _read(self, question: str, fitting: list[_Scored], refused: bool) -> tuple[list[_Scored], bool]:
        """The reader's say on the best few sentences (the fitting ones; all of them when the lexical scores
        refused): refuse when none answers, answer when one clearly does though the lexical scores refused, and add
        its score (weighted) to theirs."""
        cfg = self.config
        if not refused and cfg.reader_refuse <= 0 and cfg.reader_weight <= 0:
            return fitting, refused
        if refused and cfg.reader_accept > 1:
            return fitting, refused
        assert self.reader is not None
        top = fitting[: cfg.reader_candidates]
        read = self.reader(question, [s.sentence.text for s in top])
        best = max(read)
        if refused:  # answered by the one sentence the reader scores best, if it scores well enough
            return [top[read.index(best)]], best < cfg.reader_accept
        refused = best < cfg.reader_refuse
        if cfg.reader_weight > 0:
            top = [replace(s, score=s.score + cfg.reader_weight * r) for s, r in zip(top, read, strict=True)]
            fitting = sorted(top, key=lambda x: -x.score) + fitting[len(top) :]
        return fitting, refused

    def _sentences(self, passages: Sequence[Passage]) -> list[_Sentence]:
        """The distinct sentences of the passages, each with its own and its context's stems."""
        seen: set[tuple[str, int]] = set()
        out = []
        for rank, p in enumerate(passages):
            chunk = p.chunk
            context = frozenset(self.analysis.stems(chunk) | sentence_stems(chunk.title))
            before: frozenset[str] = frozenset()
            for start, end, text, own in self.analysis.sentences(chunk):  # split and stemmed once a passage (at ingest)
                held = own | before if _PRONOUN_START.match(text) else own
                before = own
                if (chunk.doc_id, start) not in seen:
                    seen.add((chunk.doc_id, start))
                    out.append(_Sentence(rank, start, end, text, held, context))
        return out

    def _score(self, question: str, passages: Sequence[Passage]) -> list[_Scored]:
        cfg = self.config
        sentences = self._sentences(passages)
        speaker = parse_speaker(question)
        weights = _weights(speaker[1] if speaker and speaker[1] else question, self.idf, sentences)
        speaker_stems = stems(speaker[0]) if speaker else set()
        named = speaker is not None and _is_person(speaker[0])
        expect = expectation(question)
        role = frozenset(expect.role)  # "of China, not of Russia": every word of the role in sentence or passage
        known = question_words(question)
        out = []
        for s in sentences:
            p = passages[s.rank]
            support = cfg.own_weight * weights.coverage(s.own) + (1 - cfg.own_weight) * weights.coverage(s.context)
            prior = 0.15 * (p.dense if p.dense is not None else 0.0) - 0.02 * s.rank
            said = self._speaker_bonus(s, speaker_stems)
            bonus = said - (0.1 if is_heading(s.text) else 0.0)
            fit = fits(s.text, expect, known) and (not role or role <= s.own | s.context)
            out.append(_Scored(support + prior + bonus, support, fit, s, said > 0))
        if named and not any(x.said for x in out):  # what Putin said, where nothing is quoted from him
            out = [replace(x, fits=False) for x in out]
        out.sort(key=lambda x: -x.score)
        return out

    def _speaker_bonus(self, s: _Sentence, speaker: set[str]) -> float:
        """Favour the speaker's own words: quoted, or attributed with a speech verb."""
        if not speaker or not (speaker & s.context):
            return 0.0
        quoted = any(q in s.text for q in _QUOTE_MARKS)
        told = bool(speaker & s.own) or bool(_SPEAKER_PRONOUN.search(s.text))  # "Russia, he noted, has …"
        attributed = bool(_SPEECH_VERBS.search(s.text)) and told
        return self.config.quote_bonus if (quoted or attributed) else 0.0

    def _choose(self, scored: list[_Scored]) -> list[_Sentence]:
        """The best sentence and the close runners-up, in reading order within each passage."""
        cfg = self.config
        best = scored[0]
        chosen = [best]
        for s in scored[1:]:
            if len(chosen) >= cfg.max_sentences:
                break
            ratio = (
                cfg.keep_ratio if any(c.sentence.rank == s.sentence.rank for c in chosen) else cfg.other_passage_ratio
            )
            if s.score >= ratio * best.score and s.support >= cfg.min_support:
                chosen.append(s)
        order = {c.sentence.rank: i for i, c in reversed(list(enumerate(chosen)))}
        return sorted((c.sentence for c in chosen), key=lambda s: (order[s.rank], s.start))
