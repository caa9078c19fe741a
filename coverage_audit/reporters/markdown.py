"""Markdown for pull-request comments, wikis and issues. Text from input files is escaped."""

from __future__ import annotations

import os
import re

from ..analysis.findings import CoverageReport, Finding
from ..analysis.inventory import Inventory
from ..model import Rule
from ..analysis.overview import GroupCoverage, Overview, StatusChange
from ..durations import format_duration
from ..printable import printable
from .adoption_text import baseline_line, not_judged_line, reason, use_line
from .charts import percent, when
from .drill import drill_rows

_BACKTICKS = re.compile(r"`+")
ICONS = {"covered": "✅", "weak": "⚠️", "uncovered": "❌", "waived": "🔕"}


def escape(text: str) -> str:
    """Neutralise Markdown and HTML in text that came from input files."""
    text = printable(" ".join(text.split()), keep_lines=False)
    for char in "\\`*_{}[]<>()#+!|~":
        text = text.replace(char, "\\" + char)
    return text.replace("&", "&amp;")


def code(text: str) -> str:
    """Inline code; backticks and pipes inside cannot break out of the span or the table: the
    fence is one backtick longer than the longest run inside (CommonMark), so ````x``<b>``
    stays code, never markup."""
    text = printable(" ".join(text.split()), keep_lines=False).replace("|", "\\|")
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    if not longest:
        return f"`{text}`"
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence}"


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
        level = f"not judged: {escape(e.rule.not_judged)}" if e.rule.not_judged is not None else e.level
        lines.append(f"| {code(e.rule.location)} | {e.rule.kind} | {escape(e.rule.name)} | {level} | {metrics} |")
    lines += _errors(inventory.errors)
    return "\n".join(lines) + "\n"


# GitHub refuses comments over 65,536 characters; stay under it with room for a bot's header.
COMMENT_LIMIT = 65_000
_REASON_CHARS = 400  # one finding's "why" cell: enough for a sentence, never a wall
_SHORT_PATH = 24  # a shared rule folder longer than this is said once instead of in every row


def size(text: str) -> int:
    """Characters as GitHub and GitLab count them at worst (UTF-16 units: an emoji may be 2)."""
    return len(text.encode("utf-16-le")) // 2


def render_coverage(report: CoverageReport, limit: int = COMMENT_LIMIT) -> str:
    """A pull-request comment: the verdict and what fails the gate first, everything else folded
    in ``<details>``, and never more than ``limit`` characters (rows that do not fit are counted
    and left to the JSON output)."""
    s = report.summary
    counts = [f"{ICONS['uncovered']} {s.uncovered} uncovered", f"{ICONS['weak']} {s.weak} weak", f"{ICONS['covered']} {s.covered} covered"]
    if s.waived:
        counts.append(f"{ICONS['waived']} {s.waived} waived")
    lines = [f"### coverage-audit: {' · '.join(counts)}", ""]
    if report.change is not None:
        touched = ", ".join(code(c) for c in report.change_components) or "no component in the service map"
        lines.append(f"This change touches {touched}; {s.total} failure modes are at stake (budget {format_duration(report.budget)}).")
        if report.unmatched_paths:
            shown = report.unmatched_paths[:20]
            more = f" and {len(report.unmatched_paths) - len(shown)} more" if len(report.unmatched_paths) > len(shown) else ""
            lines.append(f"Paths no component claims: {', '.join(code(p) for p in shown)}{more}.")
    if report.baseline is not None:
        lines.append(f"{escape(baseline_line(report))} Only the new and the worse fail the gate.")
    if not report.routing_checked:
        lines.append("_Routing was not checked: no Alertmanager configuration was given._")
    if report.not_judged:
        lines.append(f"_{escape(not_judged_line(report))}_")
    lines += [escape(note) for note in report.notes]
    where = _Locations(report)
    if where.root:
        lines.append(f"Rule files are under {code(where.root + '/')}.")
    lines.append("")
    head = "\n".join(lines)
    tail = "\n".join((_drift(report) + _errors(report.errors))[:80])  # live drift and input errors, bounded
    budget = _Budget(limit - size(head) - size(tail) - 200)  # 200: the "... more" notes

    if not report.findings:
        body = ["No failure modes are impacted."]
    else:
        impact = report.change is not None
        against = report.baseline is not None
        first, known = _split(report, against)
        if first:
            body = _table_section(None, first, impact, against, budget, where, open_=True)
        elif against:
            body = [f"{ICONS['covered']} **Nothing is new or worse than the baseline.**"]
        else:
            body = [f"{ICONS['covered']} **No open gaps.**"]
        if known:
            title = f"Known gaps, unchanged or better than the baseline ({len(known)})" if against else f"More gaps ({len(known)})"
            body += _table_section(title, known, impact, against, budget, where)
        waived = [f for f in report.findings if f.status == "waived"]
        if waived:
            body += _table_section(f"{ICONS['waived']} Waived gaps ({len(waived)})", waived, impact, against, budget, where)
        covered = [f for f in report.findings if f.status == "covered"]
        if covered:
            body += _table_section(f"{ICONS['covered']} Covered ({len(covered)})", covered, impact, against, budget, where)
        body += _waiver_section(report, budget)
        body += _related_section(report, budget, where)
        body += _drill_section(report, budget)
    return head + "\n" + "\n".join(body) + ("\n" + tail if tail else "") + "\n"


