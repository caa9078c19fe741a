"""Machine-readable output: the stable contract of DESIGN section 6."""

from __future__ import annotations

import json
import math
from typing import Iterable, Iterator, Mapping

from ..analysis.baseline import counts as delta_counts
from ..analysis.findings import AlertCoverage, CoverageReport, Finding, Related, WaiverMatch, WaiverUse
from ..analysis.inventory import Inventory, InventoryEntry
from ..analysis.orphans import Orphans
from ..model import Rule
from ..analysis.overview import GroupCoverage, Overview, RunTotals, StatusChange
from ..printable import json_text
from .drill import drill_object

VERSION = 1


def dumps(document: object) -> str:
    """Readable UTF-8 JSON whose bytes hold no control or bidi character raw (``json_text``)."""
    return json_text(json.dumps(document, indent=2, ensure_ascii=False)) + "\n"


def render_inventory(inventory: Inventory) -> str:
    return "".join(iter_inventory(inventory))


def iter_inventory(inventory: Inventory) -> Iterator[str]:
    """The inventory document in pieces, one rule at a time: tens of thousands of rules are
    written without building the whole document (or its text) in memory first. The text is
    exactly what ``dumps`` makes of the same document (a test holds it to that)."""
    yield f'{{\n  "version": {VERSION},\n  "rules": ['
    separator = "\n"
    for entry in inventory.entries:
        yield separator
        yield json_text(_inventory_rule(entry))
        separator = ",\n"
    yield "\n  ]," if inventory.entries else "],"
    rest = dumps(
        {
            "errors": [error.as_dict() for error in inventory.errors],
            "skipped": [{"file": s.file, "reason": s.reason} for s in inventory.skipped],
            "summary": {
                "files": inventory.files,
                "alerts": inventory.alerts,
                "records": inventory.records,
                "application_alerts": inventory.application_alerts,
                "errors": len(inventory.errors),
                "skipped": len(inventory.skipped),
            },
        }
    )
    yield rest[1:]  # the remaining keys of the same top-level object


_text = json.encoder.encode_basestring  # json.dumps(..., ensure_ascii=False) of one string, in C


def _inventory_rule(entry: InventoryEntry) -> str:
    """One rule object as ``dumps`` indents it at the third level (six spaces per key)."""
    rule = entry.rule
    return (
        "    {\n"
        f'      "kind": {_text(rule.kind)},\n'
        f'      "name": {_text(rule.name)},\n'
        f'      "group": {_text(rule.group)},\n'
        f'      "file": {_text(rule.file)},\n'
        f'      "line": {int(rule.line)},\n'
        f'      "expr": {_text(rule.expr)},\n'
        f'      "metrics": {_strings(entry.metrics)},\n'
        f'      "level": {_text(entry.level)},\n'
        f'      "source": {_text(rule.source)},\n'
        f'      "for_seconds": {_number(rule.for_seconds)},\n'
        f'      "labels": {_labels(rule.labels)},\n'
        f'      "judged": {"true" if rule.not_judged is None else "false"}'
        + ("" if rule.not_judged is None else f',\n      "not_judged": {_text(rule.not_judged)}')
        + "\n    }"
    )


def _strings(items: Iterable[str]) -> str:
    inner = ",\n        ".join(map(_text, items))
    return f"[\n        {inner}\n      ]" if inner else "[]"


def _labels(labels: Mapping[str, str]) -> str:
    inner = ",\n        ".join(f"{_text(k)}: {_text(v)}" for k, v in labels.items())
    return f"{{\n        {inner}\n      }}" if inner else "{}"


def _number(value: float) -> str:
    """As ``json.dumps`` writes a number (``repr``, but ``NaN`` and ``Infinity`` spelled out)."""
    return json.dumps(value) if value != value or value in (math.inf, -math.inf) else repr(value)


