"""The corpus sizes: the seed article, the 609 MultiHop-RAG articles, and 100,000 synthesised chunks.

The 100k size measures retrieval and answering, not ingest (embedding 100,000 real chunks takes hours
on 2 cores). It starts from the 609-article index and adds perturbed copies of its articles until the
chunk count is reached: in copy k of an article, 15% of the words (drawn at random, seeded) are replaced
by words drawn from the corpus vocabulary, the title gets " (k)", and each chunk's vector is the
original chunk's vector plus Gaussian noise (σ = 0.025 per dimension, so cosine ≈ 0.89 to the original),
renormalised. Copies are chunked by the product's chunker and written through the product's own
ChromaStore.upsert and LexicalIndex.replace_article, so the index is the one newsbot would hold.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import random
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.measure import ROOT, progress

if TYPE_CHECKING:
    import numpy as np

    from rag.index.lexical import LexicalIndex
    from rag.index.vectors import ChromaStore
    from rag.types import Article, Chunk

SHARED = ROOT.parent / "shared" / "eval"
MULTIHOP = SHARED / "multihop_rag" / "corpus.jsonl"
MULTIHOP_QUESTIONS = SHARED / "multihop_rag" / "questions.jsonl"
SEED_QUESTIONS = SHARED / "seed_questions.jsonl"
SEEDS = ROOT / "bot" / "seeds"
SYNTH_RATE, SYNTH_SIGMA = 0.15, 0.025
# Used when /work/shared is absent: questions about the shipped seed article.
SEED_FALLBACK = [
    "What did Dedov say about Oman?",
    "Who is Alexey Dedov?",
    "What do Iran and Russia aim to enhance under the agreement?",
]


@dataclass(frozen=True)
class Question:
    """A question and the earlier questions of its conversation."""

    text: str
    history: tuple[str, ...] = ()


@dataclass(frozen=True)
class Size:
    """One corpus size of the report."""

    name: str  # seed, 609, 100k
    label: str
    source: Path  # what `newsbot ingest` reads for it (the 100k size starts from the 609 index)
    questions: tuple[Question, ...]
    synthetic_chunks: int = 0  # > 0: the index is synthesised up to this many chunks


def read_questions(path: Path, limit: int) -> tuple[Question, ...]:
    """The first `limit` questions of a JSONL file with "question" (and optional "history") fields."""
    out = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            out.append(Question(record["question"], tuple(record.get("history") or ())))
            if len(out) >= limit:
                break
    return tuple(out)


def sizes(names: list[str], questions: int, synthetic_chunks: int) -> Iterator[Size]:
    """The sizes asked for whose data is present; an absent one is reported and skipped."""
    for name in names:
        if name == "seed":
            qs = read_questions(SEED_QUESTIONS, questions) if SEED_QUESTIONS.is_file() else ()
            yield Size("seed", "the seed article", SEEDS, qs or tuple(Question(q) for q in SEED_FALLBACK))
        elif not MULTIHOP.is_file() or not MULTIHOP_QUESTIONS.is_file():
            progress(f"size {name}: {MULTIHOP} is absent, skipped")
        elif name == "609":
            yield Size("609", "609 MultiHop-RAG articles", MULTIHOP, read_questions(MULTIHOP_QUESTIONS, questions))
        elif name == "100k":
            label = f"{synthetic_chunks:,} chunks (609 articles + synthesised copies)"
            qs = read_questions(MULTIHOP_QUESTIONS, questions)
            yield Size("100k", label, MULTIHOP, qs, synthetic_chunks=synthetic_chunks)
        else:
            raise SystemExit(f"unknown size {name!r}: use seed, 609, 100k")


def fingerprint(source: Path, extra: str = "") -> str:
    """A digest of everything a cached index depends on: the source data and the indexing code."""
    from rag.index import analysis, registry, vectors
    from rag.ingest import chunking, loaders
    from rag.pipeline import IngestConfig, embedding_text
    from rag.question import sentences

    h = hashlib.sha256()
    for part in (
        *(inspect.getsource(m) for m in (chunking, sentences, analysis, loaders)),
        registry._SCHEMA,
        inspect.getsource(vectors.chunk_metadata),
        inspect.getsource(embedding_text),
        repr(IngestConfig()),
        extra,
    ):
        h.update(part.encode())
    for path in sorted(source.rglob("*") if source.is_dir() else [source]):
        if path.is_file():  # contents, not times: a fresh copy of the same corpus keeps its indexes
            h.update(f"{path.relative_to(source) if source.is_dir() else path.name}:".encode())
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:12]


def write_subset(source: Path, limit: int, target: Path) -> Path:
    """The first `limit` articles of a JSONL corpus (or a directory, copied whole) at `target`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(source, target)
        return target
    with source.open(encoding="utf-8") as src, target.open("w", encoding="utf-8") as out:
        for n, line in enumerate(src):
            if n >= limit:
                break
            out.write(line)
    return target


