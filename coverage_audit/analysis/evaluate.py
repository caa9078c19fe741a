"""Evaluate an alert for one subject in one failure scenario: does it fire, when, and why.

This is DESIGN 5 and 5.1 as an abstract interpreter. Every raw series an alert reads (through
its recording rules, with the alert's matchers and offsets pushed down) behaves as the shared
world model says (``scenarios.behaviour``): the failing series step from healthy to failed at
t = 0, the rest stay healthy. The expression is evaluated over those :class:`~.curves.Curve` s
and :class:`~.curves.Span` s exactly as PromQL would evaluate it, so one mechanism answers what
used to be a list of special cases:

* direction — ``rate(errors) < 5`` never fires when errors rise;
* offsets — a read with ``offset 30s`` sees the step 30 s later (a delay); one with ``offset 1w``
  sees only healthy data (a baseline) because the step has not reached it;
* magnitude — a ratio ``> 1.5`` is never crossed; a burn-rate page on a 1h window at 14.4x a
  99.9 % objective crosses after about a minute in an outage; a threshold of 2 on a millisecond
  histogram is crossed while healthy (noise);
* joins and filters — ``and on(...) mapping`` keeps the series a static recording lets through,
  ``>= 0`` filters pass, a guard on traffic passes while traffic flows;
* scenarios — a canary seen through ``sum by (job)`` is 5 % of the traffic, through a read that
  keeps ``instance`` it is the whole of one series.

Work is linear in the rule DAG: every node is evaluated once per context (the labels that
survive above it, the matchers pushed into a recording), however many paths reach it; an offset
shifts an answer in time instead of asking again.
"""

from __future__ import annotations

import math
import operator
import sys
from dataclasses import dataclass, replace
from typing import Callable, Mapping

from ..model import MATCHER_ORDER, LabelMatcher, MatchOp, Rule, pushed_into
from ..promql import Aggregate, Binary, Call, Expr, Number, Selector, String, Subquery, Unary, simplified, without_offset
from ..ruleset import RecordIndex
from .reads import ReadIndex
from ..scenarios import EPOCH, Behaviour, Scenario, behaviour
from .curves import ALWAYS, INF, NEVER, Curve, Span
from .matching import compatible_pair, is_specific
from .roles import role_of

MAX_RECORDING_DEPTH = 16  # recording rules on recording rules; real sets use 3-4 levels
SCRAPE_INTERVAL = 30.0  # seconds between samples, for sum_over_time / count_over_time
sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))  # nesting x recording depth


@dataclass(frozen=True, slots=True)
class World:
    """The subject, its failure mode and the scenario an alert is evaluated in."""

    identity: tuple[LabelMatcher, ...]  # one alternative of the subject's selector
    identity_labels: frozenset[str]  # labels that tell the subject's series apart
    signals: tuple[Selector, ...]
    inverse: tuple[Selector, ...]
    model: str
    scenario: Scenario
    traffic: float
    canary_labels: frozenset[str]  # labels that tell a canary apart (instance, pod, ...)
    companions: tuple[tuple[str, tuple[Selector, ...]], ...] = ()  # (model, signals) that move along
    routing_labels: frozenset[str] = frozenset()  # labels the Alertmanager routes match on
    elsewhere: tuple[LabelMatcher, ...] = ()  # the subject's other alternative selectors' matchers
    join_labels: frozenset[str] = frozenset()  # labels the rule set joins on (on(), ignoring())


@dataclass(frozen=True, slots=True)
class Comparison:
    """The threshold comparison nearest the top that the failing signal reaches."""

    op: str
    healthy: float
    failed: float
    threshold: float


@dataclass(frozen=True, slots=True)
class Facts:
    """What evaluation learned on the way, merged bottom-up."""

    signal: bool = False  # the value depends on the failing series
    watch: Selector | None = None  # the first read of the failing series
    labels: tuple[tuple[str, str], ...] = ()  # equality matchers of those reads kept to the top
    isolated: bool = False  # some failing read tells the subject apart
    filters: tuple[str, ...] = ()  # joins the rule set cannot evaluate
    unsure: tuple[str, ...] = ()  # functions on the failing path the model does not know
    comparison: Comparison | None = None
    empty_reads: tuple[str, ...] = ()  # recorded names no recording produces for these labels
    absence: bool = False  # the failing series reach the result only through their absence
    near: tuple[str, ...] = ()  # reads of the signal's family that miss its failing series
    moved: bool = False  # some read below moves in the scenario (the signal's or a companion's)

    def merge(self, other: "Facts") -> "Facts":
        if other is _NO_FACTS:
            return self
        if self is _NO_FACTS:
            return other
        return Facts(
            signal=self.signal or other.signal,
            watch=self.watch or other.watch,
            labels=_union(self.labels, other.labels),
            isolated=self.isolated or other.isolated,
            filters=_union(self.filters, other.filters),
            unsure=_union(self.unsure, other.unsure),
            comparison=self.comparison or other.comparison,
            empty_reads=_union(self.empty_reads, other.empty_reads),
            absence=(self.absence or not self.signal) and (other.absence or not other.signal),
            near=_union(self.near, other.near),
            moved=self.moved or other.moved,
        )


_NO_FACTS = Facts()


def _union(a: tuple, b: tuple) -> tuple:  # type: ignore[type-arg]
    if not b:
        return a
    if not a:
        return b
    return tuple(dict.fromkeys(a + b))


@dataclass(frozen=True, slots=True)
class Hist:
    """A histogram's buckets: request rate, and the share of them that are slow."""

    rate: Curve
    slow: Curve
    fast_latency: float
    slow_latency: float


