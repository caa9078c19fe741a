"""The drill as every reporter shows it: one row per drilled alert and scenario, the model's
estimate beside the engine's measurement (shared phrasing, no computation)."""

from __future__ import annotations

from dataclasses import dataclass

from ..analysis.findings import AlertCoverage, CoverageReport, DrillResult, Finding
from ..durations import format_duration
from ..scenarios import SCENARIOS


@dataclass(frozen=True, slots=True)
class DrillRow:
    finding: Finding
    alert: AlertCoverage
    scenario: str
    result: DrillResult
    modelled: str
    measured: str
    problems: tuple[str, ...]  # the drill's problems, on the row of the judged scenario only


def drill_rows(report: CoverageReport) -> list[DrillRow]:
    rows = []
    for finding in report.findings:
        for alert in finding.alerts:
            drilled = alert.drill or {}
            for scenario in sorted(drilled, key=lambda s: (SCENARIOS.index(s) if s in SCENARIOS else len(SCENARIOS), s)):
                judged = scenario == report.scenario
                problems = tuple(p for p in alert.problems if p.startswith("drill_")) if judged else ()
                rows.append(DrillRow(finding, alert, scenario, drilled[scenario], modelled(alert, scenario, report.scenario),
                                     measured(drilled[scenario]), problems))
    return rows


def modelled(alert: AlertCoverage, scenario: str, judged: str) -> str:
    """The static model's time to detect in the scenario ("never": it cannot fire)."""
    if scenario in alert.detect:
        seconds = alert.detect[scenario]
        return "never" if seconds is None else format_duration(seconds)
    return format_duration(alert.detect_seconds) if scenario == judged else "–"


def measured(result: DrillResult) -> str:
    if not result.drilled:
        return f"not drilled: {result.why}"
    if result.fired_after_seconds is None:
        text = "silent" + (f" ({result.why})" if result.why else "")
    else:
        text = f"fired after {format_duration(result.fired_after_seconds)}"
    return text + ("; noisy: fired while healthy" if result.noisy else "")


def drill_object(result: DrillResult) -> dict[str, object]:
    """DESIGN 6: ``{"fired_after_seconds": 390, "noisy": false}`` (null: silent)."""
    found: dict[str, object] = {
        "fired_after_seconds": None if result.fired_after_seconds is None else round(result.fired_after_seconds),
        "noisy": result.noisy,
        "drilled": result.drilled,
    }
    if result.why:
        found["why"] = result.why
    return found
