"""Geometry for the report's inline SVG charts: numbers in, shapes out (and the two short
formats their labels use).

No markup is produced here: the template draws the shapes and escapes every label, so text
from input files can never become SVG or HTML.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..analysis.findings import STATUSES


@dataclass(frozen=True, slots=True)
class Segment:
    status: str
    count: int
    x: float
    width: float


@dataclass(frozen=True, slots=True)
class BarRow:
    label: str  # as given; the template shows ``short`` and puts ``label`` in a tooltip
    short: str
    y: float
    total: int
    ratio: float
    segments: tuple[Segment, ...]


@dataclass(frozen=True, slots=True)
class BarChart:
    width: float
    height: float
    label_width: float
    bar_width: float
    row_height: float
    rows: tuple[BarRow, ...]


@dataclass(frozen=True, slots=True)
class Counts:
    label: str
    covered: int
    weak: int
    uncovered: int
    waived: int = 0  # accepted gaps: drawn last, so the covered share stays what it is

    @property
    def total(self) -> int:
        return self.covered + self.weak + self.uncovered + self.waived


def stacked_bars(
    rows: Sequence[Counts],
    width: float = 1130,
    label_width: float = 220,
    note_width: float = 110,
    row_height: float = 18,
    gap: float = 8,
    label_chars: int = 26,
) -> BarChart:
    """One horizontal bar per row, split covered | weak | uncovered by share of the row's total."""
    bar_width = max(width - label_width - note_width, 10)
    drawn = []
    for index, row in enumerate(rows):
        y = index * (row_height + gap)
        x = label_width
        segments = []
        for status in (*STATUSES, "waived"):
            count = getattr(row, status)
            size = bar_width * count / row.total if row.total else 0.0
            if count:
                segments.append(Segment(status, count, round(x, 2), round(size, 2)))
            x += size
        ratio = row.covered / row.total if row.total else 0.0
        drawn.append(BarRow(row.label, _shorten(row.label, label_chars), y, row.total, ratio, tuple(segments)))
    height = max(len(rows) * (row_height + gap) - gap, row_height)
    return BarChart(width, height, label_width, bar_width, row_height, tuple(drawn))


@dataclass(frozen=True, slots=True)
class Point:
    x: float
    y: float
    value: float  # 0..1
    label: str  # what the point is: the run's time


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    css: str  # a class name the stylesheet colours
    points: tuple[Point, ...]

    @property
    def path(self) -> str:
        return " ".join(f"{p.x},{p.y}" for p in self.points)


@dataclass(frozen=True, slots=True)
class Tick:
    position: float
    label: str
    anchor: str = "middle"  # SVG text-anchor: the outermost x labels stay inside the chart


@dataclass(frozen=True, slots=True)
class LineChart:
    width: float
    height: float
    left: float
    right: float
    top: float
    bottom: float
    series: tuple[Series, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]


def ratio_lines(
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float]]],
    width: float = 1130,
    height: float = 240,
    margin: tuple[float, float, float, float] = (12, 16, 28, 44),  # top, right, bottom, left
    x_labels: int = 5,
) -> LineChart:
    """Lines of ratios (0..1) over evenly spaced runs; ``series`` is (name, css class, values)."""
    top, right_margin, bottom_margin, left = margin
    right, bottom = width - right_margin, height - bottom_margin
    count = len(labels)

    def x_of(index: int) -> float:
        return round(left + (right - left) * (index / (count - 1) if count > 1 else 0.5), 2)

    def y_of(value: float) -> float:
        return round(bottom - (bottom - top) * min(max(value, 0.0), 1.0), 2)

    drawn = tuple(
        Series(name, css, tuple(Point(x_of(i), y_of(v), v, labels[i]) for i, v in enumerate(values)))
        for name, css, values in series
    )
    y_ticks = tuple(Tick(y_of(share / 4), f"{share * 25}%") for share in range(5))
    wanted = min(count, x_labels)
    shown = sorted({round(i * (count - 1) / (wanted - 1)) for i in range(wanted)}) if wanted > 1 else list(range(count))
    x_ticks = tuple(Tick(x_of(i), labels[i], _anchor(i, count)) for i in shown)
    return LineChart(width, height, left, right, top, bottom, drawn, y_ticks, x_ticks)


def _anchor(index: int, count: int) -> str:
    if count < 2:
        return "middle"
    return "start" if index == 0 else "end" if index == count - 1 else "middle"


def percent(ratio: float) -> str:
    """Whole percent, except that a share that is not quite all or nothing never rounds to it."""
    value = ratio * 100
    if 0 < value < 1:
        return "<1%"
    if 99 < value < 100:
        return ">99%"
    return f"{value:.0f}%"


def when(timestamp: str) -> str:
    """``2024-05-01T10:00:00+00:00`` -> ``2024-05-01 10:00`` (UTC, as stored)."""
    return timestamp.replace("T", " ")[:16]


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
