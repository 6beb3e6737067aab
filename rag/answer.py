"""The extractive answerer: the sentences of the retrieved passages that answer, cited.

Every word of an answer (but the [n] markers) is quoted from an article; when no sentence
answers well enough the answer is the one refusal, `REFUSAL`, citing nothing.

A sentence answers when it covers enough of the question's content words (weighted by how rare
they are in the index and among the candidate sentences, so a name that every sentence repeats
counts less than the one word that singles the answer out) and, for a question that asks for a
kind of thing (a date, a number, a person, a name), when it holds such a thing (rag/kinds.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from functools import cached_property, lru_cache

import numpy as np

from rag.citations import number_passages, renumber
from rag.filters import FRAMING, clauses, is_compound, named_dates, named_sources, published_on, topic_words
from rag.kinds import ASKING, expectation, fits, parse_speaker, question_words
from rag.sentence_record import Sentence, decode_sentences, split_and_stem
from rag.terms import stem, stem_id, stem_ids, stems, terms
from rag.types import Answer, Chunk, Passage

REFUSAL = "The indexed articles do not say: I found nothing in them that answers this question."

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


@dataclass(frozen=True)
class _Sentence:
    rank: int  # passage rank
    start: int
    end: int
    text: str
    own: frozenset[str]  # stems of the sentence (and of the one before, when it opens with a pronoun)
    context: frozenset[str]  # stems of its passage and article title


# Never assigned to once made; not frozen, since a frozen one takes ~3× as long to make (hundreds a question).
@dataclass(eq=False)
class _Candidate:
    """A passage of a top article, with the stems of its text (as `rag.terms.stem_ids`) and (read when needed)
    of each of its sentences."""

    passage: Passage
    order: int  # place in the retrieved passages
    doc_rank: int  # place of its article among the top articles
    stem_ids: np.ndarray
    index: int  # place in its pool

    @classmethod
    def of(cls, p: Passage, order: int, doc_rank: int, index: int) -> _Candidate:
        known = p.chunk.stem_ids
        return cls(p, order, doc_rank, known if known is not None else _passage_stem_ids(p.chunk.text), index)

    @cached_property
    def sentences(self) -> tuple[Sentence, ...]:
        """(start, end, text, stems) of each sentence: read only for the passages that come close to winning."""
        return _sentences_of(self.passage.chunk)


def _sentences_of(chunk: Chunk) -> tuple[Sentence, ...]:
    """(start, end, text, stems) of each sentence of a passage: from the record its index stored, else split now."""
    return _read_or_split(chunk.text, chunk.start, chunk.stored_sentences)


@lru_cache(maxsize=8192)
def _read_or_split(text: str, offset: int, record: str | None) -> tuple[Sentence, ...]:
    """`_sentences_of` (cached: the passages of popular articles come back question after question)."""
    if record is not None:
        try:
            return decode_sentences(record, text, offset)
        except ValueError:  # not a record (a damaged row): split the text, as for a chunk without one
            pass
    return split_and_stem(text, offset, _sentence_stems)


@lru_cache(maxsize=16384)
def _passage_stem_ids(text: str) -> np.ndarray:
    """Stems of one passage the index holds none for, as `rag.terms.stem_ids` (cached like a sentence's)."""
    return stem_ids(list(stems(text)))


@lru_cache(maxsize=65536)
def _sentence_stems(text: str) -> frozenset[str]:
    """Stems of one sentence, or of a title (cached: popular articles come back question after question)."""
    return frozenset(stems(text))


@dataclass(frozen=True)
class _Scored:
    score: float
    support: float
    fits: bool  # holds the kind of thing the question asks for
    sentence: _Sentence
    said: bool = False  # quotes or reports the words of the speaker the question names


class _Weights(dict[str, float]):
    """Term weights of a part, in the question's order (so that sums come out the same every run), with the
    coverage of each set of stems they were asked about kept: a part's weights serve several outlets, and a
    passage's coverage is asked again when its fit is."""

    @cached_property
    def total(self) -> float:
        """The sum of the weights, added up once (in the same order, so to the same float, every time)."""
        return sum(self.values())

    @cached_property
    def _covered(self) -> dict[frozenset[str], float]:
        return {}

    def coverage(self, held: frozenset[str]) -> float:
        """The share of the weights whose terms `held` holds."""
        got = self._covered.get(held)
        if got is None:
            total = self.total
            got = self._covered[held] = sum(w for s, w in self.items() if s in held) / total if total else 0.0
        return got


def _weights(focus: str, idf: IdfFn | None, sentences: Sequence[_Sentence]) -> _Weights:
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
    return _Weights(weights)


def _ranked_only(passages: Sequence[Passage]) -> tuple[Passage, ...]:
    """The passages retrieval scored, and the first of each article: the unscored rest of an article
    (read for a question of several parts) need not travel with the answer."""
    firsts: set[str] = set()
    out = []
    for p in passages:
        doc = p.chunk.doc_id
        if p.score > 0 or doc not in firsts:
            out.append(p)
            firsts.add(doc)
    return tuple(out)


def _candidates(passages: Sequence[Passage], docs: list[str]) -> list[_Candidate]:
    """The distinct passages of the given articles, in order, as candidates (each chunk once)."""
    rank_of = {d: r for r, d in enumerate(docs)}
    seen: set[str] = set()
    out: list[_Candidate] = []
    for order, p in enumerate(passages):
        chunk = p.chunk
        rank = rank_of.get(chunk.doc_id)
        if rank is not None and chunk.chunk_id not in seen:
            seen.add(chunk.chunk_id)
            out.append(_Candidate.of(p, order, rank, len(out)))
    return out


def _first_docs(passages: Sequence[Passage], n: int) -> list[str]:
    """The first `n` distinct articles of the passages, in order (read no further than they are found)."""
    docs: dict[str, None] = {}
    for p in passages:
        if len(docs) >= n:
            break
        docs[p.chunk.doc_id] = None
    return list(docs)


class _Pool:
    """The candidate passages of a question of several parts, with which of them hold each term: asked once
    per term (the membership tests run in C), so a part's coverage of every candidate is a few vector sums."""

    def __init__(self, candidates: list[_Candidate]) -> None:
        self.candidates = candidates
        held = [c.stem_ids for c in candidates]
        self._ids = np.concatenate(held) if held else np.zeros(0, dtype=np.int32)  # every candidate's stems
        self._owner = np.repeat(np.arange(len(held)), [len(h) for h in held])  # ... and whose each one is
        self._holding: dict[str, np.ndarray] = {}
        self._coverages: dict[int, tuple[_Weights, np.ndarray]] = {}
        self._allowed: dict[tuple[tuple[str, ...], tuple[date, ...]], list[_Candidate]] = {}

    def allowed(self, outlets: Sequence[str], dates: Sequence[date]) -> list[_Candidate]:
        """The candidates of `outlets` (any when none), those published on `dates` when there are any."""
        key = (tuple(outlets), tuple(dates))
        got = self._allowed.get(key)
        if got is None:
            got = [c for c in self.candidates if c.passage.chunk.source in outlets] if outlets else self.candidates
            if dates:
                got = [c for c in got if published_on(c.passage.chunk, dates)] or got
            self._allowed[key] = got
        return got

    def holding(self, term: str) -> np.ndarray:
        """Which candidates hold the stem `term` (booleans, in pool order)."""
        got = self._holding.get(term)
        if got is None:
            got = self._holding[term] = np.zeros(len(self.candidates), dtype=bool)
            known = stem_id(term)
            if known is not None:
                got[self._owner[self._ids == known]] = True
        return got

    def weights(self, text: str) -> _Weights:
        """Stemmed terms of `text` weighted by their rarity among the candidates."""
        n = len(self.candidates)
        ordered = dict.fromkeys(stem(w) for w in terms(ASKING.sub(" ", text)))
        return _Weights((s, math.log(1 + n / (1 + int(np.count_nonzero(self.holding(s)))))) for s in ordered)

    def coverages(self, weights: _Weights) -> np.ndarray:
        """`weights.coverage(stems)` of every candidate's stems, to the same floats: each candidate's held weights
        added in the weights' order (adding 0.0 for a term it lacks changes no sum), then divided by the total."""
        kept = self._coverages.get(id(weights))
        if kept is None:
            total = weights.total
            sums = np.zeros(len(self.candidates))
            for term, weight in weights.items():
                sums += self.holding(term) * weight
            values = sums / total if total else sums
            kept = self._coverages[id(weights)] = (weights, values)  # the weights kept alive: their id stays theirs
        return kept[1]


def _span(chunk: Chunk, span: tuple[int, int]) -> str:
    return chunk.text[span[0] - chunk.start : span[1] - chunk.start]


def _is_person(speaker: str) -> bool:
    """A named speaker whose words an article would quote: "Putin", "Dedov" — not "a Beta Times article"."""
    return any(w[:1].isupper() for w in speaker.split()) and not _PUBLICATION.search(speaker)


def _is_heading(text: str) -> bool:
    """A subhead: short, and not ended like a sentence."""
    bare_text = text.strip("‘’“”\"' ")
    return len(text) <= 120 and bool(bare_text) and bare_text[-1] not in ".!?:;,"


class ExtractiveAnswerer:
    """Scores the sentences of the top passages against the question and quotes the best."""

    def __init__(self, config: AnswerConfig | None = None, idf: IdfFn | None = None) -> None:
        self.config = config or AnswerConfig()
        self.idf = idf

    def answer(self, question: str, passages: Sequence[Passage]) -> Answer:
        """An Answer quoting the best sentences with [n] markers, or the refusal."""
        if is_compound(question):
            return self._answer_parts(question, passages)
        top = passages[: self.config.passages]
        scored = self._score(question, top)
        fitting = [s for s in scored if s.fits]
        if self._refuses(scored, fitting):
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

    def _answer_parts(self, question: str, passages: Sequence[Passage]) -> Answer:
        """A question of several parts: for each part (and the whole), the sentence of the passage of the top
        articles that covers it best, within the outlets and dates the part names; refused when no part is covered."""
        cfg = self.config
        docs = _first_docs(passages, cfg.part_docs)
        pool = _Pool(_candidates(passages, docs))
        sources = {c.passage.chunk.source for c in pool.candidates}
        picks: dict[tuple[str, int], tuple[_Candidate, str]] = {}  # (chunk id, sentence start) → quote
        named_all = named_sources(question, sources)
        whole = pool.weights(topic_words(question, sources))
        for part in [*clauses(question), question]:
            named = named_sources(part, sources) if part is not question else named_all
            weights = pool.weights(topic_words(part, sources)) if part is not question else whole
            if len(weights) < cfg.part_min_terms:  # "as reported by both X and Y": each outlet, on the whole question
                weights = whole if named else _Weights()
            outlets: list[tuple[str, ...]] = [(o,) for o in named] or [()]
            dates = named_dates(part)
            for only in outlets:  # each outlet the part names answers it for itself
                self._pick(pool, weights, only, dates, picks)
        cited = {c.passage.chunk.source for c, _ in picks.values()}
        for outlet in named_all:  # an outlet the question names and no part cited yet
            if outlet not in cited:
                self._pick(pool, whole, (outlet,), named_dates(question), picks)
        ranked = _ranked_only(passages)
        if not picks:
            return Answer(question=question, text=REFUSAL, refused=True, passages=ranked)
        # The pool holds each chunk once, so its n-th candidate is the one number_passages(pool) would number n.
        numbered = {c.index + 1: c.passage for c, _ in picks.values()}
        text = " ".join(f"{quote} [{c.index + 1}]" for c, quote in picks.values())
        text, citations = renumber(text, numbered)
        return Answer(question=question, text=text, refused=False, citations=citations, passages=ranked)

    def _pick(
        self,
        pool: _Pool,
        weights: _Weights,
        outlets: Sequence[str],
        dates: Sequence[date],
        picks: dict[tuple[str, int], tuple[_Candidate, str]],
    ) -> None:
        """Add to `picks` the sentence of the passage (of `outlets`, published on `dates` where any is) that
        covers `weights` best, when it covers enough of them."""
        cfg = self.config
        allowed = pool.allowed(outlets, dates)
        if not allowed or len(weights) < cfg.part_min_terms:
            return
        coverage, best = self._best_fit(allowed, weights, pool.coverages(weights))
        if coverage < cfg.part_min_support:
            return
        start, _, text, _ = max(best.sentences, key=lambda s: weights.coverage(s[3]))
        picks.setdefault((best.passage.chunk.chunk_id, start), (best, text))

    def _best_fit(
        self, allowed: Sequence[_Candidate], weights: _Weights, coverages: np.ndarray
    ) -> tuple[float, _Candidate]:
        """(coverage, candidate) of the candidate of highest `_part_fit` (the earlier on a tie), reading sentences
        only where they can matter: a sentence covers no more than its passage, so a passage covering `c` fits at
        most (1 + part_sentence)·c, and the passages after that bound falls below the best fit so far are
        skipped. `coverages[c.index]` is how much of `weights` candidate c covers."""
        covered = coverages[[c.index for c in allowed]]
        best: tuple[float, int] | None = None
        winner = (0.0, allowed[0])
        for i in np.argsort(-covered, kind="stable").tolist():  # most covered first, in pool order on a tie
            coverage, c = float(covered[i]), allowed[i]
            if best is not None and (1 + self.config.part_sentence) * coverage < best[0]:
                break
            key = (self._part_fit(c, weights, coverage), -c.order)
            if best is None or key > best:
                best, winner = key, (coverage, c)
        return winner

    def _part_fit(self, c: _Candidate, weights: _Weights, coverage: float) -> float:
        """How well a passage (covering `coverage` of the part) answers one part: its coverage and its best
        sentence's, less its article's rank."""
        best_sentence = max((weights.coverage(s[3]) for s in c.sentences), default=0.0)
        cfg = self.config
        return coverage + cfg.part_sentence * best_sentence - cfg.part_doc_rank * c.doc_rank

    def _refuses(self, scored: list[_Scored], fitting: list[_Scored]) -> bool:
        """Refuse when no fitting sentence covers enough of the question, or when the sentences that
        cover it best lack what it asks for and the fitting ones are far behind them."""
        if not fitting:
            return True
        best_fit = max(s.support for s in fitting)
        best_unfit = max((s.support for s in scored if not s.fits), default=0.0)
        return best_fit < max(self.config.min_support, self.config.unfit_ratio * best_unfit)

    def _sentences(self, passages: Sequence[Passage]) -> list[_Sentence]:
        """The distinct sentences of the passages, each with its own and its context's stems."""
        seen: set[tuple[str, int]] = set()
        out = []
        for rank, p in enumerate(passages):
            chunk = p.chunk
            held_by_text = set(chunk.stored_stems.split()) if chunk.stored_stems is not None else stems(chunk.text)
            context = frozenset(held_by_text | _sentence_stems(chunk.title))
            before: frozenset[str] = frozenset()
            for start, end, text, own in _sentences_of(chunk):  # split and stemmed once a passage (at ingest)
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
            bonus = said - (0.1 if _is_heading(s.text) else 0.0)
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


def idf_from_counts(df: dict[str, int], total: int) -> dict[str, float]:
    """BM25's IDF for each word: rare words weigh more, words in every chunk weigh little."""
    return {w: math.log(1 + (total - n + 0.5) / (n + 0.5)) for w, n in df.items()}
