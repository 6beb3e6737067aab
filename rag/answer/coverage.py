"""How much of a question a set of stems covers: term weights, summed in the question's order."""

from __future__ import annotations

from functools import cached_property


class Weights(dict[str, float]):
    """Term weights of a question or a part, in the question's order (so that sums come out the same every run),
    with the coverage of each set of stems they were asked about kept: a part's weights serve several outlets, and
    a passage's coverage is asked again when its fit is."""

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
