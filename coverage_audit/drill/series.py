"""A written series as promtool input: its description and its values in expanding notation.

Samples sit on a grid of ``step`` seconds from 0 to ``t0`` (healthy) and ``after`` more steps
(failing). Where a read looks, the grid is dense enough for its window (``density``); far back
in a long history, where only a ``[3d]`` window or an ``offset 1w`` looks, one sample every
hour or so is all a rate needs, and promtool's ``_xN`` skips the rest — so a week of history
costs the engine little more than the hours around the failure. Counters count from 0 at a
steady rate and then at another; gauges hold a level and then move to another or grow;
histograms are written as their ``_bucket`` ladder, ``_sum`` and ``_count``, as the read names
them. Equal series share their text (cached by identity).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Callable

from ..scenarios import Behaviour, time_unit_scale, world
from .world import Series

@dataclass(frozen=True, slots=True)
class Timeline:
    step: float  # seconds between grid points
    t0: float  # the step from healthy to failing; a multiple of ``step``
    after: int  # grid points after t0
    density: tuple[tuple[int, int], ...] = ()  # (from grid index, stride): a sample every stride points

    @property
    def before(self) -> int:
        return round(self.t0 / self.step)


@lru_cache(maxsize=256)
def sample_indexes(timeline: Timeline) -> tuple[int, ...]:
    """Grid points that carry a sample: every ``stride``-th of each density segment, and
    always the start, the last healthy point, the first failing one and the end."""
    last = timeline.before + timeline.after
    if not timeline.density:
        return tuple(range(last + 1))
    chosen = {0, timeline.before, min(timeline.before + 1, last), last}
    bounds = [index for index, _ in timeline.density[1:]] + [last + 1]
    for (first, stride), end in zip(timeline.density, bounds):
        start = first + (-first) % stride
        chosen.update(range(start, min(end, last + 1), stride))
    return tuple(sorted(i for i in chosen if 0 <= i <= last))


def input_series(series: Series, timeline: Timeline, ladder: tuple[float, ...], pinned: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """``(series description, values)`` pairs for promtool's ``input_series``."""
    moved = series.behaviour
    name = series.metric
    if name.endswith("_bucket"):
        moved = _as_histogram(moved, name)
        out = []
        for text, bound in bucket_bounds(name, ladder, pinned):
            share_before = 1.0 if _within(moved.latency_before, bound) else 0.0
            share_after = (1 - moved.slow_share_after) * _within(moved.latency_before, bound) + moved.slow_share_after * _within(moved.latency_after, bound)
            out.append((describe(name, (*series.labels, ("le", text))), counter_values(moved.rate_before * share_before, moved.rate_after * share_after, moved.vanishes, timeline)))
        return out
    if moved.kind == "histogram":
        if name.endswith("_sum"):
            mean_after = (1 - moved.slow_share_after) * moved.latency_before + moved.slow_share_after * moved.latency_after
            values = counter_values(moved.rate_before * moved.latency_before, moved.rate_after * mean_after, moved.vanishes, timeline)
        elif name.endswith("_count"):
            values = counter_values(moved.rate_before, moved.rate_after, moved.vanishes, timeline)
        else:  # a summary quantile or a maximum: a gauge of latency
            quantile = dict(series.labels).get("quantile")
            values = gauge_values(moved.latency_before, _latency_gauge(moved, quantile), 0.0, moved.vanishes, timeline)
        return [(describe(name, series.labels), values)]
    if moved.kind == "counter":
        return [(describe(name, series.labels), counter_values(moved.rate_before, moved.rate_after, moved.vanishes, timeline))]
    if moved.kind == "timestamp":
        return [(describe(name, series.labels), timestamp_values(moved, timeline))]
    return [(describe(name, series.labels), gauge_values(moved.value_before, moved.value_after, moved.slope_after, moved.vanishes, timeline))]


def bucket_bounds(metric: str, ladder: tuple[float, ...], pinned: tuple[str, ...] = ()) -> list[tuple[str, float]]:
    """The ``le`` ladder in the metric's unit, with any bound a read pins spelled as it pins it."""
    scale = time_unit_scale(metric)
    bounds: dict[float, str] = {round(b * scale, 9): number(b * scale) for b in ladder}
    for text in pinned:
        try:
            bounds[float(text)] = text
        except ValueError:
            continue  # a pinned bound that is not a number selects no bucket Prometheus writes
    finite = sorted((value, text) for value, text in bounds.items() if value != float("inf"))
    return [(text, value) for value, text in finite] + [("+Inf", float("inf"))]


def describe(metric: str, labels: tuple[tuple[str, str], ...]) -> str:
    inner = ",".join(f"{name}={quote(value)}" for name, value in labels)
    return f"{metric}{{{inner}}}"


