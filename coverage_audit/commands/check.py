"""``coverage-audit check``: the change -> impacted failure modes -> covering alerts, or gaps."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from ..analysis.findings import CoverageReport, Drift, Finding, Summary, order_findings
from ..analysis.impact import ChangeImpact, every_mode_key, impact_of
from ..analysis.paths import PathIndex
from ..cache import Cache
from ..config import Settings
from ..model import Change
from . import verdicts
from .adoption import settle
from .cachefolder import open_cache
from .change import read_change
from .exits import EXIT_ERROR, EXIT_GAPS, EXIT_OK
from .output import report_errors, say, stdout_is_terminal, write_output


def check(settings: Settings, args: Mapping[str, Any]) -> int:
    if args.get("prove"):
        from .prove import require_promtool

        require_promtool()
    change = read_change(args)
    cache = open_cache(settings) if verdicts.usable(settings, args) else None
    key = verdicts.inputs_key(settings) if cache is not None else None
    kept = verdicts.lookup(cache, key) if cache is not None and key is not None else None
    answer = _kept_answer(kept, change, settings, cache, key) if cache is not None and key is not None and kept is not None else None
    if answer is None:
        answer = _judge(change, settings, args, cache, key, kept)
    known, impact, findings, notes, keep_error, drift = answer
    every = every_mode_key(known.service_map, known.catalog)
    settled = settle(findings, settings, args, known.errors, every)
    report = CoverageReport(
        findings=settled.findings,
        summary=Summary.of(settled.findings),
        budget=settings.budget,
        change=change,
        change_components=impact.direct_components,
        unmatched_paths=impact.unmatched_paths,
        errors=tuple(known.errors),
        routing_checked=known.routing_checked,
        drift=drift,
        scenario=settings.scenario,
        waivers=settled.waivers,
        baseline=settled.baseline,
        not_judged=known.not_judged,
        orphans=known.orphans if settings.format == "json" else None,
        notes=notes,
    )
    write_output(render(report, settings), settings.output)
    report_errors(known.errors, known.warnings)
    if keep_error:
        say("error", keep_error)
    if known.errors or keep_error:
        return EXIT_ERROR
    return EXIT_GAPS if report.at_or_above(settings.fail_on) else EXIT_OK


Answer = tuple[verdicts.Verdicts, ChangeImpact, list[Finding], tuple[str, ...], "str | None", tuple[Drift, ...]]


def _kept_answer(kept: verdicts.Verdicts, change: Change, settings: Settings, cache: Cache, key: str) -> Answer | None:
    """The answer from a previous run's verdicts, when it judged every impacted mode."""
    asked = verdicts.change_key(change)
    impact = kept.impacts.get(asked)
    if impact is None:
        from ..graph import build_graph

        graph = build_graph(kept.service_map, kept.catalog, modes=False)
        impact = impact_of(change, kept.service_map, kept.catalog, graph, PathIndex(kept.service_map))
    findings = kept.answer(impact.modes, orphans_needed=settings.format == "json")
    if findings is None:
        return None
    if asked not in kept.impacts:
        verdicts.store(cache, key, replace(kept, findings={}, impacts={asked: impact}), (), (), kept)
    return kept, impact, order_findings(findings), (), None, ()


def _judge(
    change: Change, settings: Settings, args: Mapping[str, Any], cache: Cache | None, key: str | None, kept: verdicts.Verdicts | None
) -> Answer:
    from ..analysis.inventory import not_judged
    from .common import find_orphans_beside, impact_graph, judge_all, load_inputs, require_rules

    inputs = load_inputs(settings, every_rule=False)  # judging reads alerts and what they read
    require_rules(inputs, settings)
    graph = impact_graph(inputs)
    impact = impact_of(change, inputs.service_map, inputs.catalog, graph, PathIndex(inputs.service_map))
    orphans = find_orphans_beside(inputs, settings) if settings.format == "json" else None
    judged = judge_all(inputs, settings, impact.modes)
    known = verdicts.Verdicts(
        service_map=inputs.service_map,
        catalog=inputs.catalog,
        errors=inputs.errors,
        warnings=inputs.warnings,
        routing_checked=inputs.alertmanager is not None,
        not_judged=not_judged(inputs.ruleset.rules),
        orphans=orphans() if orphans is not None else None,
    )
    if cache is not None and key is not None:
        verdicts.store(cache, key, replace(known, findings={}, impacts={verdicts.change_key(change): impact}), impact.modes, judged, kept)
    findings = order_findings(judged)
    notes: tuple[str, ...] = ()
    keep_error = None
    if args.get("prove"):  # the measurement overrules the model before waivers and baselines apply
        from .prove import prove, write_kept

        findings, measured = prove(findings, impact.modes, inputs, settings, args, (settings.scenario,))
        written, keep_error = write_kept(args, measured)
        notes = (f"Proven with promtool: {measured.runs} drills in {measured.seconds:.1f}s" + (f"; kept {len(written)} files" if written else "") + ".",)
    return known, impact, findings, notes, keep_error, tuple(inputs.drift)


def render(report: CoverageReport, settings: Settings) -> str:
    """Only the chosen reporter is imported: check runs in CI, where start-up counts."""
    if settings.format == "json":
        from ..reporters.json import render_coverage

        return render_coverage(report)
    if settings.format == "markdown":
        from ..reporters.markdown import render_coverage as render_markdown

        return render_markdown(report)
    if settings.format == "sarif":
        from ..reporters.sarif import render_coverage as render_sarif

        return render_sarif(report)
    from ..reporters.text import render_coverage as render_text

    return render_text(report, color=settings.output is None and stdout_is_terminal())
