"""The plain LangChain pipeline newsbot is measured against: split, embed, store, similarity search.

RecursiveCharacterTextSplitter (700 characters, newsbot's chunk size, 100 of overlap) +
HuggingFaceEmbeddings on the same packaged model path + langchain_chroma.Chroma (`add_documents`,
`similarity_search(k=5)`): the pipeline of the LangChain tutorials, with nothing tuned.

    python -m benchmarks.plain DIR "question"    # cold start: open the store at DIR, print the top passage
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

COLLECTION = "plain"
CHUNK_CHARS, OVERLAP = 700, 100
K = 5


def embeddings() -> Any:
    """HuggingFaceEmbeddings on the packaged model (the plain way: sentence-transformers underneath)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from langchain_huggingface import HuggingFaceEmbeddings

    from rag.index.embedder import resolve_model_path

    return HuggingFaceEmbeddings(
        model_name=resolve_model_path(""),
        model_kwargs={"device": "cpu"},
        encode_kwargs={"normalize_embeddings": True},
    )


def open_store(persist_dir: Path, embedding: Any) -> Any:
    """The LangChain Chroma vector store persisted at `persist_dir`."""
    from langchain_chroma import Chroma

    return Chroma(
        collection_name=COLLECTION,
        embedding_function=embedding,
        persist_directory=str(persist_dir),
        collection_metadata={"hnsw:space": "cosine"},
    )


def load_documents(source: Path) -> list[Any]:
    """Documents from a JSONL corpus ({"title", "text", ...} lines) or a directory of text files."""
    from langchain_core.documents import Document

    if source.is_dir():
        files = sorted(source.glob("*.txt"))
        return [Document(page_content=p.read_text(encoding="utf-8"), metadata={"source": p.name}) for p in files]
    docs = []
    with source.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            meta = {k: str(record.get(k) or "") for k in ("id", "title", "source", "published")}
            docs.append(Document(page_content=record["text"], metadata=meta))
    return docs


def split(documents: list[Any]) -> list[Any]:
    """Chunks of the documents, by RecursiveCharacterTextSplitter."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(chunk_size=CHUNK_CHARS, chunk_overlap=OVERLAP).split_documents(documents)


def ingest(source: Path, persist_dir: Path, embedding: Any) -> int:
    """Files → chunks → vectors → a persisted Chroma collection; the number of chunks."""
    chunks = split(load_documents(source))
    open_store(persist_dir, embedding).add_documents(chunks)
    return len(chunks)


def load_product_index(product_dir: Path, persist_dir: Path) -> int:
    """Fill the plain store with newsbot's chunks and their vectors (same chunks, no second embedding run)."""
    from rag.index.vectors import ChromaStore

    source = ChromaStore(path=product_dir / "chroma").collection
    target = open_store(persist_dir, None)._collection
    total, step = source.count(), 5000
    for offset in range(0, total, step):
        got = source.get(include=["embeddings", "documents", "metadatas"], limit=step, offset=offset)
        target.upsert(
            ids=got["ids"], embeddings=got["embeddings"], documents=got["documents"], metadatas=got["metadatas"]
        )
    return int(target.count())


def answer(store: Any, question: str) -> list[Any]:
    """The plain pipeline's answer: the k most similar chunks."""
    return list(store.similarity_search(question, k=K))


def main(argv: list[str]) -> int:
    """Cold start: everything a fresh process needs to print its first answer."""
    persist_dir, question = Path(argv[0]), argv[1]
    docs = answer(open_store(persist_dir, embeddings()), question)
    print(docs[0].page_content.splitlines()[0] if docs else "(nothing found)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
