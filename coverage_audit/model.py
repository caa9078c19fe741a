"""Plain, frozen data that every other module shares.

Loaders produce these objects; the graph and the analysis read them; reporters render what the
analysis derives from them. Nothing here performs I/O.
"""

from __future__ import annotations

import enum
import functools
import operator
import re
import sys
from dataclasses import dataclass, field, fields
from datetime import date
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping

import re2

if TYPE_CHECKING:  # promql builds on this module; the annotation only names its type
    from .promql import Query


class Compact:
    """Pickles a slotted dataclass as ``cls(*fields)``: several times smaller and faster than the
    default, which matters when worker processes send tens of thousands of rules back (and
    when the rule cache stores them)."""

    __slots__ = ()
    _getters: dict[type, Callable[[object], object]] = {}

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        cls = type(self)
        getter = Compact._getters.get(cls)
        if getter is None:
            names = [f.name for f in fields(cls) if f.init]  # type: ignore[arg-type]
            # attrgetter reads them all in C; with a single name it returns a bare value
            getter = operator.attrgetter(*names) if len(names) > 1 else (lambda obj, name=names[0]: (getattr(obj, name),))
            Compact._getters[cls] = getter
        return (cls, getter(self))  # type: ignore[return-value]


# --------------------------------------------------------------------------- sharing
#
# A loaded rule set repeats the same matchers, label sets and expressions tens of thousands of
# times. The loader keeps one of each (loaders.rules, promql); rules that come back from a
# pickle (a worker process, the cache) are rebuilt through these tables too, so that a rule set
# takes the same memory however it was loaded. Only immutable values (or mappings nobody
# mutates: Rule's are read-only) go in.

_SHARED: dict[object, Any] = {}


def shared_mapping(mapping: dict[str, str]) -> dict[str, str]:
    """One dict per distinct set of items (in order)."""
    return _SHARED.setdefault(("mapping", *mapping.items()), mapping)  # type: ignore[no-any-return]


def _rule_from_pickle(*values: Any) -> "Rule":
    kind, name, expr, group, file, line, source, interval, offset, for_seconds, keep, labels, annotations, query, error, not_judged = values
    if query is not None:  # copies of a rule in other files share one parsed expression
        query = _SHARED.setdefault(("query", expr), query)
    return Rule(kind, sys.intern(name), sys.intern(expr), sys.intern(group), sys.intern(file), line, source, interval,
                offset, for_seconds, keep, shared_mapping(labels), shared_mapping(annotations), query, error, not_judged)  # fmt: skip


def _matcher_from_pickle(name: str, op: "MatchOp", value: str) -> "LabelMatcher":
    return shared_matcher(name, op, value)


def shared_matcher(name: str, op: "MatchOp", value: str) -> "LabelMatcher":
    """The one LabelMatcher for these values (keyed by the operator's text: Enum members hash
    in Python, slowly)."""
    key = ("matcher", name, op._value_, value)
    found = _SHARED.get(key)
    if found is None:
        found = _SHARED[key] = LabelMatcher(sys.intern(name), op, sys.intern(value))
    return found  # type: ignore[no-any-return]


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


