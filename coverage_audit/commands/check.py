"""``coverage-audit check``: the change -> impacted failure modes -> covering alerts, or gaps."""

from __future__ import annotations

from typing import Any, Mapping

from ..analysis.findings import CoverageReport, Summary, order_findings
from ..analysis.impact import every_mode, impact_of
from ..analysis.inventory import not_judged
from ..analysis.orphans import find_orphans
from ..analysis.paths import PathIndex
from ..config import Settings
from .adoption import settle
from .common import impact_graph, judge_all, load_inputs, read_change, require_rules
from .exits import EXIT_ERROR, EXIT_GAPS, EXIT_OK
from .output import report_errors, say, stdout_is_terminal, write_output


def check(settings: Settings, args: Mapping[str, Any]) -> int:
    if args.get("prove"):
        from .prove import require_promtool

        require_promtool()
    change = read_change(args)
    inputs = load_inputs(settings)
    require_rules(inputs, settings)
    graph = impact_graph(inputs)
    impact = impact_of(change, inputs.service_map, inputs.catalog, graph, PathIndex(inputs.service_map))
    findings = order_findings(judge_all(inputs, settings, impact.modes))
    notes: tuple[str, ...] = ()
    keep_error = None
    if args.get("prove"):  # the measurement overrules the model before waivers and baselines apply
        from .prove import prove, write_kept

        findings, measured = prove(findings, impact.modes, inputs, settings, args, (settings.scenario,))
        written, keep_error = write_kept(args, measured)
        notes = (f"Proven with promtool: {measured.runs} drills in {measured.seconds:.1f}s" + (f"; kept {len(written)} files" if written else "") + ".",)
    every = ((m.subject.name, m.mode.id) for m in every_mode(inputs.service_map, inputs.catalog))
    settled = settle(findings, settings, args, inputs.errors, every)
    report = CoverageReport(
        findings=settled.findings,
        summary=Summary.of(settled.findings),
        budget=settings.budget,
        change=change,
        change_components=impact.direct_components,
        unmatched_paths=impact.unmatched_paths,
        errors=tuple(inputs.errors),
        routing_checked=inputs.alertmanager is not None,
        drift=tuple(inputs.drift),
        scenario=settings.scenario,
        waivers=settled.waivers,
        baseline=settled.baseline,
        not_judged=not_judged(inputs.ruleset.rules),
        orphans=find_orphans(inputs.ruleset, inputs.service_map, inputs.catalog) if settings.format == "json" else None,
        notes=notes,
    )
    write_output(render(report, settings), settings.output)
    report_errors(inputs.errors, inputs.warnings)
    if keep_error:
        say("error", keep_error)
    if inputs.errors or keep_error:
        return EXIT_ERROR
    return EXIT_GAPS if report.at_or_above(settings.fail_on) else EXIT_OK


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
