"""The synthetic world a drill writes: the subject's series, healthy and then failing.

The series are those the drilled alerts read (through their recording rules), as one consistent
world: a failing mode's metric family is split the way the failure splits it — the failing
series (``code="500"``) and the healthy rest (``code="200"``) — and every read selects from
them what its matchers select, exactly as in production. So a denominator sums both, a
numerator sees only the failures, and the engine, not this module, decides what an expression
makes of them.

Labels come from the reads' matchers and the subject's selector (``witness_labels``); levels
from the shared world model (``scenarios.behaviour``), by each series' role towards the failure
(``roles.role_of``). Nothing is derived from an alert's threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable

from ..analysis.matching import compatible, healthy_value, regex_examples, requires_value, witness_labels
from ..conventions import healthy_values, is_outcome_label
from ..analysis.roles import role_of
from ..model import LabelMatcher, MatchOp, Selectors
from ..promql import Selector
from ..scenarios import Behaviour, Role, Scenario, behaviour
from .config import DrillConfig
from .reads import Read

SeriesKind = str  # "signal" | "rest" | "other": what a written series is to the failure
_KINDS_FOR_ROLE: dict[Role, tuple[SeriesKind, ...]] = {
    "signal": ("signal",),
    "total": ("signal", "rest"),
    "rest": ("rest",),
    "other": ("other",),
}
_SPECIAL_LABELS = frozenset({"__name__", "le"})  # set per written series, not by witnesses


class Unsupported(Exception):
    """The drill cannot write series this read needs; the message says why."""


@dataclass(frozen=True, slots=True)
class Failure:
    """What fails: a subject's failure mode in one scenario."""

    model: str
    signals: tuple[Selector, ...]
    inverse: tuple[Selector, ...]
    subject: Selectors  # the subject's selector alternatives (a series passes one)
    traffic: float  # the subject's requests (or messages) per second
    scenario: Scenario
    canary: tuple[LabelMatcher, ...] = ()  # Settings.canary_selector: what marks a canary
    instances: int = 20


@dataclass(frozen=True, slots=True)
class Series:
    """One written series (a histogram family expands into buckets when written)."""

    metric: str
    labels: tuple[tuple[str, str], ...]  # sorted, without __name__ and le
    behaviour: Behaviour


@dataclass(frozen=True, slots=True)
class World:
    series: tuple[Series, ...]
    bucket_bounds: dict[str, tuple[str, ...]] = field(default_factory=dict)  # `le` values reads pin, by metric


def build_world(reads: Iterable[Read], failure: Failure, config: DrillConfig) -> World:
    families: dict[str, list[Read]] = {}
    for read in reads:
        families.setdefault(metric_name(read.selector), []).append(read)
    written: dict[tuple[str, tuple[tuple[str, str], ...]], Series] = {}
    bounds: dict[str, tuple[str, ...]] = {}
    for name, family in families.items():
        for series in _family(name, family, failure, config):
            written.setdefault((series.metric, series.labels), series)  # first (signal) wins
        pinned = _pinned_bounds(family)
        if pinned:
            bounds[name] = pinned
    return World(tuple(written.values()), bounds)


def metric_name(selector: Selector) -> str:
    if selector.metric:
        return selector.metric
    names = [m for m in selector.matchers if m.name == "__name__"]
    chosen = (witness_labels(names) or {}).get("__name__") if names else None
    if not chosen or not _is_metric_name(chosen):
        raise Unsupported(f"it reads {selector} by labels alone, which names no metric to write")
    return chosen


def _is_metric_name(text: str) -> bool:
    return bool(text) and not text[0].isdigit() and all(c.isalnum() and c.isascii() or c in "_:" for c in text)


# --------------------------------------------------------------------------- one metric family


@dataclass(slots=True)
class _Cluster:
    """Reads that can select one set of series together (their matchers agree)."""

    subject: tuple[LabelMatcher, ...]
    partition: Selector | None  # the signal that splits these series into failing and healthy
    constraints: dict[SeriesKind, list[tuple[LabelMatcher, ...]]]

    def fits(self, kinds: tuple[SeriesKind, ...], matchers: tuple[LabelMatcher, ...], bases: dict[SeriesKind, tuple[LabelMatcher, ...]]) -> bool:
        return all(
            witness_labels(self.subject, bases[kind], *self.constraints.get(kind, ()), matchers) is not None for kind in kinds
        )