def coverage_document(report: CoverageReport) -> dict[str, object]:
    """The contract's document; ``report`` embeds the same finding objects."""
    document: dict[str, object] = {"version": VERSION, "scenario": report.scenario}
    if report.change is not None:
        document["change"] = {
            "paths": list(report.change.paths),
            "components": list(report.change_components),
            "unmatched_paths": list(report.unmatched_paths),
        }
    document["findings"] = [finding_object(f) for f in report.findings]
    document["summary"] = {
        "total": report.summary.total,
        "covered": report.summary.covered,
        "weak": report.summary.weak,
        "uncovered": report.summary.uncovered,
        "waived": report.summary.waived,
    }
    if report.baseline is not None:
        document["baseline"] = {"file": report.baseline, **delta_counts(report.findings)}
    if report.waivers:
        document["waivers"] = [_waiver_use(use) for use in report.waivers]
    if report.not_judged:
        document["not_judged"] = [{"name": r.name, "file": r.file, "line": r.line, "why": r.not_judged} for r in report.not_judged]
    document["budget_seconds"] = round(report.budget)
    document["routing_checked"] = report.routing_checked
    document["errors"] = [error.as_dict() for error in report.errors]
    document["drift"] = [
        {"kind": d.kind, "subject": d.subject, "message": d.message, "file": d.file, "line": d.line} for d in report.drift
    ]
    if report.orphans is not None:
        document["orphans"] = orphans_object(report.orphans)
    return document


def orphans_object(orphans: Orphans) -> dict[str, object]:
    return {
        "alerts": [{**_rule(o.rule, "application"), "why": o.why} for o in orphans.alerts],
        "alerts_total": orphans.alert_count,
        "unread_selectors": [{"subject": u.subject, "selector": u.selector} for u in orphans.unread],
        "unread_selectors_total": orphans.unread_count,
    }


def render_coverage(report: CoverageReport) -> str:
    return dumps(coverage_document(report))


def finding_object(finding: Finding) -> dict[str, object]:
    return {
        "subject": finding.subject.name,
        "service": finding.subject.service,
        "failure_mode": finding.mode.id,
        "direction": finding.mode.direction,
        "impact": finding.impact,
        "status": finding.status,
        "alerts": [_alert(a) for a in finding.alerts],
        "related": [_related(r) for r in finding.related],
        "reason": finding.reason,
        "owner": finding.subject.owner,
        "tier": finding.subject.tier,
        "kind": finding.subject.kind,
        "signals": list(finding.mode.signals),
        "location": {"file": finding.subject.file, "line": finding.subject.line},
        **({"waiver": _waiver_match(finding.waiver)} if finding.waiver is not None else {}),
        **({"baseline": finding.delta} if finding.delta is not None else {}),
    }


def _waiver_match(match: WaiverMatch) -> dict[str, object]:
    """``judged``: the verdict under the waiver, which a later run's --baseline compares with."""
    w = match.waiver
    return {"subject": w.subject, "failure_mode": w.failure_mode, "reason": w.reason, "owner": w.owner,
            "expires": w.expires.isoformat(), "expired": match.expired, "judged": match.judged,
            "file": w.file, "line": w.line}


def _waiver_use(use: WaiverUse) -> dict[str, object]:
    w = use.waiver
    return {"subject": w.subject, "failure_mode": w.failure_mode, "reason": w.reason, "owner": w.owner,
            "expires": w.expires.isoformat(), "file": w.file, "line": w.line, "state": use.state,
            "matches": [{"subject": subject, "failure_mode": mode} for subject, mode in use.matched],
            **({"why": use.why} if use.why else {})}


def _rule(rule: Rule, level: str) -> dict[str, object]:
    return {"name": rule.name, "file": rule.file, "line": rule.line, "level": level}


