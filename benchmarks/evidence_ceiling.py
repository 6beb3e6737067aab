"""How far chunk- or sentence-sized citations can go on MultiHop-RAG's evidence recall (docs/quality.md).

Evidence recall counts a gold evidence sentence only when a cited passage contains it. Two choices
decide it: which articles an answer cites, and which passage of each article. This script measures
both on an index that holds the MultiHop-RAG corpus, the second one *given the gold article*
(an oracle: no system knows it), so the figures are ceilings of each choice on its own:

1. where each gold evidence went in newsbot's answers (cited / another passage of a cited article /
   article retrieved but not cited / article not retrieved);
2. doc recall of the retrieval at k (share of evidence whose article is in the top k);
3. inside the gold article, how often the chunk holding the evidence is among the top 1/2/3 chunks
   by the question's words (rarity-weighted coverage), by the question's embedding against the stored
   chunk vectors, and by both;
4. the same for the top 1–4 sentences (each cited alone) by the question's and clauses' words, and with
   `--sentence-vectors` also by their embeddings (every sentence of the gold articles is embedded for it:
   ~19,000 sentences, several minutes here), each sentence alone and with its neighbours (±1).

    .venv/bin/python -m benchmarks.evidence_ceiling --data-dir /tmp/mh-data [--sentence-vectors] \
        [--questions /work/shared/eval/multihop_rag/questions.jsonl]

Read-only on the index. ~1 minute on 609 articles without `--sentence-vectors` (one retrieval per question).
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bot.factory import open_pipeline
from bot.settings import Settings
from rag.eval import normalise
from rag.question.clauses import clauses
from rag.question.sentences import sentence_spans
from rag.question.words import stem, terms

DEFAULT_QUESTIONS = Path("/work/shared/eval/multihop_rag/questions.jsonl")
Stems = frozenset[str]


def _stems(text: str) -> Stems:
    return frozenset(stem(w) for w in terms(text))


def _coverage(query: str, pool: Sequence[Stems]) -> np.ndarray:
    """Rarity-weighted share of the query's words each pool member holds (as the answerer weighs them)."""
    words = _stems(query)
    weight = {w: math.log(1 + len(pool) / (1 + sum(1 for p in pool if w in p))) for w in words}
    total = sum(weight.values()) or 1.0
    return np.array([sum(v for w, v in weight.items() if w in p) / total for p in pool])


def _z(a: np.ndarray) -> np.ndarray:
    return (a - a.mean()) / (a.std() + 1e-9)


def _rank_of_first(scores: np.ndarray, good: set[int]) -> int:
    order = list(np.argsort(-scores, kind="stable"))
    return min(order.index(g) for g in good)


def _share(counter: Counter[str], n: int) -> dict[str, float]:
    return {k: round(v / n, 3) for k, v in counter.items()}


def measure(data_dir: Path, questions_path: Path, sentence_vectors: bool = False) -> dict[str, object]:
    """The four measurements above, as one dict."""
    pipeline = open_pipeline(Settings(data_dir=data_dir))
    questions = [json.loads(line) for line in questions_path.read_text().splitlines() if line.strip()]
    answerable = [q for q in questions if q["answerable"]]
    db = pipeline.lexical.registry.db
    texts = dict(db.execute("SELECT doc_id, text FROM articles"))
    chunks: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for cid, doc, start, end in db.execute('SELECT chunk_id, doc_id, start, "end" FROM chunks ORDER BY id'):
        chunks[doc].append((cid, start, end))

    outcome: Counter[str] = Counter()
    recall_at: Counter[str] = Counter()
    chunk_hits: Counter[str] = Counter()
    sentence_hits: Counter[str] = Counter()
    vectors = _sentence_vectors(pipeline, answerable, texts) if sentence_vectors else {}
    evidence = 0
    for number, q in enumerate(answerable, 1):
        if number % 20 == 0:
            print(f"  {number}/{len(answerable)} questions", flush=True)
        question = q["question"]
        vector = np.asarray(pipeline.embedder.embed_query(question), dtype=np.float32)
        passages = pipeline.retriever.retrieve(question, vector.tolist())
        answer = pipeline.answerer.answer(question, passages)
        cited = [normalise(c.text) for c in answer.citations]
        cited_docs = {c.doc_id for c in answer.citations}
        docs = list(dict.fromkeys(p.chunk.doc_id for p in passages))
        parts = clauses(question)
        for text, doc in zip(q["gold_evidence"], q["gold_evidence_doc_ids"], strict=True):
            evidence += 1
            needle = normalise(text)
            if any(needle in c for c in cited):
                outcome["cited"] += 1
            elif doc in cited_docs:
                outcome["article cited, another passage"] += 1
            elif doc in docs[:10]:
                outcome["article in top 10, not cited"] += 1
            else:
                outcome["article not in top 10"] += 1
            for k in (1, 2, 3, 4, 5, 10):
                recall_at[f"@{k}"] += doc in docs[:k]
            article = texts[doc]
            own = chunks[doc]
            good = {i for i, (_, s, e) in enumerate(own) if needle in normalise(article[s:e])}
            if good:
                _oracle_chunks(pipeline, question, article, own, good, vector, chunk_hits)
            _oracle_sentences(question, parts, article, needle, sentence_hits, vectors.get(doc), pipeline)
    return {
        "questions": len(answerable),
        "evidence": evidence,
        "answers": _share(outcome, evidence),
        "retrieval_doc_recall": _share(recall_at, evidence),
        "oracle_article_best_chunks": _share(chunk_hits, evidence),
        "oracle_article_best_sentences": _share(sentence_hits, evidence),
    }


