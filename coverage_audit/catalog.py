"""The failure-mode catalog: data (``data/failure_modes.yaml``), extensible by a team's own file.

It answers: which failure modes does a component of some kind have, with which signals, once
the component's own ``signals`` and ``failure_modes`` are applied; which modes a business
metric has; and which modes a failure passes along each kind of edge of the service graph.
A kind's default signals are drawn from the instrumentation conventions (``conventions.py``):
the classes each mode names (``from``), on the kind's side of a call, for its protocols.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Mapping

from . import promql
from .conventions import CLASSES, SIDES, Conventions, default_conventions
from .model import BusinessMetric, Component, FailureMode, InputError
from .scenarios import MODELS

if TYPE_CHECKING:
    from .levels import LevelClassifier
from .yamlio import YMap, YSeq, load_documents, load_file

DIRECTIONS = ("rise", "drop", "absent")
EDGE_KINDS = ("calls", "discovered", "publishes", "consumes", "feeds")
ALONG = ("forward", "backward")


@dataclass(frozen=True, slots=True)
class Propagation:
    """How a failure travels along one kind of edge: which way, and the modes it impacts in the
    components it reaches (None: every mode)."""

    along: str  # forward: from the edge's source to its target; backward: the other way
    modes: tuple[str, ...] | None

    def passes(self, mode_id: str) -> bool:
        return self.modes is None or mode_id in self.modes


@dataclass(frozen=True, slots=True)
class Catalog:
    kinds: Mapping[str, tuple[FailureMode, ...]]
    descriptions: Mapping[str, str]
    business: tuple[FailureMode, ...]
    business_requires: Mapping[str, str]  # mode id -> BusinessMetric field it needs
    impact: Mapping[str, Propagation] = field(default_factory=dict)  # edge kind -> propagation
    # owned_prefixes per (kind, classifier): asked once per component (10,000 in a large map)
    _owned: dict[tuple[str, "LevelClassifier"], tuple[str, ...]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def modes_for(self, component: Component) -> tuple[FailureMode, ...]:
        """The component's modes: the kind's defaults with the component's signals applied,
        then its own modes (one with a catalog id replaces that mode)."""
        modes = {mode.id: mode for mode in self.kinds.get(component.kind, ())}
        for mode_id, signals in component.signals.items():
            if mode_id in modes:
                modes[mode_id] = replace(modes[mode_id], signals=tuple(signals), inverse=())
        for mode in component.failure_modes:
            modes[mode.id] = replace(mode, model=mode.model or _derived_model(mode, modes.get(mode.id)))
        return tuple(_with_companions(list(modes.values())))

    def modes_for_business(self, metric: BusinessMetric) -> tuple[FailureMode, ...]:
        values = {"metric": metric.metric, "failure_metric": metric.failure_metric}
        modes = []
        for mode in self.business:
            needed = self.business_requires.get(mode.id)
            if needed and not values.get(needed):
                continue
            signals = tuple(s.format(**values) for s in mode.signals)
            modes.append(replace(mode, signals=signals))
        return tuple(modes)

    def owned_prefixes(self, kind: str, classifier: "LevelClassifier") -> tuple[str, ...]:
        """Infrastructure metric families that are a kind's own application signals: a data
        store's exporter metrics are how that data store fails, while staying infrastructure for
        everyone else. They are the infrastructure prefixes its default signals use."""
        key = (kind, classifier)
        known = self._owned.get(key)
        if known is None:
            known = self._owned[key] = self._owned_prefixes(kind, classifier)
        return known

    def _owned_prefixes(self, kind: str, classifier: "LevelClassifier") -> tuple[str, ...]:
        found: dict[str, None] = {}
        for mode in self.kinds.get(kind, ()):
            for text in mode.signals:
                metric = text.split("{", 1)[0].strip()
                if metric and classifier.is_infrastructure(metric):
                    found.setdefault(classifier.prefix_of(metric), None)
        return tuple(found)

    def merged(self, other: "Catalog") -> "Catalog":
        """``other`` on top of this one: new kinds added, a kind's modes replaced by id."""
        kinds = dict(self.kinds)
        for kind, modes in other.kinds.items():
            current = {mode.id: mode for mode in kinds.get(kind, ())}
            current.update({mode.id: mode for mode in modes})
            kinds[kind] = tuple(current.values())
        business = {mode.id: mode for mode in self.business}
        business.update({mode.id: mode for mode in other.business})
        return Catalog(
            kinds=kinds,
            descriptions={**self.descriptions, **other.descriptions},
            business=tuple(business.values()),
            business_requires={**self.business_requires, **other.business_requires},
            impact={**self.impact, **other.impact},
        )


def _with_companions(modes: list[FailureMode]) -> list[FailureMode]:
    """Each mode with the sibling modes that fail along with it (a stalled consumer's backlog
    grows): an alert may use their signals as a guard."""
    by_id = {mode.id: mode for mode in modes}
    return [
        replace(mode, implied=tuple(by_id[c] for c in mode.companions if c in by_id and c != mode.id)) if mode.companions else mode
        for mode in modes
    ]