def _alert(alert: AlertCoverage) -> dict[str, object]:
    found = {
        **_rule(alert.rule, alert.level),
        "receivers": list(dict.fromkeys(alert.receivers)),
        "detect_seconds": round(alert.detect_seconds),
        "detect": {name: (round(seconds) if seconds is not None else None) for name, seconds in alert.detect.items()},
        "problems": list(alert.problems),
        "watches": alert.watches,
        "details": list(alert.details),
        "labels": dict(alert.labels),
    }
    if alert.detect:
        found["detect"] = {s: None if v is None else round(v) for s, v in alert.detect.items()}
    if alert.drill is not None:  # only with --prove / drill (DESIGN 6)
        found["drill"] = {scenario: drill_object(result) for scenario, result in alert.drill.items()}
    return found


def _related(related: Related) -> dict[str, object]:
    return {**_rule(related.rule, related.level), "why": related.why}


# --------------------------------------------------------------------------- periodic report


def render_report(report: CoverageReport, overview: Overview) -> str:
    """``coverage_document`` (the same finding objects as ``check``) plus the report's views."""
    document = coverage_document(report)
    document["overview"] = overview_object(overview)
    document["trend"] = [_run(point) for point in overview.trend]
    changes = overview.changes
    document["changes_since_previous"] = None if changes.previous is None else {
        "previous_run": _run(changes.previous),
        "newly_uncovered": [_status_change(c) for c in changes.newly_uncovered],
        "newly_weak": [_status_change(c) for c in changes.newly_weak],
        "newly_covered": [_status_change(c) for c in changes.newly_covered],
        "improved": [_status_change(c) for c in changes.improved],
        "added": [_status_change(c) for c in changes.added],
        "removed": [_status_change(c) for c in changes.removed],
    }
    return dumps(document)


def overview_object(o: Overview) -> dict[str, object]:
    return {
        "generated_at": o.generated_at,
        "budget_seconds": round(o.budget),
        "subjects": o.subjects,
        "totals": _group(o.totals),
        "business_metrics": [_group(g) for g in o.business_metrics],
        "services": [_group(g) for g in o.services],
        "owners": [_group(g) for g in o.owners],
        "tiers": [_group(g) for g in o.tiers],
        "critical_gaps": [{"subject": f.subject.name, "failure_mode": f.mode.id, "owner": f.subject.owner} for f in o.critical_gaps],
        "unreachable_alerts": [
            {
                "name": a.name,
                "file": a.file,
                "line": a.line,
                "problems": list(a.problems),
                "receivers": list(a.receivers),
                "details": list(a.details),
                "covers": [{"subject": subject, "failure_mode": mode} for subject, mode in a.modes],
                "owners": list(a.owners),
            }
            for a in o.unreachable_alerts
        ],
        "infrastructure_only": [
            {"subject": a.subject, "service": a.service, "owner": a.owner, "tier": a.tier,
             "failure_modes": list(a.failure_modes), "alerts": list(a.alerts)}
            for a in o.infrastructure_only
        ],
        "weak_reasons": [{"problem": p.problem, "text": p.text, "failure_modes": p.findings} for p in o.weak_reasons],
    }


def _group(g: GroupCoverage) -> dict[str, object]:
    return {
        "name": g.name,
        "owners": list(g.owners),
        "tier": g.tier,
        "total": g.total,
        "covered": g.covered,
        "weak": g.weak,
        "uncovered": g.uncovered,
        "waived": g.waived,
        "coverage_ratio": round(g.ratio, 4),
    }


def _run(t: RunTotals) -> dict[str, object]:
    return {
        "started_at": t.started_at,
        "budget_seconds": round(t.budget),
        "total": t.total,
        "covered": t.covered,
        "weak": t.weak,
        "uncovered": t.uncovered,
        "coverage_ratio": round(t.ratio, 4),
    }


def _status_change(c: StatusChange) -> dict[str, object]:
    return {"subject": c.subject, "service": c.service, "owner": c.owner, "tier": c.tier,
            "failure_mode": c.failure_mode, "before": c.before, "after": c.after}