@dataclass(frozen=True, slots=True)
class Value:
    curve: Curve | None  # None for a set of histogram buckets or a string
    span: Span  # when the subject's series are there
    facts: Facts = _NO_FACTS
    hist: Hist | None = None
    rate: Curve | None = None  # a counter read over a range: its instantaneous rate
    range: float | None = None  # the range window of a range read or subquery
    scalar: bool = False
    static: tuple[Mapping[str, str], ...] | None = None  # a recording of constants: its label sets
    unknown: bool = False  # a gauge the failure does not touch and whose level nobody knows


@dataclass(frozen=True, slots=True)
class Outcome:
    """An alert's answer in one world: when it fires (None: never) and what was learned."""

    fires_at: float | None  # seconds after the step, including offsets, windows and ``for``
    noisy: bool  # it fires while healthy: it detects nothing
    facts: Facts


class Grouping:
    """The labels that matter to a verdict (the canary's, the subject's, those routes match on)
    still present above a node. Only these are tracked, so the contexts a rule DAG is evaluated
    in stay few however many different aggregations it holds.

    One object per label set (``Grouping.of``): contexts are memo keys looked up hundreds of
    thousands of times, and identity hashes and compares in C."""

    __slots__ = ("kept",)
    _known: "dict[frozenset[str], Grouping]" = {}

    def __init__(self, kept: frozenset[str]) -> None:
        self.kept = kept

    @classmethod
    def of(cls, kept: frozenset[str]) -> "Grouping":
        found = cls._known.get(kept)
        if found is None:
            found = cls._known[kept] = cls(kept)
        return found

    def __repr__(self) -> str:
        return f"Grouping({sorted(self.kept)})"

    def keeps(self, label: str) -> bool:
        return label in self.kept

    def by(self, labels: tuple[str, ...], without: bool) -> "Grouping":
        chosen = frozenset(labels)
        return Grouping.of(self.kept - chosen if without else self.kept & chosen)

    def on(self, labels: tuple[str, ...]) -> "Grouping":
        return Grouping.of(self.kept & frozenset(labels))


class _Ctx:
    """Where a node is evaluated: the labels kept above it, the matchers pushed into it, how
    many recordings deep. One object per such triple (``_Ctx.of``): contexts are in every memo
    key, looked up several times per node evaluated, and identity hashes in C, where a tuple of
    matchers hashed each matcher again in Python at every lookup."""

    __slots__ = ("grouping", "push", "depth")
    _known: "dict[tuple[Grouping, tuple[LabelMatcher, ...], int], _Ctx]" = {}
    # One tuple per set of pushed matchers too: memos that depend on the push alone (a pushed
    # read, a quiet value) key it by identity.
    _pushes: "dict[tuple[LabelMatcher, ...], tuple[LabelMatcher, ...]]" = {}

    grouping: Grouping
    push: tuple[LabelMatcher, ...]  # an alert's matchers pushed into a recording's body
    depth: int  # recording rules entered

    @classmethod
    def of(cls, grouping: Grouping, push: tuple[LabelMatcher, ...] = (), depth: int = 0) -> "_Ctx":
        key = (grouping, push, depth)
        found = cls._known.get(key)
        if found is None:
            found = cls._known[key] = cls.__new__(cls)
            found.grouping, found.push, found.depth = grouping, cls._pushes.setdefault(push, push), depth
        return found

    def __repr__(self) -> str:
        return f"_Ctx({self.grouping!r}, {self.push!r}, {self.depth})"


class Quiet:
    """Which subtrees read nothing a world's failure touches, and their shared values.

    A subtree is quiet when none of the raw metric names it may read is one the failure moves
    (the mode's signals, its inverse, its companions). Quiet values only depend on the
    subject's selector (joins read its labels) and traffic, so one ``values`` table serves
    every mode and scenario of every subject picked by the same selector.
    """

    def __init__(self, reads: "ReadIndex", values: dict[tuple[int, int, int], "Value"],
                 moving: frozenset[str], touches: Callable[[Selector], bool]) -> None:
        self.reads = reads
        self.values = values
        self.moving = moving
        self.touches = touches  # does the failure concern this raw read (its role, for this subject)?
        self._nodes = reads.reading_any(moving)  # shared by every mode that moves the same names
        self._reads: dict[int, bool] = {}

    def holds(self, node: Expr) -> bool:
        return not self.touched(node)

    def touched(self, node: Expr) -> bool:
        """May the subtree read a metric the failure moves (by name: cheap, shared)?"""
        found = self._nodes.get(id(node))
        if found is None:
            found = self._nodes[id(node)] = not self.moving.isdisjoint(self.reads.metrics(node))
        return found

    def reaches(self, node: Expr, push: tuple[LabelMatcher, ...], depth: int) -> bool:
        """Does the subtree, with ``push`` pushed in, read the subject's failing series?"""
        reads = self.reads.under(node, push, depth)
        found = self._reads.get(id(reads))
        if found is None:
            found = self._reads[id(reads)] = any(map(self.touches, reads.raw))
        return found


