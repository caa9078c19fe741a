"""What an alert reads: the raw series behind its recording rules, and those recording rules.

This is the drill's only dependency on how recording rules are resolved. It walks the alert's
expression and, at a recorded read, the bodies of the recording rules that produce it
(``RecordIndex.definitions``), pushing the read's matchers and offset into them as the judge
does (``analysis.reads.ReadIndex``, ``analysis.evaluate``: matchers on labels the recording
sets itself stay out; pushed matchers that contradict a read make it read nothing), memoised
per (node, context), so the work is linear in the rule DAG. Unlike ``ReadIndex`` it keeps, per
raw read, what the drill needs to lay out history: its range windows (with enclosing subqueries
and recorded range reads), its offsets, and whether it sits on the right of ``unless``.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from ..analysis.matching import compatible_pair
from ..model import LabelMatcher, Rule
from ..promql import Binary, Expr, Selector, Subquery, children
from ..ruleset import RuleSet

MAX_RECORDING_DEPTH = 16  # as the judge: recording rules on recording rules; real sets use 3-4


@dataclass(frozen=True, slots=True)
class Read:
    """One raw read of the alert, through its recording rules."""

    selector: Selector  # a raw metric, with the alert's matchers pushed down
    window: float  # seconds of range windows around it (its range plus enclosing ones)
    lookback: float  # window plus offsets: how far into the past it reaches
    suppressing: bool  # on the right of ``unless``: its series can only silence the alert


@dataclass(frozen=True, slots=True)
class _Ctx:
    push: tuple[LabelMatcher, ...] = ()  # matchers of a recorded read, pushed into its body
    offset: float = 0.0
    window: float = 0.0  # ranges of enclosing subqueries and recorded range reads
    suppressing: bool = False
    depth: int = 0


_Found = tuple[tuple[Read, ...], tuple[Rule, ...]]


class ExpansionTooSlow(Exception):
    """Resolving the alert's recording rules took longer than allowed."""


