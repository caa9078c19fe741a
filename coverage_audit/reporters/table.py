"""Plain-text tables for terminals: columns sized to their content, long cells cut."""

from __future__ import annotations

from typing import Sequence

from ..printable import printable


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]], limits: Sequence[int] | None = None) -> str:
    """Left-aligned columns separated by two spaces; a cell over its column's limit ends in '…'."""
    limits = list(limits) if limits else [0] * len(headers)
    cut = [[_cut(cell, limits[i]) for i, cell in enumerate(row)] for row in rows]
    widths = [max([len(headers[i])] + [len(row[i]) for row in cut]) for i in range(len(headers))]
    lines = [_line(headers, widths), _line(["-" * w for w in widths], widths)]
    lines.extend(_line(row, widths) for row in cut)
    return "\n".join(lines)


def _cut(cell: str, limit: int) -> str:
    cell = printable(" ".join(cell.split()), keep_lines=False)  # one line per row, no escapes
    return cell if not limit or len(cell) <= limit else cell[: limit - 1] + "…"


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(cells)).rstrip()
