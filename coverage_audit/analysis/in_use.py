"""Which metric families are in use for a subject (DESIGN 3.5), computed here once.

A family is an instrumentation convention (``conventions.yaml``: what one emitter emits
together) or, for a metric no convention names, the metric itself (with its histogram's or
summary's other series). It is in use for a subject when

1. the service map declares it: a selector in the subject's own ``signals`` or custom
   ``failure_modes``, or in another component of its service, or a business metric's metric;
2. a live Prometheus shows the subject's series in it (the ``live`` seam: a function from a
   subject to the metric names its series have, given by the live stream);
3. any rule of the rule set reads it.

Drafts pick a mode's signal in that order, the metric itself before its family, and say so
when nothing vouches for the one they take (``metric unverified``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

from .. import promql
from ..conventions import Conventions, base_name, default_conventions
from ..model import ServiceMap

SOURCES = ("declared", "live", "rules")
_SOURCE_TEXT = {"declared": "declared in the service map", "live": "seen live", "rules": "read by the rule set"}

LiveFamilies = Callable[[str], Iterable[str]]  # subject name -> metric names its series have


CLOSENESS = ("metric", "sibling", "family")  # the metric itself; its histogram's other series; its convention


@dataclass(frozen=True, slots=True)
class Evidence:
    source: str  # declared | live | rules
    closeness: str  # metric | sibling | family
    family: str  # the convention id, or the metric's base name

    @property
    def rank(self) -> tuple[int, int]:
        return SOURCES.index(self.source), CLOSENESS.index(self.closeness)

    def describe(self, metric: str) -> str:
        if self.closeness == "metric":
            return f"{metric} is {_SOURCE_TEXT[self.source]}"
        if self.closeness == "sibling":
            return f"{metric}: its series family is {_SOURCE_TEXT[self.source]}"
        return f"{metric} belongs to {self.family}, {_SOURCE_TEXT[self.source]}"


@dataclass(frozen=True, slots=True)
class _Seen:
    """Metric names from one source, and the families they put in use."""

    names: frozenset[str]
    bases: frozenset[str]
    families: frozenset[str]


class InUse:
    def __init__(
        self,
        declared: Mapping[str, Iterable[str]],
        rule_metrics: Iterable[str],
        live: LiveFamilies | None = None,
        conventions: Conventions | None = None,
    ) -> None:
        self._conventions = conventions or default_conventions()
        self._declared = {subject: self._seen(metrics) for subject, metrics in declared.items()}
        self._rules = self._seen(rule_metrics)
        self._live = live
        self._live_seen: dict[str, _Seen] = {}

    @classmethod
    def build(cls, service_map: ServiceMap, rule_metrics: Iterable[str], live: LiveFamilies | None = None) -> "InUse":
        return cls(declared_metrics(service_map), rule_metrics, live)

    def _seen(self, metrics: Iterable[str]) -> _Seen:
        names = set(metrics)
        families = {c for m in names for c in self._conventions.of_metric(m)}
        return _Seen(frozenset(names), frozenset(base_name(m) for m in names), frozenset(families))

    def _source(self, source: str, subject: str) -> _Seen | None:
        if source == "declared":
            return self._declared.get(subject)
        if source == "rules":
            return self._rules
        if self._live is None:
            return None
        seen = self._live_seen.get(subject)
        if seen is None:
            seen = self._live_seen[subject] = self._seen(self._live(subject))
        return seen

    def evidence(self, subject: str, metric: str) -> Evidence | None:
        """The strongest reason to believe ``metric`` exists for ``subject``, or None."""
        conventions = self._conventions.of_metric(metric)
        for source in SOURCES:
            seen = self._source(source, subject)
            if seen is None:
                continue
            family = conventions[0] if conventions else base_name(metric)
            if metric in seen.names:
                return Evidence(source, "metric", family)
            if base_name(metric) in seen.bases:
                return Evidence(source, "sibling", family)
            shared = [c for c in conventions if c in seen.families]
            if shared:
                return Evidence(source, "family", shared[0])
        return None

    def choose(self, subject: str, candidates: Sequence[promql.Selector]) -> tuple[promql.Selector, Evidence | None] | None:
        """The candidate with the strongest evidence (ties: the first), or the first candidate
        with None when nothing vouches for any of them."""
        if not candidates:
            return None
        best: tuple[promql.Selector, Evidence | None] = (candidates[0], None)
        for candidate in candidates:
            found = self.evidence(subject, candidate.metric or "")
            if found is not None and (best[1] is None or found.rank < best[1].rank):
                best = (candidate, found)
        return best


def declared_metrics(service_map: ServiceMap) -> dict[str, set[str]]:
    """Per subject, the metrics its service map entry names: a component's ``signals`` and own
    ``failure_modes`` (its service's other components' too: one service, one instrumentation),
    a business metric's ``metric`` and ``failure_metric``."""
    declared: dict[str, set[str]] = {}
    for service in service_map.services.values():
        own = {c.subject: _metrics(s for sels in c.signals.values() for s in sels) | _metrics(s for m in c.failure_modes for s in m.signals) for c in service.components}
        shared = set().union(*own.values()) if own else set()
        for subject, metrics in own.items():
            declared[subject] = metrics | shared
    for metric in service_map.business_metrics.values():
        declared[metric.subject] = _metrics(s for s in (metric.metric, metric.failure_metric) if s)
    return declared


def _metrics(selectors: Iterable[str]) -> set[str]:
    found = set()
    for text in selectors:
        try:
            metric = promql.parse_selector(text).metric
        except promql.PromQLError:
            continue
        if metric:
            found.add(metric)
    return found
