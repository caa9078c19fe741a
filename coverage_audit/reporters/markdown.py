"""Markdown for pull-request comments, wikis and issues. Text from input files is escaped."""

from __future__ import annotations

from ..analysis.findings import CoverageReport, Finding
from ..analysis.inventory import Inventory
from ..durations import format_duration

ICONS = {"covered": "✅", "weak": "⚠️", "uncovered": "❌"}


def escape(text: str) -> str:
    """Neutralise Markdown and HTML in text that came from input files."""
    text = " ".join(text.split())
    for char in "\\`*_{}[]<>()#+!|~":
        text = text.replace(char, "\\" + char)
    return text.replace("&", "&amp;")


def code(text: str) -> str:
    """Inline code; backticks and pipes inside cannot break out of the span or the table."""
    text = " ".join(text.split()).replace("|", "\\|")
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}" if fence == "``" else f"`{text}`"


def render_inventory(inventory: Inventory) -> str:
    lines = [
        "## Rule inventory",
        "",
        f"{inventory.alerts} alerting rules ({inventory.application_alerts} application-level), "
        f"{inventory.records} recording rules from {inventory.files} files; "
        f"{len(inventory.skipped)} skipped; {len(inventory.errors)} errors.",
        "",
        "| Location | Kind | Name | Level | Metrics |",
        "|---|---|---|---|---|",
    ]
    for e in inventory.entries:
        metrics = ", ".join(code(m) for m in e.metrics) or "–"
        lines.append(f"| {code(e.rule.location)} | {e.rule.kind} | {escape(e.rule.name)} | {e.level} | {metrics} |")
    lines += _errors(inventory.errors)
    return "\n".join(lines) + "\n"


def render_coverage(report: CoverageReport) -> str:
    s = report.summary
    title = f"### coverage-audit: {s.uncovered} uncovered · {s.weak} weak · {s.covered} covered"
    lines = [title, ""]
    if report.change is not None:
        touched = ", ".join(code(c) for c in report.change_components) or "no component in the service map"
        lines.append(f"This change touches {touched}; {s.total} failure modes are at stake (budget {format_duration(report.budget)}).")
        if report.unmatched_paths:
            lines.append(f"Paths no component claims: {', '.join(code(p) for p in report.unmatched_paths)}.")
    if not report.routing_checked:
        lines.append("_Routing was not checked: no Alertmanager configuration was given._")
    lines.append("")
    if report.findings:
        impact = report.change is not None
        lines.append("| Status | Subject | Mode |" + (" Impact |" if impact else "") + " Best alert | Why |")
        lines.append("|---|---|---|" + ("---|" if impact else "") + "---|---|")
        lines += [_row(finding, impact) for finding in report.findings]
    else:
        lines.append("No failure modes are impacted.")
    related = [f for f in report.findings if f.related and f.status != "covered"]
    if related:
        lines += ["", "<details><summary>Related alerts that do not cover these modes</summary>", ""]
        for finding in related:
            for item in finding.related[:5]:
                lines.append(f"- {code(finding.subject.name)} {finding.mode.id}: {escape(item.rule.name)} ({code(item.rule.location)}) — {escape(item.why)}")
        lines += ["", "</details>"]
    lines += _errors(report.errors)
    return "\n".join(lines) + "\n"


def _row(finding: Finding, impact: bool) -> str:
    best = finding.best
    alert = f"{escape(best.rule.name)} ({code(best.rule.location)})" if best else "–"
    cells = [f"{ICONS[finding.status]} {finding.status}", code(finding.subject.name), escape(finding.mode.id)]
    if impact:
        cells.append(finding.impact or "–")
    cells += [alert, escape(finding.reason)]
    return "| " + " | ".join(cells) + " |"


def _errors(errors: tuple) -> list[str]:
    if not errors:
        return []
    return ["", "#### Input errors", ""] + [f"- {code(f'{d.file}:{d.line}')} {escape(d.message)}" for d in errors]