def _drill_section(report: CoverageReport, budget: "_Budget") -> list[str]:
    """What the real engine measured (``--prove``, ``drill``), modelled beside measured."""
    rows = drill_rows(report)
    if not rows:
        return []
    title = f"Drill: modelled vs measured by the real engine, verdicts on {escape(report.scenario)} ({len(rows)})"
    header = ["", f"<details><summary>{title}</summary>", "", "| Subject | Mode | Alert | Scenario | Modelled | Measured | Drill problems |",
              "|---|---|---|---|---|---|---|"]
    if not all(budget.take(line) for line in header + ["</details>"]):
        return []
    lines = list(header)
    for index, r in enumerate(rows):
        row = (f"| {code(r.finding.subject.name)} | {escape(r.finding.mode.id)} | {escape(r.alert.rule.name)} | {escape(r.scenario)} "
               f"| {escape(r.modelled)} | {escape(r.measured)} | {escape(', '.join(r.problems) or '–')} |")
        if not budget.take(row):
            lines += ["", f"_…and {len(rows) - index} more drilled alerts: see `--format json`._"]
            break
        lines.append(row)
    return lines + ["", "</details>"]


def _drift(report: CoverageReport) -> list[str]:
    if not report.drift:
        return []
    lines = ["", f"## Map drift ({len(report.drift)})", "", "Where the running system and the files disagree (live evidence):", ""]
    return lines + [f"- {escape(d.message)}" for d in report.drift]


class _Locations:
    """Rule locations as a comment shows them: relative to the folder all of them share, so a
    long checkout path is said once, not in every row."""

    def __init__(self, report: CoverageReport) -> None:
        files = {a.rule.file for f in report.findings for a in f.alerts[:1]}
        files |= {r.rule.file for f in report.findings for r in f.related[:5]}
        folders = {os.path.dirname(path) for path in files}
        common = os.path.commonpath(list(folders)) if folders and len({p.startswith("/") for p in folders}) == 1 else ""
        self.root = common if len(common) > _SHORT_PATH else ""  # short paths read best whole

    def __call__(self, rule: Rule) -> str:
        if self.root:
            return f"{os.path.relpath(rule.file, self.root)}:{rule.line}"
        return rule.location


class _Budget:
    """Characters left for the comment's body; sections take rows while they fit."""

    def __init__(self, left: int) -> None:
        self.left = left

    def take(self, text: str) -> bool:
        cost = size(text) + 1
        if cost > self.left:
            return False
        self.left -= cost
        return True


def _split(report: CoverageReport, against: bool) -> tuple[list[Finding], list[Finding]]:
    """The gaps shown open (those that fail the gate, worst first) and those folded."""
    gaps = [f for f in report.findings if f.status in ("uncovered", "weak")]
    if not against:
        return gaps, []
    counted = [f for f in gaps if f.delta in ("new", "worse")]
    return counted, [f for f in gaps if f.delta not in ("new", "worse")]


