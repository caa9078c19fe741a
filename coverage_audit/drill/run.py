"""Drilling findings: plan the drills, run them side by side, read what the engine measured.

Each drill is one ``promtool test rules`` run in a temporary folder. Runs are independent and
run in parallel (``--jobs``, capped at the CPU count), the longest first. A joint run of several
alerts that fails is repeated alert by alert, so one broken rule does not hide the others.
With ``--keep`` the command gets, per finding, the rule file and a test file that asserts what
was measured, for a person to rerun with promtool.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from .. import promql
from ..analysis.findings import DrillResult, Finding
from ..analysis.impact import ImpactedMode
from ..durations import format_duration
from ..model import LabelMatcher, Rule
from ..ruleset import RuleSet
from ..scenarios import SCENARIOS, Scenario, subject_traffic, world
from . import engine
from .config import drill_config
from .files import Case, question, rule_file, test_file
from .plan import Drill, Planner, Verdict, verdict_alerts
from .reads import RuleReads
from .series import input_series
from .world import Failure

ResultKey = tuple[str, str]  # (subject, failure mode)
Results = dict[ResultKey, dict[Rule, dict[str, DrillResult]]]
_FALLBACK_MODEL = {"rise": "events", "drop": "good_events", "absent": "heartbeat"}


@dataclass(frozen=True, slots=True)
class Options:
    scenarios: tuple[str, ...] = SCENARIOS
    budget: float = 900.0
    evaluation_interval: float = 60.0
    canary_selector: str = ""
    jobs: int | None = None
    time_limit: float | None = None
    keep: bool = False  # produce the files a person can rerun


@dataclass(frozen=True, slots=True)
class Measured:
    results: Results
    kept: Mapping[str, str] = field(default_factory=dict)  # file name -> content (with --keep)
    runs: int = 0  # engine runs
    seconds: float = 0.0  # wall-clock time of all drills


class PromtoolMissing(Exception):
    """The real engine is not installed: nothing can be drilled."""


def verdicts(findings: Iterable[Finding], modes: Iterable[ImpactedMode], every_alert: bool = False) -> list[Verdict]:
    """What to drill: every finding with alerts, with its subject's selectors and traffic
    (the map's ``traffic:``, else the world's default); the alerts its verdict rests on, or
    (``every_alert``) all its covering alerts."""
    picked = {(m.subject.name, m.mode.id): m.target for m in modes}
    found = []
    for finding in findings:
        alerts = finding.alerts if every_alert else verdict_alerts(finding)
        target = picked.get((finding.subject.name, finding.mode.id))
        if alerts and target is not None:
            selectors = tuple(s for s in target.selectors if s)
            found.append(Verdict(finding, alerts, selectors, subject_traffic(target.traffic)))
    return found


def drill(found: Sequence[Verdict], ruleset: RuleSet, options: Options) -> Measured:
    promtool = engine.find_promtool()
    if promtool is None:
        raise PromtoolMissing("promtool is not installed (Debian: apt-get install prometheus): the drill needs the real engine")
    config = drill_config()
    canary = promql.parse_selector(options.canary_selector).matchers if options.canary_selector else ()
    limit = options.time_limit or config.time_limit
    planner = Planner(
        RuleReads(ruleset),
        lambda verdict, scenario: _failure(verdict, scenario, canary),
        options.evaluation_interval,
        options.budget,
        config,
        engine.supports_query_offset(promtool),
        limit,
    )
    results: Results = {}
    drills = _plan(found, [world().scenario(name) for name in options.scenarios], planner, results)
    started = time.monotonic()
    measured, runs = _run(drills, planner, promtool, limit, workers(options.jobs), results)
    kept = _kept(measured) if options.keep else {}
    return Measured(results, kept, runs, time.monotonic() - started)


def workers(jobs: int | None) -> int:
    """``--jobs``, never more than the CPUs: each drill keeps one core busy."""
    cpus = os.cpu_count() or 1
    return max(1, min(jobs or cpus, cpus))


def _plan(found: Sequence[Verdict], scenarios: list[Scenario], planner: Planner, results: Results) -> list[Drill]:
    drills: list[Drill] = []
    for verdict in found:
        try:
            planned, refused = planner.plan(verdict, scenarios)
        except Exception as exc:  # noqa: BLE001 - a drill that cannot be planned is not drilled, never a crash
            why = f"the drill could not be planned ({type(exc).__name__}: {exc})"
            refused = {(a.rule, s.name): DrillResult(None, False, drilled=False, why=why) for a in verdict.alerts for s in scenarios}
            planned = []
        drills += planned
        _refuse(results, verdict, refused)
    return drills


def _run(
    drills: list[Drill], planner: Planner, promtool: str, limit: float, jobs: int, results: Results
) -> tuple[list[tuple[Drill, dict[tuple[str, int], float]]], int]:
    """Every drill through promtool, side by side, the costliest first; a joint run that fails
    (other than by time) is repeated alert by alert."""
    measured: list[tuple[Drill, dict[tuple[str, int], float]]] = []
    runs = 0
    with tempfile.TemporaryDirectory(prefix="coverage-audit-drill-") as folder, ThreadPoolExecutor(jobs) as pool:
        pending: dict[Future[engine.Outcome], Drill] = {}
        names = (os.path.join(folder, f"d{n}") for n in range(1 << 30))

        def submit(item: Drill) -> None:
            try:
                path = _write(item, next(names))
            except (OSError, ValueError) as exc:  # a full temporary disk, a value YAML cannot hold
                _fail(results, item, f"the drill files could not be written ({exc})")
                return
            pending[pool.submit(engine.run, promtool, path, limit)] = item

        for item in sorted(drills, key=lambda d: -d.cost):
            submit(item)
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                item, outcome = pending.pop(future), future.result()
                runs += 1
                if outcome.measured is not None:
                    measured.append((item, outcome.measured))
                    for index, rule in enumerate(item.alerts):
                        result = _result(outcome.measured, index, item.delays[index], item.horizon)
                        _record(results, item.verdict, rule, item.scenario.name, result)
                elif len(item.alerts) > 1 and not outcome.timed_out:
                    singles, refused = planner.split(item)  # find the alert at fault
                    _refuse(results, item.verdict, refused)
                    for single in singles:
                        submit(single)
                else:
                    _fail(results, item, outcome.error)
    return measured, runs


def _failure(verdict: Verdict, scenario: Scenario, canary: tuple[LabelMatcher, ...]) -> Failure:
    mode = verdict.finding.mode
    return Failure(
        model=mode.model or _FALLBACK_MODEL[mode.direction],
        signals=_selectors(mode.signals),
        inverse=_selectors(mode.inverse),
        subject=verdict.selectors,
        traffic=verdict.traffic,
        scenario=scenario,
        canary=canary,
        instances=world().healthy.instances,
    )


def _selectors(texts: Iterable[str]) -> tuple[promql.Selector, ...]:
    found = []
    for text in texts:
        try:
            selector = promql.parse_selector(text)
        except promql.PromQLError:
            continue  # the loader reported it; a mode's other signals still stand
        if selector.metric:
            found.append(selector)
    return tuple(found)


def _fail(results: Results, item: Drill, why: str) -> None:
    for rule in item.alerts:
        _record(results, item.verdict, rule, item.scenario.name, DrillResult(None, False, drilled=False, why=why))


def _refuse(results: Results, verdict: Verdict, refused: Mapping[tuple[Rule, str], DrillResult]) -> None:
    for (rule, scenario), result in refused.items():
        _record(results, verdict, rule, scenario, result)


def _record(results: Results, verdict: Verdict, rule: Rule, scenario: str, result: DrillResult) -> None:
    key = (verdict.finding.subject.name, verdict.finding.mode.id)
    results.setdefault(key, {}).setdefault(rule, {})[scenario] = result


def _result(measured: Mapping[tuple[str, int], float], index: int, delay: float, horizon: float) -> DrillResult:
    fired = measured.get(("fired", index))
    noisy = measured.get(("noisy", index), 0.0) > 0
    if fired is None:  # silent: say how long it was watched
        return DrillResult(None, noisy, why=f"not firing within {format_duration(horizon)} of the failure")
    return DrillResult(max(fired, 0.0) + delay, noisy)


# --------------------------------------------------------------------------- files


def _write(item: Drill, stem: str) -> str:
    """The drill's rule and test files (the measuring variant); returns the test file."""
    rules_text, order = rule_file(item.rules, _depths(item), _engine_applies_offsets(item))
    with open(stem + ".rules.yaml", "w", encoding="utf-8") as handle:
        handle.write(rules_text)
    document = test_file(os.path.basename(stem) + ".rules.yaml", item.interval, order, [_case(item, None)])
    with open(stem + ".test.yaml", "w", encoding="utf-8") as handle:
        handle.write(document)
    return stem + ".test.yaml"


