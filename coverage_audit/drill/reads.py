"""What an alert reads: the raw series behind its recording rules, and those recording rules.

This is the drill's only dependency on how the rule set resolves recording rules. Today it uses
``analysis.expansion`` (recording rules inlined, the alert's matchers and offsets pushed down);
when the judge's DAG-linear evaluator replaces that expansion, only :class:`RuleReads` changes:
it must still give, per raw read, the selector with the alert's matchers pushed down, its range
windows, its offsets, and whether it sits on the right of ``unless``.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from ..analysis.expansion import Expander
from ..model import Rule
from ..promql import Binary, Expr, Selector, Subquery, children
from ..ruleset import RuleSet


@dataclass(frozen=True, slots=True)
class Read:
    """One raw read of the alert, through its recording rules."""

    selector: Selector  # a raw metric, with the alert's matchers pushed down
    window: float  # seconds of range windows around it (its range plus enclosing subqueries)
    lookback: float  # window plus offsets: how far into the past it reaches
    suppressing: bool  # on the right of ``unless``: its series can only silence the alert


class RuleReads:
    """Raw reads and recording rules of alerts in one rule set (memoised across alerts)."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self._expander = Expander(ruleset.records)
        self._position = {id(rule): index for index, rule in enumerate(ruleset.rules)}
        self._depth: dict[int, int] = {}
        self._recorded: dict[int, tuple[Rule, ...]] = {}

    def position(self, rule: Rule) -> int:
        return self._position.get(id(rule), 0)

    def raw_reads(self, rule: Rule, time_limit: float = 0.0) -> list[Read]:
        """Every raw selector the alert reads once its recording rules are inlined.

        Inlining copies a recording rule's body once per way it is read, which on rule sets
        with deep, wide recording graphs grows past any use; with ``time_limit`` (seconds) it
        stops there and raises :class:`ExpansionTooSlow`."""
        if rule.query is None:
            return []
        query = rule.query
        with _deadline(time_limit):
            return list(_reads(self._expander.expand(query.ast)))

    def recording_rules(self, rule: Rule) -> list[Rule]:
        """The recording rules the alert reads, transitively, in rule-set order."""
        found: dict[int, Rule] = {}
        stack = [rule]
        while stack:
            for definition in self._reads_recorded(stack.pop()):
                if id(definition) not in found and definition is not rule:
                    found[id(definition)] = definition
                    stack.append(definition)
        return sorted(found.values(), key=lambda r: self._position.get(id(r), 0))

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
        if id(rule) in visiting or len(visiting) > 64:
            return 0.0
        inner = (self.delay(d, visiting | {id(rule)}) for d in self._reads_recorded(rule))
        return rule.query_offset + max(inner, default=0.0)

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


class ExpansionTooSlow(Exception):
    """Inlining the alert's recording rules took longer than allowed."""


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Interrupts the block after ``seconds`` of wall-clock time (main thread only; elsewhere,
    or with 0, no limit). Expansion memoises only finished selectors, so stopping it midway
    leaves it consistent."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise ExpansionTooSlow(f"inlining its recording rules takes longer than {seconds:g}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _reads(expr: Expr) -> list[Read]:
    """Selectors of an expanded expression with the windows, offsets and ``unless`` sides
    around them (iterative: expansions of large rule sets are deep)."""
    out: list[Read] = []
    stack: list[tuple[Expr, float, float, bool]] = [(expr, 0.0, 0.0, False)]
    while stack:
        node, window, offset, suppressing = stack.pop()
        if isinstance(node, Selector):
            reach = window + (node.range or 0.0)
            out.append(Read(node, reach, reach + offset + node.offset, suppressing))
        elif isinstance(node, Subquery):
            stack.append((node.expr, window + node.range, offset + node.offset, suppressing))
        elif isinstance(node, Binary) and node.op == "unless":
            stack.append((node.rhs, window, offset, True))
            stack.append((node.lhs, window, offset, suppressing))
        else:
            stack.extend((child, window, offset, suppressing) for child in reversed(children(node)))
    return out