def _table_section(
    title: str | None, findings: list[Finding], impact: bool, against: bool, budget: _Budget,
    where: _Locations, open_: bool = False,
) -> list[str]:
    header = ("| Status |" + (" Baseline |" if against else "") + " Subject | Mode |" + (" Impact |" if impact else "") + " Best alert | Why |")
    rule = "|---|" + ("---|" if against else "") + "---|---|" + ("---|" if impact else "") + "---|---|"
    opening = ["", f"<details><summary>{title}</summary>", ""] if title and not open_ else []
    closing = ["", "</details>"] if opening else []
    frame = opening + [header, rule] + closing
    if not all(budget.take(line) for line in frame):
        return [f"_{len(findings)} more finding(s) do not fit in a comment: see `--format json`._"]
    rows, left = [], 0
    for index, finding in enumerate(findings):
        row = _row(finding, impact, against, where)
        if not budget.take(row):
            left = len(findings) - index
            break
        rows.append(row)
    more = ["", f"_…and {left} more that do not fit in a comment: see `--format json`._"] if left else []
    return opening + [header, rule] + rows + more + closing


def _row(finding: Finding, impact: bool, against: bool, where: _Locations) -> str:
    best = finding.best
    alert = f"{escape(best.rule.name)} ({code(where(best.rule))})" if best else "–"
    cells = [f"{ICONS[finding.status]} {finding.status}"]
    if against:
        cells.append(f"**{finding.delta}**" if finding.delta in ("new", "worse") else (finding.delta or "–"))
    cells += [code(finding.subject.name), escape(finding.mode.id)]
    if impact:
        cells.append(finding.impact or "–")
    why = reason(finding)
    cells += [alert, escape(why if len(why) <= _REASON_CHARS else why[: _REASON_CHARS - 1] + "…")]
    return "| " + " | ".join(cells) + " |"


def _waiver_section(report: CoverageReport, budget: _Budget) -> list[str]:
    """Expired and stale waivers are named open (they need someone); active ones folded."""
    lines: list[str] = []
    loud = [u for u in report.waivers if u.state != "active"]
    quiet = [u for u in report.waivers if u.state == "active"]
    if loud and budget.take("#### Waivers that need attention"):
        lines += ["", "#### Waivers that need attention", ""]
        lines += [item for item in (f"- {code(u.waiver.location)} {escape(use_line(u))}" for u in loud) if budget.take(item)]
    if quiet and budget.take("<details><summary>Active waivers</summary></details>"):
        lines += ["", f"<details><summary>Active waivers ({len(quiet)})</summary>", ""]
        lines += [item for item in (f"- {code(u.waiver.location)} {escape(use_line(u))}" for u in quiet) if budget.take(item)]
        lines += ["", "</details>"]
    return lines


def _related_section(report: CoverageReport, budget: _Budget, where: _Locations) -> list[str]:
    related = [f for f in report.findings if f.related and f.judged != "covered"]
    if not related or not budget.take("<details><summary>Related alerts that do not cover these modes</summary></details>"):
        return []
    lines = ["", "<details><summary>Related alerts that do not cover these modes</summary>", ""]
    for finding in related:
        for item in finding.related[:5]:
            line = f"- {code(finding.subject.name)} {escape(finding.mode.id)}: {escape(item.rule.name)} ({code(where(item.rule))}) — {escape(item.why)}"
            if not budget.take(line):
                return lines + ["", "_…more related alerts do not fit in a comment._", "", "</details>"]
            lines.append(line)
    return lines + ["", "</details>"]


def _errors(errors: tuple) -> list[str]:
    if not errors:
        return []
    return ["", "#### Input errors", ""] + [f"- {code(f'{d.file}:{d.line}')} {escape(d.message)}" for d in errors]


# --------------------------------------------------------------------------- periodic report

_BAR_CELLS = 20
_SPARKS = "▁▂▃▄▅▆▇█"