def quote(text: str) -> str:
    """A PromQL (Go) double-quoted string: JSON's escapes are a subset Go reads."""
    return json.dumps(text, ensure_ascii=False)


@lru_cache(maxsize=4096)
def counter_values(rate_before: float, rate_after: float, vanishes: bool, timeline: Timeline) -> str:
    step, n0 = timeline.step, timeline.before
    return _encode(
        timeline,
        lambda k: rate_before * k * step if k <= n0 else rate_before * n0 * step + rate_after * (k - n0) * step,
        rate_before * step,
        rate_after * step,
        vanishes,
        monotone=True,
    )


@lru_cache(maxsize=4096)
def gauge_values(before: float, after: float, slope: float, vanishes: bool, timeline: Timeline) -> str:
    """A level, then another level — or growth from the healthy level (a backlog, an age)."""
    step, n0 = timeline.step, timeline.before
    if slope:
        return _encode(timeline, lambda k: before if k <= n0 else before + slope * (k - n0) * step, 0.0, slope * step, vanishes)
    return _encode(timeline, lambda k: before if k <= n0 else after, 0.0, 0.0, vanishes)


def timestamp_values(moved: Behaviour, timeline: Timeline) -> str:
    """A last-success timestamp: ``value_before`` seconds old and keeping up with the clock
    while healthy; after t0 it advances at ``slope_after`` (0: it stopped). On promtool's
    clock (``time()`` is seconds since the test's start; 2.42 cannot start it at
    ``scenarios.EPOCH``), so an age ``time() - x`` reads as in the model."""
    step, n0, age = timeline.step, timeline.before, moved.value_before
    advance = moved.slope_after * step

    def value(k: int) -> float:
        return k * step - age if k <= n0 else n0 * step - age + (k - n0) * advance

    return _encode(timeline, value, step, advance, moved.vanishes)


def _encode(
    timeline: Timeline,
    value: Callable[[int], float],
    increment_before: float,
    increment_after: float,
    vanishes: bool,
    monotone: bool = False,
) -> str:
    """The samples at ``sample_indexes`` in promtool's notation: runs of consecutive points as
    ``a+bxN``, skipped points as ``_xN``, and ``stale`` once a vanishing series stops.

    promtool builds ``a+bxN`` by adding ``b`` once per point; a run started from a value
    computed as rate x time can land a rounding error below that sum, which ``rate()`` would
    read as a counter reset — so a counter's run never starts below where the last one ended."""
    n0 = timeline.before
    indexes = [k for k in sample_indexes(timeline) if not (vanishes and k > n0)]
    tokens: list[str] = []
    reached = float("-inf")
    i = 0
    while i < len(indexes):
        first = indexes[i]
        side = first <= n0
        j = i
        while j + 1 < len(indexes) and indexes[j + 1] == indexes[j] + 1 and (indexes[j + 1] <= n0) == side:
            j += 1
        increment = increment_before if side else increment_after
        start = value(first)
        if monotone and start < reached:
            start = reached
        tokens.append(_ramp(start, increment, j - i))
        reached = start
        for _ in range(j - i):  # where promtool's repeated addition ends
            reached += increment
        if j + 1 < len(indexes) and indexes[j + 1] - indexes[j] > 1:
            tokens.append(f"_x{indexes[j + 1] - indexes[j] - 1}")
        i = j + 1
    if vanishes:
        tokens.append("stale")
    return " ".join(tokens)


def number(value: float) -> str:
    """The shortest decimal that reads back as exactly this float, without an exponent
    (promtool's series notation reads ``1e-05x3`` wrongly)."""
    if value == 0:
        return "0"
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _ramp(start: float, increment: float, times: int) -> str:
    sign = "-" if increment < 0 else "+"
    return f"{number(start)}{sign}{number(abs(increment))}x{max(times, 0)}"


def _within(latency: float, bound: float) -> float:
    return 1.0 if latency <= bound * (1 + 1e-9) else 0.0


def _as_histogram(moved: Behaviour, metric: str) -> Behaviour:
    """A bucket family read by a mode that only counts requests: every request healthy-fast."""
    if moved.kind == "histogram":
        return moved
    latency = world().healthy.latency_seconds * time_unit_scale(metric)
    return Behaviour("histogram", rate_before=moved.rate_before, rate_after=moved.rate_after,
                     latency_before=latency, latency_after=latency, vanishes=moved.vanishes)


def _latency_gauge(moved: Behaviour, quantile: str | None) -> float:
    """What a summary quantile (or a maximum, without one) reads once the failure starts."""
    if moved.slow_share_after <= 0:
        return moved.latency_before
    try:
        q = float(quantile) if quantile is not None else 1.0
    except ValueError:
        q = 1.0
    return moved.latency_after if moved.slow_share_after >= 1 - q else moved.latency_before
