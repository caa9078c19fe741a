"""Readable terminal output."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..analysis.findings import CoverageReport, Finding
from ..analysis.inventory import Inventory
from ..durations import format_duration
from ..printable import printable
from .adoption_text import baseline_line, not_judged_line, reason, use_line
from .drill import DrillRow, drill_rows
from .table import format_table

if TYPE_CHECKING:
    from ..analysis.overview import Overview

_COLORS = {"covered": "\033[32m", "weak": "\033[33m", "uncovered": "\033[31m", "waived": "\033[36m"}
_RESET = "\033[0m"


def render_inventory(inventory: Inventory) -> str:
    rows = [
        (e.rule.location, e.rule.kind, e.rule.name, "not judged" if e.rule.not_judged is not None else e.level, ", ".join(e.metrics) or "-")
        for e in inventory.entries
    ]
    parts = [format_table(("LOCATION", "KIND", "NAME", "LEVEL", "METRICS"), rows, (0, 0, 60, 0, 90))]
    not_judged = [e.rule for e in inventory.entries if e.rule.not_judged is not None]
    if not_judged:
        parts.append(f"\n{len(not_judged)} rule(s) listed but not judged:")
        parts.extend(f"  {rule.location}: {rule.name}: {rule.not_judged}" for rule in not_judged)
    if inventory.errors:
        parts.append(f"\n{len(inventory.errors)} error(s):")
        parts.extend(f"  {printable(str(error), keep_lines=False)}" for error in inventory.errors)
    parts.append(
        f"\n{inventory.alerts} alerting rules ({inventory.application_alerts} application-level), "
        f"{inventory.records} recording rules from {inventory.files} files; "
        f"{len(inventory.skipped)} files skipped (not rule files); {len(inventory.errors)} errors."
    )
    return "\n".join(parts) + "\n"


def render_coverage(report: CoverageReport, color: bool = False, drill: bool = True) -> str:
    lines = []
    if report.change is not None:
        touched = ", ".join(report.change_components) or "no component"
        lines.append(f"Change: {len(report.change.paths) or len(report.change.components)} path(s) -> {touched}")
        if report.unmatched_paths:
            lines.append(f"  not claimed by any component: {', '.join(report.unmatched_paths)}")
    table: list[str] = []
    if not report.findings:
        lines.append("No failure modes are impacted.")
    else:
        against = report.baseline is not None
        rows = [_row(finding, report.change is not None, against) for finding in report.findings]
        headers = ("SUBJECT", "MODE", "IMPACT", "STATUS", "BEST ALERT", "REASON") if report.change else ("SUBJECT", "MODE", "STATUS", "BEST ALERT", "REASON")
        limits = (0, 0, 0, 0, 40, 100) if report.change else (0, 0, 0, 40, 100)
        if against:
            headers, limits = ("BASELINE", *headers), (0, *limits)
        table = format_table(headers, rows, limits).split("\n")  # cells are made printable there
        if color:  # after sanitising: the only escape sequences are ours
            for status, code in _COLORS.items():
                table = [row.replace(f"  {status}  ", f"  {code}{status}{_RESET}  ") for row in table]
    drilled = drill_rows(report) if drill else []
    if drilled:
        table += ["", "Drill (modelled vs measured by the real engine):", *_drill_table(drilled).split("\n")]
    s = report.summary
    after = [""]
    waived = f", {s.waived} waived" if s.waived else ""
    after.append(f"{s.total} failure modes: {s.covered} covered, {s.weak} weak, {s.uncovered} uncovered{waived} (budget {format_duration(report.budget)}, {report.scenario} scenario).")
    if report.baseline is not None:
        after.append(baseline_line(report) + " --fail-on counts only the new and the worse.")
    if report.waivers:
        after.append("Waivers:")
        after.extend(f"  {use.waiver.location}: {use_line(use)}" for use in report.waivers)
    if not report.routing_checked:
        after.append("Routing was not checked: no Alertmanager configuration was given.")
    after.extend(report.notes)
    if report.drift:
        after.append(f"Map drift ({len(report.drift)}): the running system and the files disagree:")
        after.extend(f"  {d.message}" for d in report.drift)
    if report.not_judged:
        after.append(not_judged_line(report))
    if report.errors:
        after.append(f"{len(report.errors)} input error(s); the results above leave those files out:")
        after.extend(f"  {error}" for error in report.errors)
    # Every line from inputs is one printable line: a name cannot add a line or an escape.
    safe = [printable(line, keep_lines=False) for line in lines] + table + [printable(line, keep_lines=False) for line in after]
    return "\n".join(safe) + "\n"


def render_drill(report: CoverageReport, scenarios: tuple[str, ...]) -> str:
    """``coverage-audit drill``: every drilled alert, modelled beside measured, then the verdicts."""
    rows = drill_rows(report)
    lines = [f"Drill ({', '.join(scenarios)}; verdicts judge {report.scenario}, budget {format_duration(report.budget)}):"]
    lines.append(_drill_table(rows) if rows else "No alert to drill: no verdict rests on one.")
    lines.append("")
    return "\n".join(lines) + "\n" + render_coverage(report, drill=False)


def _drill_table(rows: "list[DrillRow]") -> str:
    cells = [
        (r.finding.subject.name, r.finding.mode.id, r.alert.rule.name, r.scenario, r.modelled, r.measured,
         ", ".join(r.problems) or "-")
        for r in rows
    ]
    return format_table(("SUBJECT", "MODE", "ALERT", "SCENARIO", "MODELLED", "MEASURED", "DRILL PROBLEMS"), cells, (0, 0, 40, 0, 0, 70, 0))


def _row(finding: Finding, with_impact: bool, against_baseline: bool) -> tuple[str, ...]:
    best = finding.best.rule.name if finding.best else "-"
    cells: list[str] = [finding.delta or "-"] if against_baseline else []
    cells += [finding.subject.name, finding.mode.id]
    if with_impact:
        cells.append(finding.impact or "-")
    cells += [finding.status, best, reason(finding)]
    return tuple(cells)


def render_report_summary(
    overview: "Overview", written: list[str], history_note: str, pushed: str | None, report: CoverageReport | None = None
) -> str:
    """The few lines a scheduled job's log needs; the files hold the rest."""
    from .charts import percent, when  # the report's helpers: check need not import them

    t, changes = overview.totals, overview.changes
    waived = f", {t.waived} waived" if t.waived else ""
    lines = [
        f"Coverage report: {t.covered} of {t.total} failure modes covered ({percent(t.ratio)}), {t.weak} weak, "
        f"{t.uncovered} uncovered{waived}; budget {format_duration(overview.budget)}.",
    ]
    if report is not None and report.baseline is not None:
        lines.append(baseline_line(report))
    if report is not None:
        lines += [f"Waiver {use_line(use)} ({use.waiver.location})" for use in report.waivers if use.state != "active"]
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
    return "\n".join(printable(line, keep_lines=False) for line in lines) + "\n"