def render_report(report: CoverageReport, overview: Overview) -> str:
    """The periodic coverage report for a wiki page or an issue: the HTML page's sections."""
    o, t = overview, overview.totals
    previous = o.changes.previous
    meta = (
        f"Generated {when(o.generated_at)} UTC · {t.total} failure modes of {o.subjects} subjects "
        f"({len(o.services)} services, {len(o.business_metrics)} business metrics) · time-to-detect budget {format_duration(o.budget)}"
    )
    if previous:
        meta += f" · previous run {escape(when(previous.started_at))} UTC"
    headline = f"**{percent(t.ratio)}** of {t.total} failure modes are covered by an alert that reaches its owner in time; **{t.uncovered}** have no alert at all"
    if o.critical_gaps:
        headline += f", {len(o.critical_gaps)} of them on critical services or business metrics"
    lines = ["# Alert coverage report", "", meta, "", "## Summary", "", headline + ".", ""]
    lines += ["| Status | Failure modes | Share |" + (" Since previous run |" if previous else ""), "|---|---:|---:|" + ("---:|" if previous else "")]
    for status in ("covered", "weak", "uncovered", "waived"):
        if status == "waived" and not t.waived:
            continue
        row = f"| {ICONS[status]} {status} | {t.count(status)} | {percent(t.count(status) / t.total if t.total else 0)} |"
        if previous:
            # history keeps the judge's verdicts, so waived gaps are compared as what they are
            row += f" {t.count(status) - getattr(previous, status):+d} |" if status != "waived" else " – |"
        lines.append(row)
    lines += ["", f"{_bar(t)} {percent(t.ratio)} covered" + (f" (was {percent(previous.ratio)})" if previous else ""), ""]
    if not report.routing_checked:
        lines += ["_Routing was not checked: no Alertmanager configuration was given._", ""]
    if report.errors:
        lines += [f"_{len(report.errors)} input file problem(s): the results leave those files out (see Input errors)._", ""]
    lines += ["### By tier", ""] + _group_table(o.tiers, "Tier")
    if o.weak_reasons:
        lines += ["### Why coverage is weak", "", "| Problem | Failure modes | Meaning |", "|---|---:|---|"]
        lines += [f"| {code(p.problem)} | {p.findings} | {escape(p.text)} |" for p in o.weak_reasons]
        lines.append("")
    lines += _changes(o)
    lines += ["## Critical gaps", ""]
    if o.critical_gaps:
        lines += ["Uncovered failure modes of critical services and business metrics: a failure here pages no one.", ""]
        lines += ["| Subject | Failure mode | Owner | Why |", "|---|---|---|---|"]
        lines += [f"| {code(f.subject.name)} | {escape(f.mode.id)} | {escape(f.subject.owner)} | {escape(f.reason)} |" for f in o.critical_gaps]
    else:
        lines.append("Every failure mode of every critical subject has at least weak coverage.")
    lines += ["", "## Business metrics", ""]
    business = [f for f in o.findings if f.subject.service is None]
    if business:
        lines += ["| Business metric | Failure mode | Owner | Status | Best alert | Why |", "|---|---|---|---|---|---|"]
        lines += [
            f"| {code(f.subject.name)} | {escape(f.mode.id)} | {escape(f.subject.owner)} | {ICONS[f.status]} {f.status} | "
            f"{escape(f.best.rule.name) if f.best else '–'} | {escape(f.reason)} |"
            for f in business
        ]
    else:
        lines.append("_The service map names no business metrics._")
    lines += ["", "## Coverage per service", ""] + _group_table(o.services, "Service", owner=True, tier=True)
    lines += ["## Coverage per owner", ""] + _group_table(o.owners, "Owner")
    lines += ["## Coverage per failure mode", ""] + _group_table(o.failure_modes, "Failure mode")
    lines += _unreachable(report, o) + _infrastructure_only(o) + _orphans(report) + _trend(o)
    lines += _report_waivers(report) + _report_baseline(report) + _not_judged(report)
    lines += _every_finding(o, report.baseline is not None)
    lines += _drift(report)
    lines += _errors(report.errors)
    return "\n".join(lines) + "\n"


def _bar(group: GroupCoverage) -> str:
    """covered █, weak ▒, uncovered ░: readable where charts are not (wikis, issues, terminals)."""
    if not group.total:
        return "`" + "·" * _BAR_CELLS + "`"
    covered = round(_BAR_CELLS * group.covered / group.total)
    weak = min(round(_BAR_CELLS * (group.covered + group.weak) / group.total), _BAR_CELLS) - covered
    return "`" + "█" * covered + "▒" * weak + "░" * (_BAR_CELLS - covered - weak) + "`"


