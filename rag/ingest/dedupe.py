"""Near-duplicate articles: a MinHash sketch over word shingles, so wire copy syndicated under another headline,
with boilerplate added or a few sentences edited, is recognised as the story already indexed.

The sketch is 128 minimums of (a·h + b) mod p over the 32-bit hashes h of the text's 3-word shingles; the share of
equal minimums between two sketches estimates the Jaccard similarity of their shingle sets. Two articles at or
above THRESHOLD are one story (docs/feeds.md gives the measured precision and recall).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np

PERMUTATIONS = 128
SHINGLE = 3
THRESHOLD = 0.5
_PRIME = np.uint64(4294967311)  # the first prime above 2**32
_rng = np.random.default_rng(20240601)
_A = _rng.integers(1, 2**31, PERMUTATIONS, dtype=np.uint64)
_B = _rng.integers(0, 2**31, PERMUTATIONS, dtype=np.uint64)
_WORD = re.compile(r"\w+")


def shingles(text: str, size: int = SHINGLE) -> set[int]:
    """32-bit hashes of the text's runs of `size` words, lower-cased."""
    words = _WORD.findall(text.lower())
    if len(words) < size:
        return {zlib.crc32(" ".join(words).encode("utf-8"))} if words else set()
    return {zlib.crc32(" ".join(words[i : i + size]).encode("utf-8")) for i in range(len(words) - size + 1)}


def signature(text: str) -> np.ndarray:
    """The MinHash sketch of a text: PERMUTATIONS unsigned 32-bit values."""
    hashes = np.fromiter(shingles(text), dtype=np.uint64)
    if hashes.size == 0:
        return np.full(PERMUTATIONS, 2**32 - 1, dtype=np.uint32)
    mins = np.full(PERMUTATIONS, np.iinfo(np.uint64).max, dtype=np.uint64)
    for start in range(0, hashes.size, 4096):  # (a·h + b) < 2**63: no overflow
        part = hashes[start : start + 4096]
        mins = np.minimum(mins, ((np.outer(part, _A) + _B) % _PRIME).min(axis=0))
    return mins.astype(np.uint32)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of the shingle sets two sketches came from."""
    return float(np.mean(a == b))


class Sketches:
    """The sketches of indexed articles, searched for the one a new text duplicates."""

    def __init__(self, known: Sequence[tuple[str, bytes]] = (), threshold: float = THRESHOLD) -> None:
        self.threshold = threshold
        self.ids: list[str] = [doc_id for doc_id, _ in known]
        rows = [np.frombuffer(sig, dtype=np.uint32) for _, sig in known]
        self.matrix = np.stack(rows) if rows else np.empty((0, PERMUTATIONS), dtype=np.uint32)

    def match(self, sig: np.ndarray, other_than: str = "") -> str | None:
        """The doc id of the most similar known article at or above the threshold (not `other_than`), or None."""
        if not self.ids:
            return None
        scores = (self.matrix == sig).mean(axis=1)
        for i in np.argsort(-scores):
            if scores[i] < self.threshold:
                return None
            if self.ids[i] != other_than:
                return self.ids[i]
        return None

    def add(self, doc_id: str, sig: np.ndarray) -> None:
        self.ids.append(doc_id)
        self.matrix = np.vstack([self.matrix, sig[None, :]])
