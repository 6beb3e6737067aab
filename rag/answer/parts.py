"""Answering a question of several parts ("Did X say A, while Y reported B?"): a sentence for each part.

For each clause of the question (and the question as a whole) the passage of the top articles that covers it
best is found, within the outlets and dates the clause names, and its best sentence quoted; each outlet the
question names answers for itself. Refused when no part is covered well enough. Every candidate passage's
stems are held as integer ids (`rag.index.analysis.StemIds`), so a part's coverage of every candidate is a few
vector sums rather than a set intersection each.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from rag.answer import REFUSAL
from rag.answer.citations import renumber
from rag.answer.coverage import Weights
from rag.index.analysis import PassageAnalysis, Sentence
from rag.question.clauses import clauses
from rag.question.dates import named_dates, published_on
from rag.question.kinds import ASKING
from rag.question.outlets import named_sources, topic_words
from rag.question.words import stem, terms
from rag.types import Answer, Passage

if TYPE_CHECKING:
    from rag.answer.extractive import AnswerConfig


# Never assigned to once made; not frozen, since a frozen one takes ~3× as long to make (hundreds a question).
@dataclass(eq=False)
class _Candidate:
    """A passage of a top article, with the stems of its text (as `StemIds`) and (read when needed) its sentences."""

    passage: Passage
    order: int  # place in the retrieved passages
    doc_rank: int  # place of its article among the top articles
    stem_ids: np.ndarray
    index: int  # place in its pool
    analysis: PassageAnalysis

    @cached_property
    def sentences(self) -> tuple[Sentence, ...]:
        """(start, end, text, stems) of each sentence: read only for the passages that come close to winning."""
        return self.analysis.sentences(self.passage.chunk)


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


def _candidates(passages: Sequence[Passage], docs: list[str], analysis: PassageAnalysis) -> list[_Candidate]:
    """The distinct passages of the given articles, in order, as candidates (each chunk once)."""
    rank_of = {d: r for r, d in enumerate(docs)}
    seen: set[str] = set()
    out: list[_Candidate] = []
    for order, p in enumerate(passages):
        chunk = p.chunk
        rank = rank_of.get(chunk.doc_id)
        if rank is not None and chunk.chunk_id not in seen:
            seen.add(chunk.chunk_id)
            out.append(_Candidate(p, order, rank, analysis.stem_ids(chunk), len(out), analysis))
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

    def __init__(self, candidates: list[_Candidate], analysis: PassageAnalysis) -> None:
        self.candidates = candidates
        self.analysis = analysis
        held = [c.stem_ids for c in candidates]
        self._ids = np.concatenate(held) if held else np.zeros(0, dtype=np.int32)  # every candidate's stems
        self._owner = np.repeat(np.arange(len(held)), [len(h) for h in held])  # ... and whose each one is
        self._holding: dict[str, np.ndarray] = {}
        self._coverages: dict[int, tuple[Weights, np.ndarray]] = {}
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
            known = self.analysis.stem_id(term)
            if known is not None:
                got[self._owner[self._ids == known]] = True
        return got

    def weights(self, text: str) -> Weights:
        """Stemmed terms of `text` weighted by their rarity among the candidates."""
        n = len(self.candidates)
        ordered = dict.fromkeys(stem(w) for w in terms(ASKING.sub(" ", text)))
        return Weights((s, math.log(1 + n / (1 + int(np.count_nonzero(self.holding(s)))))) for s in ordered)

    def coverages(self, weights: Weights) -> np.ndarray:
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


class PartsAnswerer:
    """Answers a question of several parts, part by part, from the passages of the top articles."""

    def __init__(self, config: AnswerConfig, analysis: PassageAnalysis) -> None:
        self.config = config
        self.analysis = analysis

    def answer(self, question: str, passages: Sequence[Passage]) -> Answer:
        """A question of several parts: for each part (and the whole), the sentence of the passage of the top
        articles that covers it best, within the outlets and dates the part names; refused when no part is covered."""
        cfg = self.config
        docs = _first_docs(passages, cfg.part_docs)
        pool = _Pool(_candidates(passages, docs, self.analysis), self.analysis)
        sources = {c.passage.chunk.source for c in pool.candidates}
        picks: dict[tuple[str, int], tuple[_Candidate, str]] = {}  # (chunk id, sentence start) → quote
        named_all = named_sources(question, sources)
        whole = pool.weights(topic_words(question, sources))
        for part in [*clauses(question), question]:
            named = named_sources(part, sources) if part is not question else named_all
            weights = pool.weights(topic_words(part, sources)) if part is not question else whole
            if len(weights) < cfg.part_min_terms:  # "as reported by both X and Y": each outlet, on the whole question
                weights = whole if named else Weights()
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
        weights: Weights,
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
        self, allowed: Sequence[_Candidate], weights: Weights, coverages: np.ndarray
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

    def _part_fit(self, c: _Candidate, weights: Weights, coverage: float) -> float:
        """How well a passage (covering `coverage` of the part) answers one part: its coverage and its best
        sentence's, less its article's rank."""
        best_sentence = max((weights.coverage(s[3]) for s in c.sentences), default=0.0)
        cfg = self.config
        return coverage + cfg.part_sentence * best_sentence - cfg.part_doc_rank * c.doc_rank