class RuleReads:
    """Raw reads and recording rules of alerts in one rule set (memoised across alerts)."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self._position = {id(rule): index for index, rule in enumerate(ruleset.rules)}
        self._memo: dict[tuple[object, _Ctx], _Found] = {}
        self._depth: dict[int, int] = {}
        self._recorded: dict[int, tuple[Rule, ...]] = {}

    def position(self, rule: Rule) -> int:
        return self._position.get(id(rule), 0)

    def raw_reads(self, rule: Rule, time_limit: float = 0.0) -> list[Read]:
        """Every raw selector the alert reads through its recording rules. With ``time_limit``
        (seconds) a rule set too large to walk raises :class:`ExpansionTooSlow`."""
        return list(self._walk(rule, time_limit)[0])

    def recording_rules(self, rule: Rule, time_limit: float = 0.0) -> list[Rule]:
        """The recording rules whose series the alert reads, transitively, in rule-set order."""
        return sorted(self._walk(rule, time_limit)[1], key=self.position)

    def depth(self, rule: Rule) -> int:
        """0 for a rule reading raw series only, else one more than the deepest recording rule
        it reads: the order in which the engine must evaluate their groups."""
        found = self._depth.get(id(rule))
        if found is not None:
            return found
        visiting = {id(rule)}  # a cycle (reported when the rule set was built) counts as 0
        stack = [(rule, iter(self._reads_recorded(rule)))]
        while stack:  # iterative depth-first: recording chains can be long
            node, pending = stack[-1]
            for child in pending:
                if id(child) not in self._depth and id(child) not in visiting:
                    visiting.add(id(child))
                    stack.append((child, iter(self._reads_recorded(child))))
                    break
            else:
                stack.pop()
                inner = (self._depth.get(id(d), 0) for d in self._reads_recorded(node))
                self._depth[id(node)] = 1 + max(inner, default=-1)
        return self._depth[id(rule)]

    def delay(self, rule: Rule, visiting: frozenset[int] = frozenset()) -> float:
        """Seconds by which query offsets (``query_offset``, Mimir's ``evaluation_delay``) hold
        the rule's view back: its group's, plus the longest chain of them through the
        recording rules it reads."""
        if id(rule) in visiting or len(visiting) > MAX_RECORDING_DEPTH:
            return 0.0
        inner = (self.delay(d, visiting | {id(rule)}) for d in self._reads_recorded(rule))
        return rule.query_offset + max(inner, default=0.0)

    # ------------------------------------------------------------------ walking

    def _walk(self, rule: Rule, time_limit: float) -> _Found:
        if rule.query is None:
            return (), ()
        query = rule.query
        with _deadline(time_limit):
            return self._node(query.ast, _Ctx())

    def _node(self, node: Expr, ctx: _Ctx) -> _Found:
        key = (node if isinstance(node, Selector) else id(node), ctx)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self._visit(node, ctx)
        return found

    def _visit(self, node: Expr, ctx: _Ctx) -> _Found:
        if isinstance(node, Selector):
            return self._selector(node, ctx)
        if isinstance(node, Subquery):
            return self._node(node.expr, _Ctx(ctx.push, ctx.offset + node.offset, ctx.window + node.range, ctx.suppressing, ctx.depth))
        if isinstance(node, Binary) and node.op == "unless":
            left = self._node(node.lhs, ctx)
            right = self._node(node.rhs, _Ctx(ctx.push, ctx.offset, ctx.window, True, ctx.depth))
            return _union(left, right)
        found: _Found = ((), ())
        for child in children(node):
            found = _union(found, self._node(child, ctx))
        return found

    def _selector(self, selector: Selector, ctx: _Ctx) -> _Found:
        extra = tuple(m for m in ctx.push if m not in selector.matchers)
        read = Selector(selector.metric, selector.matchers + extra, selector.range, selector.offset + ctx.offset)
        if extra and not compatible_pair(read.matchers, ()):
            return (), ()  # pushed matchers contradict the read's own: it reads nothing (as the judge)
        window = ctx.window + (read.range or 0.0)
        if not read.metric or read.metric not in self.ruleset.records or ctx.depth >= MAX_RECORDING_DEPTH:
            return (Read(read, window, window + read.offset, ctx.suppressing),), ()
        found: _Found = ((), ())
        for rule in self.ruleset.records.definitions(read):  # none: it selects nothing
            if rule.query is None:
                continue
            pushed = tuple(m for m in read.matchers if m.name not in rule.labels)
            inner = self._node(rule.query.ast, _Ctx(pushed, read.offset, window, ctx.suppressing, ctx.depth + 1))
            found = _union(found, (inner[0], (rule, *inner[1])))
        return found

    def _reads_recorded(self, rule: Rule) -> tuple[Rule, ...]:
        """The recording rules whose series the rule's own selectors read."""
        known = self._recorded.get(id(rule))
        if known is not None:
            return known
        found: dict[int, Rule] = {}
        for selector in rule.query.selectors if rule.query is not None else ():
            if selector.metric and selector.metric in self.ruleset.records:
                for definition in self.ruleset.records.definitions(selector):
                    found.setdefault(id(definition), definition)
        known = self._recorded[id(rule)] = tuple(found.values())
        return known


def _union(a: _Found, b: _Found) -> _Found:
    if not b[0] and not b[1]:
        return a
    if not a[0] and not a[1]:
        return b
    return tuple(dict.fromkeys(a[0] + b[0])), tuple({id(r): r for r in a[1] + b[1]}.values())


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Interrupts the block after ``seconds`` of wall-clock time (main thread only; elsewhere,
    or with 0, no limit). The walk memoises only finished nodes, so stopping it midway leaves
    it consistent."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise ExpansionTooSlow(f"resolving its recording rules takes longer than {seconds:g}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
