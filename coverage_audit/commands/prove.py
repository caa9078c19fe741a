"""The drill step of ``drill``, ``check --prove`` and ``report --prove``: drill the alerts the
verdicts rest on, let the measurement overrule the model, keep the files on request."""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

from ..analysis.findings import AlertCoverage, Finding, order_findings
from ..analysis.impact import ImpactedMode
from ..analysis.routing import first_notice_wait
from ..config import Settings
from ..drill import Measured, Options, PromtoolMissing, drill, overrule, verdicts
from ..drill.engine import find_promtool
from ..scenarios import SCENARIOS
from .common import Inputs, UsageError
from .output import write_atomically


def require_promtool() -> None:
    """Checked before any work: without the real engine nothing can be proven."""
    if find_promtool() is None:
        raise UsageError("promtool is not installed (Debian: apt-get install prometheus): drilling needs the real Prometheus engine")


def drill_scenarios(args: Mapping[str, Any], settings: Settings) -> tuple[str, ...]:
    """``--scenario all`` drills every scenario; otherwise the judged one."""
    return SCENARIOS if args.get("scenario") == "all" else (settings.scenario,)


def prove(
    findings: Sequence[Finding],
    modes: Sequence[ImpactedMode],
    inputs: Inputs,
    settings: Settings,
    args: Mapping[str, Any],
    scenarios: Sequence[str],
) -> tuple[list[Finding], Measured]:
    """The findings, overruled by what the drill measured, and what it measured."""
    options = Options(
        scenarios=tuple(scenarios),
        budget=settings.budget,
        evaluation_interval=settings.evaluation_interval,
        canary_selector=settings.canary_selector,
        jobs=settings.jobs,
        time_limit=args.get("drill_timeout"),
        keep=bool(args.get("keep")),
    )
    try:
        measured = drill(verdicts(findings, modes), inputs.ruleset, options)
    except PromtoolMissing as exc:
        raise UsageError(str(exc)) from None
    alertmanager = inputs.alertmanager

    def notice_wait(alert: AlertCoverage) -> float:
        return first_notice_wait(alertmanager, dict(alert.labels)) if alertmanager is not None else 0.0

    proven = order_findings(overrule(findings, measured.results, settings.scenario, settings.budget, notice_wait))
    return proven, measured


def write_kept(args: Mapping[str, Any], measured: Measured) -> tuple[list[str], str | None]:
    """``--keep DIR``: every file, or none and an error line (an existing file is never
    overwritten)."""
    folder = args.get("keep")
    if not folder:
        return [], None
    paths = {os.path.join(folder, name): content for name, content in measured.kept.items()}
    existing = sorted(path for path in paths if os.path.exists(path))
    if existing:
        return [], f"{existing[0]}:0: exists; --keep never overwrites (choose an empty folder)"
    written: list[str] = []
    try:
        for path, content in paths.items():
            write_atomically(path, content)
            written.append(path)
    except OSError as exc:
        for path in written:  # all or nothing: a half set of drill files would mislead
            os.unlink(path)
        return [], f"{folder}:0: cannot write the drill files: {exc.strerror or exc}"
    return sorted(written), None