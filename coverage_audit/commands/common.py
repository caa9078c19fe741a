"""What every command shares: loading the inputs, reading the change, judging failure modes."""

from __future__ import annotations

import gc
from dataclasses import dataclass, field, replace
from importlib import import_module
from typing import TYPE_CHECKING, Any, Callable

from ..analysis.coverage import CoverageJudge
from ..analysis.findings import Drift, Finding, order_findings
from ..analysis.impact import ImpactedMode, every_mode
from ..catalog import Catalog, default_catalog, load_catalog
from ..config import Settings
from ..loaders.alertmanager import load_alertmanager
from ..loaders.codeowners import load_codeowners
from ..loaders.grafana import with_contact_points
from ..loaders.service_map import ServiceMapLoad, load_service_maps
from ..model import AlertmanagerConfig, Diagnostic, InputError, ServiceMap, Skipped
from ..ruleset import RuleSet
from ..sharing import beside, worker_count
from . import screens
from .exits import UsageError
from .judging import judge_modes
from .output import report_errors
from .rulesource import build_rules, live_session, read_rules

if TYPE_CHECKING:
    import networkx as nx

    from ..analysis.orphans import Orphans
    from ..live.evidence import Evidence
    from ..live.session import LiveSession


@dataclass(slots=True)
class Inputs:
    """Everything loaded for an analysis, and every problem met while loading it."""

    ruleset: RuleSet
    alertmanager: AlertmanagerConfig | None
    service_map: ServiceMap
    catalog: Catalog
    errors: list[Diagnostic] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    # Live sources (issue 12): what the running system showed, and where it disagrees with the files.
    live: "LiveSession | None" = None
    evidence: "Evidence | None" = None
    drift: list[Drift] = field(default_factory=list)


def load_inputs(settings: Settings, every_rule: bool = True) -> Inputs:
    """The rules, maps, catalog and Alertmanager configuration. ``every_rule=False``: only the
    rules alerts read are expanded (``ruleset.read_by_alerts``): judging asks about no other."""
    if not settings.service_maps:
        raise UsageError("no service map given: use --service-map PATH or 'service_maps:' in coverage-audit.yaml")
    errors: list[Diagnostic] = []
    live = live_session(settings)
    other: list[tuple[Catalog, ServiceMapLoad, AlertmanagerConfig | None]] = []

    def meanwhile() -> None:
        """While workers start parsing the rule files: the catalog, the service maps (2,000
        services: 0.8 s), the Alertmanager configuration, and networkx, which impact walks (a
        fifth of a second to import)."""
        catalog = _optional(lambda: load_catalog(settings.catalog), errors) or default_catalog()
        import_module("..graph", __package__)
        maps = load_service_maps(settings.service_maps, catalog, settings.tiers)
        am_file = settings.alertmanager
        other.append((catalog, maps, _optional(lambda: load_alertmanager(am_file), errors) if am_file else None))

    rules = read_rules(settings, live, meanwhile)
    if not other:  # no rule files to parse
        meanwhile()
    catalog, loaded, alertmanager = other[0]
    ruleset = build_rules(settings, rules, every_rule)
    if alertmanager is not None:  # Grafana rules that name a contact point reach it
        alertmanager, contact_errors = with_contact_points(alertmanager, ruleset.rules)
        errors += contact_errors
    errors[:0] = ruleset.errors
    errors += loaded.errors
    service_map = loaded.service_map
    owners_file = settings.codeowners
    if owners_file:
        owners = _optional(lambda: load_codeowners(owners_file), errors)
        if owners is not None:
            service_map = replace(service_map, codeowners=owners, codeowners_file=owners_file)
    inputs = Inputs(ruleset, alertmanager, service_map, catalog, errors, list(loaded.warnings), live=live)
    if live is not None:
        inputs.alertmanager = live.alertmanager_config(alertmanager)
        inputs.evidence = live.evidence(ruleset, service_map)
        errors += [e for e in live.errors if e not in errors]  # a failed source is one line
        inputs.drift += live.drift
        live.errors.clear()
    gc.freeze()  # the service map too (see load_ruleset)
    if not service_map.services and not service_map.business_metrics:
        # Judging nothing would pass every gate ("No failure modes are impacted", exit 0).
        report_errors(errors, loaded.warnings)
        raise InputError(", ".join(settings.service_maps), 0, "the service map yields no services" + _why_nothing(loaded.files, loaded.skipped))
    return inputs


