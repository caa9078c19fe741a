"""Machine-readable output: the stable contract of DESIGN section 6."""

from __future__ import annotations

import json

from ..analysis.findings import AlertCoverage, CoverageReport, Finding, Related
from ..analysis.inventory import Inventory

VERSION = 1


def dumps(document: object) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def render_inventory(inventory: Inventory) -> str:
    return dumps(
        {
            "version": VERSION,
            "rules": [
                {
                    "kind": e.rule.kind,
                    "name": e.rule.name,
                    "group": e.rule.group,
                    "file": e.rule.file,
                    "line": e.rule.line,
                    "expr": e.rule.expr,
                    "metrics": list(e.metrics),
                    "level": e.level,
                    "source": e.rule.source,
                    "for_seconds": e.rule.for_seconds,
                    "labels": dict(e.rule.labels),
                }
                for e in inventory.entries
            ],
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


def coverage_document(report: CoverageReport) -> dict[str, object]:
    """The contract's document; ``report`` embeds the same finding objects."""
    document: dict[str, object] = {"version": VERSION}
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
    }
    document["budget_seconds"] = round(report.budget)
    document["routing_checked"] = report.routing_checked
    document["errors"] = [error.as_dict() for error in report.errors]
    return document


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
    }


def _alert(alert: AlertCoverage) -> dict[str, object]:
    return {
        "name": alert.rule.name,
        "file": alert.rule.file,
        "line": alert.rule.line,
        "level": alert.level,
        "receivers": list(dict.fromkeys(alert.receivers)),
        "detect_seconds": round(alert.detect_seconds),
        "problems": list(alert.problems),
        "watches": alert.watches,
        "details": list(alert.details),
        "labels": dict(alert.labels),
    }


def _related(related: Related) -> dict[str, object]:
    return {
        "name": related.rule.name,
        "file": related.rule.file,
        "line": related.rule.line,
        "level": related.level,
        "why": related.why,
    }