class Evaluator:
    """Evaluates alerts against one rule set in one world; memoised per (node, context)."""

    def __init__(
        self,
        records: RecordIndex,
        world: World,
        still: dict[tuple[object, _Ctx], "Value"] | None = None,
        quiet: "Quiet | None" = None,
    ) -> None:
        self.records = records
        self.world = world
        self._memo: dict[tuple[object, _Ctx], Value] = {}
        # Values no scenario moves (guards, baselines, other series), shared by the evaluators
        # of the other scenarios of the same subject.
        self._still = still if still is not None else {}
        # Subtrees that read nothing of this subject's failure: the same for every subject and
        # mode of the run (at one traffic), so evaluated once for all of them.
        self._quiet = quiet
        self._pushes: dict[tuple[int, int], Selector] = {}
        tracked = world.canary_labels | world.identity_labels | world.routing_labels | world.join_labels
        self._top = _Ctx.of(Grouping.of(tracked | _labels(world.identity) | _labels(world.elsewhere)))

    def outcome(self, rule: Rule) -> Outcome:
        assert rule.query is not None
        value = self.eval(rule.query.ast, self._top)
        span = value.span
        if value.scalar:  # ``expr: 1``: a constant alert (a watchdog) fires always
            span = ALWAYS
        noisy = span.healthy
        fires = None if noisy else span.first_lasting(rule.for_seconds)
        return Outcome(fires, noisy, value.facts)

    # ------------------------------------------------------------------ dispatch

    def eval(self, node: Expr, ctx: _Ctx) -> Value:
        # An offset only moves what a read sees in time: evaluate without it (shared by every
        # offset a rule set reads the same series at) and shift the answer (once per offset:
        # GitLab reads everything at ``offset 30s``).
        if isinstance(node, Selector):
            if node.offset:
                shifted = self._memo.get((node, ctx))
                if shifted is None:
                    shifted = self._memo[(node, ctx)] = _shifted(self.eval(without_offset(node), ctx), node.offset)
                return shifted
            key: tuple[object, _Ctx] = (node, ctx)
            offset = 0.0
        else:
            key = (id(node), ctx)
            offset = node.offset if isinstance(node, Subquery) else 0.0
        found = self._memo.get(key)
        if found is None:
            found = self._still.get(key)
            if found is None:
                quiet = self._quiet is not None and self._quiet.holds(node)
                if quiet:
                    assert self._quiet is not None
                    shared = (id(node), id(ctx.push), ctx.depth)
                    found = self._quiet.values.get(shared)
                    if found is None:
                        found = self._quiet.values[shared] = self._eval(node, ctx)
                else:
                    found = self._eval(node, ctx)
                if not found.facts.moved:
                    self._still[key] = found
            self._memo[key] = found
        return _shifted(found, offset) if offset else found

    def _eval(self, node: Expr, ctx: _Ctx) -> Value:
        if isinstance(node, Number):
            return Value(Curve.constant(node.value), ALWAYS, scalar=True)
        if isinstance(node, String):
            return Value(None, ALWAYS, scalar=True)
        if isinstance(node, Selector):
            return self._selector(node, ctx)
        if isinstance(node, Unary):
            inner = self.eval(node.expr, ctx)
            return replace(inner, curve=inner.curve.map(lambda v: -v) if inner.curve else None)
        if isinstance(node, Subquery):
            inner = self.eval(node.expr, ctx)
            return Value(inner.curve, inner.span.extend(node.range), inner.facts, inner.hist, None, node.range, inner.scalar, inner.static)
        if isinstance(node, Aggregate):
            return self._aggregate(node, ctx)
        if isinstance(node, Call):
            return self._call(node, ctx)
        if isinstance(node, Binary):
            return self._binary(node, ctx)
        return Value(None, NEVER)

    # ------------------------------------------------------------------ reads

    def _selector(self, selector: Selector, ctx: _Ctx) -> Value:
        key = (id(selector), id(ctx.push))
        read = self._pushes.get(key)
        if read is None:
            read = self._pushes[key] = _pushed(selector, ctx)
        if ctx.push and not compatible_pair(read.matchers, ()):
            # The alert's matchers, pushed into a recording made for other series, contradict
            # its own (``type="api"`` into a read of ``type="web"``): that path reads nothing.
            return Value(Curve.constant(math.nan), NEVER)
        name = read.metric
        if name is not None and name in self.records and ctx.depth < MAX_RECORDING_DEPTH:
            return self._recorded(read, ctx)
        return self._raw(read, ctx)

    def _recorded(self, read: Selector, ctx: _Ctx) -> Value:
        rules = [r for r in self.records.definitions(read) if r.query is not None]
        if not rules:  # recorded under that name, but not for these labels: selects nothing
            return Value(Curve.constant(math.nan), NEVER, Facts(empty_reads=(str(read),)))
        ordered = tuple(sorted(read.matchers, key=MATCHER_ORDER))
        depth = ctx.depth + 1

        def inner(rule: Rule) -> _Ctx:
            return _Ctx.of(ctx.grouping, pushed_into(ordered, rule.labels), depth)

        if self._quiet is not None and len(rules) > 1:
            # Copies of one recording (per cluster, per shard) are alike for this subject: the
            # first that may read its failure stands for them all; the rest are not evaluated.
            quiet = self._quiet
            touching = [r for r in rules if quiet.touched(r.query.ast)]  # type: ignore[union-attr]
            if len(touching) > 1:  # the first of them that reads this subject's series
                reaching = (r for r in touching if quiet.reaches(r.query.ast, inner(r).push, depth))  # type: ignore[union-attr]
                touching = [next(reaching, touching[0])]
            rules = touching[:1] or rules[:1]
        bodies: list[tuple[Rule, Value]] = []
        for rule in rules:
            assert rule.query is not None
            bodies.append((rule, self.eval(rule.query.ast, inner(rule))))
        if all(v.static is not None or (v.scalar and not v.facts.signal) for _, v in bodies):
            # A recording of constants (a mapping, a threshold): its series are its labels.
            sets = tuple({**(s if isinstance(s, dict) else {}), **r.labels} for r, v in bodies for s in (v.static or ({},)))
            first = bodies[0][1]
            return Value(first.curve, ALWAYS, _NO_FACTS, static=sets, range=read.range)
        # A copy that reads nothing for these labels (pushed matchers contradict it) is no choice.
        answering = [(r, v) for r, v in bodies if not v.span.empty or v.facts.signal] or bodies
        chosen = next((v for _, v in answering if v.facts.signal), answering[0][1])
        facts = chosen.facts
        for _, v in bodies:
            if v is not chosen and v.facts.signal:
                facts = facts.merge(Facts(filters=v.facts.filters, unsure=v.facts.unsure))
        span = chosen.span if read.range is None else chosen.span.extend(read.range)
        curve = chosen.curve
        if chosen.scalar and curve is not None:  # vector(1) recorded: a series while present
            span = ALWAYS
        return Value(curve, span, facts, chosen.hist, None, read.range)

    def _raw(self, read: Selector, ctx: _Ctx) -> Value:
        world = self.world
        selects = subject_selects(read.matchers, world.identity, world.elsewhere)
        role = role_of(read, world.signals, world.inverse) if selects else "other"
        whole = not ctx.grouping.kept.isdisjoint(world.canary_labels)
        metric = read.metric or ""
        model = world.model
        unknown = False
        if role == "other":
            for companion_model, companion_signals in world.companions if selects else ():
                companion = role_of(read, companion_signals)
                if companion != "other":  # moved by the failure, but not its signal: a guard
                    model, role = companion_model, companion
                    break
        seen = behaviour(model, role, world.scenario, world.traffic, metric, whole)
        own = model == world.model  # not a companion's series
        moving = own and role != "other" and moves(seen)
        unknown = own and seen.kind == "gauge" and not moving and role in ("other", "total")
        facts = _NO_FACTS
        if moving or (own and role in ("signal", "rest")):
            kept = tuple((m.name, m.value) for m in read.matchers if m.op is MatchOp.EQ and ctx.grouping.keeps(m.name))
            kept += tuple((m.name, m.value) for m in world.identity if m.op is MatchOp.EQ and ctx.grouping.keeps(m.name))
            isolated = any(is_specific(m) and m.name in world.identity_labels for m in read.matchers) or any(
                ctx.grouping.keeps(label) for label in world.identity_labels
            )
            facts = Facts(signal=True, watch=read if role in ("signal", "rest") else None, labels=kept, isolated=isolated)
        elif own and role == "total":  # the family, but not the failing series: a near miss
            facts = Facts(near=(str(simplified(read)),))
        if moves(seen):
            facts = replace(facts, moved=True)
        span = Span(((-INF, read.range or 0.0),)) if seen.vanishes else ALWAYS
        if seen.kind == "histogram":
            return self._histogram_read(read, seen, span, facts)
        if seen.kind == "counter":
            rate = Curve.step(seen.rate_before, seen.rate_after)
            if read.range is not None:
                return Value(None, span, facts, rate=rate, range=read.range)
            total = Curve.ramp(seen.rate_before * 86400, seen.rate_after)  # a counter's own value
            return Value(total, span, facts)
        if seen.kind == "timestamp":
            stopped = EPOCH - seen.value_before
            curve = Curve.ramp(stopped, 1.0) if seen.slope_after else Curve.constant(stopped)
            return Value(curve, span, facts, range=read.range)
        if seen.slope_after:
            curve = Curve.ramp(seen.value_before, seen.slope_after)
        else:
            curve = Curve.step(seen.value_before, seen.value_after)
        if read.range is not None and model in _EVENT_MODELS and role != "other":
            # A count of events whose name does not say so (``cloudflare_zone_requests_status``):
            # as a level it is this curve; under rate() it is a counter growing at it.
            return Value(curve, span, facts, rate=curve, range=read.range, unknown=unknown)
        return Value(curve, span, facts, range=read.range, unknown=unknown)

    def _histogram_read(self, read: Selector, seen: Behaviour, span: Span, facts: Facts) -> Value:
        metric = read.metric or ""
        slow_after = seen.slow_share_after
        rate = Curve.step(seen.rate_before, seen.rate_after)
        if metric.endswith("_sum"):
            before = seen.rate_before * seen.latency_before
            after = seen.rate_after * ((1 - slow_after) * seen.latency_before + slow_after * seen.latency_after)
            return self._counter(read, Curve.step(before, after), span, facts)
        if metric.endswith("_count") or not metric.endswith("_bucket"):
            return self._counter(read, rate, span, facts)
        bound = _le(read)
        if bound is not None:  # one bucket: the requests at most that slow
            def share(latency: float) -> float:
                return 1.0 if latency <= bound else 0.0

            before = seen.rate_before * share(seen.latency_before)
            after = seen.rate_after * ((1 - slow_after) * share(seen.latency_before) + slow_after * share(seen.latency_after))
            return self._counter(read, Curve.step(before, after), span, facts)
        hist = Hist(rate, Curve.step(0.0, slow_after), seen.latency_before, seen.latency_after)
        return Value(None, span, facts, hist=hist, range=read.range)

    def _counter(self, read: Selector, rate: Curve, span: Span, facts: Facts) -> Value:
        if read.range is not None:
            return Value(None, span, facts, rate=rate, range=read.range)
        return Value(Curve.ramp(rate.healthy * 86400, rate.final), span, facts)

    # ------------------------------------------------------------------ aggregations

    def _aggregate(self, node: Aggregate, ctx: _Ctx) -> Value:
        inner = self.eval(node.expr, _Ctx.of(ctx.grouping.by(node.grouping, node.without), ctx.push, ctx.depth))
        op = node.op
        if op in ("count", "count_values", "group"):
            return Value(Curve.constant(1.0), inner.span, inner.facts)
        if op in ("stddev", "stdvar"):
            # The model's world has no noise: a spread is 0 where a real one is not, so what
            # is divided by it cannot be judged.
            return Value(Curve.constant(0.0), inner.span, inner.facts.merge(Facts(unsure=(op,))))
        # sum, avg, min, max, topk, bottomk, quantile, limitk: the subject's series carry the
        # failure whole, so the aggregate of the subject moves as they do.
        return Value(inner.curve, inner.span, inner.facts, inner.hist, static=inner.static, unknown=inner.unknown)

    # ------------------------------------------------------------------ functions

    def _call(self, node: Call, ctx: _Ctx) -> Value:
        name, args = node.func, node.args
        if name == "time":
            return Value(Curve.ramp(EPOCH, 1.0), ALWAYS, scalar=True)
        if name == "vector":
            inner = self.eval(args[0], ctx)
            return Value(inner.curve, ALWAYS, inner.facts, static=({},) if not inner.facts.signal else None)
        if name in _TIME_OF_DAY:
            return Value(Curve.constant(_TIME_OF_DAY[name]), ALWAYS, scalar=not args)
        values = [self.eval(arg, ctx) for arg in args]
        series = _SERIES_ARGUMENT.get(name, 0)
        if not values:
            return Value(Curve.constant(math.nan), ALWAYS, scalar=True)
        if series >= len(values):
            return Value(None, NEVER)
        main = values[series]
        facts = main.facts
        for index, other in enumerate(values):
            if index != series:
                facts = facts.merge(Facts(filters=other.facts.filters, unsure=other.facts.unsure))
        if name == "absent":
            return Value(Curve.constant(1.0), main.span.complement(), _presence(main.facts))
        if name == "absent_over_time":  # a range read's span already lasts its window longer
            return Value(Curve.constant(1.0), main.span.complement(), _presence(main.facts))
        if name in ("rate", "increase", "irate", "delta", "idelta", "deriv"):
            return self._rate(name, main, facts)
        if name.endswith("_over_time"):
            return replace(self._over_time(name, main, values, facts), unknown=main.unknown)
        if name == "histogram_quantile":
            return self._quantile(values[0], main, facts)
        if name == "scalar":
            return Value(main.curve, ALWAYS, facts, scalar=True)
        if name == "predict_linear":
            return self._predict(main, values, facts)
        if name in _VALUE_FUNCTIONS:
            fn = _VALUE_FUNCTIONS[name]
            if main.curve is None:
                return replace(main, facts=facts)
            params = [v.curve.healthy if v.curve is not None else math.nan for v in values[1:]]
            return Value(main.curve.map(lambda v: fn(v, *params), bends=name in _BENDING), main.span, facts, range=main.range, static=main.static, unknown=main.unknown)
        if name in _PASS_THROUGH:
            return replace(main, facts=facts)
        # holt_winters, changes, resets, histogram_fraction, native-histogram functions, ...
        unsure = facts.merge(Facts(unsure=(name,))) if facts.signal else facts
        return Value(main.curve if main.curve is not None else (main.rate.window(main.range or 0, "avg") if main.rate else None), main.span, unsure)

    def _rate(self, name: str, main: Value, facts: Facts) -> Value:
        width = main.range or 0.0
        if main.rate is not None:
            average = main.rate if name == "irate" else main.rate.window(width, "avg")
            if name in ("increase", "delta"):
                average = average.map(lambda v: v * width)
            return Value(average, main.span, facts)
        if main.hist is not None:
            hist = main.hist
            window = Hist(hist.rate.window(width, "avg"), hist.slow.window(width, "avg"), hist.fast_latency, hist.slow_latency)
            return Value(None, main.span, facts, hist=window)
        if main.curve is None:
            return Value(None, main.span, facts)
        if main.unknown and main.curve.constant_value is not None:
            # rate() says the author reads a counter: one the failure does not move counts the
            # subject's traffic.
            steady = self.world.traffic * (width if name in ("increase", "delta") else 1.0)
            return Value(Curve.constant(steady), main.span, facts)
        change = main.curve.window(width, "delta")
        if name in ("rate", "deriv", "irate"):
            change = change.map(lambda v: v / width if width else math.nan)
        return Value(change, main.span, facts)

    def _over_time(self, name: str, main: Value, values: list[Value], facts: Facts) -> Value:
        width = main.range or 0.0
        curve = main.curve
        if curve is None and main.rate is not None:  # a counter read as a gauge: its value
            curve = Curve.ramp(main.rate.healthy * 86400, main.rate.final)
        if name == "present_over_time":
            return Value(Curve.constant(1.0), main.span, _presence(main.facts))
        if name == "count_over_time":
            return Value(Curve.constant(width / SCRAPE_INTERVAL), main.span, _presence(main.facts))
        if curve is None:
            return Value(None, main.span, facts.merge(Facts(unsure=(name,))) if facts.signal else facts)
        if name == "avg_over_time":
            return Value(curve.window(width, "avg"), main.span, facts)
        if name == "sum_over_time":
            return Value(curve.window(width, "avg").map(lambda v: v * width / SCRAPE_INTERVAL), main.span, facts)
        if name == "max_over_time":
            return Value(curve.window(width, "max"), main.span, facts)
        if name == "min_over_time":
            return Value(curve.window(width, "min"), main.span, facts)
        if name in ("last_over_time", "first_over_time", "ts_of_last_over_time"):
            return Value(curve if name == "last_over_time" else curve.shift(width), main.span, facts)
        if name == "quantile_over_time":
            q = values[0].curve.healthy if values[0].curve is not None else 0.5
            rising = curve.final >= curve.healthy
            lag = (1 - q) * width if rising else q * width
            return Value(curve.shift(lag), main.span, facts)
        if name in ("stddev_over_time", "stdvar_over_time", "mad_over_time"):
            # No noise in the model's world (see stddev): what depends on a spread is unsure.
            return Value(Curve.constant(0.0), main.span, facts.merge(Facts(unsure=(name,))))
        return Value(curve, main.span, facts.merge(Facts(unsure=(name,))) if facts.signal else facts)

    def _quantile(self, q_value: Value, main: Value, facts: Facts) -> Value:
        if main.hist is None:
            return Value(main.curve, main.span, facts.merge(Facts(unsure=("histogram_quantile",))) if facts.signal else facts)
        hist = main.hist
        q = q_value.curve.healthy if q_value.curve is not None else math.nan
        if math.isnan(q):
            return Value(Curve.constant(math.nan), main.span, facts)
        if q < 0 or q > 1:
            return Value(Curve.constant(-INF if q < 0 else INF), main.span, facts)
        # The q-quantile is slow once more than (1 - q) of the window's requests are slow.
        slow_enough = hist.slow.holds(">", 1 - q)
        curve = Curve.constant(hist.fast_latency)
        if hist.slow_latency != hist.fast_latency:
            if slow_enough.healthy:
                curve = Curve.constant(hist.slow_latency)
            elif slow_enough.intervals:
                curve = Curve.step(hist.fast_latency, hist.slow_latency, slow_enough.intervals[0][0])
        return Value(curve, main.span, facts)

    def _predict(self, main: Value, values: list[Value], facts: Facts) -> Value:
        width = main.range or 0.0
        ahead = values[1].curve.healthy if len(values) > 1 and values[1].curve is not None else 0.0
        curve = main.curve
        if curve is None and main.rate is not None:
            curve = Curve.ramp(main.rate.healthy * 86400, main.rate.final)
        if curve is None or not width:
            return Value(curve, main.span, facts)
        slope = curve.window(width, "delta").map(lambda v: v / width)
        return Value(Curve.combine([curve, slope], lambda v, s: v + s * ahead), main.span, facts)

    # ------------------------------------------------------------------ binary operations

    def _binary(self, node: Binary, ctx: _Ctx) -> Value:
        op = node.op
        right_ctx = ctx if node.on is None else _Ctx.of(ctx.grouping.on(node.on), ctx.push, ctx.depth)
        left = self.eval(node.lhs, ctx)
        right = self.eval(node.rhs, right_ctx)
        if op in ("and", "unless"):
            return self._filter(node, left, right, ctx)
        if op == "or":
            span = left.span.either(right.span)
            facts = left.facts.merge(right.facts)
            if not (left.span.empty or right.span.empty):
                facts = replace(facts, empty_reads=())  # one side answering is enough
            # The left side's value where it returns series, the right side's elsewhere.
            if left.span == ALWAYS or right.curve is None or right.span.empty:
                chosen = left
            elif left.span.empty or left.curve is None:
                chosen = right
            else:
                chosen = left
                assert left.curve is not None
                curve = Curve.combine([left.curve, right.curve, left.span.indicator()], lambda a, b, i: a if i > 0.5 else b, bends=False)
                return Value(curve, span, facts, static=_or_static(left, right), unknown=left.unknown or right.unknown)
            return Value(chosen.curve, span, facts, chosen.hist, static=_or_static(left, right), unknown=chosen.unknown)
        if op in _COMPARISONS:
            return self._compare(node, left, right)
        return self._arithmetic(node, left, right)

    def _filter(self, node: Binary, left: Value, right: Value, ctx: _Ctx) -> Value:
        # An empty read on the right of ``unless`` suppresses nothing; on the right of ``and`` it
        # lets nothing through (worth saying).
        empty = right.facts.empty_reads if node.op == "and" else ()
        facts = left.facts.merge(Facts(filters=right.facts.filters, unsure=right.facts.unsure, empty_reads=empty))
        if right.static is not None:
            matched = self._join(node, left, right)
            if matched is None:  # cannot tell from the rule set which series pass
                if left.facts.signal and node.op == "and":
                    facts = facts.merge(Facts(filters=(f"{node.op} {_describe(node.rhs)}",)))
                keep = True
            else:
                keep = matched
            if node.op == "and":
                span = left.span if keep else NEVER
            else:
                span = NEVER if keep and matched is not None else left.span
            return Value(left.curve, span, facts, left.hist, static=left.static)
        if right.unknown and not right.facts.signal:
            # A condition on a level nobody knows (a maintenance flag, a queue depth). ``and``
            # lets only some series through: a filter the rule set cannot evaluate. ``unless``
            # suppresses while it holds (maintenance): taken as not holding.
            if left.facts.signal and node.op == "and":
                facts = facts.merge(Facts(filters=(f"{node.op} {_describe(node.rhs)}",)))
            return Value(left.curve, left.span, facts, left.hist, static=left.static, unknown=left.unknown)
        if left.unknown and right.facts.signal and not left.facts.signal and node.op == "and":
            facts = right.facts.merge(Facts(filters=(f"and {_describe(node.lhs)}",)))
            return Value(right.curve, right.span, facts, right.hist)
        if right.facts.signal and not left.facts.signal:
            facts = facts.merge(Facts(signal=True, watch=right.facts.watch, labels=right.facts.labels, isolated=right.facts.isolated, comparison=right.facts.comparison))
        span = left.span.both(right.span) if node.op == "and" else left.span.without(right.span)
        return Value(left.curve, span, facts, left.hist, static=left.static, unknown=left.unknown)

    def _join(self, node: Binary, left: Value, right: Value) -> bool | None:
        """Does a series of the subject pass a join with a recording of constants? None when
        the labels it joins on are not known for the subject."""
        assert right.static is not None
        known = dict(left.facts.labels)
        for matcher in self.world.identity:
            if matcher.op is MatchOp.EQ:
                known.setdefault(matcher.name, matcher.value)
        if left.static is not None and len(left.static) == 1:
            known.update(left.static[0])
        if node.on is not None:
            labels: tuple[str, ...] = node.on
        else:
            labels = tuple(sorted({k for s in right.static for k in s} - set(node.ignoring)))
        if not labels:
            return bool(right.static)
        if any(label not in known for label in labels):
            return None
        return any(all(s.get(label) == known[label] for label in labels) for s in right.static)

    def _compare(self, node: Binary, left: Value, right: Value) -> Value:
        op = node.op
        facts = left.facts.merge(right.facts)
        if left.scalar and not right.scalar:  # 5 < x: the vector's values pass
            left, right, op = right, left, _FLIPPED[op]
        if left.curve is None or right.curve is None:
            return Value(None, NEVER if left.curve is None and left.hist is None else left.span, facts)
        if left.unknown or right.unknown:
            # Cannot tell when it holds. On the failing path: taken as holding from the step
            # (unsure, so at best weak); elsewhere: a condition that passes, said where it is used.
            span = left.span if right.scalar else left.span.both(right.span)
            if facts.signal:
                unknown_side = node.lhs if left.unknown else node.rhs
                facts = facts.merge(Facts(unsure=(f"a comparison with {_describe(unknown_side)}",)))
                span = span.both(Span(((0.0, INF),)))
            return Value(left.curve, span, facts, static=left.static, unknown=True)
        difference = Curve.combined((left.curve, right.curve), operator.sub)
        holds = difference.holds(op, 0.0)
        if facts.signal and (left.facts.signal or right.facts.signal):
            threshold = right.curve.healthy
            facts = replace(facts, comparison=Comparison(op, left.curve.healthy, left.curve.final, threshold))
        if node.return_bool:
            ones = Curve.combine([difference], lambda d: 1.0 if _test(d, op) else 0.0, bends=True)
            span = left.span if right.scalar else left.span.both(right.span)
            return Value(ones, span, facts, scalar=left.scalar and right.scalar)
        span = holds if left.scalar and right.scalar else left.span.both(holds) if right.scalar else left.span.both(right.span).both(holds)
        return Value(left.curve, span, facts, static=left.static, scalar=left.scalar and right.scalar)

    def _arithmetic(self, node: Binary, left: Value, right: Value) -> Value:
        fn = _ARITHMETIC.get(node.op)
        facts = left.facts.merge(right.facts)
        if fn is None or left.curve is None or right.curve is None:
            unsure = facts.merge(Facts(unsure=(node.op,))) if facts.signal else facts
            usable = left if left.curve is not None else right
            return Value(usable.curve, left.span.both(right.span), unsure)
        curve = Curve.combined((left.curve, right.curve), fn, bends=node.op in ("/", "*", "^", "%", "atan2"))
        if left.scalar:
            span = right.span
        elif right.scalar:
            span = left.span
        else:
            span = left.span.both(right.span)
        static = left.static if left.static is not None and (right.scalar or right.static is not None) else None
        return Value(curve, span, facts, scalar=left.scalar and right.scalar, static=static, unknown=left.unknown or right.unknown)


