"""The raw series an alert reads, through its recording rules, with its matchers pushed down.

``rate(job:errors:ratio5m{job="payments"}[1h])`` reads, in the end, ``payments_requests_total``
with ``job="payments"`` and whatever the recording's own selectors add. The judge asks this to set
aside, without evaluating them, alerts that no failure of a subject can move; the drill asks it
to know which series to write. Work is shared over the rule DAG: each recorded selector is
resolved once per set of pushed matchers, however many alerts and paths reach it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, TypeVar

from ..model import MATCHER_ORDER, LabelMatcher, MatchOp, Rule, literal_pattern, pushed_into
from ..promql import Expr, Query, Selector, Subquery, children, selector, walk
from ..ruleset import RecordIndex
from .matching import compatible_pair

_T = TypeVar("_T")

MAX_RECORDING_DEPTH = 16  # recording rules on recording rules; real sets use 3-4 levels


@dataclass(frozen=True, slots=True)
class Reads:
    """What an expression reads: raw selectors (matchers pushed; ranges as written, offsets
    left out: who reads what does not depend on when), recording rules passed through, and
    recorded selectors no recording rule produces (they select nothing)."""

    raw: frozenset[Selector]
    recordings: frozenset[Rule]
    empty: frozenset[Selector]


_NOTHING = Reads(frozenset(), frozenset(), frozenset())
_NO_NAMES: frozenset[str] = frozenset()
_NO_RULES: frozenset[Rule] = frozenset()
_NO_SELECTORS: frozenset[Selector] = frozenset()


class ReadIndex:
    """Raw reads of alerts against one rule set; memoised per (node, pushed matchers)."""

    def __init__(self, records: RecordIndex) -> None:
        self.records = records
        self._memo: dict[tuple[int, tuple[LabelMatcher, ...], int], Reads] = {}
        self._metrics: dict[int, frozenset[str]] = {}
        self._lookback: dict[tuple[int, tuple[LabelMatcher, ...], int], float] = {}
        self._recorded: dict[str, frozenset[str]] = {}
        self._heights: dict[int, float] = {}
        self._name_heights: dict[str, float] = {}
        self._selectors: dict[int, tuple[Selector, ...]] = {}
        self._sets: dict[frozenset[str], frozenset[str]] = {}  # one of each set of names
        self._raw: dict[Selector, Reads] = {}  # one per raw read, however many nodes make it
        self._reading: dict[frozenset[str], dict[int, bool]] = {}

    def lookback(self, node: Expr, push: tuple[LabelMatcher, ...] = (), depth: int = 0) -> float:
        """Seconds of history the expression reads behind "now": ranges, subquery ranges and
        offsets added up along each path through its recordings, the longest path (a drill
        must write at least this much healthy history)."""
        key = self._key(node, push, depth)
        found = self._lookback.get(key)
        if found is None:
            self._lookback[key] = 0.0  # a cycle reads no further back
            found = self._lookback[key] = self._lookback_of(node, push, depth)
        return found

    def _lookback_of(self, node: Expr, push: tuple[LabelMatcher, ...], depth: int) -> float:
        if isinstance(node, Selector):
            own = (node.range or 0.0) + node.offset
            if node.metric not in self.records or depth >= MAX_RECORDING_DEPTH:
                return own
            extra = tuple(m for m in push if m not in node.matchers)
            read = Selector(node.metric, node.matchers + extra)
            deeper = [
                self.lookback(r.query.ast, pushed_into(tuple(sorted(read.matchers, key=MATCHER_ORDER)), r.labels), depth + 1)
                for r in self.records.definitions(read) if r.query is not None
            ]
            return own + max(deeper, default=0.0)
        own = node.range + node.offset if isinstance(node, Subquery) else 0.0
        return own + max((self.lookback(child, push, depth) for child in children(node)), default=0.0)

    def metrics(self, node: Expr) -> frozenset[str]:
        """Raw metric names ``node`` may read, through every recording of the names it reads
        (whatever matchers are pushed into it: a cheap, shared over-estimate)."""
        found = self._metrics.get(id(node))
        if found is None:
            if isinstance(node, Selector):
                name = node.metric or ""
                found = self._recorded_metrics(name) if name in self.records else frozenset((name,))
            else:
                found = self._joined([self.metrics(child) for child in children(node)])
            self._metrics[id(node)] = found
        return found

    def reading_any(self, names: frozenset[str]) -> dict[int, bool]:
        """A memo, by node id, of whether the node may read one of ``names`` (``metrics``), for
        callers to fill: one per set of names, shared by them all (the modes of one kind of
        failure of every subject move the same few names)."""
        return self._reading.setdefault(names, {})

    def _recorded_metrics(self, name: str) -> frozenset[str]:
        found = self._recorded.get(name)
        if found is None:
            self._recorded[name] = frozenset()  # a cycle reads nothing more
            # A tree reads what its selectors read, and the parse noted those: no walk of every
            # recording's tree (a name a large organisation records per service has thousands).
            found = self._joined([self.metrics(s) for r in self.records.by_name[name] if r.query is not None for s in r.query.selectors])
            self._recorded[name] = found
        return found

    def _joined(self, parts: list[frozenset[str]]) -> frozenset[str]:
        """The union of ``parts``, shared: most nodes read what one of their children reads, and
        a set per node (60,000 on GitLab, most of them equal) took two thirds of the judge's memory."""
        if not parts:
            return _NO_NAMES
        union = _covering(parts)
        return union if any(union is part for part in parts) else self._sets.setdefault(union, union)

    def _key(self, node: Expr, push: tuple[LabelMatcher, ...], depth: int) -> tuple[int, tuple[LabelMatcher, ...], int]:
        """The memo key of a walk. Where the depth reached plus how deep the walk can go stays
        within MAX_RECORDING_DEPTH, the depth cannot change what it finds, and one entry serves
        every depth (on GitLab, half the entries were the same walk at another depth)."""
        height = self._heights.get(id(node))
        if height is None:
            height = self._height(node)
        return (id(node), push, depth if depth + height > MAX_RECORDING_DEPTH else -1)

    def _height(self, node: Expr) -> float:
        """How many recordings deep a walk from ``node`` can go, by the names it reads (an
        over-estimate: matchers may leave some definitions out); infinite through a cycle."""
        found = self._heights.get(id(node))
        if found is None:
            if isinstance(node, Selector):
                name = node.metric or ""
                found = self._name_height(name) if name in self.records else 0.0
            else:
                found = max(map(self._height, self._leaves(node)), default=0.0)
            self._heights[id(node)] = found
        return found

    def _leaves(self, node: Expr) -> tuple[Selector, ...]:
        """The selectors in ``node``, once each: what an expression reads is the union of what
        they read (only selectors are shared between expressions, so only they are memoised)."""
        found = self._selectors.get(id(node))
        if found is None:
            found = self._selectors[id(node)] = tuple(dict.fromkeys(n for n in walk(node) if isinstance(n, Selector)))
        return found

    def _name_height(self, name: str) -> float:
        found = self._name_heights.get(name)
        if found is None:
            self._name_heights[name] = math.inf  # met again before it is known: a cycle
            found = 1.0 + max((self._height(self._root(r.query)) for r in self.records.by_name[name] if r.query is not None), default=0.0)
            self._name_heights[name] = found
        return found

    def of(self, rule: Rule) -> Reads:
        if rule.query is None:
            return _NOTHING
        return self.under(self._root(rule.query), (), 0)

    def _root(self, query: Query) -> Expr:
        """A rule's tree, its selectors known from the parse: no walk of the tree to find them
        (a screen of a large organisation meets ten thousand alerts once each)."""
        ast = query.ast
        if id(ast) not in self._selectors:
            self._selectors[id(ast)] = tuple(dict.fromkeys(query.selectors))
        return ast

    def under(self, node: Expr, push: tuple[LabelMatcher, ...], depth: int) -> Reads:
        """What ``node`` reads with ``push`` pushed into it, ``depth`` recordings down."""
        key = self._key(node, push, depth)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self._walk(node, push, depth)
        return found

    def _walk(self, node: Expr, push: tuple[LabelMatcher, ...], depth: int) -> Reads:
        if isinstance(node, Selector):
            extra = tuple(m for m in push if m not in node.matchers) if push else ()
            read = selector(node.metric, node.matchers + extra, node.range, 0.0)
            if extra and not compatible_pair(read.matchers, ()):
                return _NOTHING  # pushed matchers contradict the read's own: it reads nothing
            if read.metric is None or read.metric not in self.records or depth >= MAX_RECORDING_DEPTH:
                found = self._raw.get(read)
                if found is None:
                    found = self._raw[read] = Reads(frozenset((read,)), _NO_RULES, _NO_SELECTORS)
                return found
            rules = [r for r in self.records.definitions(read) if r.query is not None]
            if not rules:
                return Reads(frozenset(), frozenset(), frozenset((read,)))
            parts = [Reads(frozenset(), frozenset(rules), frozenset())]
            ordered = tuple(sorted(read.matchers, key=MATCHER_ORDER))
            for rule in rules:
                assert rule.query is not None
                parts.append(self.under(self._root(rule.query), pushed_into(ordered, rule.labels), depth + 1))
            return _union(parts)
        return _union([self.under(leaf, push, depth) for leaf in self._leaves(node)])


