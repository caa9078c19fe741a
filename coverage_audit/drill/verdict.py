"""A measurement overrules the model (DESIGN 5): drill results applied to judged findings.

In the judged scenario, an alert the drill measured not firing gets ``drill_silent``, one firing
only after the budget (the measured time plus its route's ``group_wait``) ``drill_slow``, one
firing while healthy ``drill_noisy``. The model's ``over_budget`` estimate gives way to the
measured time, and ``direction_unclear`` to an alert measured firing on the failure and not
before it. An alert that could not be drilled keeps the model's verdict, marked
as not drilled, never as proven. The finding's status follows: covered only while some alert
has no problem.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Iterable, Mapping

from ..analysis.findings import AlertCoverage, DrillResult, Finding
from ..durations import format_duration
from ..model import Rule

# Problems of the static model that a measurement answers.
_TIMING = "over_budget"
_UNCLEAR = "direction_unclear"


def overrule(
    findings: Iterable[Finding],
    results: Mapping[tuple[str, str], Mapping[Rule, Mapping[str, DrillResult]]],
    scenario: str,
    budget: float,
    notice_wait: Callable[[AlertCoverage], float],
) -> list[Finding]:
    """The findings with each drilled alert's ``drill`` set and its problems overruled."""
    out = []
    for finding in findings:
        measured = results.get((finding.subject.name, finding.mode.id))
        if not measured:
            out.append(finding)
            continue
        alerts = [_alert(a, measured.get(a.rule), scenario, budget, notice_wait) for a in finding.alerts]
        out.append(_restated(finding, alerts, scenario))
    return out


def _alert(
    alert: AlertCoverage,
    by_scenario: Mapping[str, DrillResult] | None,
    scenario: str,
    budget: float,
    notice_wait: Callable[[AlertCoverage], float],
) -> AlertCoverage:
    if not by_scenario:
        return alert
    result = by_scenario.get(scenario)
    problems = list(alert.problems)
    details = list(alert.details)
    if result is not None and result.drilled:
        wait = notice_wait(alert)
        fired = result.fired_after_seconds
        _drop(problems, details, _TIMING)  # the measured time replaces the estimate
        if fired is None:
            _add(problems, details, "drill_silent", f"did not fire in the drill ({scenario}): {result.why or 'silent'}")
        elif fired + wait > budget:
            _add(problems, details, "drill_slow", f"fired {format_duration(fired)} after the failure in the drill "
                 f"({scenario}), plus {format_duration(wait)} group_wait: over the {format_duration(budget)} budget")
        elif not result.noisy:
            _drop(problems, details, _UNCLEAR)
        if result.noisy:
            _add(problems, details, "drill_noisy", f"fired while healthy in the drill ({scenario})")
    return replace(alert, problems=tuple(problems), details=tuple(details), drill=dict(by_scenario))


def _add(problems: list[str], details: list[str], problem: str, detail: str) -> None:
    problems.append(problem)
    details.append(detail)


def _drop(problems: list[str], details: list[str], problem: str) -> None:
    """Problems and details are parallel lists (one phrase per problem)."""
    while problem in problems:
        index = problems.index(problem)
        problems.pop(index)
        if index < len(details):
            details.pop(index)


def _restated(finding: Finding, alerts: list[AlertCoverage], scenario: str) -> Finding:
    alerts.sort(key=lambda a: len(a.problems))  # stable: the judge's order within a rank
    if finding.status == "waived":
        return replace(finding, alerts=tuple(alerts))
    status = "covered" if alerts and alerts[0].ok else "weak" if alerts else "uncovered"
    reason = finding.reason
    best = alerts[0] if alerts else None
    if best is not None and (status != finding.status or best.rule is not (finding.best.rule if finding.best else None)):
        if status == "covered":
            fired = best.drill[scenario].fired_after_seconds if best.drill and scenario in best.drill else None
            measured = f"; the drill measured it firing {format_duration(fired)} after the failure" if fired is not None else ""
            reason = f"{best.rule.name} watches {best.watches}{measured}"
        else:
            reason = f"only weak coverage: {best.rule.name} {'; '.join(best.details)}"
    return replace(finding, status=status, alerts=tuple(alerts), reason=reason)  # type: ignore[arg-type]
