"""Instrumentation conventions (``data/conventions.yaml``): what real emitters name their series.

One place answers, from data: which series of a convention show a component's requests,
failures, latency, backlog, ... on its own side of a call (:meth:`Conventions.signals`, which the
failure-mode catalog draws its default signals from); which values of an outcome label are
healthy (:func:`healthy_values`); which labels only tell the sides of a call apart
(:func:`scope_labels`); which conventions a metric belongs to (:meth:`Conventions.of_metric`); and
the time unit of a duration metric where its name does not say it (:func:`declared_unit_scale`,
which ``scenarios.time_unit_scale`` asks).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Iterable, Mapping

from . import promql
from .model import InputError
from .yamlio import YMap, YSeq, load_documents

CLASSES = ("requests", "failures", "durations", "latency_gauges", "progress", "backlog", "last_success", "hits", "misses")
SIDES = ("server", "client", "producer", "consumer")
UNITS = {"seconds": 1.0, "milliseconds": 1000.0, "microseconds": 1e6}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
_REGEX_META = re.compile(r"[.*+?()\[\]{}|^$\\]")
_STATUS_CLASS = re.compile(r"[0-9]+\.+")  # "2..": a class of numeric status codes
_DATA = "coverage_audit/data/conventions.yaml"


@dataclass(frozen=True, slots=True)
class Outcome:
    """A label carrying a request's outcome: ``failure`` picks the failed ones (an anchored RE2
    regex), ``healthy`` the values of requests that went fine (regexes; '' is "label absent")."""

    label: str
    failure: str
    healthy: tuple[str, ...]
    metrics: frozenset[str] = frozenset()  # the request metrics carrying it (empty: all of them)

    def applies_to(self, metric: str) -> bool:
        return not self.metrics or metric in self.metrics

    def matcher_text(self) -> str:
        op = "=~" if _REGEX_META.search(self.failure) else "="
        return f'{self.label}{op}"{self.failure}"'


@dataclass(frozen=True, slots=True)
class Convention:
    id: str
    title: str
    source: str
    protocols: frozenset[str]
    unit: str | None
    outcomes: tuple[Outcome, ...]
    side_label: str | None
    side_values: Mapping[str, str]  # side -> value of side_label
    side_outcomes: Mapping[str, tuple[Outcome, ...]]  # a side whose outcome labels differ
    series: Mapping[str, Mapping[str, tuple[str, ...]]]  # side ("" for every side) -> class -> selectors
    metrics: frozenset[str] = field(default_factory=frozenset)  # every metric name it emits

    def serves(self, protocols: Iterable[str]) -> bool:
        return "*" in self.protocols or not self.protocols.isdisjoint(protocols)

    def of_class(self, side: str, cls: str) -> tuple[str, ...]:
        """Selectors of one class on one side (classes given for every side included)."""
        own = self.series.get(side, {}).get(cls, ())
        common = self.series.get("", {}).get(cls, ())
        return tuple(dict.fromkeys(own + common))

    def has_side(self, side: str) -> bool:
        return side in self.series or side in self.side_values or not any(s for s in self.series if s)

    def signals(self, side: str, cls: str) -> tuple[str, ...]:
        """The selectors a failure mode taking ``cls`` gets from this convention on ``side``.

        ``failures`` are the request counters narrowed to each failure outcome, plus the counters
        of failures alone; ``durations`` are the histograms' ``_bucket`` and ``_sum`` plus latency
        gauges; every other class is its own list. Each is narrowed to the side's own series."""
        if not self.has_side(side):
            return ()
        found: list[str] = []
        if cls == "failures":
            for request in self.of_class(side, "requests"):
                metric = _metric_of(request)
                for outcome in self.side_outcomes.get(side, self.outcomes):
                    if outcome.applies_to(metric):
                        found.append(_with(request, self._side_matcher(side), outcome.matcher_text()))
            found += [_with(s, self._side_matcher(side)) for s in self.of_class(side, "failures")]
        elif cls == "durations":
            for base in self.of_class(side, "durations"):
                found += [_with(base + "_bucket", self._side_matcher(side)), _with(base + "_sum", self._side_matcher(side))]
            found += [_with(s, self._side_matcher(side)) for s in self.of_class(side, "latency_gauges")]
        else:
            found += [_with(s, self._side_matcher(side)) for s in self.of_class(side, cls)]
        return tuple(dict.fromkeys(found))

    def _side_matcher(self, side: str) -> str:
        value = self.side_values.get(side)
        return f'{self.side_label}="{value}"' if self.side_label and value else ""