# --------------------------------------------------------------------------- helpers


def subject_selects(read: tuple[LabelMatcher, ...], identity: tuple[LabelMatcher, ...], elsewhere: tuple[LabelMatcher, ...]) -> bool:
    """Can a read select the subject's series through one of its alternative selectors
    (``identity``)? Not if it pins a label another alternative names to a value that one
    refuses: ``job="cart"`` is not checkout's, even beside ``{service_name="checkout"}``."""
    if not compatible_pair(read, identity):
        return False
    for matcher in elsewhere:
        pinned = tuple(m for m in read if m.name == matcher.name and is_specific(m))
        if pinned and not compatible_pair(pinned, (matcher,)):
            return False
    return True


def _labels(matchers: tuple[LabelMatcher, ...]) -> frozenset[str]:
    return frozenset(m.name for m in matchers)


def _pushed(selector: Selector, ctx: _Ctx) -> Selector:
    if not ctx.push:
        return selector
    extra = tuple(m for m in ctx.push if m not in selector.matchers)
    return Selector(selector.metric, selector.matchers + extra, selector.range, selector.offset) if extra else selector


def _shifted(value: Value, delay: float) -> Value:
    """What a read ``offset delay`` sees: everything happens ``delay`` later."""
    hist = value.hist
    if hist is not None:
        hist = Hist(hist.rate.shift(delay), hist.slow.shift(delay), hist.fast_latency, hist.slow_latency)
    # Built directly, not with ``dataclasses.replace`` (GitLab shifts every read by 30s).
    return Value(
        value.curve.shift(delay) if value.curve is not None else None,
        value.span.shift(delay),
        value.facts,
        hist,
        value.rate.shift(delay) if value.rate is not None else None,
        value.range,
        value.scalar,
        value.static,
        value.unknown,
    )


