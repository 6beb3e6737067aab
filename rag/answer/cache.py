"""Answers to repeated questions, kept per index version so a cache never serves a stale answer.

The key is the normalised standalone question: the question as resolved against its conversation,
which is all an answer depends on besides the index. Normalising only folds case and whitespace,
which neither the (uncased) embedding model, FTS5 nor the answerer tell apart, so a cached answer
is the answer the pipeline would give again. Entries of another index version are dropped as soon
as a question is asked at a new one; within a version the least recently used entry goes when the cache is full.
The pipeline does not put in the extractive answer an LLM answerer gave because its model failed or timed
out (`Answer.stand_in`): asked again, the model may well reply.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from rag.types import Answer


def normalise_question(text: str) -> str:
    """The question with case and runs of whitespace folded."""
    return " ".join(text.split()).lower()


class AnswerCache:
    """A bounded, thread-safe LRU of answers for one index version at a time."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self._version: int | None = None
        self._answers: OrderedDict[str, Answer] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, question: str, version: int) -> Answer | None:
        """The answer cached for `question` at index `version`, or None."""
        key = normalise_question(question)
        with self._lock:
            self._at(version)
            answer = self._answers.get(key)
            if answer is None:
                self.misses += 1
                return None
            self._answers.move_to_end(key)
            self.hits += 1
            return answer

    def put(self, question: str, version: int, answer: Answer) -> None:
        """Remember `answer` for `question` at index `version` (a no-op when the size is 0)."""
        if self.size <= 0:
            return
        key = normalise_question(question)
        with self._lock:
            if version != self._version:
                return  # computed against an index that has changed since: nobody will ask for it
            self._answers[key] = answer
            self._answers.move_to_end(key)
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)

    def __len__(self) -> int:
        return len(self._answers)

    def clear(self) -> None:
        """Forget every answer."""
        with self._lock:
            self._answers.clear()

    def _at(self, version: int) -> None:
        """Move to index `version`, dropping the answers of any other."""
        if version != self._version:
            self._answers.clear()
            self._version = version
