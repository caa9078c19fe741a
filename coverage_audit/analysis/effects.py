"""Which way must each series move for an alert to fire, and how long until it can?

An alert fires while its expression returns any series. Walking the (expanded) expression from
the top, we carry two questions down to every selector:

* ``value``: if this series' values rise, does the alert start firing (RISE), or does it start
  firing when they fall (DROP)? ``x / y > 0.05`` gives x RISE and y DROP; ``abs(delta(x)) > 5``
  gives both; a function we cannot reason about gives UNSURE.
* ``presence``: if *more* of these series exist, does the alert fire (RISE) — or does it fire
  when they vanish (DROP: ``absent(x)``, ``vector(1) unless x``)?

Selectors with an ``offset`` read the past: they are the baseline a failure is compared with
(``rate(x[10m]) < 0.5 * rate(x[10m] offset 1w)``), never where it shows first.

Time to detect, as DESIGN 5 models it: the range windows the firing depends on (a selector's
range plus enclosing subquery ranges; ``and`` needs both sides, so the longer; ``or`` fires on
either, so the shorter), then the rule's ``for``, the evaluation interval and the route's
``group_wait`` (added by the caller).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

from ..promql import COMPARISON_OPS, Aggregate, Binary, Call, Expr, Selector, Subquery, Unary, constant

RISE, DROP, UNSURE = 1, 2, 4
BOTH = RISE | DROP
MAX_DEPTH = 400  # deeper than any real (or guarded) expression; beyond it we stay UNSURE

Path = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Use:
    """One place where the expression reads a selector, with what that place means."""

    selector: Selector
    value: int  # RISE / DROP / UNSURE bits: how firing responds to the values rising
    presence: int  # how firing responds to more of these series existing
    path: Path  # child indexes from the root: tells two reads of one selector apart
    grouping: "Grouping | None" = None  # aggregations on the way up
    divisor: bool = False  # read as (part of) a divisor: x / this


    def keeps(self, label: str) -> bool:
        """Does this series' label reach the alert's output (for routing on it)?"""
        return self.grouping is None or self.grouping.keeps(label)

    @property
    def baseline(self) -> bool:
        return self.selector.offset > 0

    def fires_on(self, direction: str) -> bool:
        """Does a move of this series in the failure's direction make the alert fire?"""
        if self.baseline:
            return False
        if direction == "rise":
            return bool(self.value & RISE)
        if self.divisor:  # a divisor falling to zero gives NaN, and NaN never crosses a threshold
            return False
        return bool(self.value & DROP or self.presence & DROP)  # drop and absent

    @property
    def unsure(self) -> bool:
        return not self.baseline and bool(self.value & UNSURE)


@dataclass(frozen=True, slots=True)
class Grouping:
    """Labels that survive the aggregations between a selector and the top."""

    only: frozenset[str] | None = None  # by (...) lists, intersected; None: no by()
    removed: frozenset[str] = frozenset()  # without (...) lists, united

    def keeps(self, label: str) -> bool:
        return label not in self.removed and (self.only is None or label in self.only)

    def through(self, node: Aggregate) -> "Grouping":
        labels = frozenset(node.grouping)
        if node.without:
            return Grouping(self.only, self.removed | labels)
        return Grouping(labels if self.only is None else self.only & labels, self.removed)


NO_GROUPING = Grouping()


def negate(sign: int) -> int:
    return (sign & UNSURE) | ((sign & RISE) << 1) | ((sign & DROP) >> 1)


def through(sign: int, local: int) -> int:
    """The context for a child whose output moves ``local``-wise with the child's input."""
    result = 0
    if local & RISE:
        result |= sign
    if local & DROP:
        result |= negate(sign)
    if local & UNSURE and sign:
        result |= UNSURE
    return result


# Functions by how their output moves with their (vector or range) argument: data, not code.
_INCREASING = frozenset(
    "rate irate increase delta idelta deriv sum_over_time avg_over_time min_over_time max_over_time "
    "last_over_time quantile_over_time ceil floor round sqrt exp ln log2 log10 clamp clamp_min clamp_max "
    "sgn predict_linear holt_winters double_exponential_smoothing changes histogram_quantile histogram_avg "
    "histogram_sum histogram_count histogram_stddev label_replace label_join sort sort_desc sort_by_label "
    "sort_by_label_desc vector scalar deg rad info first_over_time ts_of_max_over_time".split()
)
_PRESENCE_ONLY = frozenset("present_over_time count_over_time timestamp".split())
_ABSENCE = frozenset({"absent", "absent_over_time"})
_VALUE_PRESERVING_AGGREGATIONS = frozenset("avg min max quantile topk bottomk limitk limit_ratio median".split())