@dataclass(frozen=True, slots=True)
class Conventions:
    conventions: tuple[Convention, ...]
    by_metric: Mapping[str, tuple[str, ...]]  # metric name -> convention ids, in file order
    healthy: Mapping[str, tuple[str, ...]]  # outcome label -> healthy example values
    scope: frozenset[str]  # side labels: they say whose series, not whether they failed
    units: Mapping[str, float] = field(default_factory=dict)  # duration metric -> units per second
    other_outcomes: frozenset[str] = frozenset()  # outcome labels without healthy values to tell
    counters: frozenset[str] = frozenset()  # metrics of the requests/failures classes: counters

    def get(self, convention_id: str) -> Convention | None:
        return next((c for c in self.conventions if c.id == convention_id), None)

    def signals(self, protocols: Iterable[str], side: str, classes: Iterable[str]) -> tuple[str, ...]:
        """Every selector the conventions serving ``protocols`` give ``classes`` on ``side``, class
        by class, each in the conventions' order (the most common emitters first)."""
        wanted = tuple(protocols)
        found: list[str] = []
        for cls in classes:
            for convention in self.conventions:
                if convention.serves(wanted):
                    found += convention.signals(side, cls)
        return tuple(dict.fromkeys(found))

    def of_metric(self, metric: str) -> tuple[str, ...]:
        """The conventions a metric name belongs to (several emitters share some names)."""
        return self.by_metric.get(metric, ())

    def unit_scale(self, metric: str) -> float | None:
        """How many of the metric's own time units make a second, where a convention says so
        (its duration metrics); None for metrics no convention gives a unit."""
        return self.units.get(metric)


def base_name(metric: str) -> str:
    """A histogram's or summary's base name (``x_bucket`` -> ``x``); other names unchanged."""
    for suffix in HISTOGRAM_SUFFIXES:
        if metric.endswith(suffix):
            return metric[: -len(suffix)]
    return metric


def _duration_names(convention: Convention) -> set[str]:
    names: set[str] = set()
    for classes in convention.series.values():
        for base in classes.get("durations", ()):
            names.update(_metric_of(base) + suffix for suffix in HISTOGRAM_SUFFIXES)
        names.update(_metric_of(s) for s in classes.get("latency_gauges", ()))
    return names


def _metric_of(selector: str) -> str:
    return promql.parse_selector(selector).metric or ""


def _with(selector: str, *matchers: str) -> str:
    """``selector`` with extra matchers (text such as ``span_kind="SPAN_KIND_SERVER"``) added."""
    extra = [m for m in matchers if m]
    if not extra:
        return selector
    parsed = promql.parse_selector(selector)
    inner = [str(m) for m in parsed.matchers] + extra
    return f"{parsed.metric}{{{','.join(inner)}}}"


# --------------------------------------------------------------------------- loading


@lru_cache(maxsize=1)
def default_conventions() -> Conventions:
    text = resources.files("coverage_audit").joinpath("data/conventions.yaml").read_text(encoding="utf-8")
    return parse_conventions(load_documents(text, _DATA)[0].value, _DATA)


def parse_conventions(data: object, name: str) -> Conventions:
    if not isinstance(data, YMap) or not isinstance(data.get("conventions"), YSeq):
        raise InputError(name, 1, "conventions must be a mapping with a 'conventions' list")
    items: YSeq = data["conventions"]
    conventions: list[Convention] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        convention = _convention(item, name, items.line_of(index))
        if convention.id in seen:
            raise InputError(name, items.line_of(index), f"convention {convention.id!r} is listed twice")
        seen.add(convention.id)
        conventions.append(convention)
    by_metric: dict[str, list[str]] = {}
    healthy: dict[str, list[str]] = {}
    scope: set[str] = set()
    units: dict[str, float] = {}
    for convention in conventions:
        if convention.unit:
            for metric in _duration_names(convention):
                units.setdefault(metric, UNITS[convention.unit])
        for metric in sorted(convention.metrics):
            by_metric.setdefault(metric, []).append(convention.id)
        for outcome in convention.outcomes:
            healthy.setdefault(outcome.label, []).extend(_examples(outcome.healthy))
        if convention.side_label:
            scope.add(convention.side_label)
    return Conventions(
        tuple(conventions),
        {metric: tuple(ids) for metric, ids in by_metric.items()},
        {label: tuple(dict.fromkeys(values)) for label, values in healthy.items()},
        frozenset(scope),
        units,
        frozenset(str(label) for label in data.get("other_outcome_labels") or ()),
        frozenset(
            _metric_of(selector)
            for c in conventions
            for classes in c.series.values()
            for cls in ("requests", "failures")
            for selector in classes.get(cls, ())
        ) - frozenset(str(g) for item in items for g in item.get("gauges") or ()),
    )


