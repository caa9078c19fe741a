"""SARIF 2.1.0, for code-scanning UIs: each gap points at the service-map entry (uncovered) or
the alerting rule (weak) that needs work; input errors point at their file and line."""

from __future__ import annotations

from .. import __version__
from ..analysis.findings import CoverageReport, Finding, WaiverUse
from ..analysis.inventory import Inventory
from ..model import Diagnostic
from .adoption_text import finding_note, reason, use_line
from .drill import drill_object
from .json import dumps

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
RULES = (
    ("uncovered-failure-mode", "UncoveredFailureMode", "error", "A failure mode the change can cause has no application-level alert."),
    ("weak-coverage", "WeakCoverage", "warning", "The alerts covering a failure mode would not reach a person in time (blackholed, unrouted, over budget, diluted, muted), or the drill measured them silent, slow or noisy."),
    ("input-error", "InputError", "error", "An input file could not be used."),
    ("expired-waiver", "ExpiredWaiver", "warning", "A waiver is past its expiry date: the gaps it named count again."),
    ("stale-waiver", "StaleWaiver", "note", "A waiver names no gap: no failure mode, or only covered ones."),
    ("rule-not-judged", "RuleNotJudged", "note", "A rule with no PromQL equivalent (another data source, an untranslatable condition) covers nothing."),
)
# SARIF's own comparison with a previous run, from --baseline: a worse or a better verdict is an
# "updated" result.
_BASELINE_STATE = {"new": "new", "worse": "updated", "better": "updated", "unchanged": "unchanged"}
_INDEX = {rule_id: index for index, (rule_id, *_rest) in enumerate(RULES)}


def render_coverage(report: CoverageReport) -> str:
    results = [_finding(f) for f in report.findings if f.status != "covered"]
    results += [_waiver(use) for use in report.waivers if use.state != "active"]
    results += [_error(d) for d in report.errors]
    return dumps(_log(results))


def render_inventory(inventory: Inventory) -> str:
    not_judged = [
        {"ruleId": "rule-not-judged", "ruleIndex": _INDEX["rule-not-judged"], "level": "note",
         "message": {"text": f"{e.rule.name}: not judged: {e.rule.not_judged}"}, "locations": [_location(e.rule.file, e.rule.line)]}
        for e in inventory.entries if e.rule.not_judged is not None
    ]
    return dumps(_log([_error(d) for d in inventory.errors] + not_judged))


def _log(results: list[dict]) -> dict:
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "coverage-audit",
                        "version": __version__,
                        "informationUri": "https://github.com/coverage-audit/coverage-audit",
                        "rules": [
                            {
                                "id": rule_id,
                                "name": name,
                                "shortDescription": {"text": text},
                                "defaultConfiguration": {"level": level},
                            }
                            for rule_id, name, level, text in RULES
                        ],
                    }
                },
                "results": results,
            }
        ],
    }


def _location(file: str, line: int, message: str | None = None) -> dict:
    physical: dict = {"artifactLocation": {"uri": file.replace("\\", "/")}}
    if line > 0:
        physical["region"] = {"startLine": line}
    location: dict = {"physicalLocation": physical}
    if message:
        location["message"] = {"text": message}
    return location


def _finding(finding: Finding) -> dict:
    """A waived gap is still a result, suppressed (accepted) with the waiver as justification."""
    judged = finding.judged
    rule_id = "uncovered-failure-mode" if judged == "uncovered" else "weak-coverage"
    subject = _location(finding.subject.file, finding.subject.line, f"{finding.subject.name} in the service map")
    if judged == "weak" and finding.best is not None:
        primary = _location(finding.best.rule.file, finding.best.rule.line, finding.best.rule.name)
        related = [subject]
    else:
        primary, related = subject, [_location(r.rule.file, r.rule.line, r.rule.name) for r in finding.related[:5]]
    properties: dict[str, object] = {"impact": finding.impact, "owner": finding.subject.owner, "status": finding.status}
    drilled = {a.rule.name: {s: drill_object(r) for s, r in a.drill.items()} for a in finding.alerts if a.drill}
    if drilled:  # what the real engine measured for the alerts the verdict rests on
        properties["drill"] = drilled
    result = {
        "ruleId": rule_id,
        "ruleIndex": _INDEX[rule_id],
        "level": "error" if judged == "uncovered" else "warning",
        "message": {"text": f"{finding.subject.name} {finding.mode.id} ({finding.mode.direction}): {finding.status} — {reason(finding)}"},
        "locations": [primary],
        "partialFingerprints": {"coverageAuditFinding/v1": f"{finding.subject.name}#{finding.mode.id}"},
        "properties": properties,
    }
    if related:
        result["relatedLocations"] = [dict(loc, id=i) for i, loc in enumerate(related)]
    if finding.status == "waived":
        result["suppressions"] = [{"kind": "external", "status": "accepted", "justification": finding_note(finding)}]
    if finding.delta is not None:
        result["baselineState"] = _BASELINE_STATE[finding.delta]
    return result


def _waiver(use: WaiverUse) -> dict:
    rule_id = f"{use.state}-waiver"
    w = use.waiver
    return {
        "ruleId": rule_id,
        "ruleIndex": _INDEX[rule_id],
        "level": "warning" if use.state == "expired" else "note",
        "message": {"text": f"waiver {use_line(use)}"},
        "locations": [_location(w.file, w.line)],
        "partialFingerprints": {"coverageAuditWaiver/v1": f"{w.subject}#{w.failure_mode}"},
    }


def _error(diagnostic: Diagnostic) -> dict:
    return {
        "ruleId": "input-error",
        "ruleIndex": _INDEX["input-error"],
        "level": "error",
        "message": {"text": diagnostic.message},
        "locations": [_location(diagnostic.file, diagnostic.line)],
    }