def _oracle_chunks(
    pipeline: object,
    question: str,
    article: str,
    own: list[tuple[str, int, int]],
    good: set[int],
    vector: np.ndarray,
    hits: Counter[str],
) -> None:
    got = pipeline.store.collection.get(ids=[cid for cid, _, _ in own], include=["embeddings"])  # type: ignore[attr-defined]
    by_id = dict(zip(got["ids"], got["embeddings"], strict=True))
    matrix = np.asarray([by_id[cid] for cid, _, _ in own], dtype=np.float32)
    words = _coverage(question, [_stems(article[s:e]) for _, s, e in own])
    dense = matrix @ vector
    scorers: dict[str, Callable[[], np.ndarray]] = {
        "words": lambda: words,
        "embedding": lambda: dense,
        "both": lambda: _z(words) + _z(dense),
    }
    for name, scores in scorers.items():
        rank = _rank_of_first(scores(), good)
        for top in (1, 2, 3):
            hits[f"{name} top{top}"] += rank < top


def _sentence_vectors(pipeline: object, questions: list[dict], texts: dict[str, str]) -> dict[str, np.ndarray]:
    """Unit vectors of every sentence of every gold article (embedded here, not stored anywhere)."""
    docs = sorted({d for q in questions for d in q["gold_evidence_doc_ids"]})
    print(f"  embedding the sentences of {len(docs)} gold articles", flush=True)
    out = {}
    for doc in docs:
        article = texts[doc]
        sentences = [article[s:e] for s, e in sentence_spans(article)]
        out[doc] = np.asarray(pipeline.embedder.embed_documents(sentences), dtype=np.float32)  # type: ignore[attr-defined]
    return out


def _oracle_sentences(
    question: str,
    parts: list[str],
    article: str,
    needle: str,
    hits: Counter[str],
    vectors: np.ndarray | None,
    pipeline: object,
) -> None:
    spans = sentence_spans(article)
    pool = [_stems(article[s:e]) for s, e in spans]
    words = _z(_coverage(question, pool)) + _z(np.max([_coverage(p, pool) for p in parts], axis=0))
    scorers = {"words": words}
    if vectors is not None:
        embed = pipeline.embedder.embed_query  # type: ignore[attr-defined]
        dense = [vectors @ np.asarray(embed(text), dtype=np.float32) for text in [question, *parts]]
        scorers["words+embeddings"] = words + _z(dense[0]) + _z(np.max(dense[1:], axis=0))
    for name, scores in scorers.items():
        order = list(np.argsort(-scores, kind="stable"))
        for around in (0, 1) if vectors is not None else (0,):
            for top in (1, 2, 3, 4):
                windows = [
                    (spans[max(0, i - around)][0], spans[min(len(spans) - 1, i + around)][1]) for i in order[:top]
                ]
                label = f"{name} top{top}" + (f" ±{around}" if around else "")
                hits[label] += any(needle in normalise(article[s:e]) for s, e in windows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.evidence_ceiling", description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="an index holding the MultiHop-RAG corpus")
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    parser.add_argument("--sentence-vectors", action="store_true", help="also rank sentences by their embeddings")
    args = parser.parse_args(argv)
    if not args.questions.is_file():
        print(f"no questions at {args.questions}: pass --questions FILE.jsonl")
        return 2
    print(json.dumps(measure(args.data_dir, args.questions, args.sentence_vectors), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
