"""The report as one self-contained HTML page: styles inline, charts as inline SVG, no script,
and a Content-Security-Policy that forbids every fetch. Jinja2 autoescapes everything, so text
from input files (alert names, annotations, reasons) is always text, never markup."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping, Sequence

import jinja2
import markupsafe

from .. import __version__
from ..analysis.findings import PROBLEMS, CoverageReport
from ..analysis.overview import GroupCoverage, Overview
from ..durations import format_duration
from ..printable import printable
from .adoption_text import baseline_line, finding_note
from ..model import Rule
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
        finalize=_printable,  # and holds no control character or undecodable byte
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["percent"] = percent
    environment.filters["duration"] = format_duration
    environment.filters["when"] = when
    environment.filters["web_url"] = web_url
    environment.filters["distinct"] = distinct  # jinja's unique is case-folding and slow
    environment.globals.update(
        icons=MARKS, problems=PROBLEMS, csp=CSP, version=__version__, finding_note=finding_note, baseline_line=baseline_line,
        modelled=modelled, measured=measured,
    )
    return environment


def _printable(value: object) -> object:
    """Text from inputs as ``printable`` makes it; markup we built (charts) as it is."""
    if isinstance(value, str) and not isinstance(value, markupsafe.Markup):
        return printable(value)
    return value


# A page that stays usable at tens of thousands of findings: each finding names its best few
# alerts (report.json lists every one), bar charts show the worst rows (their tables list all),
# and long lists are grouped into collapsed <details>.
ALERTS_SHOWN = 3
MODES_SHOWN = 5  # failure modes an alert that reaches no one would cover
CHART_ROWS = 40
GROUP_FROM = 20  # rows before a list is grouped per owner and collapsed


def render_report(report: CoverageReport, overview: Overview) -> str:
    return _environment().get_template("index.html.j2").render(
        report=report,
        o=overview,
        summary_chart=bar_chart([overview.totals], label_width=0, note_width=0, row_height=28),
        business_chart=bar_chart(overview.business_metrics[:CHART_ROWS]),
        service_chart=bar_chart(overview.services[:CHART_ROWS]),
        owner_chart=bar_chart(overview.owners[:CHART_ROWS]),
        chart_rows=CHART_ROWS,
        trend_chart=trend_chart(overview),
        previous=overview.changes.previous,
        alert_index=AlertIndex.of(overview),
        alerts_shown=ALERTS_SHOWN,
        modes_shown=MODES_SHOWN,
        group_from=GROUP_FROM,
        drill=drill_rows(report),
    )


@dataclass(frozen=True, slots=True)
class AlertIndex:
    """The alerts the page links to, each written once (per rule file), with its anchor."""

    by_file: tuple[tuple[str, tuple[Rule, ...]], ...]
    anchor: Mapping[Rule, str]  # rules hash by identity

    @staticmethod
    def of(overview: Overview) -> "AlertIndex":
        shown = {a.rule: None for f in overview.findings for a in f.alerts[:ALERTS_SHOWN]}
        rules = sorted(shown, key=lambda r: (r.file, r.line, r.name))
        anchor = {rule: f"a{number}" for number, rule in enumerate(rules, 1)}
        files: dict[str, list[Rule]] = {}
        for rule in rules:
            files.setdefault(rule.file, []).append(rule)
        return AlertIndex(tuple((file, tuple(members)) for file, members in files.items()), anchor)


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


def distinct(items: Sequence[str]) -> list[str]:
    """Each item once, in first-seen order."""
    return list(dict.fromkeys(items))


def web_url(url: str | None) -> str | None:
    """Only http(s) links: a ``javascript:`` or ``data:`` runbook URL stays unlinked."""
    if url and url.strip().lower().startswith(("https://", "http://")):
        return url.strip()
    return None
