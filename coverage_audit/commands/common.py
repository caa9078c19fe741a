"""What every command shares: loading the inputs, reading the change, judging failure modes."""

from __future__ import annotations

import gc
import os
import sys
from concurrent.futures import Executor
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

from ..analysis.coverage import CoverageJudge
from ..analysis.findings import Finding, order_findings
from ..analysis.impact import ImpactedMode, every_mode
from ..catalog import Catalog, default_catalog, load_catalog
from ..config import Settings
from ..levels import default_levels
from ..loaders.alertmanager import load_alertmanager
from ..loaders.changes import git_changed_paths, normalise_path, read_changed_paths
from ..loaders.codeowners import load_codeowners
from ..loaders.rules import PARALLEL_FROM_FILES, RuleLoad, discover, load_rules, worker_pool
from ..loaders.service_map import load_service_maps
from ..model import AlertmanagerConfig, Change, Diagnostic, InputError, ServiceMap
from ..ruleset import RuleSet, build_ruleset

EXIT_OK, EXIT_GAPS, EXIT_ERROR = 0, 1, 2


class UsageError(Exception):
    """A request that cannot be run as given (missing inputs, bad combination)."""


@dataclass(slots=True)
class Inputs:
    """Everything loaded for an analysis, and every problem met while loading it."""

    ruleset: RuleSet
    alertmanager: AlertmanagerConfig | None
    service_map: ServiceMap
    catalog: Catalog
    errors: list[Diagnostic] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)


def load_ruleset(settings: Settings) -> RuleSet:
    return build_rules(settings, read_rules(settings))


def read_rules(settings: Settings, pool: Executor | None = None) -> RuleLoad:
    if not settings.rules:
        raise UsageError("no rules given: use --rules PATH or 'rules:' in coverage-audit.yaml")
    loaded = load_rules(settings.rules, jobs=settings.jobs, pool=pool)
    # What is loaded lives until the end of the run: freeze it out of the cyclic collector, so
    # that later allocations do not rescan millions of objects (seconds on large rule sets).
    gc.freeze()
    return loaded


def build_rules(settings: Settings, loaded: RuleLoad) -> RuleSet:
    classifier = default_levels().extended(
        prefixes=settings.infrastructure_prefixes, application_prefixes=settings.application_prefixes
    )
    ruleset = build_ruleset(loaded, classifier)
    gc.freeze()
    return ruleset


def load_inputs(settings: Settings) -> Inputs:
    if not settings.service_maps:
        raise UsageError("no service map given: use --service-map PATH or 'service_maps:' in coverage-audit.yaml")
    errors: list[Diagnostic] = []
    catalog = _optional(lambda: load_catalog(settings.catalog), errors) or default_catalog()
    workers = settings.jobs or os.cpu_count() or 1
    parallel = workers > 1 and len(discover(settings.rules)) >= PARALLEL_FROM_FILES
    with worker_pool(workers - 1) if parallel else nullcontext() as pool:
        rules = read_rules(settings, pool)
        # The workers are free again: one reads the service maps while this process expands
        # the rule set and reads the Alertmanager configuration.
        maps = pool.submit(load_service_maps, settings.service_maps, catalog, settings.tiers) if pool else None
        ruleset = build_rules(settings, rules)
        am_file = settings.alertmanager
        alertmanager = _optional(lambda: load_alertmanager(am_file), errors) if am_file else None
        loaded = maps.result() if maps else load_service_maps(settings.service_maps, catalog, settings.tiers)
    errors[:0] = ruleset.errors
    errors += loaded.errors
    service_map = loaded.service_map
    owners_file = settings.codeowners
    if owners_file:
        owners = _optional(lambda: load_codeowners(owners_file), errors)
        if owners is not None:
            service_map = replace(service_map, codeowners=owners, codeowners_file=owners_file)
    gc.freeze()  # the service map too (see load_ruleset)
    return Inputs(ruleset, alertmanager, service_map, catalog, errors, list(loaded.warnings))


def _optional(load: Callable[[], Any], errors: list[Diagnostic]) -> Any:
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


def judge_all(
    inputs: Inputs,
    settings: Settings,
    modes: list[ImpactedMode] | tuple[ImpactedMode, ...],
    progress: Callable[[int, int], None] | None = None,
) -> list[Finding]:
    """Judge each mode; ``progress(done, total)`` is called along the way when given."""
    judge = make_judge(inputs, settings)
    findings = []
    for index, mode in enumerate(modes):
        findings.append(judge.judge(mode.subject, mode.mode, mode.target, mode.impact))
        if progress is not None:
            progress(index + 1, len(modes))
    return findings


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
