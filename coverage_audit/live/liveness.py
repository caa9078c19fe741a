"""Which reads an alert's firing needs (DESIGN 5, dead alerts).

An expression returns series only if the reads it depends on do: a binary operation between two
vectors needs both sides, ``or`` either, ``unless`` its left; functions and aggregations need their
vector arguments; ``absent``/``absent_over_time`` fire *because* a read is empty, so they never
make an expression dead. A scalar (a number, ``time()``) is always there.
"""

from __future__ import annotations

from typing import Callable

from ..promql import Aggregate, Binary, Call, Expr, Number, Selector, String, Subquery, Unary, walk

FIRES_ON_ABSENCE = frozenset({"absent", "absent_over_time"})

Why = str | None  # None: the read selects series; else why it does not


def first_dead(expr: Expr, read: Callable[[Selector], Why]) -> Why:
    """Why ``expr`` can never return a series, given why each read selects none (``read``);
    None when it can. Reads are asked about only as far as the answer needs them."""
    if isinstance(expr, Selector):
        return read(expr)
    if isinstance(expr, (Number, String)):
        return None
    if isinstance(expr, Call):
        if expr.func in FIRES_ON_ABSENCE:
            return None
        for arg in expr.args:
            why = first_dead(arg, read)
            if why is not None:
                return why
        return None
    if isinstance(expr, Aggregate):
        return first_dead(expr.expr, read)
    if isinstance(expr, (Unary, Subquery)):
        return first_dead(expr.expr, read)
    if isinstance(expr, Binary):
        if expr.op == "or":
            left = first_dead(expr.lhs, read)
            if left is None:
                return None
            right = first_dead(expr.rhs, read)
            return None if right is None else f"{left}; and {right}"
        if expr.op == "unless":
            return first_dead(expr.lhs, read)
        return first_dead(expr.lhs, read) or first_dead(expr.rhs, read)
    return None


def selectors(expr: Expr) -> list[Selector]:
    """Every selector of an expression, for collecting what to fetch."""
    return [node for node in walk(expr) if isinstance(node, Selector)]


def created_labels(expr: Expr) -> frozenset[str]:
    """Labels an expression makes up (``label_replace``/``label_join`` targets): matchers on
    them cannot be pushed down to the series it reads."""
    return frozenset(
        node.args[1].value
        for node in walk(expr)
        if isinstance(node, Call) and node.func in ("label_replace", "label_join") and len(node.args) > 1 and isinstance(node.args[1], String)
    )