def _family(name: str, family: list[Read], failure: Failure, config: DrillConfig) -> list[Series]:
    signals = [s for s in failure.signals if s.metric == name]
    inverse = tuple(s for s in failure.inverse if s.metric == name)
    preferred = _partition(signals, family, inverse)
    # Each of the mode's signals on this family may split it: a read that narrows to failures
    # the preferred one leaves out (``grpc_code="Unavailable"`` beside ``="DeadlineExceeded"``)
    # gets failing series of its own signal rather than none.
    partitions: list[Selector | None] = [preferred, *(s for s in signals if s is not preferred)]
    bases = {id(p): _bases(p, inverse, family, tuple(signals)) for p in partitions}
    clusters: list[_Cluster] = []
    for read in family:
        matchers = tuple(m for m in read.selector.matchers if m.name not in _SPECIAL_LABELS)
        if witness_labels(matchers) is None:
            continue  # it selects no series in any world (``type=~"api"`` pushed ``type="web"``)
        subject = next((s for s in failure.subject if compatible(matchers, s)), ())  # the alternative it reads
        partition, kinds = _placed(read, partitions, bases, subject, matchers, inverse)
        if kinds == ("other",) and read.suppressing:
            continue  # a series that only silences the alert: its absence is the neutral world
        own = bases[id(partition)]
        cluster = next((c for c in clusters if c.subject == subject and c.partition is partition and c.fits(kinds, matchers, own)), None)
        if cluster is None:
            cluster = _Cluster(subject, partition, {})
            clusters.append(cluster)
        for kind in kinds:
            cluster.constraints.setdefault(kind, []).append(matchers)
    pinned = {m.name for read in family for m in read.selector.matchers}
    spread = next((label for label in config.instance_labels if label not in pinned), None)
    out: list[Series] = []
    for cluster in clusters:
        for kind, constraints in cluster.constraints.items():
            labels = witness_labels(cluster.subject, bases[id(cluster.partition)][kind], *constraints)
            assert labels is not None  # every read was admitted only if its cluster kept a witness
            out += _instances(name, kind, labels, spread, failure, config)
    return out


def _placed(
    read: Read,
    partitions: list[Selector | None],
    bases: dict[int, dict[SeriesKind, tuple[LabelMatcher, ...]]],
    subject: tuple[LabelMatcher, ...],
    matchers: tuple[LabelMatcher, ...],
    inverse: tuple[Selector, ...],
) -> tuple[Selector | None, tuple[SeriesKind, ...]]:
    """Which split of the family a read selects from, and which kinds of its series. Its role
    is the judge's (against all the mode's signals); its series come from the first split
    whose failing (or healthy) series can carry its matchers. A read whose matchers no split
    can carry reads series the failure does not move (``other``: ``route="/b"`` against a
    failing ``route="/a"``)."""
    signals = tuple(p for p in partitions if p is not None)
    role = role_of(read.selector, signals, inverse)
    kinds = _KINDS_FOR_ROLE[role]
    if role != "other":
        for partition in partitions:
            if all(witness_labels(subject, bases[id(partition)][k], matchers) is not None for k in kinds):
                return partition, kinds
    return partitions[0], ("other",)


def _partition(signals: list[Selector], family: list[Read], inverse: tuple[Selector, ...]) -> Selector | None:
    """The signal that splits this family into failing and healthy series: of the mode's
    signals on this metric, the one most reads narrow like (``code`` vs ``status``)."""
    if not signals:
        return None
    return max(signals, key=lambda s: sum(role_of(r.selector, (s,), inverse) == "signal" for r in family))


