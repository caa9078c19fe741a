"""Readable terminal output."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..analysis.findings import CoverageReport, Finding
from ..analysis.inventory import Inventory
from ..durations import format_duration
from .table import format_table

if TYPE_CHECKING:
    from ..analysis.overview import Overview

_COLORS = {"covered": "\033[32m", "weak": "\033[33m", "uncovered": "\033[31m"}
_RESET = "\033[0m"


def render_inventory(inventory: Inventory) -> str:
    rows = [
        (e.rule.location, e.rule.kind, e.rule.name, e.level, ", ".join(e.metrics) or "-")
        for e in inventory.entries
    ]
    parts = [format_table(("LOCATION", "KIND", "NAME", "LEVEL", "METRICS"), rows, (0, 0, 60, 0, 90))]
    if inventory.errors:
        parts.append(f"\n{len(inventory.errors)} error(s):")
        parts.extend(f"  {error}" for error in inventory.errors)
    parts.append(
        f"\n{inventory.alerts} alerting rules ({inventory.application_alerts} application-level), "
        f"{inventory.records} recording rules from {inventory.files} files; "
        f"{len(inventory.skipped)} files skipped (not rule files); {len(inventory.errors)} errors."
    )
    return "\n".join(parts) + "\n"


def render_coverage(report: CoverageReport, color: bool = False) -> str:
    lines = []
    if report.change is not None:
        touched = ", ".join(report.change_components) or "no component"
        lines.append(f"Change: {len(report.change.paths) or len(report.change.components)} path(s) -> {touched}")
        if report.unmatched_paths:
            lines.append(f"  not claimed by any component: {', '.join(report.unmatched_paths)}")
    if not report.findings:
        lines.append("No failure modes are impacted.")
    else:
        rows = [_row(finding, report.change is not None) for finding in report.findings]
        headers = ("SUBJECT", "MODE", "IMPACT", "STATUS", "BEST ALERT", "REASON") if report.change else ("SUBJECT", "MODE", "STATUS", "BEST ALERT", "REASON")
        limits = (0, 0, 0, 0, 40, 100) if report.change else (0, 0, 0, 40, 100)
        table = format_table(headers, rows, limits)
        if color:
            for status, code in _COLORS.items():
                table = table.replace(f"  {status}  ", f"  {code}{status}{_RESET}  ")
        lines.append(table)
    s = report.summary
    lines.append("")
    lines.append(f"{s.total} failure modes: {s.covered} covered, {s.weak} weak, {s.uncovered} uncovered (budget {format_duration(report.budget)}, {report.scenario} scenario).")
    if not report.routing_checked:
        lines.append("Routing was not checked: no Alertmanager configuration was given.")
    lines.extend(report.notes)
    if report.drift:
        lines.append(f"Map drift ({len(report.drift)}): the running system and the files disagree:")
        lines.extend(f"  {d.message}" for d in report.drift)
    if report.errors:
        lines.append(f"{len(report.errors)} input error(s); the results above leave those files out:")
        lines.extend(f"  {error}" for error in report.errors)
    return "\n".join(lines) + "\n"


def _row(finding: Finding, with_impact: bool) -> tuple[str, ...]:
    best = finding.best.rule.name if finding.best else "-"
    cells = [finding.subject.name, finding.mode.id]
    if with_impact:
        cells.append(finding.impact or "-")
    cells += [finding.status, best, finding.reason]
    return tuple(cells)


def render_report_summary(overview: "Overview", written: list[str], history_note: str, pushed: str | None) -> str:
    """The few lines a scheduled job's log needs; the files hold the rest."""
    from .charts import percent, when  # the report's helpers: check need not import them

    t, changes = overview.totals, overview.changes
    lines = [
        f"Coverage report: {t.covered} of {t.total} failure modes covered ({percent(t.ratio)}), {t.weak} weak, "
        f"{t.uncovered} uncovered; budget {format_duration(overview.budget)}.",
    ]
    if overview.critical_gaps:
        lines.append(f"Critical gaps: {len(overview.critical_gaps)} uncovered failure modes of critical services and business metrics.")
    if overview.unreachable_alerts:
        names = ", ".join(a.name for a in overview.unreachable_alerts[:5])
        lines.append(f"Alerts reaching no one: {len(overview.unreachable_alerts)} ({names}).")
    if changes.previous is not None:
        lines.append(
            f"Since the previous run ({when(changes.previous.started_at)} UTC): {len(changes.newly_uncovered)} newly uncovered, "
            f"{len(changes.newly_weak)} newly weak, {len(changes.newly_covered)} newly covered."
        )
        lines += [f"  newly uncovered: {c.subject} {c.failure_mode}" for c in changes.newly_uncovered[:10]]
    lines.append(f"Wrote {', '.join(written)}; history: {history_note}.")
    if pushed:
        lines.append(f"Pushed the metrics to {pushed} (job coverage_audit).")
    return "\n".join(lines) + "\n"