class OutputError(Exception):
    """A result that cannot be written (read-only folder, full disk, closed stdout): the file
    and why, for the one-line message."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: cannot write: {reason}")
        self.path = path
        self.reason = reason


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


@functools.lru_cache(maxsize=1 << 16)
def _regex_matches(pattern: str, text: str) -> bool:
    """Remembered: rule sets ask the same few patterns about the same few values millions of
    times (routing every alert, judging every read)."""
    try:
        return compile_anchored(pattern).match(text) is not None
    except (re2.error, UnicodeEncodeError):  # a pattern RE2 refuses selects nothing, as in Prometheus
        return False


def regex_error(pattern: str) -> str | None:
    """Why RE2 refuses a matcher's pattern, as Prometheus, promtool and Alertmanager would
    (``a{1001}``: repeat counts stop at 1000), or None when it compiles."""
    try:
        compile_anchored(pattern)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        return detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
    except UnicodeEncodeError:  # a lone surrogate (an undecodable byte) is not UTF-8
        return "the pattern is not valid UTF-8"
    return None


@dataclass(frozen=True, slots=True)
class LabelMatcher(Compact):
    """One label matcher, as in PromQL selectors and Alertmanager routes."""

    name: str
    op: MatchOp
    value: str

    _hash: int = field(init=False, repr=False, compare=False, default=0)
    # How matchers sort (pushed matchers are memo keys in a canonical order): (name, op, value).
    key: tuple[str, str, str] = field(init=False, repr=False, compare=False, default=("", "", ""))

    def __post_init__(self) -> None:
        # Matchers are hashed and sorted millions of times (memo keys); Enum.__hash__ and
        # ``op.value`` are slow Python code.
        key = (self.name, self.op.value, self.value)
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "_hash", hash(key))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        # Compared hundreds of thousands of times (``m in selector.matchers``): by the key made
        # once, not by tuples built per comparison.
        return self is other or (other.__class__ is LabelMatcher and self.key == other.key)  # type: ignore[attr-defined]

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (_matcher_from_pickle, (self.name, self.op, self.value))

    def matches(self, value: str | None) -> bool:
        """Does a series whose label has this value (None: label absent) pass the matcher?"""
        text = value or ""  # an absent label matches like the empty string
        if self.op is MatchOp.EQ:
            return text == self.value
        if self.op is MatchOp.NE:
            return text != self.value
        hit = _regex_matches(self.value, text)
        return hit if self.op is MatchOp.RE else not hit

    def __str__(self) -> str:
        return f"{label_name(self.name)}{self.op.value}{quoted(self.value)}"


_CLASSIC_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_CLASSIC_METRIC = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


_STRING_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
# what a PromQL string must not hold raw to stay on one line of a YAML block (controls, DEL, C1,
# Unicode line separators, YAML's non-characters)
_STRING_UNSAFE = re.compile('[\\\\"\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]')


def quoted(text: str) -> str:
    """A PromQL double-quoted string (Go escapes): quotes, backslashes and every control
    character escaped, so the text can sit in any YAML or one line of an expression."""
    return '"' + _STRING_UNSAFE.sub(lambda m: _STRING_ESCAPES.get(m.group(), f"\\u{ord(m.group()):04x}"), text) + '"'


def label_name(name: str) -> str:
    """A label name as PromQL writes it: bare when classic, quoted otherwise (Prometheus 3:
    ``{"service.name"="x"}``, ``by ("service.name")``)."""
    return name if _CLASSIC_LABEL.fullmatch(name) else quoted(name)


def selector_text(metric: str | None, matchers: "tuple[LabelMatcher, ...] | list[LabelMatcher]") -> str:
    """A vector selector as valid PromQL: ``metric{a="b"}``, or ``{"my.metric", a="b"}`` when
    the metric name is not a classic one."""
    inner = [str(m) for m in matchers]
    if metric and not _CLASSIC_METRIC.fullmatch(metric):
        return "{" + ", ".join([quoted(metric), *inner]) + "}"
    return (metric or "") + ("{" + ",".join(inner) + "}" if inner or not metric else "")


MATCHER_ORDER = operator.attrgetter("key")  # sorted(matchers, key=MATCHER_ORDER): the canonical order
_NAME = operator.attrgetter("name")
_LITERAL_PATTERN = re.compile(r"[\w\-:/ ]*")


def literal_pattern(pattern: str) -> bool:
    """A regex with no special character matches only its own text (label regexes are
    anchored): ``type=~"web"`` pins the label like ``type="web"``."""
    return _LITERAL_PATTERN.fullmatch(pattern) is not None


def pushed_into(matchers: tuple[LabelMatcher, ...], labels: Mapping[str, str]) -> tuple[LabelMatcher, ...]:
    """A read's matchers (in canonical order) as they reach the body of a recording rule that
    sets ``labels`` itself: those matchers are answered by the rule, not by what it reads."""
    if labels and not labels.keys().isdisjoint(map(_NAME, matchers)):
        return tuple(m for m in matchers if m.name not in labels)
    return matchers


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

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (_rule_from_pickle, _RULE_FIELDS(self))  # type: ignore[operator]


_RULE_FIELDS = operator.attrgetter(*(f.name for f in fields(Rule) if f.init))


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
