"""``coverage-audit draft``: drafts of the missing alerts, checked by the same judge as ``check``."""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Any, Mapping

from .. import drafts
from ..analysis.findings import SEVERITY, Finding, Target
from ..analysis.impact import ImpactedMode, every_mode, impact_of
from ..analysis.in_use import InUse
from ..analysis.paths import PathIndex
from ..config import Settings
from ..loaders.rules import load_rules
from ..reporters.table import format_table
from ..ruleset import build_ruleset
from .common import EXIT_ERROR, EXIT_OK, Inputs, UsageError, impact_graph, judge_all, load_inputs, make_judge, read_change
from .output import report_errors, write_atomically


def draft(settings: Settings, args: Mapping[str, Any]) -> int:
    inputs = load_inputs(settings)
    modes, source = _modes(inputs, args)
    threshold = SEVERITY["weak" if settings.fail_on == "weak" else "uncovered"]
    judged = judge_all(inputs, settings, modes)
    gaps = [f for f in judged if SEVERITY[f.status] >= threshold]
    matchers = {m.subject.name: m.service_matchers for m in modes}
    # Seen live (DESIGN 3.5): the metric names the subject's series carry, when --prometheus gave series.
    live = inputs.evidence.families if inputs.evidence is not None and inputs.evidence.has_series else None
    in_use = InUse.build(inputs.service_map, (m for metrics in inputs.ruleset.raw_metrics.values() for m in metrics), live)
    try:
        policy = drafts.default_policy().with_overrides(settings.drafts)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    planned, skipped = drafts.plan(
        gaps, matchers, inputs.alertmanager, settings.budget, settings.evaluation_interval, source, in_use,
        inputs.ruleset.classifier.is_infrastructure, inputs.ruleset.records.by_name, policy,
        {m.subject.name: m.target.owns for m in modes},
    )
    fmt = settings.format if settings.format in ("prometheus", "prometheusrule") else "prometheus"
    files = drafts.render(planned, fmt)
    verdicts = verify(planned, files, inputs, settings, {m.subject.name: m.target for m in modes})
    out = args.get("out") or "drafts"
    if args.get("dry_run"):
        for file in files:
            sys.stdout.write(f"# --- {os.path.join(out, file.path)}\n{file.content}")
        refused: list[str] = []
    else:
        refused = write_files(out, files, force=bool(args.get("force")))
    sys.stdout.write(_summary(planned, verdicts, skipped, files, out, refused, bool(args.get("dry_run")), len(gaps)))
    report_errors(inputs.errors, inputs.warnings)
    for path in refused:
        print(f"coverage-audit: error: {path}:0: exists; not overwritten (use --force)", file=sys.stderr)
    return EXIT_ERROR if inputs.errors or refused else EXIT_OK


def _modes(inputs: Inputs, args: Mapping[str, Any]) -> tuple[list[ImpactedMode], str]:
    if args.get("all"):
        return every_mode(inputs.service_map, inputs.catalog), "--all"
    change = read_change(args)
    graph = impact_graph(inputs)
    impact = impact_of(change, inputs.service_map, inputs.catalog, graph, PathIndex(inputs.service_map))
    described = change.source + (": " + " ".join(change.paths or change.components) if change.source.startswith("--") else "")
    return list(impact.modes), described


def verify(
    planned: list[drafts.Draft],
    files: list[drafts.DraftFile],
    inputs: Inputs,
    settings: Settings,
    targets: dict[str, Target],
) -> dict[tuple[str, str], Finding]:
    """Judge every drafted mode against the drafts alone: each must come out covered."""
    with tempfile.TemporaryDirectory(prefix="coverage-audit-drafts-") as folder:
        for file in files:
            if file.path.endswith(".rules.yaml"):
                with open(os.path.join(folder, file.path), "w", encoding="utf-8") as handle:
                    handle.write(file.content)
        load = load_rules([folder], jobs=1)
    if load.errors:  # a template bug, not an input problem: say so loudly
        raise RuntimeError(f"drafted rules do not load: {load.errors[0]}")
    judge = make_judge(inputs, settings, build_ruleset(load))
    return {(d.subject.name, d.mode.id): judge.judge(d.subject, d.mode, targets[d.subject.name], None) for d in planned}


def write_files(out: str, files: list[drafts.DraftFile], force: bool) -> list[str]:
    """Write each file atomically; an existing file is left alone unless ``force``."""
    refused = []
    for file in files:
        path = os.path.join(out, file.path)
        if os.path.exists(path) and not force:
            refused.append(path)
            continue
        write_atomically(path, file.content)
    return refused


def _summary(
    planned: list[drafts.Draft],
    verdicts: dict[tuple[str, str], Finding],
    skipped: list[str],
    files: list[drafts.DraftFile],
    out: str,
    refused: list[str],
    dry_run: bool,
    gaps: int,
) -> str:
    if not planned:
        return f"No drafts: {gaps} failure modes at or above --fail-on, none draftable.\n" if gaps else "No gaps at or above --fail-on: nothing to draft.\n"
    rows = []
    for d in planned:
        verdict = verdicts[(d.subject.name, d.mode.id)]
        rows.append((d.subject.name, d.mode.id, d.shape, d.alert, verdict.status, "metric unverified" if d.unverified else d.metric, d.routing_note))
    lines = [format_table(("SUBJECT", "MODE", "SHAPE", "ALERT", "AS DRAFTED", "METRIC", "ROUTING"), rows, (0, 0, 0, 0, 0, 0, 80))]
    unverified = [d for d in planned if d.unverified]
    if unverified:
        lines.append(
            f"\n{len(unverified)} drafts watch a metric unverified: nothing in the service map, the live series or "
            "the rule set shows it (said in each alert's coverage_audit_metric annotation); check these exist:"
        )
        lines.extend(f"  {d.subject.name} {d.mode.id}: {d.bad}" for d in unverified)
    verb = "Would write" if dry_run else "Wrote"
    written = [f.path for f in files if os.path.join(out, f.path) not in refused]
    lines.append(f"\n{verb} {len(written)} files to {out}/: {', '.join(written)}")
    if refused:
        lines.append(f"Left {len(refused)} existing files alone (use --force to overwrite): {', '.join(refused)}")
    not_covered = [f"{key[0]} {key[1]}: {v.reason}" for key, v in verdicts.items() if v.status != "covered"]
    if not_covered:
        lines.append("Drafts that would still not be covered (review their routing or the budget):")
        lines.extend(f"  {line}" for line in not_covered)
    if skipped:
        lines.append("Not drafted:")
        lines.extend(f"  {line}" for line in skipped)
    lines.append(f"Run: promtool test rules {out}/*rules_test.yaml")
    return "\n".join(lines) + "\n"
