"""Recording rules substituted into an alert's expression, down to raw metrics.

``job:payments_errors:ratio5m{job="payments"} > 0.05`` becomes the recording rule's own
expression with the alert's matchers pushed into its selectors (and its range and offset kept),
so the analysis sees which raw series the alert really depends on and how. Several rules
recording one name (told apart by static labels) become an ``or`` of those that the alert's
matchers accept.
"""

from __future__ import annotations

from dataclasses import replace

from ..promql import Aggregate, Binary, Call, Expr, Selector, Subquery, Unary
from ..ruleset import RecordIndex

MAX_DEPTH = 16  # recording rules built on recording rules; real sets use 3-4 levels


class Expander:
    """Expands expressions against one rule set, memoising per recorded selector."""

    def __init__(self, records: RecordIndex) -> None:
        self.records = records
        self._memo: dict[Selector, Expr] = {}

    def expand(self, expr: Expr, depth: int = 0, active: frozenset[str] = frozenset()) -> Expr:
        if isinstance(expr, Selector):
            return self._selector(expr, depth, active)
        if isinstance(expr, Binary):
            return replace(expr, lhs=self.expand(expr.lhs, depth, active), rhs=self.expand(expr.rhs, depth, active))
        if isinstance(expr, Call):
            return replace(expr, args=tuple(self.expand(a, depth, active) for a in expr.args))
        if isinstance(expr, (Aggregate, Unary, Subquery)):
            return replace(expr, expr=self.expand(expr.expr, depth, active))
        return expr

    def _selector(self, selector: Selector, depth: int, active: frozenset[str]) -> Expr:
        name = selector.metric
        if name is None or name not in self.records or name in active or depth >= MAX_DEPTH:
            return selector  # a raw metric (or a cycle, reported when the rule set was built)
        found = self._memo.get(selector)
        if found is not None:
            return found
        bodies: list[Expr] = []
        for rule in self.records.definitions(selector):
            if rule.query is None:
                continue
            inner = self.expand(rule.query.ast, depth + 1, active | {name})
            pushed = tuple(m for m in selector.matchers if m.name not in rule.labels)
            bodies.append(_push(inner, pushed, selector.offset))
        if not bodies:
            result: Expr = selector  # recorded under that name, but not for these matchers
        else:
            result = _balanced_or(bodies)
            if selector.range is not None:  # rate(recorded[1h]) reads an hour of the recording
                result = Subquery(result, selector.range)
        self._memo[selector] = result
        return result


def _push(expr: Expr, matchers: tuple, offset: float) -> Expr:
    """The alert's matchers and offset, applied to every selector of a recording's body."""
    if not matchers and not offset:
        return expr
    if isinstance(expr, Selector):
        extra = tuple(m for m in matchers if m not in expr.matchers)
        return replace(expr, matchers=expr.matchers + extra, offset=expr.offset + offset)
    if isinstance(expr, Binary):
        return replace(expr, lhs=_push(expr.lhs, matchers, offset), rhs=_push(expr.rhs, matchers, offset))
    if isinstance(expr, Call):
        return replace(expr, args=tuple(_push(a, matchers, offset) for a in expr.args))
    if isinstance(expr, (Aggregate, Unary)):
        return replace(expr, expr=_push(expr.expr, matchers, offset))
    if isinstance(expr, Subquery):
        return replace(expr, expr=_push(expr.expr, matchers, 0.0), offset=expr.offset + offset)
    return expr


def _balanced_or(bodies: list[Expr]) -> Expr:
    """``a or b or c ...`` as a balanced tree, so hundreds of definitions stay shallow."""
    while len(bodies) > 1:
        paired: list[Expr] = [Binary("or", bodies[i], bodies[i + 1]) for i in range(0, len(bodies) - 1, 2)]
        if len(bodies) % 2:
            paired.append(bodies[-1])
        bodies = paired
    return bodies[0]
