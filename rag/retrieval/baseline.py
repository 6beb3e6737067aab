"""The plain dense pipeline newsbot is measured against: LangChain's Chroma over the same collection and vectors.

`newsbot eval` reports it beside newsbot: its top chunks cited as they come, never refusing. It reads the
collection newsbot wrote (no second embedding run), through `langchain_chroma.Chroma.similarity_search`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Hit:
    """One chunk the plain pipeline found: its text and its article."""

    text: str
    doc_id: str


class PlainDense:
    """`similarity_search` of LangChain's Chroma wrapper over a `ChromaStore`'s collection."""

    def __init__(self, client: Any, collection: str, embedder: Any) -> None:
        from langchain_chroma import Chroma

        self.store = Chroma(
            client=client,
            collection_name=collection,
            embedding_function=embedder,
            create_collection_if_not_exists=False,
        )

    def search(self, question: str, k: int) -> list[Hit]:
        """The `k` nearest chunks to the question, best first."""
        return [Hit(d.page_content, str(d.metadata["doc_id"])) for d in self.store.similarity_search(question, k=k)]
