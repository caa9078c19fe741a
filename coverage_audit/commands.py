"""The commands: load -> model -> analysis -> render, and the exit code.

Input problems found while loading are printed to stderr one per line (``file:line: message``),
kept in the output, and make the exit code 2 once the run has completed for everything else.
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Any, Mapping

from dataclasses import dataclass, field, replace

from .analysis.coverage import CoverageJudge
from .analysis.findings import CoverageReport, Finding, Summary, order_findings
from .analysis.impact import ImpactedMode, every_mode, impact_of
from .analysis.inventory import build_inventory
from .analysis.paths import PathIndex
from .catalog import Catalog, default_catalog, load_catalog
from .config import Settings
from .graph import add_findings, build_graph
from .levels import default_levels
from .loaders.alertmanager import load_alertmanager
from .loaders.changes import git_changed_paths, normalise_path, read_changed_paths
from .loaders.codeowners import load_codeowners
from .loaders.rules import load_rules
from .loaders.service_map import load_service_maps
from .model import AlertmanagerConfig, Change, Diagnostic, InputError, ServiceMap
from .reporters import json as json_reporter
from .reporters import graph as graph_reporter
from .reporters import markdown, sarif, text
from .ruleset import RuleSet, build_ruleset

EXIT_OK, EXIT_GAPS, EXIT_ERROR = 0, 1, 2


class UsageError(Exception):
    """A request that cannot be run as given (missing inputs, bad combination)."""


def run(command: str, settings: Settings, args: Mapping[str, Any]) -> int:
    if command == "rules":
        return rules(settings)
    if command == "check":
        return check(settings, args)
    if command == "graph":
        return graph(settings)
    if command == "draft":
        from .draft_command import draft

        return draft(settings, args)
    raise UsageError(f"the {command!r} command is not available yet")


@dataclass(slots=True)
class Inputs:
    """Everything loaded for an analysis, and every problem met while loading it."""

    ruleset: RuleSet
    alertmanager: AlertmanagerConfig | None
    service_map: ServiceMap
    catalog: Catalog
    errors: list[Diagnostic] = field(default_factory=list)


def load_inputs(settings: Settings) -> Inputs:
    if not settings.service_maps:
        raise UsageError("no service map given: use --service-map PATH or 'service_maps:' in coverage-audit.yaml")
    errors: list[Diagnostic] = []
    ruleset = load_ruleset(settings)
    errors += ruleset.errors
    catalog = _optional(lambda: load_catalog(settings.catalog), errors) or default_catalog()
    alertmanager = _optional(lambda: load_alertmanager(settings.alertmanager), errors) if settings.alertmanager else None
    loaded = load_service_maps(settings.service_maps, catalog)
    errors += loaded.errors
    service_map = loaded.service_map
    if settings.codeowners:
        rules = _optional(lambda: load_codeowners(settings.codeowners), errors)
        if rules is not None:
            service_map = replace(service_map, codeowners=rules, codeowners_file=settings.codeowners)
    return Inputs(ruleset, alertmanager, service_map, catalog, errors)


def _optional(load: Any, errors: list[Diagnostic]) -> Any:
    """A file that cannot be read is an error for that file; the run goes on without it."""
    try:
        return load()
    except InputError as exc:
        errors.append(exc.diagnostic)
        return None


def read_change(args: Mapping[str, Any]) -> Change:
    try:
        if args.get("changed"):
            return Change(paths=tuple(dict.fromkeys(normalise_path(p) for p in args["changed"])), source="--changed")
        if args.get("changed_from"):
            source = args["changed_from"]
            return Change(paths=read_changed_paths(source, sys.stdin), source=source)
        if args.get("git_range"):
            return Change(paths=git_changed_paths(args.get("repo") or ".", args["git_range"]), source=f"git {args['git_range']}")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.get("component"):
        return Change(components=tuple(dict.fromkeys(args["component"])), source="--component")
    raise UsageError("check needs a change: --changed PATH..., --changed-from FILE, --git-range BASE..HEAD or --component SERVICE/COMPONENT")


def judge_everything(inputs: Inputs, settings: Settings) -> list[Finding]:
    """Every failure mode of every subject in the service map (what a report shows)."""
    return order_findings(judge_all(inputs, settings, every_mode(inputs.service_map, inputs.catalog)))


def judge_all(inputs: Inputs, settings: Settings, modes: list[ImpactedMode] | tuple[ImpactedMode, ...]) -> list[Finding]:
    judge = CoverageJudge(inputs.ruleset, inputs.alertmanager, settings.budget, settings.evaluation_interval)
    return [judge.judge(m.subject, m.mode, m.service_matchers, m.impact) for m in modes]


def check(settings: Settings, args: Mapping[str, Any]) -> int:
    change = read_change(args)
    inputs = load_inputs(settings)
    graph = build_graph(inputs.service_map, inputs.catalog)
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


def load_ruleset(settings: Settings) -> RuleSet:
    if not settings.rules:
        raise UsageError("no rules given: use --rules PATH or 'rules:' in coverage-audit.yaml")
    classifier = default_levels().extended(
        prefixes=settings.infrastructure_prefixes, application_prefixes=settings.application_prefixes
    )
    return build_ruleset(load_rules(settings.rules, jobs=settings.jobs), classifier)


def rules(settings: Settings) -> int:
    ruleset = load_ruleset(settings)
    inventory = build_inventory(ruleset)
    renderers = {
        "text": text.render_inventory,
        "json": json_reporter.render_inventory,
        "markdown": markdown.render_inventory,
        "sarif": sarif.render_inventory,
    }
    fmt = settings.format if settings.format in renderers else "text"
    write_output(renderers[fmt](inventory), settings.output)
    report_errors(inventory.errors)
    return EXIT_ERROR if inventory.errors else EXIT_OK


def graph(settings: Settings) -> int:
    inputs = load_inputs(settings)
    exported = build_graph(inputs.service_map, inputs.catalog, inputs.ruleset, inputs.alertmanager)
    add_findings(exported, judge_everything(inputs, settings))
    write_output(graph_reporter.render(exported, settings.format or "json"), settings.output)
    report_errors(inputs.errors)
    return EXIT_ERROR if inputs.errors else EXIT_OK


def report_errors(errors: tuple[Diagnostic, ...] | list[Diagnostic]) -> None:
    for error in errors:
        print(f"coverage-audit: error: {error}", file=sys.stderr)


def write_output(content: str, path: str | None) -> None:
    if path is None:
        sys.stdout.write(content)
        sys.stdout.flush()
        return
    write_atomically(path, content)


def write_atomically(path: str, content: str) -> None:
    """Write through a temporary file in the same folder, so readers never see half a file."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".coverage-audit-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(content)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
