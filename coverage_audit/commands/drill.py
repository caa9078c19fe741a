"""``coverage-audit drill``: the alerts a change's (or every) verdict rests on, drilled through
the real Prometheus engine (DESIGN 5.2); the measurement overrules the model."""

from __future__ import annotations

from typing import Any, Mapping

from ..analysis.findings import CoverageReport, Summary
from ..analysis.impact import ImpactedMode, every_mode, every_mode_key, impact_of
from ..analysis.inventory import not_judged
from ..analysis.paths import PathIndex
from ..config import Settings
from ..model import Change
from .adoption import settle
from .change import read_change
from .common import Inputs, impact_graph, judge_all, load_inputs
from .exits import EXIT_ERROR, EXIT_GAPS, EXIT_OK
from .output import report_errors, say, write_output
from .prove import drill_scenarios, prove, require_promtool, write_kept


def drill(settings: Settings, args: Mapping[str, Any]) -> int:
    require_promtool()
    change = None if args.get("all") else read_change(args)
    inputs = load_inputs(settings)
    modes, direct, unmatched = _modes(inputs, change)
    scenarios = drill_scenarios(args, settings)
    findings, measured = prove(judge_all(inputs, settings, modes), modes, inputs, settings, args, scenarios)
    written, keep_error = write_kept(args, measured)
    every = every_mode_key(inputs.service_map, inputs.catalog)
    settled = settle(findings, settings, args, inputs.errors, every)  # waivers and a baseline, as check
    report = CoverageReport(
        findings=settled.findings,
        summary=Summary.of(settled.findings),
        budget=settings.budget,
        change=change,
        change_components=direct,
        unmatched_paths=unmatched,
        errors=tuple(inputs.errors),
        routing_checked=inputs.alertmanager is not None,
        notes=_notes(measured.runs, measured.seconds, written),
        scenario=settings.scenario,
        drift=tuple(inputs.drift),
        waivers=settled.waivers,
        baseline=settled.baseline,
        not_judged=not_judged(inputs.ruleset.rules),
    )
    write_output(render(report, settings, scenarios), settings.output)
    report_errors(inputs.errors, inputs.warnings)
    if keep_error:
        say("error", keep_error)
    if inputs.errors or keep_error:
        return EXIT_ERROR
    return EXIT_GAPS if report.at_or_above(settings.fail_on) else EXIT_OK


def _modes(inputs: Inputs, change: Change | None) -> tuple[list[ImpactedMode], tuple[str, ...], tuple[str, ...]]:
    if change is None:
        return every_mode(inputs.service_map, inputs.catalog), (), ()
    graph = impact_graph(inputs)
    impact = impact_of(change, inputs.service_map, inputs.catalog, graph, PathIndex(inputs.service_map))
    return list(impact.modes), impact.direct_components, impact.unmatched_paths


def _notes(runs: int, seconds: float, written: list[str]) -> tuple[str, ...]:
    notes = [f"Drilled with promtool: {runs} engine runs in {seconds:.1f}s."]
    if written:
        tests = [path for path in written if path.endswith(".test.yaml")]
        notes.append(f"Kept {len(written)} files; rerun each drill with: promtool test rules {' '.join(tests[:3])}{' …' if len(tests) > 3 else ''}")
    return tuple(notes)


def render(report: CoverageReport, settings: Settings, scenarios: tuple[str, ...]) -> str:
    """As ``check`` renders, but the text puts the drill table (every scenario) first."""
    if settings.format != "text":
        from .check import render as render_check

        return render_check(report, settings)
    from ..reporters.text import render_drill

    return render_drill(report, scenarios)