def moves(seen: Behaviour) -> bool:
    """Does the failure change this series at all?"""
    return (
        seen.rate_before != seen.rate_after
        or seen.value_before != seen.value_after
        or bool(seen.slope_after) != (seen.kind == "timestamp")
        or seen.slow_share_after > 0
        or seen.vanishes
    )


def _le(read: Selector) -> float | None:
    for matcher in read.matchers:
        if matcher.name == "le" and matcher.op is MatchOp.EQ:
            try:
                return float(matcher.value)
            except ValueError:
                return None
    return None


def _presence(facts: Facts) -> Facts:
    """absent() and friends respond to series vanishing, not to their values."""
    return replace(facts, absence=True) if facts.signal else facts


def _or_static(left: Value, right: Value) -> tuple[Mapping[str, str], ...] | None:
    if left.static is not None and right.static is not None:
        return left.static + right.static
    return None


def _describe(expr: Expr) -> str:
    if isinstance(expr, Selector):
        return str(expr)
    if isinstance(expr, (Aggregate,)):
        return f"{expr.op}(…)"
    if isinstance(expr, Call):
        return f"{expr.func}(…)"
    return "a filter"


_COMPARISONS = frozenset({">", "<", ">=", "<=", "==", "!="})
_EVENT_MODELS = frozenset({"bad_events", "good_events", "all_events"})
_FLIPPED = {">": "<", "<": ">", ">=": "<=", "<=": ">=", "==": "==", "!=": "!="}


