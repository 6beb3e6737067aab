"""Answer-quality metrics: pure functions over questions with gold evidence and what a system said.

A question carries its gold articles and gold evidence strings; a response is what `ask --jsonl`
returns for it (refused or not, cited passages, retrieved doc ids, latency). Scores are per
question; `summarise` averages them per question kind and overall.

- doc recall@k: share of the gold articles among the first k distinct retrieved doc ids;
- evidence recall: share of the gold evidence strings found inside one cited passage (a refusal
  cites nothing, so it scores 0 on an answerable question);
- citation precision: share of the cited passages that contain some gold evidence (answered,
  answerable questions only);
- refusal: unanswerable questions refused, answerable ones wrongly refused;
- latency p50 / p95.

Text is compared after normalising whitespace and quote characters only.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from rag.errors import NewsbotError

OVERALL = "overall"
_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'", "‚": "'", "′": "'"})


@dataclass(frozen=True)
class EvalQuestion:
    """One question of an evaluation set, with what a right answer must cite."""

    id: str
    question: str
    kind: str
    answerable: bool
    gold_doc_ids: tuple[str, ...] = ()
    gold_evidence: tuple[str, ...] = ()
    history: tuple[str, ...] = ()


@dataclass(frozen=True)
class Response:
    """What a system said to a question: the fields of an `ask --jsonl` answer line that scoring reads."""

    refused: bool
    cited: tuple[str, ...] = ()  # the cited passages' text
    retrieved: tuple[str, ...] = ()  # distinct doc ids, best first
    latency_ms: float = 0.0

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Response:
        """A response from one `ask --jsonl` output line."""
        return cls(
            refused=bool(record["refused"]),
            cited=tuple(c["text"] for c in record.get("citations", [])),
            retrieved=tuple(record.get("retrieved", [])),
            latency_ms=float(record.get("latency_ms", 0.0)),
        )


@dataclass(frozen=True)
class Score:
    """The metrics of one question; None where a metric does not apply to it."""

    id: str
    kind: str
    answerable: bool
    refused: bool
    followup: bool
    doc_recall: float | None
    evidence_recall: float | None
    citation_precision: float | None
    latency_ms: float


@dataclass(frozen=True)
class Summary:
    """Metrics averaged over a group of questions (None when no question of the group applies)."""

    n: int
    doc_recall: float | None = None
    evidence_recall: float | None = None
    citation_precision: float | None = None
    unanswerable_refused: float | None = None  # share of unanswerable questions refused
    answerable_refused: float | None = None  # share of answerable questions refused
    followups_resolved: float | None = None  # share of follow-ups citing all their evidence
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    counts: dict[str, int] = field(default_factory=dict)


def normalise(text: str) -> str:
    """Text with curly quotes made straight and whitespace runs made one space."""
    return re.sub(r"\s+", " ", text.translate(_QUOTES)).strip()


def doc_recall_at_k(gold: Sequence[str], retrieved: Sequence[str], k: int) -> float | None:
    """Share of the gold doc ids among the first k distinct retrieved ones; None without gold."""
    wanted = set(gold)
    if not wanted:
        return None
    top = list(dict.fromkeys(retrieved))[:k]
    return len(wanted.intersection(top)) / len(wanted)


def evidence_recall(evidence: Sequence[str], cited: Sequence[str]) -> float | None:
    """Share of the evidence strings contained in some cited passage; None without evidence."""
    if not evidence:
        return None
    passages = [normalise(c) for c in cited]
    found = sum(1 for e in evidence if any(normalise(e) in p for p in passages))
    return found / len(evidence)


def citation_precision(cited: Sequence[str], evidence: Sequence[str]) -> float | None:
    """Share of the cited passages containing some evidence string; None when nothing is cited or known."""
    if not cited or not evidence:
        return None
    needles = [normalise(e) for e in evidence]
    good = sum(1 for c in cited if any(n in normalise(c) for n in needles))
    return good / len(cited)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0–100) by linear interpolation between closest ranks; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def score(question: EvalQuestion, response: Response, k: int) -> Score:
    """The metrics of one answered question."""
    evidence = question.gold_evidence if question.answerable else ()
    cited = () if response.refused else response.cited
    return Score(
        id=question.id,
        kind=question.kind,
        answerable=question.answerable,
        refused=response.refused,
        followup=bool(question.history),
        doc_recall=doc_recall_at_k(question.gold_doc_ids, response.retrieved, k),
        evidence_recall=evidence_recall(evidence, cited),
        citation_precision=citation_precision(cited, evidence),
        latency_ms=response.latency_ms,
    )


def _mean(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _share(flags: Sequence[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def summary_of(scores: Sequence[Score]) -> Summary:
    """Averages of one group of scores."""
    answerable = [s for s in scores if s.answerable]
    unanswerable = [s for s in scores if not s.answerable]
    followups = [s for s in answerable if s.followup and s.evidence_recall is not None]
    latencies = [s.latency_ms for s in scores]
    return Summary(
        n=len(scores),
        doc_recall=_mean(s.doc_recall for s in scores),
        evidence_recall=_mean(s.evidence_recall for s in answerable),
        citation_precision=_mean(s.citation_precision for s in answerable),
        unanswerable_refused=_share([s.refused for s in unanswerable]),
        answerable_refused=_share([s.refused for s in answerable]),
        followups_resolved=_share([s.evidence_recall == 1.0 for s in followups]),
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
        counts={"answerable": len(answerable), "unanswerable": len(unanswerable), "followups": len(followups)},
    )


def summarise(scores: Sequence[Score]) -> dict[str, Summary]:
    """A summary per question kind (sorted by name) and one for all questions, under OVERALL."""
    kinds = sorted({s.kind for s in scores})
    out = {kind: summary_of([s for s in scores if s.kind == kind]) for kind in kinds}
    out[OVERALL] = summary_of(scores)
    return out


def summary_dict(summary: Summary) -> dict[str, Any]:
    """A summary as plain JSON-ready values, rounded for reading."""
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(summary).items()}


# --- question files ---------------------------------------------------------------------------
def question_from_record(record: Mapping[str, Any], number: int) -> EvalQuestion:
    """An EvalQuestion from one JSON object of a question file (seed or MultiHop-RAG shape)."""
    if not isinstance(record, Mapping) or not isinstance(record.get("question"), str):
        raise NewsbotError(f'question line {number}: expected {{"id": ..., "question": "..."}}')
    evidence = record.get("gold_evidence") or []
    answerable = record.get("answerable")
    return EvalQuestion(
        id=str(record.get("id", number)),
        question=record["question"],
        kind=str(record.get("kind") or record.get("question_type") or "other"),
        answerable=bool(evidence) if answerable is None else bool(answerable),
        gold_doc_ids=tuple(str(d) for d in record.get("gold_doc_ids") or ()),
        gold_evidence=tuple(str(e) for e in evidence),
        history=tuple(str(h) for h in record.get("history") or ()),
    )


def parse_questions(lines: Iterable[str]) -> list[EvalQuestion]:
    """The questions of a JSONL file's lines; a bad line raises NewsbotError naming it."""
    out = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise NewsbotError(f"question line {number}: not valid JSON ({exc.msg}) — fix the file") from None
        out.append(question_from_record(record, number))
    return out


def map_gold_ids(
    question: EvalQuestion, known: Callable[[str], bool], prefixes: Sequence[str] = ("seed-",)
) -> EvalQuestion:
    """The question with gold doc ids the index does not hold mapped by stripping a known prefix.

    The seed set names the seed article "seed-<file stem>"; our doc id for a file is its stem.
    """
    mapped = []
    for doc_id in question.gold_doc_ids:
        if not known(doc_id):
            for prefix in prefixes:
                if doc_id.startswith(prefix) and known(doc_id[len(prefix) :]):
                    doc_id = doc_id[len(prefix) :]
                    break
        mapped.append(doc_id)
    return EvalQuestion(
        question.id,
        question.question,
        question.kind,
        question.answerable,
        tuple(mapped),
        question.gold_evidence,
        question.history,
    )


def run(
    questions: Sequence[EvalQuestion],
    ask: Callable[[EvalQuestion], Response],
    k: int,
    progress: Callable[[int], None] | None = None,
) -> list[Score]:
    """Ask every question (in order) and score each response."""
    scores = []
    for i, question in enumerate(questions, start=1):
        scores.append(score(question, ask(question), k))
        if progress:
            progress(i)
    return scores
