"""The report as one self-contained HTML page: styles inline, charts as inline SVG, no script,
and a Content-Security-Policy that forbids every fetch. Jinja2 autoescapes everything, so text
from input files (alert names, annotations, reasons) is always text, never markup."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Sequence

import jinja2

from .. import __version__
from ..analysis.findings import PROBLEMS, CoverageReport
from ..analysis.overview import GroupCoverage, Overview
from ..durations import format_duration
from .adoption_text import baseline_line, finding_note
from .charts import BarChart, Counts, LineChart, percent, ratio_lines, stacked_bars, when
from .drill import drill_rows, measured, modelled

# Plain glyphs every system font has (emoji need an emoji font, which servers and CI lack).
MARKS = {"covered": "✓", "weak": "!", "uncovered": "✗", "waived": "~"}
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("coverage_audit", "templates/report"),
        autoescape=True,  # every {{ }} is escaped, whatever the template's extension
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["percent"] = percent
    environment.filters["duration"] = format_duration
    environment.filters["when"] = when
    environment.filters["web_url"] = web_url
    environment.globals.update(
        icons=MARKS, problems=PROBLEMS, csp=CSP, version=__version__, finding_note=finding_note, baseline_line=baseline_line,
        modelled=modelled, measured=measured,
    )
    return environment


def render_report(report: CoverageReport, overview: Overview) -> str:
    return _environment().get_template("index.html.j2").render(
        report=report,
        o=overview,
        summary_chart=bar_chart([overview.totals], label_width=0, note_width=0, row_height=28),
        business_chart=bar_chart(overview.business_metrics),
        service_chart=bar_chart(overview.services),
        owner_chart=bar_chart(overview.owners),
        trend_chart=trend_chart(overview),
        previous=overview.changes.previous,
        drill=drill_rows(report),
    )


def bar_chart(groups: Sequence[GroupCoverage], **options: Any) -> BarChart:
    """``options``: layout overrides for ``stacked_bars`` (widths, row height)."""
    return stacked_bars([Counts(g.name, g.covered, g.weak, g.uncovered, g.waived) for g in groups], **options)


def trend_chart(overview: Overview) -> LineChart:
    points = overview.trend
    return ratio_lines(
        [when(p.started_at) for p in points],
        [
            ("covered", "covered", [p.ratio for p in points]),
            ("covered or weak", "reached", [p.reached_ratio for p in points]),
        ],
    )


def web_url(url: str | None) -> str | None:
    """Only http(s) links: a ``javascript:`` or ``data:`` runbook URL stays unlinked."""
    if url and url.strip().lower().startswith(("https://", "http://")):
        return url.strip()
    return None
