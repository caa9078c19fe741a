"""``coverage-audit check``: the change -> impacted failure modes -> covering alerts, or gaps."""

from __future__ import annotations

import sys
from typing import Any, Mapping

from ..analysis.findings import CoverageReport, Summary, order_findings
from ..analysis.impact import impact_of
from ..analysis.paths import PathIndex
from ..config import Settings
from ..graph import build_graph
from ..reporters import json as json_reporter
from ..reporters import markdown, sarif, text
from .common import EXIT_ERROR, EXIT_GAPS, EXIT_OK, judge_all, load_inputs, read_change
from .output import report_errors, write_output


def check(settings: Settings, args: Mapping[str, Any]) -> int:
    change = read_change(args)
    inputs = load_inputs(settings)
    graph = build_graph(inputs.service_map, inputs.catalog, modes=False)
    impact = impact_of(change, inputs.service_map, inputs.catalog, graph, PathIndex(inputs.service_map))
    findings = order_findings(judge_all(inputs, settings, impact.modes))
    report = CoverageReport(
        findings=tuple(findings),
        summary=Summary.of(findings),
        budget=settings.budget,
        change=change,
        change_components=impact.direct_components,
        unmatched_paths=impact.unmatched_paths,
        errors=tuple(inputs.errors),
        routing_checked=inputs.alertmanager is not None,
    )
    renderers = {
        "text": lambda r: text.render_coverage(r, color=settings.output is None and sys.stdout.isatty()),
        "json": json_reporter.render_coverage,
        "markdown": markdown.render_coverage,
        "sarif": sarif.render_coverage,
    }
    write_output(renderers[settings.format if settings.format in renderers else "text"](report), settings.output)
    report_errors(inputs.errors)
    if inputs.errors:
        return EXIT_ERROR
    return EXIT_GAPS if report.at_or_above(settings.fail_on) else EXIT_OK