def _convention(item: object, name: str, line: int) -> Convention:
    if not isinstance(item, YMap) or not isinstance(item.get("id"), str):
        raise InputError(name, line, "a convention must be a mapping with an 'id'")
    unit = item.get("unit")
    if unit is not None and unit not in UNITS:
        raise InputError(name, item.line_of("unit"), f"convention {item['id']!r}: unit must be one of {', '.join(UNITS)}")
    outcomes = tuple(_outcome(o, name, item.line_of("outcomes")) for o in item.get("outcomes") or ())
    series: dict[str, dict[str, tuple[str, ...]]] = {"": _classes(item, name)}
    side_values: dict[str, str] = {}
    side_outcomes: dict[str, tuple[Outcome, ...]] = {}
    sides = item.get("sides")
    if sides is not None and not isinstance(sides, YMap):
        raise InputError(name, item.line_of("sides"), f"convention {item['id']!r}: 'sides' must be a mapping")
    for side, body in sides.items() if isinstance(sides, YMap) else ():
        assert isinstance(sides, YMap)
        if side not in SIDES:
            raise InputError(name, sides.line_of(side), f"convention {item['id']!r}: unknown side {side!r} (known: {', '.join(SIDES)})")
        if not isinstance(body, YMap):
            raise InputError(name, sides.line_of(side), f"convention {item['id']!r}: side {side!r} must be a mapping")
        if isinstance(body.get("value"), str):
            side_values[side] = body["value"]
        series[side] = _classes(body, name)
        if body.get("outcomes") is not None:
            side_outcomes[side] = tuple(_outcome(o, name, body.line_of("outcomes")) for o in body["outcomes"])
    metrics: set[str] = set()
    for classes in series.values():
        for cls, selectors in classes.items():
            for selector in selectors:
                metric = _metric_of(selector)
                metrics.update([metric + s for s in HISTOGRAM_SUFFIXES] if cls == "durations" else [metric])
    return Convention(
        id=item["id"],
        title=str(item.get("title") or ""),
        source=str(item.get("source") or ""),
        protocols=frozenset(item.get("protocols") or ()),
        unit=unit,
        outcomes=outcomes,
        side_label=item.get("side_label"),
        side_values=side_values,
        side_outcomes=side_outcomes,
        series={side: classes for side, classes in series.items() if classes or side},
        metrics=frozenset(metrics),
    )


def _classes(body: YMap, name: str) -> dict[str, tuple[str, ...]]:
    classes: dict[str, tuple[str, ...]] = {}
    for cls in CLASSES:
        value = body.get(cls)
        if value is None:
            continue
        if not isinstance(value, YSeq) or not all(isinstance(s, str) for s in value):
            raise InputError(name, body.line_of(cls), f"{cls!r} must be a list of PromQL selectors")
        for selector in value:
            try:
                promql.parse_selector(selector)
            except promql.PromQLError as exc:
                raise InputError(name, body.line_of(cls), f"bad selector {selector!r}: {exc}") from None
        classes[cls] = tuple(value)
    return classes


def _outcome(item: object, name: str, line: int) -> Outcome:
    if not isinstance(item, YMap) or not isinstance(item.get("label"), str) or not isinstance(item.get("failure"), str):
        raise InputError(name, line, "an outcome needs 'label' and 'failure'")
    healthy = item.get("healthy") or ()
    return Outcome(item["label"], item["failure"], tuple(str(h) for h in healthy), frozenset(item.get("metrics") or ()))


def _examples(patterns: Iterable[str]) -> list[str]:
    """Concrete healthy values from the patterns: the values a read must leave out to count as
    an error signal, and the labels of a healthy test series. ``2..`` gives 200 and 201 (two, so
    that leaving out one status code is not mistaken for leaving out the class)."""
    from .analysis.matching import regex_examples  # matching reads these values: import late

    found: list[str] = []
    for pattern in patterns:
        if not _REGEX_META.search(pattern):
            found.append(pattern)
        elif _STATUS_CLASS.fullmatch(pattern):
            found += [pattern.replace(".", "0"), pattern[:-1].replace(".", "0") + "1"]
        else:
            compiled = re.compile(pattern)
            found += [e for e in regex_examples(pattern) if compiled.fullmatch(e)]
    return found


# --------------------------------------------------------------------------- accessors


def healthy_values(label: str) -> tuple[str, ...]:
    """Values of an outcome label that mean "this request went fine", from every convention that
    uses the label (``code``: 200, 201, ..., 300, ...; ``status_code``: also STATUS_CODE_UNSET)."""
    return default_conventions().healthy.get(label, ())


def is_outcome_label(label: str) -> bool:
    return label in default_conventions().healthy


def other_outcome_labels() -> frozenset[str]:
    """Labels that carry an outcome though no convention says which values are healthy."""
    return default_conventions().other_outcomes


def scope_labels() -> frozenset[str]:
    """Labels that only tell the sides of a call apart (``span_kind``, Istio's ``reporter``)."""
    return default_conventions().scope


def declared_counter(metric: str) -> bool:
    """A counter by its convention though its name does not end in ``_total`` (exporters that
    predate the naming rule: ``cloudflare_zone_requests_status``, ``pg_stat_database_xact_commit``,
    Envoy's ``*_rq_xx``); ``scenarios.is_counter_name`` asks this after the name."""
    return metric in default_conventions().counters


def declared_unit_scale(metric: str) -> float | None:
    """The unit a convention gives a duration metric; ``scenarios.time_unit_scale`` (the one
    answer about units) asks this before reading the name."""
    return default_conventions().unit_scale(metric)
