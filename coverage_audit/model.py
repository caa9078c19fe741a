"""Plain, frozen data that every other module shares.

Loaders produce these objects; the graph and the analysis read them; reporters render what the
analysis derives from them. Nothing here performs I/O.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass, field, fields
from datetime import date
from typing import TYPE_CHECKING, Literal, Mapping

import re2

if TYPE_CHECKING:  # promql builds on this module; the annotation only names its type
    from .promql import Query


class Compact:
    """Pickles a slotted dataclass as ``cls(*fields)``: several times smaller and faster than the
    default, which matters when worker processes send tens of thousands of rules back."""

    __slots__ = ()
    _init_fields: dict[type, tuple[str, ...]] = {}

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        cls = type(self)
        names = Compact._init_fields.get(cls)
        if names is None:
            names = Compact._init_fields[cls] = tuple(f.name for f in fields(cls) if f.init)  # type: ignore[arg-type]
        return (cls, tuple(getattr(self, name) for name in names))


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """A problem with an input file: what is wrong, and where."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        if self.line == 0 and "://" in self.file:  # a live source: its URL has no lines
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "message": self.message}


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file that was read but holds nothing of the kind asked for (not an error)."""

    file: str
    reason: str


class InputError(Exception):
    """An input file that cannot be used; carries the file and line for the one-line message."""

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}")
        self.diagnostic = Diagnostic(file, line, message)


# --------------------------------------------------------------------------- label matchers


class MatchOp(enum.Enum):
    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"

    @property
    def negative(self) -> bool:
        return self in (MatchOp.NE, MatchOp.NRE)

    @property
    def regex(self) -> bool:
        return self in (MatchOp.RE, MatchOp.NRE)


def _quiet_options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # RE2 would print every invalid pattern to stderr
    return options


_RE2_OPTIONS = _quiet_options()


@functools.lru_cache(maxsize=4096)
def compile_anchored(pattern: str) -> re2._Regexp:
    """RE2, anchored at both ends, exactly as Prometheus and Alertmanager compile matchers.

    Raises ``re2.error`` for an invalid pattern."""
    return re2.compile(f"^(?:{pattern})$", _RE2_OPTIONS)


@dataclass(frozen=True, slots=True)
class LabelMatcher(Compact):
    """One label matcher, as in PromQL selectors and Alertmanager routes."""

    name: str
    op: MatchOp
    value: str

    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        # Matchers are hashed millions of times (memo keys); Enum.__hash__ is slow Python code.
        object.__setattr__(self, "_hash", hash((self.name, self.op.value, self.value)))

    def __hash__(self) -> int:
        return self._hash

    def matches(self, value: str | None) -> bool:
        """Does a series whose label has this value (None: label absent) pass the matcher?"""
        text = value or ""  # an absent label matches like the empty string
        if self.op is MatchOp.EQ:
            return text == self.value
        if self.op is MatchOp.NE:
            return text != self.value
        try:
            hit = compile_anchored(self.value).match(text) is not None
        except re2.error:  # a pattern RE2 refuses selects nothing, as in Prometheus
            hit = False
        return hit if self.op is MatchOp.RE else not hit

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op.value}"{escaped}"'


def matches_all(matchers: tuple[LabelMatcher, ...], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels.get(m.name)) for m in matchers)


# --------------------------------------------------------------------------- rules

RuleKind = Literal["alert", "record"]
Level = Literal["application", "infrastructure", "none"]


@dataclass(frozen=True, slots=True, eq=False)
class Rule(Compact):
    """One alerting or recording rule, wherever it came from."""

    kind: RuleKind
    name: str
    expr: str
    group: str
    file: str
    line: int
    source: str  # prometheus | prometheusrule | thanos | mimir
    interval: float | None = None  # the group's evaluation interval, seconds (None: global)
    query_offset: float = 0.0  # group query_offset / Mimir evaluation_delay, seconds
    for_seconds: float = 0.0
    keep_firing_for: float = 0.0
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    query: "Query | None" = None  # None when the expression could not be parsed
    parse_error: str | None = None
    # Why the rule is listed but not judged (a Grafana rule on a Loki data source, a condition
    # with no PromQL equivalent); such a rule has no query. None: judged like any other.
    not_judged: str | None = None

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"


# --------------------------------------------------------------------------- Alertmanager


@dataclass(frozen=True, slots=True)
class Receiver:
    name: str
    integrations: tuple[str, ...]  # e.g. ("pagerduty", "slack"): the *_configs that are set
    line: int = 0

    @property
    def blackhole(self) -> bool:
        """A receiver with no integrations drops every notification."""
        return not self.integrations


@dataclass(frozen=True, slots=True)
class Route:
    """A node of the routing tree with every inheritable setting already resolved."""

    receiver: str
    matchers: tuple[LabelMatcher, ...]
    continue_: bool
    group_by: tuple[str, ...] | None  # None: not grouped; ("...",): every label
    group_wait: float
    group_interval: float
    repeat_interval: float
    mute_time_intervals: tuple[str, ...]
    active_time_intervals: tuple[str, ...]
    routes: tuple["Route", ...]
    line: int = 0
    path: tuple[int, ...] = ()  # child indexes from the root: a stable id for the node


@dataclass(frozen=True, slots=True)
class InhibitRule:
    source_matchers: tuple[LabelMatcher, ...]
    target_matchers: tuple[LabelMatcher, ...]
    equal: tuple[str, ...]
    line: int = 0


@dataclass(frozen=True, slots=True)
class AlertmanagerConfig:
    file: str
    route: Route
    receivers: Mapping[str, Receiver]
    inhibit_rules: tuple[InhibitRule, ...] = ()
    time_intervals: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where an alert with given labels ends up: one matched route and its receiver."""

    receiver: str
    blackhole: bool
    group_wait: float
    group_interval: float
    repeat_interval: float
    route_path: tuple[int, ...]
    muted_by: tuple[str, ...] = ()  # mute_time_intervals on the route
    active_only: tuple[str, ...] = ()  # active_time_intervals on the route