def _bases(
    partition: Selector | None, inverse: tuple[Selector, ...], family: list[Read], signals: tuple[Selector, ...]
) -> dict[SeriesKind, tuple[LabelMatcher, ...]]:
    """The matchers each kind of series must pass: failing series the signal's; the healthy
    rest a healthy value on every label the signal narrows (``code="200"``), or the inverse
    signal's (``result="miss"``). Where the signal is a whole family (throughput) and a read
    keeps only its failed outcomes (``code=~"5.."``, role ``rest``), the family's series carry
    a healthy value there, so that read sees only the failed part."""
    signal_base = partition.matchers if partition is not None else ()
    rest: list[LabelMatcher] = []
    if partition is not None:
        narrowing = [m for m in partition.matchers if requires_value(m)]
        for matcher in narrowing:
            opposite = next((m.value for s in inverse for m in s.matchers if m.name == matcher.name and m.op is MatchOp.EQ), None)
            value = opposite if opposite is not None else healthy_value(matcher)
            if value is None:
                rest.append(LabelMatcher(matcher.name, MatchOp.NRE if matcher.op.regex else MatchOp.NE, matcher.value))
            else:
                rest.append(LabelMatcher(matcher.name, MatchOp.EQ, value))
        if not narrowing:
            failed = {m.name for r in family if role_of(r.selector, signals, inverse) == "rest"
                      for m in r.selector.matchers if is_outcome_label(m.name)}
            signal_base += tuple(LabelMatcher(label, MatchOp.EQ, healthy_values(label)[0]) for label in sorted(failed))
    elif inverse:
        rest = list(inverse[0].matchers)
    return {"signal": signal_base, "rest": tuple(rest), "other": ()}


def _instances(
    name: str,
    kind: SeriesKind,
    labels: dict[str, str],
    spread: str | None,
    failure: Failure,
    config: DrillConfig,
) -> list[Series]:
    """The series of one kind: the service as one instance, or — in the canary scenario, for
    series the failure moves — every instance, the first of them the failing canary."""
    role: Role = kind  # type: ignore[assignment]  # signal/rest/other are roles too
    canary, stable = _canary_labels(failure.canary, labels, config)
    if not failure.scenario.canary or kind == "other":
        moved = behaviour(failure.model, role, failure.scenario, failure.traffic, name)
        own = {**labels, **stable}
        if spread is not None:
            own.setdefault(spread, config.instance(0))
        return [_series(name, own, moved)]
    if spread is None:
        raise Unsupported("its reads pin every label that tells instances apart, so no canary can be placed")
    failing = behaviour(failure.model, role, failure.scenario, failure.traffic, name, whole_instance=True)
    healthy = steady(failing)
    out = [_series(name, {**labels, **canary, spread: config.instance(0)}, failing)]
    out += [_series(name, {**labels, **stable, spread: config.instance(i)}, healthy) for i in range(1, failure.instances)]
    return out


def _canary_labels(
    canary: tuple[LabelMatcher, ...], labels: dict[str, str], config: DrillConfig
) -> tuple[dict[str, str], dict[str, str]]:
    """Labels of the canary instance and of the others, from ``canary_selector``."""
    if not canary:
        return {}, {}
    marked = witness_labels(canary) or {}
    stable: dict[str, str] = {}
    for label in {m.name for m in canary}:
        on_label = [m for m in canary if m.name == label]
        current = labels.get(label)
        if current is not None and not all(m.matches(current) for m in on_label):
            continue  # the reads already give a value that is not the canary's
        choice = next((v for v in config.stable_values if not all(m.matches(v) for m in on_label)), None)
        if choice is None:
            negated = [LabelMatcher(m.name, MatchOp.NRE if m.op.regex else MatchOp.NE, m.value) for m in on_label if not m.op.negative]
            choice = (witness_labels(negated) or {}).get(label, "")
        stable[label] = choice
    return marked, stable


def steady(moved: Behaviour) -> Behaviour:
    """The same series, healthy throughout (an instance the canary failure leaves alone)."""
    return replace(
        moved,
        rate_after=moved.rate_before,
        value_after=moved.value_before,
        slope_after=0.0,
        latency_after=moved.latency_before,
        slow_share_after=0.0,
        vanishes=False,
    )


def _series(name: str, labels: dict[str, str], moved: Behaviour) -> Series:
    return Series(name, tuple(sorted((k, v) for k, v in labels.items() if v)), moved)


def _pinned_bounds(family: list[Read]) -> tuple[str, ...]:
    """``le`` values the reads pin (``{le="0.5"}``): the written buckets must carry them as
    spelled."""
    found: list[str] = []
    for read in family:
        for matcher in read.selector.matchers:
            if matcher.name != "le":
                continue
            if matcher.op is MatchOp.EQ:
                found.append(matcher.value)
            elif matcher.op is MatchOp.RE:
                found += [v for v in regex_examples(matcher.value) if matcher.matches(v)]
    return tuple(dict.fromkeys(found))