def _test(value: float, op: str) -> bool:
    if math.isnan(value):
        return False
    return {">": value > 0, "<": value < 0, ">=": value >= 0, "<=": value <= 0, "==": value == 0, "!=": value != 0}[op]


def _divide(a: float, b: float) -> float:
    if b == 0:
        return math.nan if a == 0 or math.isnan(a) else math.copysign(INF, a)
    return a / b


def _modulo(a: float, b: float) -> float:
    return math.fmod(a, b) if b else math.nan


_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": _divide,
    "%": _modulo,
    "^": math.pow,  # a negative base to a fractional power is NaN, as in PromQL (``**`` makes a complex)
    "atan2": math.atan2,
}

_VALUE_FUNCTIONS: dict[str, Callable[..., float]] = {
    "abs": lambda v: abs(v),
    "ceil": lambda v: math.ceil(v) if math.isfinite(v) else v,
    "floor": lambda v: math.floor(v) if math.isfinite(v) else v,
    "round": lambda v, *to: round(v / to[0]) * to[0] if to and to[0] else (round(v) if math.isfinite(v) else v),
    "sqrt": lambda v: math.sqrt(v) if v >= 0 else math.nan,
    "exp": lambda v: math.exp(min(v, 700)),
    "ln": lambda v: math.log(v) if v > 0 else (-INF if v == 0 else math.nan),
    "log2": lambda v: math.log2(v) if v > 0 else (-INF if v == 0 else math.nan),
    "log10": lambda v: math.log10(v) if v > 0 else (-INF if v == 0 else math.nan),
    "sgn": lambda v: math.copysign(1.0, v) if v else 0.0,
    "deg": math.degrees,
    "rad": math.radians,
    "clamp": lambda v, lo=-INF, hi=INF: max(lo, min(hi, v)),
    "clamp_min": lambda v, lo=-INF: max(lo, v),
    "clamp_max": lambda v, hi=INF: min(hi, v),
}
_BENDING = frozenset({"sqrt", "exp", "ln", "log2", "log10", "round", "ceil", "floor", "sgn", "clamp", "clamp_min", "clamp_max"})
_PASS_THROUGH = frozenset(
    "label_replace label_join sort sort_desc sort_by_label sort_by_label_desc info limitk limit_ratio".split()
)
_SERIES_ARGUMENT = {"histogram_quantile": 1, "quantile_over_time": 1, "histogram_fraction": 2, "topk": 1, "bottomk": 1}
_TIME_OF_DAY = {  # 2023-11-14 22:13:20 UTC, a Tuesday: EPOCH's calendar
    "minute": 13.0, "hour": 22.0, "day_of_week": 2.0, "day_of_month": 14.0, "day_of_year": 318.0,
    "days_in_month": 30.0, "month": 11.0, "year": 2023.0,
}