# --------------------------------------------------------------------------- service map

Direction = Literal["rise", "drop", "absent"]
Tier = Literal["critical", "standard", "low"]


@dataclass(frozen=True, slots=True)
class FailureMode:
    """A way a subject can fail, and the metric selectors in which that failure shows."""

    id: str
    direction: Direction
    signals: tuple[str, ...]  # PromQL vector selectors, e.g. 'http_requests_total{code=~"5.."}'
    description: str = ""
    inverse: tuple[str, ...] = ()  # selectors that move the other way (misses, for hit_ratio_drop)
    model: str = ""  # how the signal responds to a failure (scenarios.MODELS); "" derives one
    companions: tuple[str, ...] = ()  # ids of sibling modes that fail along with this one
    implied: tuple["FailureMode", ...] = ()  # those sibling modes, resolved for a component


@dataclass(frozen=True, slots=True)
class Component:
    service: str
    name: str
    kind: str  # a kind from the failure-mode catalog
    paths: tuple[str, ...]  # gitignore-style globs
    signals: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # mode id -> selectors
    failure_modes: tuple[FailureMode, ...] = ()  # extra, custom modes
    file: str = ""
    line: int = 0
    # Optional: matchers picking this component's series instead of the service selector, for
    # series an exporter publishes under its own job (consumer lag, CronJob status).
    selector: str = ""
    matchers: tuple[LabelMatcher, ...] = ()  # the first alternative
    alternatives: tuple[tuple[LabelMatcher, ...], ...] = ()  # every alternative selector
    publishes: tuple[str, ...] = ()  # topics/queues it writes to
    consumes: tuple[str, ...] = ()  # topics/queues it reads: their publishers feed it

    @property
    def subject(self) -> str:
        return f"{self.service}/{self.name}"


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    owner: str
    tier: Tier = "standard"
    selector: str = ""  # PromQL matchers text as written, e.g. '{job="payments"}' (alternatives joined by " or ")
    matchers: tuple[LabelMatcher, ...] = ()  # parsed from selector: what picks its series (first alternative)
    depends_on: tuple[str, ...] = ()
    components: tuple[Component, ...] = ()
    system: str | None = None  # Backstage spec.system
    file: str = ""
    line: int = 0
    alternatives: tuple[tuple[LabelMatcher, ...], ...] = ()  # every alternative selector (DESIGN 3.3)
    traffic: float | None = None  # typical requests (or messages) per second, for absolute thresholds


Selectors = tuple[tuple[LabelMatcher, ...], ...]  # alternatives: a series of the subject passes one


def subject_selectors(service: "Service | None", component: "Component | None" = None) -> Selectors:
    """The alternative matcher sets that pick a subject's series: a component's own selector
    replaces its service's (series an exporter publishes under its own job); none for a
    business metric. The one place that answers this for impact, judging and drafts."""
    if component is not None and component.matchers:
        return component.alternatives or (component.matchers,)
    if service is None or not service.matchers:
        return ((),)
    return service.alternatives or (service.matchers,)


@dataclass(frozen=True, slots=True)
class BusinessMetric:
    name: str
    owner: str
    metric: str  # selector of good events (a counter)
    failure_metric: str | None = None  # selector of bad events
    depends_on: tuple[str, ...] = ()  # services whose failures show up here
    file: str = ""
    line: int = 0

    @property
    def subject(self) -> str:
        return f"business/{self.name}"


@dataclass(frozen=True, slots=True)
class CodeOwnersRule:
    pattern: str
    owners: tuple[str, ...]
    line: int = 0


@dataclass(frozen=True, slots=True)
class ServiceMap:
    services: Mapping[str, Service]  # by name, in definition order
    business_metrics: Mapping[str, BusinessMetric]
    codeowners: tuple[CodeOwnersRule, ...] = ()
    codeowners_file: str | None = None


@dataclass(frozen=True, slots=True)
class Waiver:
    """An accepted gap (DESIGN 5.4): a failure mode someone owns the risk of, until a date."""

    subject: str  # a glob: "payments/*", "business/orders_completed"
    failure_mode: str  # a glob too ("*": every mode of the subject)
    reason: str
    owner: str
    expires: date  # the last day the waiver holds
    file: str = ""
    line: int = 0

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Change:
    """What a change touches: file paths (repository-relative) and/or named components."""

    paths: tuple[str, ...] = ()
    components: tuple[str, ...] = ()  # "service/component"
    source: str = ""  # how it was given, for the report: "--changed", "git main..HEAD", ...