def _with_models(modes: tuple[FailureMode, ...]) -> tuple[FailureMode, ...]:
    return tuple(mode if mode.model else replace(mode, model=_derived_model(mode, None)) for mode in modes)


def _derived_model(mode: FailureMode, replaced: FailureMode | None) -> str:
    """A custom mode's model when it names none: the catalog mode it replaces, if it moves the
    same way; a success counter that falls when that mode happens (an apdex, a hit count) for
    one that moves the other way; else by direction."""
    if replaced is not None and replaced.model and replaced.direction == mode.direction:
        return replaced.model
    return {"rise": "events", "drop": "good_events", "absent": "heartbeat"}[mode.direction]


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    text = resources.files("coverage_audit").joinpath("data/failure_modes.yaml").read_text(encoding="utf-8")
    return parse_catalog(load_documents(text, "coverage_audit/data/failure_modes.yaml")[0].value, "coverage_audit/data/failure_modes.yaml")


def load_catalog(path: str | None) -> Catalog:
    """The bundled catalog, extended by the file at ``path`` if given."""
    base = default_catalog()
    if path is None:
        return base
    documents = load_file(path)
    if not documents:
        raise InputError(path, 1, "the catalog file is empty")
    return base.merged(parse_catalog(documents[0].value, path))


def parse_catalog(data: object, name: str, conventions: Conventions | None = None) -> Catalog:
    if not isinstance(data, YMap):
        raise InputError(name, 1, "a failure-mode catalog must be a mapping with 'kinds'")
    kinds: dict[str, tuple[FailureMode, ...]] = {}
    descriptions: dict[str, str] = {}
    raw_kinds = data.get("kinds")
    if raw_kinds is None:
        raw_kinds = {}
    if not isinstance(raw_kinds, (YMap, dict)):
        raise InputError(name, data.line_of("kinds"), "'kinds' must be a mapping of kind -> modes")
    conventions = conventions or default_conventions()
    for kind, body in raw_kinds.items():
        if not isinstance(body, YMap):
            raise InputError(name, data.line_of("kinds"), f"kind {kind!r} must be a mapping")
        descriptions[kind] = str(body.get("description") or "")
        drawn = _Drawn(conventions, body, name, str(kind))
        kinds[kind] = _with_models(parse_modes(body.get("failure_modes"), name, body.line_of("failure_modes"), drawn=drawn))
    business: tuple[FailureMode, ...] = ()
    requires: dict[str, str] = {}
    raw_business = data.get("business")
    if isinstance(raw_business, YMap):
        raw_modes = raw_business.get("failure_modes")
        business = _with_models(parse_modes(raw_modes, name, raw_business.line_of("failure_modes"), check_signals=False))
        for item in raw_modes if isinstance(raw_modes, YSeq) else ():
            if isinstance(item, YMap) and isinstance(item.get("requires"), str):
                requires[str(item.get("id"))] = item["requires"]
            if isinstance(item, YMap):
                for signal in selector_list(item.get("signals"), name, item.line_of("signals"), check=False):
                    check_business_signal(signal, name, item.line_of("signals"))
    return Catalog(kinds, descriptions, business, requires, _impact(data.get("impact"), name, data.line_of("impact")))


def _impact(value: object, name: str, line: int) -> dict[str, Propagation]:
    if value is None:
        return {}
    if not isinstance(value, YMap):
        raise InputError(name, line, "'impact' must map edge kinds to {along, modes}")
    found: dict[str, Propagation] = {}
    for kind, body in value.items():
        where = value.line_of(kind)
        if kind not in EDGE_KINDS:
            raise InputError(name, where, f"impact: unknown edge kind {kind!r} (known: {', '.join(EDGE_KINDS)})")
        if not isinstance(body, YMap) or body.get("along") not in ALONG:
            raise InputError(name, where, f"impact: {kind!r} needs 'along: forward' or 'along: backward'")
        modes = body.get("modes")
        if modes in (None, "all"):
            found[kind] = Propagation(body["along"], None)
        elif isinstance(modes, YSeq) and all(isinstance(m, str) for m in modes):
            found[kind] = Propagation(body["along"], tuple(modes))
        else:
            raise InputError(name, body.line_of("modes"), f"impact: {kind!r} modes must be a list of mode ids or 'all'")
    return found


class _Drawn:
    """The signals a kind's modes take from the conventions: its side, its protocols."""

    def __init__(self, conventions: Conventions, body: YMap, name: str, kind: str) -> None:
        self.conventions = conventions
        self.side = body.get("side") or "server"
        if self.side not in SIDES:
            raise InputError(name, body.line_of("side"), f"kind {kind!r}: side must be one of {', '.join(SIDES)}")
        self.protocols = tuple(body.get("protocols") or ())

    def signals(self, classes: tuple[str, ...]) -> tuple[str, ...]:
        return self.conventions.signals(self.protocols, self.side, classes)


