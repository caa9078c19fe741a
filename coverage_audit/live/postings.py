"""Series of one metric, indexed as Prometheus indexes them: label -> value -> series ids.

"Does this selector pick any series?" is then a few set operations: a matcher is evaluated once
per distinct value of its label (hundreds), not once per series (tens of thousands), and the
per-matcher sets are intersected smallest first. Each matcher's set is computed once per metric.
"""

from __future__ import annotations

from typing import Iterable

from ..model import LabelMatcher

LabelSet = dict[str, str]


class Postings:
    __slots__ = ("series", "_index", "_all", "_cache")

    def __init__(self, series: Iterable[LabelSet] = ()) -> None:
        self.series: list[LabelSet] = []
        self._index: dict[str, dict[str, set[int]]] = {}
        self._all: set[int] = set()
        self._cache: dict[LabelMatcher, frozenset[int]] = {}
        self.extend(series)

    def extend(self, series: Iterable[LabelSet]) -> None:
        for labels in series:
            number = len(self.series)
            self.series.append(labels)
            self._all.add(number)
            for name, value in labels.items():
                self._index.setdefault(name, {}).setdefault(value, set()).add(number)
        self._cache.clear()

    def __len__(self) -> int:
        return len(self.series)

    def labels(self) -> set[str]:
        """Label names some series carries (``__name__`` aside)."""
        return set(self._index) - {"__name__"}

    def values(self, label: str) -> list[str]:
        """Distinct values of a label; "" stands for series without it."""
        found = list(self._index.get(label, {}))
        if self._missing(label):
            found.append("")
        return found

    def any(self, matchers: Iterable[LabelMatcher]) -> bool:
        """Does some series pass every matcher?"""
        sets = sorted((self._select(m) for m in matchers), key=len)
        if not sets:
            return bool(self._all)
        found = sets[0]
        for other in sets[1:]:
            if not found:
                return False
            found = found & other if len(found) <= len(other) else other & found
        return bool(found)

    def _select(self, matcher: LabelMatcher) -> frozenset[int]:
        found = self._cache.get(matcher)
        if found is None:
            by_value = self._index.get(matcher.name, {})
            hits: set[int] = set()
            for value, ids in by_value.items():
                if matcher.matches(value):
                    hits |= ids
            if matcher.matches(""):  # series without the label count as ""
                hits |= self._missing(matcher.name)
            found = self._cache[matcher] = frozenset(hits)
        return found

    def _missing(self, label: str) -> set[int]:
        by_value = self._index.get(label)
        if not by_value:
            return self._all
        present: set[int] = set().union(*by_value.values())
        return self._all - present