def perturb(text: str, vocabulary: list[str], rng: random.Random, rate: float = SYNTH_RATE) -> str:
    """The text with a share `rate` of its words replaced by vocabulary words (layout kept)."""
    return re.sub(r"[A-Za-z]{3,}", lambda m: rng.choice(vocabulary) if rng.random() < rate else m.group(), text)


def synthesise(base_dir: Path, target_dir: Path, target_chunks: int, seed: int = 6) -> dict[str, int]:
    """Copy the index at `base_dir` to `target_dir` and add perturbed copies until `target_chunks` chunks."""
    import numpy as np

    from rag.index.lexical import LexicalIndex
    from rag.index.registry import Registry
    from rag.index.vectors import ChromaStore
    from rag.ingest.chunking import chunk_article
    from rag.types import Article

    if target_dir.exists():
        shutil.rmtree(target_dir)
    shutil.copytree(base_dir, target_dir)
    lexical = LexicalIndex(Registry(target_dir / "index.sqlite3"))
    store = ChromaStore(path=target_dir / "chroma")
    base = [a for a in (lexical.registry.article(info.doc_id) for info in lexical.registry.articles()) if a is not None]
    base.sort(key=lambda a: a.doc_id)
    got = store.collection.get(include=["embeddings"])
    vectors = dict(zip(got["ids"], np.asarray(got["embeddings"], dtype=np.float32), strict=True))
    vocabulary = sorted({w for a in base for w in re.findall(r"[A-Za-z]{3,}", a.text)})
    rng, noise = random.Random(seed), np.random.default_rng(seed)
    total, copy = lexical.registry.chunk_count(), 0
    pending: list[tuple[Article, list[Chunk], np.ndarray]] = []
    while total < target_chunks:
        copy += 1
        for a in base:
            if total >= target_chunks:
                break
            originals = [vectors[cid] for cid in lexical.registry.chunk_ids(a.doc_id)]
            twin = Article(
                doc_id=f"{a.doc_id}~{copy}",
                title=f"{perturb(a.title, vocabulary, rng)} ({copy})",
                text=perturb(a.text, vocabulary, rng),
                source=a.source,
                published=a.published,
                url=a.url,
            )
            chunks = chunk_article(twin)
            near = np.stack([originals[min(i, len(originals) - 1)] for i in range(len(chunks))])
            noisy = near + noise.normal(0.0, SYNTH_SIGMA, near.shape).astype(np.float32)
            pending.append((twin, chunks, noisy / np.linalg.norm(noisy, axis=1, keepdims=True)))
            total += len(chunks)
            if sum(len(c) for _, c, _ in pending) >= 2000 or total >= target_chunks:
                _write(store, lexical, pending)
        progress(f"synthesised copy {copy}: {total:,} chunks")
    _write(store, lexical, pending)
    lexical.close()
    return {"chunks": total, "copies": copy}


def _write(store: ChromaStore, lexical: LexicalIndex, pending: list[tuple[Article, list[Chunk], np.ndarray]]) -> None:
    """Vectors first, then the registry rows (the product's commit order), for a batch of articles."""
    import numpy as np

    if not pending:
        return
    store.upsert([c for _, chunks, _ in pending for c in chunks], np.concatenate([v for _, _, v in pending]))
    for article, chunks, _ in pending:
        lexical.registry.replace_article(article, chunks)
    pending.clear()