def _classes(value: object, name: str, line: int, mode_id: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value if isinstance(value, YSeq) else None
    if items is None or not all(isinstance(c, str) and c in CLASSES for c in items):
        raise InputError(name, line, f"failure mode {mode_id!r}: 'from' must name classes of series ({', '.join(CLASSES)})")
    return tuple(items)  # type: ignore[arg-type]


def parse_modes(value: object, name: str, line: int, check_signals: bool = True, drawn: _Drawn | None = None) -> tuple[FailureMode, ...]:
    """A list of failure modes (catalog entries, or a component's own ``failure_modes``)."""
    if value is None:
        return ()
    if not isinstance(value, YSeq):
        raise InputError(name, line, "'failure_modes' must be a list")
    modes: list[FailureMode] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        where = value.line_of(index)
        if not isinstance(item, YMap):
            raise InputError(name, where, "a failure mode must be a mapping with id, direction, signals")
        mode_id, direction = item.get("id"), item.get("direction")
        if not isinstance(mode_id, str) or not mode_id:
            raise InputError(name, where, "a failure mode needs an 'id'")
        if mode_id in seen:
            raise InputError(name, where, f"failure mode {mode_id!r} is listed twice")
        seen.add(mode_id)
        if direction not in DIRECTIONS:
            raise InputError(name, item.line_of("direction"), f"failure mode {mode_id!r}: direction must be one of {', '.join(DIRECTIONS)}")
        model = item.get("model") or ""
        if model and model not in MODELS:
            raise InputError(name, item.line_of("model"), f"failure mode {mode_id!r}: model must be one of {', '.join(MODELS)}")
        signals = selector_list(item.get("signals"), name, item.line_of("signals"), check_signals)
        inverse = selector_list(item.get("inverse"), name, item.line_of("inverse"), check_signals)
        if drawn is None and (item.get("from") is not None or item.get("inverse_from") is not None):
            raise InputError(name, where, f"failure mode {mode_id!r}: 'from' is for catalog kinds; list the mode's signals")
        if drawn is not None:  # the conventions' names first: the common ones
            for key in ("from", "inverse_from"):
                if item.get(key) is not None:
                    taken = drawn.signals(_classes(item[key], name, item.line_of(key), mode_id))
                    if key == "from":
                        signals = tuple(dict.fromkeys(taken + signals))
                    else:
                        inverse = tuple(dict.fromkeys(taken + inverse))
        if not signals:
            raise InputError(name, where, f"failure mode {mode_id!r} has no signals")
        companions = item.get("companions") or ()
        if not isinstance(companions, (YSeq, list, tuple)) or not all(isinstance(c, str) for c in companions):
            raise InputError(name, item.line_of("companions"), f"failure mode {mode_id!r}: companions must be a list of failure-mode ids")
        modes.append(FailureMode(mode_id, direction, signals, str(item.get("description") or ""), inverse, str(model), tuple(companions)))  # type: ignore[arg-type]
    return tuple(modes)


BUSINESS_FIELDS = ("metric", "failure_metric")


def check_business_signal(template: str, name: str, line: int) -> None:
    """A business mode's signal is a template over the metric's own selectors: only the bare
    fields ``{metric}`` and ``{failure_metric}`` (``str.format`` would otherwise raise on
    ``{nope}`` and ``x{``, and pad ``{metric:>1000000000}`` to a gigabyte), and what they make
    must be a selector."""
    try:
        fields = [(placeholder, spec, conversion) for _, placeholder, spec, conversion in string.Formatter().parse(template) if placeholder is not None]
    except ValueError as exc:
        raise InputError(name, line, f"bad business signal {template!r}: {exc} (write {{{{ and }}}} for literal braces)") from None
    for filled, spec, conversion in fields:
        if filled not in BUSINESS_FIELDS or spec or conversion:
            raise InputError(name, line, f"bad business signal {template!r}: only {{metric}} and {{failure_metric}} may be filled in")
    example = template.format(**{filled: filled for filled in BUSINESS_FIELDS})
    try:
        promql.parse_selector(example)
    except promql.PromQLError as exc:
        raise InputError(name, line, f"bad business signal {template!r}: {exc}") from None


def selector_list(value: object, name: str, line: int, check: bool = True) -> tuple[str, ...]:
    """A list of PromQL vector selectors (a single string is a list of one), each checked."""
    if value is None:
        return ()
    items = value if isinstance(value, YSeq) else [value]
    result = []
    for item in items:
        if not isinstance(item, str):
            raise InputError(name, line, "signals must be PromQL selectors (strings)")
        if check:
            try:
                promql.parse_selector(item)
            except promql.PromQLError as exc:
                raise InputError(name, line, f"bad signal selector {item!r}: {exc}") from None
        result.append(item)
    return tuple(result)