def describe_never(facts: Facts, read: str) -> str:
    """Why an alert never fires on the failure, from the comparison the signal reached."""
    comparison = facts.comparison
    if facts.absence:
        return f"fires only when {read} disappears, not when its value moves (the series stay while the failure lasts)"
    if comparison is None:
        return f"never fires when {read} moves as the failure moves it"
    h, f, t = comparison.healthy, comparison.failed, comparison.threshold
    op = comparison.op
    if math.isnan(f):
        return f"is not a number once the failure happens (a ratio whose divisor falls to zero, or an overflow), and NaN never crosses a threshold ({read})"
    towards = (f > h and op in (">", ">=")) or (f < h and op in ("<", "<=")) or (op == "==" and f == t)
    if not towards:
        moved = "falls" if f > h else "rises"
        return f"fires when {read} {moved}, not when it {'rises' if f > h else 'falls'}"
    return f"its threshold {op} {_number(t)} is never crossed: the value goes from {_number(h)} to {_number(f)} at most"


def describe_noisy(facts: Facts) -> str:
    comparison = facts.comparison
    if comparison is None:
        return "fires while healthy: noise, not coverage"
    return (
        f"fires while healthy ({_number(comparison.healthy)} {comparison.op} {_number(comparison.threshold)} "
        "already holds at the healthy level): noise, not coverage"
    )


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.4g}"