def impact_graph(inputs: Inputs) -> nx.DiGraph:
    """The graph impact walks: the map's services and dependencies, plus the calls the running
    system shows (``discovered`` edges, DESIGN 3.6)."""
    from ..graph import build_graph

    graph = build_graph(inputs.service_map, inputs.catalog, modes=False)
    add_discovered_edges(inputs, graph)
    return graph


def add_discovered_edges(inputs: Inputs, graph: nx.DiGraph) -> None:
    from ..graph import add_discovered

    if inputs.live is not None:
        for edge in inputs.live.discovery.edges:
            add_discovered(graph, edge.client, edge.server, edge.metric)


def require_rules(inputs: Inputs, settings: Settings) -> None:
    """``check`` with no rule at all is a wrong path, not a clean run with every mode a gap."""
    if inputs.ruleset.rules:
        return
    report_errors(inputs.errors, inputs.warnings)
    raise InputError(", ".join(settings.rules), 0, "the rules yield no alerting or recording rule" + _why_nothing(inputs.ruleset.files, inputs.ruleset.skipped))


def _why_nothing(files: int, skipped: list[Skipped]) -> str:
    """Why nothing came out of the files: none found, skipped ones (with why), or errors."""
    if not files:
        return " (no YAML file found there)"
    shown = "; ".join(f"{s.file}: {s.reason}" for s in skipped[:3])
    if len(skipped) > 3:
        shown += f"; and {len(skipped) - 3} more"
    return f" ({files} file(s) read; {shown})" if shown else f" ({files} file(s) read, with the errors above)"


def _optional(load: Callable[[], Any], errors: list[Diagnostic]) -> Any:
    """A file that cannot be read is an error for that file; the run goes on without it."""
    try:
        return load()
    except InputError as exc:
        errors.append(exc.diagnostic)
        return None


def judge_all(
    inputs: Inputs,
    settings: Settings,
    modes: list[ImpactedMode] | tuple[ImpactedMode, ...],
    progress: Callable[[int, int], None] | None = None,
) -> list[Finding]:
    """Judge each mode; ``progress(done, total)`` is called along the way when given.

    With live series evidence, a first (static) pass finds the alerts the verdicts rest on; their
    reads and the subjects' selectors are fetched in bulk; then the modes those alerts cover are
    judged again with the evidence (which can only take coverage away)."""
    evidence = inputs.evidence
    judge = make_judge(inputs, settings)
    two_passes = evidence is not None and evidence.has_series
    judge.evidence = None if two_passes else evidence
    workers = judging_workers(inputs, settings)
    kept = screens.recall(settings, judge)  # what screening found in earlier runs on these rules
    findings = judge_modes(judge, modes, workers, progress)
    screens.keep(kept, judge)
    if not two_passes:
        return findings
    assert evidence is not None and inputs.live is not None
    evidence.prefetch({a.rule: None for f in findings for a in f.alerts}, [(m.subject.name, m.target.selectors) for m in modes])
    inputs.errors += [e for e in evidence.errors if e not in inputs.errors]
    inputs.drift += [d for d in inputs.live.subject_drift(evidence) if d not in inputs.drift]
    judge.evidence = evidence
    return [
        judge.judge(mode.subject, mode.mode, mode.target, mode.impact) if finding.alerts else finding
        for finding, mode in zip(findings, modes)
    ]


def judging_workers(inputs: Inputs, settings: Settings) -> int:
    """Processes for the work after loading. A live session holds connections a fork must not
    share: with one, that work stays here."""
    return worker_count(settings.jobs) if inputs.live is None else 1


def find_orphans_beside(inputs: Inputs, settings: Settings) -> "Callable[[], Orphans]":
    """The orphans (``analysis.orphans``), worked out by a forked child while this process
    judges: they do not depend on the verdicts, and judging's first subject leaves a core idle."""
    from ..analysis.orphans import find_orphans

    return beside(lambda: find_orphans(inputs.ruleset, inputs.service_map, inputs.catalog), judging_workers(inputs, settings), inputs.ruleset.rules)


def make_judge(inputs: Inputs, settings: Settings, ruleset: RuleSet | None = None) -> CoverageJudge:
    """The judge for a run's settings (one place: check, report, draft and drill agree)."""
    return CoverageJudge(
        ruleset or inputs.ruleset,
        inputs.alertmanager,
        settings.budget,
        settings.evaluation_interval,
        scenario=settings.scenario,
        canary_selector=settings.canary_selector,
    )


def judge_everything(
    inputs: Inputs,
    settings: Settings,
    progress: Callable[[int, int], None] | None = None,
) -> list[Finding]:
    """Every failure mode of every subject in the service map (what a report shows)."""
    return order_findings(judge_all(inputs, settings, every_mode(inputs.service_map, inputs.catalog), progress))