def literal_pins(matchers: tuple[LabelMatcher, ...]) -> dict[str, str]:
    """The values matchers pin a label to: equality, or a regex that is a plain literal."""
    pinned: dict[str, str] = {}
    for m in matchers:
        if m.op is MatchOp.EQ:
            pinned[m.name] = m.value
        elif m.op is MatchOp.RE and literal_pattern(m.value):
            pinned.setdefault(m.name, m.value)
    return pinned


def common_pins(parts: list[dict[str, str] | None]) -> dict[str, str] | None:
    """What every part that reads the metric pins (parts that read none do not count)."""
    found: dict[str, str] | None = None
    for part in parts:
        if part is None:
            continue
        found = dict(part) if found is None else {k: v for k, v in found.items() if part.get(k) == v}
    return found


def _union(parts: list[Reads]) -> Reads:
    parts = [p for p in parts if p is not _NOTHING]
    if not parts:
        return _NOTHING
    if len(parts) == 1:
        return parts[0]
    raw = _covering([p.raw for p in parts])
    recordings = _covering([p.recordings for p in parts])
    empty = _covering([p.empty for p in parts])
    for part in parts:  # most unions add nothing to one of their parts (copies of a recording read alike)
        if part.raw is raw and part.recordings is recordings and part.empty is empty:
            return part
    return Reads(raw, recordings, empty)


def _covering(sets: list[frozenset[_T]]) -> frozenset[_T]:
    """The union of ``sets``: the largest of them when it holds the others (no copy)."""
    largest = max(sets, key=len)
    return largest if all(part <= largest for part in sets) else frozenset().union(*sets)


def raw_reads(rule: Rule, records: RecordIndex) -> Iterator[Selector]:
    """The raw selectors one alert reads (a convenience for one-off callers)."""
    yield from ReadIndex(records).of(rule).raw
