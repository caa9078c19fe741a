"""Values and presence over time around a failure's step at t = 0 (DESIGN 5.1).

A :class:`Curve` is a piecewise-linear function of time: ``points[0]`` holds the healthy value
(everything before t = 0), two points at one time make a jump, and the last value holds for ever
after. :class:`Span` is a set of time intervals (when an expression returns the subject's series);
an interval starting at ``-inf`` means "already while healthy".

These are the only numbers the model computes with: a windowed function over ``[W]`` after a step
from h to f is a ramp over W, so crossing a threshold T takes about W·(T−h)/(f−h), and never if f
does not cross T. Everything is exact for linear pieces and sampled (a few points per piece) where
an operation bends them (ratios); "about" is what the model promises.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

INF = math.inf
HORIZON = 1.0e7  # about four months: long enough that a ramp's end never matters
_SAMPLES = 4  # interior samples per piece where an operation bends a line (a ratio of ramps)
MAX_POINTS = 64  # a curve is thinned beyond this: real expressions stay far below it, and a
# product of products (13 recordings each reading the last four times) must not double it per level
_EPS = 1e-9

Point = tuple[float, float]


_finite = math.isfinite  # neither NaN nor infinite (in C: judging asks ~10^6 times)


@dataclass(frozen=True, slots=True)
class Curve:
    points: tuple[Point, ...]  # times ascending from 0 (repeated at a jump); last value holds

    # ------------------------------------------------------------------ making curves

    @staticmethod
    def constant(value: float) -> "Curve":
        return Curve(((0.0, value),))

    @staticmethod
    def step(before: float, after: float, at: float = 0.0) -> "Curve":
        if before == after:
            return Curve.constant(before)
        return Curve(((0.0, before), (at, before), (at, after))) if at > 0 else Curve(((0.0, before), (0.0, after)))

    @staticmethod
    def ramp(before: float, slope: float, at: float = 0.0, until: float = HORIZON) -> "Curve":
        """``before`` until ``at``, then growing by ``slope`` per second."""
        if slope == 0:
            return Curve.constant(before)
        end = max(until, at + 1.0)
        points: list[Point] = [(0.0, before)]
        if at > 0:
            points.append((at, before))
        points.append((end, before + slope * (end - at)))
        return Curve(tuple(points))

    # ------------------------------------------------------------------ reading

    @property
    def healthy(self) -> float:
        return self.points[0][1]

    @property
    def final(self) -> float:
        return self.points[-1][1]

    @property
    def constant_value(self) -> float | None:
        first = self.points[0][1]
        return first if all(v == first or (math.isnan(v) and math.isnan(first)) for _, v in self.points) else None

    def at(self, t: float) -> float:
        """The value at ``t`` (the right limit at a jump)."""
        points = self.points
        if t < 0:
            return points[0][1]
        previous = points[0]
        for point in points[1:]:
            if point[0] > t:
                t0, v0 = previous
                t1, v1 = point
                if t1 == t0:
                    return v1
                if not (_finite(v0) and _finite(v1)):
                    return v0 if t < t1 else v1
                return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
            previous = point
        return previous[1]

    def times(self) -> list[float]:
        return [t for t, _ in self.points]

    def sample_sorted(self, times: list[float]) -> list[tuple[float, float]]:
        """(left limit, value) at each of ``times`` (ascending), in one pass."""
        points = self.points
        count = len(points)
        result: list[tuple[float, float]] = []
        index = 0  # points[index] is the first point with time >= t
        for t in times:
            if t <= 0:
                value = points[0][1] if t < 0 else self.at(0.0)
                result.append((points[0][1], value))
                continue
            while index < count and points[index][0] < t:
                index += 1
            if index == count:
                last = points[-1][1]
                result.append((last, last))
                continue
            if points[index][0] == t:
                left = points[index][1]
                right_index = index
                while right_index + 1 < count and points[right_index + 1][0] == t:
                    right_index += 1
                result.append((left, points[right_index][1]))
                continue
            t0, v0 = points[index - 1]
            t1, v1 = points[index]
            if _finite(v0) and _finite(v1):
                value = v0 + (v1 - v0) * (t - t0) / (t1 - t0)
            else:
                value = v0
            result.append((value, value))
        return result

    # ------------------------------------------------------------------ transforming

    def map(self, fn: Callable[[float], float], bends: bool = False) -> "Curve":
        if not bends:
            return Curve(tuple((t, _safe(fn, v)) for t, v in self.points))
        return Curve.combine([self], fn)

    def shift(self, delay: float) -> "Curve":
        """What a read ``offset delay`` sees: the same curve, later."""
        if delay <= 0 or self.constant_value is not None:
            return self
        return Curve(((0.0, self.healthy),) + tuple((t + delay, v) for t, v in self.points))

    @staticmethod
    def combine(curves: list["Curve"], fn: Callable[..., float], bends: bool = True) -> "Curve":
        """``fn`` applied pointwise to several curves (arithmetic between series). Where ``fn``
        bends straight pieces (a ratio of ramps), pieces get interior samples."""
        constants = [c.constant_value for c in curves]
        if all(v is not None for v in constants):
            return Curve.constant(_safe(fn, *constants))  # type: ignore[arg-type]
        times = sorted({t for c in curves for t in c.times()})
        columns = [c.sample_sorted(times) for c in curves]
        points: list[Point] = [(0.0, _safe(fn, *(c.healthy for c in curves)))]
        previous_t: float | None = None
        previous_v = 0.0
        for index, t in enumerate(times):
            left = _safe(fn, *(column[index][0] for column in columns))
            right = _safe(fn, *(column[index][1] for column in columns))
            if bends and previous_t is not None and t - previous_t > 0 and t < HORIZON / 2:
                points.extend(Curve._bent(curves, fn, previous_t, previous_v, t, left))
            if t > 0 and not _same(left, right):
                points.append((t, left))
            points.append((t, right))
            previous_t, previous_v = t, right
        return Curve(_thin(_compact(points)))

    @staticmethod
    def combined(curves: tuple["Curve", ...], fn: Callable[..., float], bends: bool = True) -> "Curve":
        """:meth:`combine` for an ``fn`` that is one fixed function (not a closure made per
        call), remembered: rule sets repeat the same arithmetic on the same curves (GitLab.com's
        judging combines ~26,000 times, ~1,500 of them different). Curves that are equal but for
        the sign of a zero share an answer, so ``atan2``, which reads that sign, is never
        remembered."""
        if fn is math.atan2:
            return Curve.combine(list(curves), fn, bends)
        return _combined(fn, bends, *curves)

    @staticmethod
    def _bent(curves: list["Curve"], fn: Callable[..., float], t0: float, v0: float, t1: float, v1: float) -> list[Point]:
        """Interior samples of ``fn`` over (t0, t1) where it is not a straight line there."""
        middle = (t0 + t1) / 2
        value = _safe(fn, *(c.at(middle) for c in curves))
        if not (_finite(value) and _finite(v0) and _finite(v1)):
            return []
        if abs(value - (v0 + v1) / 2) <= 1e-9 * max(1.0, abs(value)):
            return []
        return [(t0 + (t1 - t0) * k / (_SAMPLES + 1), _safe(fn, *(c.at(t0 + (t1 - t0) * k / (_SAMPLES + 1)) for c in curves))) for k in range(1, _SAMPLES + 1)]

    def window(self, width: float, how: str) -> "Curve":
        """The function over a sliding window ``[t - width, t]``: ``avg`` (rate of a counter's
        instantaneous rate, avg_over_time), ``max``, ``min``, ``delta`` (last minus first)."""
        if width <= 0 or self.constant_value is not None:
            return self if how != "delta" else Curve.constant(0.0)
        times = self.times()
        grid = sorted({t for t in times} | {t + width for t in times})
        if how == "avg":
            ends = self.integrals(grid)
            starts = self.integrals([t - width for t in grid])
            values = [(b - a) / width for a, b in zip(starts, ends)]
        elif how == "delta":
            now = self.sample_sorted(grid)
            then = self.sample_sorted([t - width for t in grid])
            values = [b[1] - a[1] for a, b in zip(then, now)]
        elif how in ("max", "min"):
            pick = max if how == "max" else min
            values = [self._extreme(t - width, t, pick) for t in grid]
        else:
            raise ValueError(how)
        healthy = self.healthy if how != "delta" else 0.0
        return Curve(_thin(_compact([(0.0, healthy)] + [(t, v) for t, v in zip(grid, values) if t >= 0])))

    def integrals(self, times: list[float]) -> list[float]:
        """The running integral F(t), with F(0) = 0 and the healthy value before 0, at each of
        ``times`` (ascending), in one pass over the pieces."""
        points = self.points
        result: list[float] = []
        cumulative = 0.0  # F at points[index][0]
        index = 0
        for t in times:
            if t <= 0:
                result.append(self.healthy * t)
                continue
            while index + 1 < len(points) and points[index + 1][0] <= t:
                t0, v0 = points[index]
                t1, v1 = points[index + 1]
                cumulative += _area(t0, v0, t1, v1)
                index += 1
            t0, v0 = points[index]
            if index + 1 < len(points):
                t1, v1 = points[index + 1]
                value = v0 + (v1 - v0) * (t - t0) / (t1 - t0) if t1 > t0 and _finite(v0) and _finite(v1) else v0
            else:
                value = v0
            result.append(cumulative + _area(t0, v0, t, value))
        return result

    def _extreme(self, start: float, end: float, pick: Callable[..., float]) -> float:
        values = [self.at(start), self._left(end), self.at(end)]
        values += [v for t, v in self.points if start <= t <= end]
        if start < 0:
            values.append(self.healthy)
        return pick(values)

    def _left(self, t: float) -> float:
        """The left limit at ``t``: at a jump, the value before it."""
        if t <= 0:
            return self.points[0][1]
        for time, value in self.points:
            if time == t:
                return value  # the first point at t: before a jump, or the continuous value
            if time > t:
                break
        return self.at(t)

    # ------------------------------------------------------------------ comparing

    def holds(self, op: str, threshold: float) -> "Span":
        """When ``value op threshold`` is true (NaN never compares true)."""
        return Span.where(self, lambda v: _compare(v, op, threshold), threshold)


_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
}


def _compare(value: float, op: str, threshold: float) -> bool:
    if math.isnan(value) or math.isnan(threshold):
        return False
    return _COMPARISONS[op](value, threshold)


def _area(t0: float, v0: float, t1: float, v1: float) -> float:
    if t1 <= t0:
        return 0.0
    if _finite(v0) and _finite(v1):
        return (v0 + v1) / 2 * (t1 - t0)
    return v0 * (t1 - t0)


def _safe(fn: Callable[..., float], *args: float) -> float:
    try:
        result = fn(*args)
    except (ZeroDivisionError, OverflowError, ValueError):
        return math.nan
    return float(result)


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def _thin(points: tuple[Point, ...]) -> tuple[Point, ...]:
    """At most MAX_POINTS points: every k-th one, and both sides of every jump kept."""
    if len(points) <= MAX_POINTS:
        return points
    step = -(-len(points) // (MAX_POINTS // 2))
    kept = [p for i, p in enumerate(points) if i % step == 0 or i == len(points) - 1
            or (i + 1 < len(points) and points[i + 1][0] == p[0]) or (i > 0 and points[i - 1][0] == p[0])]
    return tuple(kept[: MAX_POINTS - 1] + [points[-1]]) if len(kept) > MAX_POINTS else tuple(kept)


@lru_cache(maxsize=8192)
def _combined(fn: Callable[..., float], bends: bool, *curves: Curve) -> Curve:
    return Curve.combine(list(curves), fn, bends)


def _compact(points: list[Point]) -> tuple[Point, ...]:
    """Drop points that lie on the line through their neighbours (keeps curves short)."""
    kept: list[Point] = []
    for point in points:
        if kept and kept[-1] == point:
            continue
        while len(kept) >= 2:
            (t0, v0), (t1, v1) = kept[-2], kept[-1]
            t2, v2 = point
            if t0 < t1 < t2 and _finite(v0) and _finite(v1) and _finite(v2):
                expected = v0 + (v2 - v0) * (t1 - t0) / (t2 - t0)
                if abs(expected - v1) <= 1e-12 * max(1.0, abs(v1)):
                    kept.pop()
                    continue
            if _same(v0, v1) and _same(v1, point[1]) and t0 < t1:
                kept.pop()
                continue
            break
        kept.append(point)
    return tuple(kept)


@dataclass(frozen=True, slots=True)
class Span:
    """Disjoint, sorted time intervals [start, end); ``-inf`` starts mean "while healthy"."""

    intervals: tuple[tuple[float, float], ...]

    @staticmethod
    def where(curve: Curve, predicate: Callable[[float], bool], threshold: float = math.nan) -> "Span":
        """When ``predicate(value)`` holds. Each linear piece is cut where it passes the
        threshold and judged at the middle of each part, so crossings are exact."""
        intervals: list[tuple[float, float]] = []
        start: float | None = -INF if predicate(curve.healthy) else None
        points = curve.points
        for (t0, v0), (t1, v1) in zip(points, points[1:]):
            if t1 == t0:
                continue  # a jump: the piece that follows (or the final value) decides
            cuts = [t0]
            crossing = _crossing(t0, v0, t1, v1, threshold)
            if crossing is not None:
                cuts.append(crossing)
            cuts.append(t1)
            for a, b in zip(cuts, cuts[1:]):
                middle = (a + b) / 2
                value = v0 + (v1 - v0) * (middle - t0) / (t1 - t0) if _finite(v0) and _finite(v1) else v0
                start = _toggle(intervals, start, predicate(value), a)
        start = _toggle(intervals, start, predicate(curve.final), points[-1][0])
        if start is not None:
            intervals.append((start, INF))
        return Span(_merge(intervals))

    @property
    def healthy(self) -> bool:
        return bool(self.intervals) and self.intervals[0][0] == -INF

    def indicator(self) -> Curve:
        """1 while the span holds, 0 otherwise (jumps at its edges)."""
        points: list[Point] = [(0.0, 1.0 if self.healthy else 0.0)]
        for start, end in self.intervals:
            for edge, inside in ((start, 1.0), (end, 0.0)):
                if 0 <= edge < INF:
                    points.append((edge, points[-1][1]))
                    points.append((edge, inside))
        return Curve(_compact(points))

    @property
    def empty(self) -> bool:
        return not self.intervals

    def first_lasting(self, duration: float) -> float | None:
        """The first time t >= 0 at which the span has held for ``duration`` without a break
        (an alert's ``for``); None if never. While-healthy intervals count from before 0."""
        for start, end in self.intervals:
            ready = start + duration
            if end - start >= duration or end == INF:
                return max(ready, 0.0) if start > -INF else 0.0
        return None

    def both(self, other: "Span") -> "Span":
        result: list[tuple[float, float]] = []
        for a0, a1 in self.intervals:
            for b0, b1 in other.intervals:
                lo, hi = max(a0, b0), min(a1, b1)
                if lo < hi:
                    result.append((lo, hi))
        return Span(_merge(result))

    def either(self, other: "Span") -> "Span":
        return Span(_merge(list(self.intervals) + list(other.intervals)))

    def without(self, other: "Span") -> "Span":
        return self.both(other.complement())

    def complement(self) -> "Span":
        result: list[tuple[float, float]] = []
        cursor = -INF
        for start, end in self.intervals:
            if start > cursor:
                result.append((cursor, start))
            cursor = max(cursor, end)
        if cursor < INF:
            result.append((cursor, INF))
        return Span(_merge(result))

    def shift(self, delay: float) -> "Span":
        if delay <= 0:
            return self
        shifted: list[tuple[float, float]] = []
        for start, end in self.intervals:
            shifted.append((start if start == -INF else start + delay, end if end == INF else end + delay))
        # what was true while healthy stays true until the delayed change arrives
        return Span(_merge(shifted))

    def extend(self, width: float) -> "Span":
        """Each interval lasting ``width`` longer (a range read still has samples in its window)."""
        if width <= 0:
            return self
        return Span(_merge([(s, e if e == INF else e + width) for s, e in self.intervals]))



ALWAYS = Span(((-INF, INF),))
NEVER = Span(())


def _toggle(intervals: list[tuple[float, float]], start: float | None, inside: bool, t: float) -> float | None:
    if inside and start is None:
        return t
    if not inside and start is not None:
        if t > start:
            intervals.append((start, t))
        return None
    return start


def _crossing(t0: float, v0: float, t1: float, v1: float, threshold: float) -> float | None:
    """Where a linear piece passes the threshold strictly inside (t0, t1), if it does."""
    if not (_finite(v0) and _finite(v1)) or math.isnan(threshold) or v0 == v1:
        return None
    if (v0 - threshold) * (v1 - threshold) >= 0:
        return None
    return t0 + (threshold - v0) * (t1 - t0) / (v1 - v0)


def _merge(intervals: list[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    ordered = sorted(i for i in intervals if i[0] < i[1])
    merged: list[tuple[float, float]] = []
    for start, end in ordered:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)