def _group_table(groups: tuple[GroupCoverage, ...], first: str, owner: bool = False, tier: bool = False) -> list[str]:
    if not groups:
        return ["_None._", ""]
    waived = any(g.waived for g in groups)
    head = f"| {first} |" + (" Owner |" if owner else "") + (" Tier |" if tier else "") + " Covered | Weak | Uncovered |" + (" Waived |" if waived else "") + " Total | Coverage | |"
    rule = "|---|" + ("---|" if owner else "") + ("---|" if tier else "") + "---:|---:|---:|" + ("---:|" if waived else "") + "---:|---:|---|"
    rows = []
    for g in groups:
        cells = [escape(g.name)]
        if owner:
            cells.append(", ".join(escape(name) for name in g.owners))
        if tier:
            cells.append(escape(g.tier))
        cells += [str(g.covered), str(g.weak), str(g.uncovered)] + ([str(g.waived)] if waived else [])
        cells += [str(g.total), f"**{percent(g.ratio)}**", _bar(g)]
        rows.append("| " + " | ".join(cells) + " |")
    return [head, rule, *rows, ""]


def _changes(o: Overview) -> list[str]:
    lines = ["## Since the previous run", ""]
    previous = o.changes.previous
    if previous is None:
        return lines + ["_This is the first run in this history: changes show from the next run on._", ""]
    if not o.changes.any:
        return lines + [f"No failure mode changed status since {escape(when(previous.started_at))} UTC.", ""]
    groups = (
        (f"{ICONS['uncovered']} Newly uncovered", o.changes.newly_uncovered),
        (f"{ICONS['weak']} Newly weak", o.changes.newly_weak),
        (f"{ICONS['covered']} Newly covered", o.changes.newly_covered),
        ("Now weak, was uncovered", o.changes.improved),
        ("New failure modes", o.changes.added),
        ("Failure modes no longer in the service map", o.changes.removed),
    )
    for title, items in groups:
        if items:
            lines += [f"### {title} ({len(items)})", ""] + [_change_line(c) for c in items] + [""]
    return lines


def _change_line(change: StatusChange) -> str:
    note = escape(change.owner)
    if change.before:
        note += f", was {escape(change.before)}"
    elif change.after:
        note += f", {escape(change.after)}"
    return f"- {code(change.subject)} {escape(change.failure_mode)} ({note})"


def _unreachable(report: CoverageReport, o: Overview) -> list[str]:
    lines = ["## Alerts that reach no one", ""]
    if not o.unreachable_alerts:
        text = "Every covering alert reaches a receiver with an integration." if report.routing_checked else "_Not checked: no Alertmanager configuration was given._"
        return lines + [text, ""]
    lines += [
        "These alerts would fire for a failure mode, but Alertmanager routes them to a receiver with no integrations (blackhole) or to no route: nobody is notified.",
        "",
        "| Alert | Location | Problem | Receivers | Would cover |",
        "|---|---|---|---|---|",
    ]
    for a in o.unreachable_alerts:
        problems = ", ".join(code(p) for p in a.problems)
        if a.details:
            problems += ": " + escape("; ".join(a.details))
        covers = ", ".join(f"{code(subject)} {escape(mode)}" for subject, mode in a.modes)
        receivers = ", ".join(escape(r) for r in a.receivers) or "–"
        lines.append(f"| **{escape(a.name)}** | {code(f'{a.file}:{a.line}')} | {problems} | {receivers} | {covers} |")
    return lines + [""]


def _infrastructure_only(o: Overview) -> list[str]:
    lines = ["## Watched only by infrastructure alerts", ""]
    if not o.infrastructure_only:
        return lines + ["No uncovered failure mode is watched by infrastructure alerts alone.", ""]
    lines += [
        "No application-level alert covers these failure modes; only infrastructure alerts watch the subject, and those stay quiet while the application fails.",
        "",
        "| Subject | Owner | Tier | Uncovered failure modes | Infrastructure alerts |",
        "|---|---|---|---|---|",
    ]
    for a in o.infrastructure_only:
        modes = ", ".join(escape(m) for m in a.failure_modes)
        alerts = ", ".join(escape(name) for name in a.alerts)
        lines.append(f"| {code(a.subject)} | {escape(a.owner)} | {escape(a.tier)} | {modes} | {alerts} |")
    return lines + [""]


