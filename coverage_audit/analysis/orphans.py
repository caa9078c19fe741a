"""What the rule set and the service map do not share: application-level alerts that cover no
subject of the map, and subjects whose selector no rule reads.

An alert that watches metrics no failure mode names (an OpenTelemetry shop's
``traces_span_metrics_calls_total`` under a catalog that only knows ``http_requests_total``), or
that pins its service label to a value no subject has, protects nothing the report can see; a
subject whose selector's values no rule names is watched by nothing, or mapped wrongly.

Both are one pass over indexes (signal metrics and identity label values of the map; label
values the rules name), never a loop over pairs of alerts and subjects.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

from .. import promql
from ..catalog import Catalog
from ..model import LabelMatcher, MatchOp, Rule, ServiceMap, subject_selectors
from ..promql import Selector
from ..ruleset import RuleSet
from .matching import PROBE_VALUE

_MAX_LISTED = 200  # a report lists this many of each; the counts say the rest


@dataclass(frozen=True, slots=True)
class OrphanAlert:
    rule: Rule
    why: str


@dataclass(frozen=True, slots=True)
class UnreadSubject:
    subject: str
    selector: str  # the matchers no rule names, as text


@dataclass(frozen=True, slots=True)
class Orphans:
    alerts: tuple[OrphanAlert, ...]
    unread: tuple[UnreadSubject, ...]
    alert_count: int
    unread_count: int


def find_orphans(ruleset: RuleSet, service_map: ServiceMap, catalog: Catalog) -> Orphans:
    signal_metrics, identities = _map_index(service_map, catalog)
    alerts: list[OrphanAlert] = []
    for rule in ruleset.rules:
        if rule.kind != "alert" or rule.query is None or ruleset.levels[rule] != "application":
            continue
        why = _orphan_reason(rule, ruleset.raw_metrics[rule], signal_metrics, identities)
        if why:
            alerts.append(OrphanAlert(rule, why))
    unread = _unread(ruleset.rules, service_map)
    return Orphans(tuple(alerts[:_MAX_LISTED]), tuple(unread[:_MAX_LISTED]), len(alerts), len(unread))


def _map_index(service_map: ServiceMap, catalog: Catalog) -> tuple[set[str], "_Identities"]:
    """Metric names any failure mode of any subject names, and the subjects' selectors."""
    metrics: set[str] = set()
    by_kind: dict[str, set[str]] = {}  # a kind's default signals, parsed once
    identities = _Identities()
    for service in service_map.services.values():
        for component in service.components:
            if component.signals or component.failure_modes or component.kind not in by_kind:
                names = {_metric(s) for mode in catalog.modes_for(component) for s in (*mode.signals, *mode.inverse)}
                if not component.signals and not component.failure_modes:
                    by_kind[component.kind] = names
                metrics |= names
            else:
                metrics |= by_kind[component.kind]
            for alternative in subject_selectors(service, component):
                identities.add(alternative)
    for business in service_map.business_metrics.values():  # no selector: any of its series counts
        identities.business |= {_metric(s) for mode in catalog.modes_for_business(business) for s in mode.signals}
    metrics |= identities.business
    metrics.discard("")
    return metrics, identities


class _Identities:
    """The subjects' selectors, grouped by the labels they pin with equalities (a handful of
    shapes: {job}, {namespace, job}, {consumergroup}, ...), to answer "could an alert pinning
    these label values be about some subject?" without a loop over subjects."""

    def __init__(self) -> None:
        self.business: set[str] = set()  # business metrics' metrics: no selector to agree with
        self.shapes: dict[tuple[str, ...], set[tuple[str, ...]]] = {}
        self._projections: dict[tuple[tuple[str, ...], tuple[str, ...]], set[tuple[str, ...]]] = {}

    def add(self, matchers: Iterable[LabelMatcher]) -> None:
        pinned = {m.name: m.value for m in matchers if m.op is MatchOp.EQ}  # a regex pins nothing we can index
        shape = tuple(sorted(pinned))
        self.shapes.setdefault(shape, set()).add(tuple(pinned[name] for name in shape))

    def any_agrees(self, pins: dict[str, str]) -> bool:
        """Is there a subject none of whose pinned labels the alert pins to another value?"""
        for shape, values in self.shapes.items():
            shared = tuple(name for name in shape if name in pins)
            if not shared:
                return True
            projected = self._projections.get((shape, shared))
            if projected is None:
                at = [shape.index(name) for name in shared]
                projected = self._projections[(shape, shared)] = {tuple(v[i] for i in at) for v in values}
            if tuple(pins[name] for name in shared) in projected:
                return True
        return False


def _orphan_reason(rule: Rule, raw: Iterable[str], signal_metrics: set[str], identities: _Identities) -> str:
    metrics = sorted(raw)
    if not any(m in signal_metrics for m in metrics):
        shown = ", ".join(metrics[:3]) + (" …" if len(metrics) > 3 else "")
        return f"watches {shown or 'no metric'}, which no failure mode of the service map names"
    assert rule.query is not None
    pins = _pins(rule.query.selectors)
    if pins and not identities.business.intersection(metrics) and not identities.any_agrees(pins):
        shown = ",".join(f'{k}="{v}"' for k, v in sorted(pins.items()))
        return f"selects {{{shown}}}, series no subject of the service map has"
    return ""


def _pins(selectors: Iterable[Selector]) -> dict[str, str]:
    """Label values every selector of the alert pins (equalities common to all of them)."""
    common: dict[str, str] | None = None
    for selector in selectors:
        pins = {m.name: m.value for m in selector.matchers if m.op is MatchOp.EQ}
        common = pins if common is None else {k: v for k, v in common.items() if pins.get(k) == v}
    return common or {}


def _unread(rules: Iterable[Rule], service_map: ServiceMap) -> list[UnreadSubject]:
    """Subjects one of whose selector's equalities no rule names, in any alternative. A value
    is named by a rule selector's equality, or by a regex that accepts it (not by ``.+``)."""
    named: dict[str, set[str]] = {}
    patterns: dict[str, dict[str, LabelMatcher]] = {}  # label -> distinct positive regexes
    for rule in rules:
        for selector in rule.query.selectors if rule.query is not None else ():
            for matcher in selector.matchers:
                if matcher.op is MatchOp.EQ:
                    named.setdefault(matcher.name, set()).add(matcher.value)
                elif matcher.op is MatchOp.RE and not matcher.matches(PROBE_VALUE):
                    patterns.setdefault(matcher.name, {}).setdefault(matcher.value, matcher)

    def is_named(matcher: LabelMatcher) -> bool:
        if matcher.value in named.get(matcher.name, ()):
            return True
        return any(m.matches(matcher.value) for m in patterns.get(matcher.name, {}).values())

    found: list[UnreadSubject] = []
    for service in service_map.services.values():
        for component in service.components:
            alternatives = [a for a in subject_selectors(service, component) if a]
            missing = [[m for m in alt if m.op is MatchOp.EQ and not is_named(m)] for alt in alternatives]
            if alternatives and all(missing):
                found.append(UnreadSubject(component.subject, "{" + ",".join(str(m) for m in missing[0]) + "}"))
    return found


@lru_cache(maxsize=8192)
def _metric(selector: str) -> str:
    try:
        return promql.parse_selector(selector).metric or ""
    except promql.PromQLError:
        return ""