class _Context(NamedTuple):
    """What is asked of a node's output on its way to the top."""

    value: int  # how firing responds to the node's values rising
    presence: int  # how firing responds to the node returning more series
    grouping: Grouping
    divisor: bool  # below the right side of a division


def uses(expr: Expr) -> list[Use]:
    """Every selector read, with its value/presence context (top-down, from "the result is
    non-empty")."""
    found: list[Use] = []
    _visit(expr, _Context(0, RISE, NO_GROUPING, False), (), found)
    return found


def _visit(node: Expr, ctx: _Context, path: Path, out: list[Use]) -> None:
    if len(path) > MAX_DEPTH:
        ctx = ctx._replace(value=UNSURE, presence=UNSURE)
    if isinstance(node, Selector):
        out.append(Use(node, ctx.value, ctx.presence, path, ctx.grouping, ctx.divisor))
    elif isinstance(node, Unary):
        _visit(node.expr, ctx._replace(value=negate(ctx.value)), path + (0,), out)
    elif isinstance(node, Subquery):
        _visit(node.expr, ctx, path + (0,), out)
    elif isinstance(node, Aggregate):
        _aggregate(node, ctx, path, out)
    elif isinstance(node, Call):
        _call(node, ctx, path, out)
    elif isinstance(node, Binary):
        _binary(node, ctx, path, out)


def _unsure(sign: int) -> int:
    return UNSURE if sign else 0


def _aggregate(node: Aggregate, ctx: _Context, path: Path, out: list[Use]) -> None:
    value, presence = ctx.value, ctx.presence
    op = node.op
    # Presence passes through unchanged: an aggregation over no series returns no series, so
    # sum(x) < 1 does not fire when x vanishes (only absent() and "unless x" do).
    if op == "sum":
        child = (value, presence)
    elif op in ("count", "count_values"):  # counts series, not values
        child = (_unsure(value), presence)
    elif op == "group":
        child = (0, presence)
    elif op in _VALUE_PRESERVING_AGGREGATIONS:
        child = (value, presence)
    else:  # stddev, stdvar and anything new
        child = (_unsure(value), presence)
    start = 0
    if node.param is not None:
        _visit(node.param, ctx._replace(value=_unsure(value), presence=0), path + (0,), out)
        start = 1
    below = ctx._replace(value=child[0], presence=child[1], grouping=ctx.grouping.through(node))
    _visit(node.expr, below, path + (start,), out)


def _call(node: Call, ctx: _Context, path: Path, out: list[Use]) -> None:
    name = node.func
    value, presence = ctx.value, ctx.presence
    for index, arg in enumerate(node.args):
        if name in _ABSENCE:  # absent(x) returns a series exactly when x returns none
            child = (0, negate(presence))
        elif not _is_series_argument(name, index):  # quantiles, thresholds, label names
            child = (_unsure(value), 0)
        elif name in _INCREASING:
            child = (value, presence)
        elif name in _PRESENCE_ONLY:
            child = (0, presence | _unsure(value))
        elif name == "abs":
            child = (value | negate(value), presence)
        else:
            child = (_unsure(value), presence)
        _visit(arg, ctx._replace(value=child[0], presence=child[1]), path + (index,), out)


_SERIES_ARGUMENT = {  # functions whose series argument is not the first
    "histogram_quantile": 1,
    "quantile_over_time": 1,
    "histogram_fraction": 2,
}
_FIRST_ARGUMENT_ONLY = frozenset(
    "label_replace label_join predict_linear clamp clamp_min clamp_max round holt_winters "
    "double_exponential_smoothing sort_by_label sort_by_label_desc".split()
)


def _is_series_argument(name: str, index: int) -> bool:
    if name in _SERIES_ARGUMENT:
        return index == _SERIES_ARGUMENT[name]
    return index == 0 if name in _FIRST_ARGUMENT_ONLY else True