def _orphans(report: CoverageReport) -> list[str]:
    orphans = report.orphans
    if orphans is None:
        return []
    lines = ["## Alerts and subjects outside the map", ""]
    if orphans.alerts:
        lines += [
            f"{orphans.alert_count} application-level alert(s) cover no subject of the service map: they watch metrics no failure mode names, or series no subject has.",
            "",
            "| Alert | Location | Why |",
            "|---|---|---|",
        ]
        lines += [f"| **{escape(a.rule.name)}** | {code(a.rule.location)} | {escape(a.why)} |" for a in orphans.alerts]
        lines.append("")
    else:
        lines += ["Every application-level alert watches a signal of some subject of the service map.", ""]
    if orphans.unread:
        lines += [
            f"{orphans.unread_count} subject(s) whose selector no rule names: nothing watches them, or the map's selector is wrong.",
            "",
            "| Subject | Matchers no rule names |",
            "|---|---|",
        ]
        lines += [f"| {code(u.subject)} | {code(u.selector)} |" for u in orphans.unread]
        lines.append("")
    else:
        lines += ["Every subject's selector is named by some rule.", ""]
    return lines


def _trend(o: Overview) -> list[str]:
    spark = "".join(_SPARKS[min(int(p.ratio * len(_SPARKS)), len(_SPARKS) - 1)] for p in o.trend)
    first, last = o.trend[0], o.trend[-1]
    lines = [
        "## Trend",
        "",
        f"Coverage over the last {len(o.trend)} run(s): `{spark}` {percent(first.ratio)} → {percent(last.ratio)}",
        "",
        "| Run (UTC) | Failure modes | Covered | Weak | Uncovered | Coverage | Budget |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for index, p in enumerate(reversed(o.trend[-10:])):
        label = escape(when(p.started_at)) + (" (this run)" if index == 0 else "")
        lines.append(f"| {label} | {p.total} | {p.covered} | {p.weak} | {p.uncovered} | {percent(p.ratio)} | {format_duration(p.budget)} |")
    return lines + [""]


def _report_waivers(report: CoverageReport) -> list[str]:
    if not report.waivers:
        return []
    lines = ["## Waivers", "", "Accepted gaps, each with a reason, an owner and an expiry. An expired waiver waives nothing; a stale one names no gap and can go.", ""]
    lines += ["| State | Waiver | Gaps | Location |", "|---|---|---|---|"]
    for use in report.waivers:
        gaps = ", ".join(f"{code(subject)} {escape(mode)}" for subject, mode in use.matched) or "–"
        lines.append(f"| **{use.state}** | {escape(use_line(use))} | {gaps} | {code(use.waiver.location)} |")
    return lines + [""]


def _not_judged(report: CoverageReport) -> list[str]:
    if not report.not_judged:
        return []
    lines = ["## Rules not judged", "", "These rules have no PromQL equivalent (another data source, a condition that cannot be translated): they cover nothing here, whatever they watch.", ""]
    lines += ["| Rule | Location | Why |", "|---|---|---|"]
    lines += [f"| {escape(r.name)} | {code(r.location)} | {escape(r.not_judged or '')} |" for r in report.not_judged]
    return lines + [""]


def _report_baseline(report: CoverageReport) -> list[str]:
    if report.baseline is None:
        return []
    lines = ["## Against the baseline", "", escape(baseline_line(report)), ""]
    for kind in ("new", "worse", "better"):
        moved = [f for f in report.findings if f.delta == kind and (kind != "new" or f.judged != "covered")]
        if moved:
            lines += [f"### {kind.capitalize()} ({len(moved)})", ""]
            lines += [f"- {ICONS[f.status]} {f.status}: {code(f.subject.name)} {escape(f.mode.id)} ({escape(f.subject.owner)})" for f in moved]
            lines.append("")
    return lines


def _every_finding(o: Overview, against: bool = False) -> list[str]:
    lines = [
        "## Every finding",
        "",
        "Business metrics first, then worst first.",
        "",
        "| Status |" + (" Baseline |" if against else "") + " Subject | Failure mode | Owner | Tier | Best alert | Why |",
        "|---|" + ("---|" if against else "") + "---|---|---|---|---|---|",
    ]
    for f in o.findings:
        best = f.best
        alert = "–"
        if best:
            alert = f"{escape(best.rule.name)} ({code(best.rule.location)})"
            said = best.rule.annotations.get("summary") or best.rule.annotations.get("description")
            if said:
                alert += f": _{escape(said[:160])}_"
        delta = f" {f.delta or '–'} |" if against else ""
        lines.append(
            f"| {ICONS[f.status]} {f.status} |{delta} {code(f.subject.name)} | {escape(f.mode.id)} | {escape(f.subject.owner)} | "
            f"{escape(f.subject.tier)} | {alert} | {escape(reason(f))} |"
        )
    return lines
