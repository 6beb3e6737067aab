"""A fast deterministic stand-in for the model (`--fake-model`), so the benchmark's code path can be tested."""

from __future__ import annotations

import hashlib
import re

import numpy as np
from langchain_core.embeddings import Embeddings

DIMENSION = 384  # the real model's, so an index built with the fake still opens with the real model


class HashEmbedder(Embeddings):
    """Bag of hashed words, unit length: texts sharing words are close; no model, no torch."""

    dimension = DIMENSION

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(DIMENSION, dtype=np.float32)
        for word in re.findall(r"\w+", text.lower()):
            v[int(hashlib.md5(word.encode()).hexdigest(), 16) % DIMENSION] += 1.0
        norm = float(np.linalg.norm(v))
        return v / norm if norm else v

    def encode(self, texts: list[str]) -> np.ndarray:
        """Vectors of `texts`, shape (len(texts), 384)."""
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, DIMENSION), np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """LangChain interface."""
        return self.encode(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        """LangChain interface."""
        return self._vector(text).tolist()
