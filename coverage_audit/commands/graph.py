"""``coverage-audit graph``: the graph, with the verdicts as edges, in four formats."""

from __future__ import annotations

from ..config import Settings
from ..graph import add_findings, build_graph
from ..reporters import graph as graph_reporter
from .common import add_discovered_edges, judge_everything, load_inputs
from .exits import EXIT_ERROR, EXIT_OK
from .output import report_errors, write_output


def graph(settings: Settings) -> int:
    inputs = load_inputs(settings)
    exported = build_graph(inputs.service_map, inputs.catalog, inputs.ruleset, inputs.alertmanager)
    add_discovered_edges(inputs, exported)
    add_findings(exported, judge_everything(inputs, settings))
    fmt = settings.format if settings.format in graph_reporter.FORMATS else "json"  # text is not a graph format
    write_output(graph_reporter.render(exported, fmt), settings.output)
    report_errors(inputs.errors, inputs.warnings)
    return EXIT_ERROR if inputs.errors else EXIT_OK
