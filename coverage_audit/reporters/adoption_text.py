"""The sentences every format says about waivers and the baseline (plain text; each reporter
escapes them its own way)."""

from __future__ import annotations

from ..analysis.baseline import counts
from ..analysis.findings import CoverageReport, Finding, WaiverUse


def finding_note(finding: Finding) -> str:
    """Why a finding is waived, or that its waiver expired; "" when no waiver matched it."""
    match = finding.waiver
    if match is None:
        return ""
    w = match.waiver
    if match.expired:
        return f"waiver expired on {w.expires.isoformat()} ({w.owner}: {w.reason}; {w.location}); it counts again"
    return f"{match.judged}, waived until {w.expires.isoformat()} by {w.owner}: {w.reason} ({w.location})"


def reason(finding: Finding) -> str:
    """The finding's reason, led by its waiver note when it has one."""
    note = finding_note(finding)
    return f"{note} — {finding.reason}" if note else finding.reason


def use_line(use: WaiverUse) -> str:
    w = use.waiver
    named = f"{w.subject} {w.failure_mode}"
    if use.state == "expired":
        gaps = f"; {len(use.matched)} gap(s) count again" if use.matched else ""
        return f"expired on {w.expires.isoformat()}: {named} ({w.owner}: {w.reason}){gaps}"
    if use.state == "stale":
        return f"stale: {named} ({w.owner}) {use.why}"
    return f"active until {w.expires.isoformat()}: {named} ({w.owner}: {w.reason}) waives {len(use.matched)} gap(s)"


def not_judged_line(report: CoverageReport, names: int = 3) -> str:
    """One line naming the rules that are listed but not judged ("" when there are none)."""
    rules = report.not_judged
    if not rules:
        return ""
    shown = ", ".join(f"{r.name} ({r.location})" for r in rules[:names]) + (", …" if len(rules) > names else "")
    return f"{len(rules)} rule(s) not judged, having no PromQL equivalent (coverage-audit rules says why): {shown}"


def baseline_line(report: CoverageReport) -> str:
    """"Against the baseline FILE: n new, n worse, n better, n unchanged." ("" without one)."""
    if report.baseline is None:
        return ""
    c = counts(report.findings)
    return f"Against the baseline {report.baseline}: {c['new']} new, {c['worse']} worse, {c['better']} better, {c['unchanged']} unchanged."