def _engine_applies_offsets(item: Drill) -> bool:
    """Whether the rule file carries query offsets (this promtool applies them itself; else the
    drill adds them to the measured time)."""
    return not any(item.delays)


def _depths(item: Drill) -> dict[int, int]:
    return {id(rule): depth for rule, depth in zip(item.rules, item.depths)}


def _case(item: Drill, answer: Mapping[str, float] | None, comment: str = "") -> Case:
    ladder = drill_config().buckets
    series: list[tuple[str, str]] = []
    for written in item.world.series:
        series += input_series(written, item.timeline, ladder, item.world.bucket_bounds.get(written.metric, ()))
    t0 = item.timeline.t0
    return Case(
        name=f"{item.verdict.finding.subject.name} {item.verdict.finding.mode.id}: {item.scenario.name}",
        step=item.timeline.step,
        series=tuple(series),
        question=question([rule.name for rule in item.alerts], t0, item.horizon, item.healthy_from, item.interval),
        eval_time=t0 + item.horizon,
        answer=answer,
        comment=comment,
    )


def _kept(measured: list[tuple[Drill, dict[tuple[str, int], float]]]) -> dict[str, str]:
    """Per finding (and set of alerts): the rule file, and a test file asserting what was
    measured in each scenario."""
    groups: dict[tuple[str, str, tuple[int, ...], float], list[tuple[Drill, dict[tuple[str, int], float]]]] = {}
    for item, values in measured:
        key = (item.verdict.finding.subject.name, item.verdict.finding.mode.id, tuple(id(r) for r in item.alerts), item.interval)
        groups.setdefault(key, []).append((item, values))
    files: dict[str, str] = {}
    taken: set[str] = set()
    for (subject, mode, _, _), members in groups.items():
        stem = _stem(f"{subject}-{mode}", taken)
        first = members[0][0]
        rules_text, order = rule_file(first.rules, _depths(first), _engine_applies_offsets(first))
        cases = [_case(item, {f"{kind}_{index}": value for (kind, index), value in values.items()}) for item, values in members]
        lines = [f"# coverage-audit drill: {subject} {mode}. Rerun: promtool test rules {stem}.test.yaml"]
        for item, values in members:
            for index, rule in enumerate(item.alerts):
                lines.append(f"# {item.scenario.name}: {rule.name} ({rule.location}) {_said(values, index, item)}")
        files[stem + ".rules.yaml"] = rules_text
        files[stem + ".test.yaml"] = test_file(stem + ".rules.yaml", first.interval, order, cases, "\n".join(lines))
    return files


def _said(values: Mapping[tuple[str, int], float], index: int, item: Drill) -> str:
    fired = values.get(("fired", index))
    text = "did not fire" if fired is None else f"fired {format_duration(max(fired, 0.0))} after the failure"
    if values.get(("noisy", index), 0.0) > 0:
        text += "; it also fired while healthy"
    return text + f" (t0 = {format_duration(item.timeline.t0)}, watched for {format_duration(item.horizon)})"


def _stem(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "drill"
    stem, number = base, 2
    while stem in taken:
        stem, number = f"{base}-{number}", number + 1
    taken.add(stem)
    return stem
