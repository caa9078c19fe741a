"""``coverage-audit draft``: drafts of the missing alerts, checked by the same judge as ``check``."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import replace
from typing import Any, Mapping

from .. import drafts
from ..analysis.findings import SEVERITY, Finding, Target
from ..analysis.impact import ImpactedMode, every_mode, impact_of
from ..analysis.in_use import InUse
from ..analysis.paths import PathIndex
from ..config import Settings
from ..loaders.rules import load_rules
from ..model import OutputError
from ..printable import printable
from ..reporters.table import format_table
from ..ruleset import build_ruleset
from .change import read_change
from .common import Inputs, impact_graph, judge_all, load_inputs, make_judge
from .exits import EXIT_ERROR, EXIT_GAPS, EXIT_OK, UsageError
from .output import report_errors, say, write_file_set, write_stdout


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
        write_stdout("".join(f"# --- {os.path.join(out, file.path)}\n{file.content}" for file in files))
        refused: list[str] = []
    else:
        refused = write_files(out, files, force=bool(args.get("force")))
    write_stdout(_summary(planned, verdicts, skipped, files, out, refused, bool(args.get("dry_run")), len(gaps)))
    report_errors(inputs.errors, inputs.warnings)
    for path in refused:
        say("error", f"{path}:0: exists; not overwritten (use --force)")
    if inputs.errors or refused:
        return EXIT_ERROR
    # DESIGN 7: a draft that does not come out covered (rejected by promtool too) exits 1
    return EXIT_GAPS if any(verdict.status != "covered" for verdict in verdicts.values()) else EXIT_OK


def _modes(inputs: Inputs, args: Mapping[str, Any]) -> tuple[list[ImpactedMode], str]:
    if args.get("all"):
        return every_mode(inputs.service_map, inputs.catalog), "--all"
    change = read_change(args)
    graph = impact_graph(inputs)
    impact = impact_of(change, inputs.service_map, inputs.catalog, graph, PathIndex(inputs.service_map))
    described = change.source + (": " + " ".join(change.paths or change.components) if change.source.startswith("--") else "")
    return list(impact.modes), described


PROMTOOL_SECONDS = 120


def verify(
    planned: list[drafts.Draft],
    files: list[drafts.DraftFile],
    inputs: Inputs,
    settings: Settings,
    targets: dict[str, Target],
) -> dict[tuple[str, str], Finding]:
    """Judge every drafted mode against the drafts alone: each must come out covered. A draft
    whose rule file does not load, or that promtool (when installed) rejects, is uncovered
    with promtool's own words, whatever the judge would say of it."""
    rule_files = [file for file in files if file.path.endswith(".rules.yaml")]
    with tempfile.TemporaryDirectory(prefix="coverage-audit-drafts-") as folder:
        for file in rule_files:
            with open(os.path.join(folder, file.path), "w", encoding="utf-8") as handle:
                handle.write(file.content)
        load = load_rules([folder], jobs=1)
        rejected = {os.path.basename(d.file): f"it does not load: {d.message}" for d in reversed(load.errors)}
        for name, complaint in _promtool_rejections(folder, [file.path for file in rule_files]).items():
            rejected.setdefault(name, complaint)
    judge = make_judge(inputs, settings, build_ruleset(load))
    verdicts = {}
    for d in planned:
        verdict = judge.judge(d.subject, d.mode, targets[d.subject.name], None)
        problem = rejected.get(f"{d.key}.rules.yaml")
        if problem is not None:
            verdict = replace(verdict, status="uncovered", alerts=(), reason=f"the drafted rule file {d.key}.rules.yaml is rejected: {problem}")
        verdicts[(d.subject.name, d.mode.id)] = verdict
    return verdicts


def _promtool_rejections(folder: str, names: list[str]) -> dict[str, str]:
    """``promtool check rules`` on the drafted rule files: file name -> its first complaint.
    Nothing when promtool is not installed (the drafts are then checked by our loader only)."""
    promtool = shutil.which("promtool")
    if promtool is None or not names:
        return {}
    try:
        done = subprocess.run(
            [promtool, "check", "rules", *names], cwd=folder, capture_output=True, text=True, errors="replace",
            timeout=PROMTOOL_SECONDS, check=False,
        )
    except subprocess.TimeoutExpired:
        return {name: f"promtool check rules took longer than {PROMTOOL_SECONDS}s" for name in names}
    except OSError as exc:
        return {name: f"promtool could not run: {exc.strerror or exc}" for name in names}
    rejected: dict[str, str] = {}
    for line in done.stderr.splitlines():
        name, colon, message = line.partition(": ")
        if colon and name in names and name not in rejected:
            rejected[name] = f"promtool: {message.strip()}"
    if done.returncode != 0 and not rejected:  # failed without naming a file: every file is suspect
        said = next((line.strip() for line in done.stderr.splitlines() if line.strip() and "FAILED" not in line), "failed")
        rejected = {name: f"promtool: {said}" for name in names}
    return rejected


def write_files(out: str, files: list[drafts.DraftFile], force: bool) -> list[str]:
    """Write the drafts as one set (all or none); an existing file is left alone unless
    ``force``. Returns the paths left alone."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise OutputError(out, "it is a file, not a folder")
    refused = [os.path.join(out, file.path) for file in files if os.path.lexists(os.path.join(out, file.path)) and not force]
    chosen = {file.path: file.content for file in files if os.path.join(out, file.path) not in refused}
    if chosen:
        write_file_set(out, chosen)
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
    table = format_table(("SUBJECT", "MODE", "SHAPE", "ALERT", "AS DRAFTED", "METRIC", "ROUTING"), rows, (0, 0, 0, 0, 0, 0, 80))
    verb = "Would write" if dry_run else "Wrote"
    written = [f.path for f in files if os.path.join(out, f.path) not in refused]
    lines = ["", f"{verb} {len(written)} files to {out}/: {', '.join(written)}"]
    if refused:
        lines.append(f"Left {len(refused)} existing files alone (use --force to overwrite): {', '.join(refused)}")
    not_covered = [f"{key[0]} {key[1]}: {v.reason}" for key, v in verdicts.items() if v.status != "covered"]
    if not_covered:
        lines.append("Drafts that would still not be covered (review their routing or the budget):")
        lines.extend(f"  {line}" for line in not_covered)
    unverified = [d for d in planned if d.unverified]
    if unverified:
        lines.append(
            f"{len(unverified)} drafts watch a metric unverified: nothing in the service map, the live series or "
            "the rule set shows it (said in each alert's coverage_audit_metric annotation); check these exist:"
        )
        lines.extend(f"  {d.subject.name} {d.mode.id}: {d.bad}" for d in unverified)
    if skipped:
        lines.append("Not drafted:")
        lines.extend(f"  {line}" for line in skipped)
    lines.append(f"Run: promtool test rules {out}/*rules_test.yaml")
    # the table's cells are printable already; every other line is made so, one line each
    return "\n".join([table, *(printable(line, keep_lines=False) for line in lines)]) + "\n"