def _binary(node: Binary, ctx: _Context, path: Path, out: list[Use]) -> None:
    left, right = path + (0,), path + (1,)
    value, presence = ctx.value, ctx.presence
    op = node.op
    if op == "and":
        _visit(node.lhs, ctx, left, out)
        _visit(node.rhs, ctx._replace(value=0), right, out)
    elif op == "or":
        _visit(node.lhs, ctx, left, out)
        _visit(node.rhs, ctx, right, out)
    elif op == "unless":
        _visit(node.lhs, ctx, left, out)
        _visit(node.rhs, ctx._replace(value=0, presence=negate(presence)), right, out)
    elif op in COMPARISON_OPS:
        lhs_sign, rhs_sign = _comparison_signs(node)
        if node.return_bool:  # 0/1 values: the comparison's outcome becomes the value
            _visit(node.lhs, ctx._replace(value=through(value, lhs_sign)), left, out)
            _visit(node.rhs, ctx._replace(value=through(value, rhs_sign)), right, out)
        else:  # a filter: passing series keep the left side's values
            _visit(node.lhs, ctx._replace(value=value | through(presence, lhs_sign)), left, out)
            _visit(node.rhs, ctx._replace(value=through(presence, rhs_sign)), right, out)
    else:
        lhs_sign, rhs_sign = _arithmetic_signs(node)
        _visit(node.lhs, ctx._replace(value=through(value, lhs_sign)), left, out)
        divisor = ctx.divisor or op == "/"
        _visit(node.rhs, ctx._replace(value=through(value, rhs_sign), divisor=divisor), right, out)


def _comparison_signs(node: Binary) -> tuple[int, int]:
    """How passing the comparison moves with each side rising."""
    op = node.op
    if op == "!=":
        return BOTH, BOTH
    if op == "==":
        # "== 0" fires when a rate or count falls to zero; "== 1" when a flag rises to one.
        threshold = constant(node.rhs)
        if threshold is None:
            threshold = constant(node.lhs)
            if threshold is None:
                return UNSURE, UNSURE
            return (0, DROP) if threshold <= 0 else (0, RISE)
        return (DROP, 0) if threshold <= 0 else (RISE, 0)
    if op in (">", ">="):
        return RISE, DROP
    return DROP, RISE  # < <=


def _arithmetic_signs(node: Binary) -> tuple[int, int]:
    op = node.op
    if op == "+":
        return RISE, RISE
    if op == "-":
        return RISE, DROP
    if op in ("*", "/"):
        left_const, right_const = constant(node.lhs), constant(node.rhs)
        flip_left = right_const is not None and right_const < 0
        flip_right = left_const is not None and left_const < 0
        lhs = DROP if flip_left else RISE
        rhs = (DROP if op == "/" else RISE) if not flip_right else (RISE if op == "/" else DROP)
        return lhs, rhs
    if op == "^":
        return RISE, UNSURE
    return UNSURE, UNSURE  # % atan2


# --------------------------------------------------------------------------- time to detect


def detection_window(expr: Expr, relevant: Callable[[Path], bool]) -> float | None:
    """Seconds of range windows before the firing can reflect the relevant reads (None if the
    expression does not depend on them)."""
    return _window(expr, (), relevant)


def _window(node: Expr, path: Path, relevant: Callable[[Path], bool]) -> float | None:
    if len(path) > MAX_DEPTH:
        return None
    if isinstance(node, Selector):
        return (node.range or 0.0) if relevant(path) else None
    if isinstance(node, (Unary, Subquery)):
        inner = _window(node.expr, path + (0,), relevant)
        extra = node.range if isinstance(node, Subquery) else 0.0
        return None if inner is None else inner + extra
    if isinstance(node, Aggregate):
        index = 0 if node.param is None else 1
        return _window(node.expr, path + (index,), relevant)
    if isinstance(node, Call):
        found = [w for i, a in enumerate(node.args) if (w := _window(a, path + (i,), relevant)) is not None]
        return min(found) if found else None
    if isinstance(node, Binary):
        lhs = _window(node.lhs, path + (0,), relevant)
        rhs = _window(node.rhs, path + (1,), relevant)
        if node.op == "unless" and lhs is not None:
            return lhs  # the right side only suppresses
        if lhs is None or rhs is None:
            return lhs if rhs is None else rhs
        return max(lhs, rhs) if node.op == "and" else min(lhs, rhs)
    return None


