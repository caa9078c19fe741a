"""``coverage-audit report``: every failure mode of every subject as HTML, Markdown, JSON and
metrics, with the trend from ``DIR/history.sqlite``."""

from __future__ import annotations

import os
from typing import Any, Mapping

from ..analysis.findings import CoverageReport, Summary
from ..analysis.inventory import not_judged
from ..config import Settings
from ..model import InputError
from ..reporters import json as json_reporter
from ..reporters import markdown, text
from ..sharing import beside
from .adoption import settle
from .common import find_orphans_beside, judge_everything, judging_workers, load_inputs
from .exits import EXIT_ERROR, EXIT_GAPS, EXIT_OK, UsageError
from .output import check_writable, report_errors, say, write_file_set, write_output

TREND_RUNS = 52  # a year of weekly reports


def report(settings: Settings, args: Mapping[str, Any]) -> int:
    """Every failure mode of every subject as HTML, Markdown, JSON and metrics; the run is
    appended to ``DIR/history.sqlite`` for the trend and the changes since the previous run.

    The four files are written as one set (all or none: ``write_file_set``); the checks that
    can fail without judging anything (the folder takes files, the Pushgateway URL) come
    first, so a long run never ends in a usage error."""
    # Imported here: only this command needs jinja2, prometheus-client and sqlite.
    from datetime import datetime, timezone

    from ..analysis.overview import build_overview, run_of
    from ..history import FILENAME, History, open_history
    from ..progress import Progress
    from ..pushgateway import PushError, push
    from ..reporters import html, metrics

    if args.get("prove"):
        from .prove import require_promtool

        require_promtool()
    out = args.get("out") or "reports"
    fail_on = args.get("fail_on") or "never"  # the report's default; check's is "uncovered"
    gateway = _gateway(settings, args.get("push_gateway"))
    check_writable(out)
    inputs = load_inputs(settings, every_rule=False)  # judging reads alerts and what they read
    orphans = find_orphans_beside(inputs, settings)
    with Progress("judging failure modes") as progress:
        judged = judge_everything(inputs, settings, progress)
    keep_error = None
    if args.get("prove"):  # the measurement overrules the model before waivers and baselines apply
        from ..analysis.impact import every_mode
        from .prove import prove, write_kept

        judged, measured = prove(judged, every_mode(inputs.service_map, inputs.catalog), inputs, settings, args, (settings.scenario,))
        _, keep_error = write_kept(args, measured)
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    errors = list(inputs.errors)
    settled = settle(judged, settings, args, errors)  # every mode is judged: no map keys needed
    findings = list(settled.findings)
    history: History | None = None
    try:
        history = open_history(out)
        previous, past = history.previous(), history.trend(TREND_RUNS - 1)
    except InputError as exc:  # never overwritten: this run reports without its past, and says so
        errors.append(exc.diagnostic)
        if history is not None:
            history.close()
            history = None
        previous, past = None, []
    try:
        overview = build_overview(findings, started_at, settings.budget, previous, past)
        result = CoverageReport(
            findings=tuple(findings),
            summary=Summary.of(findings),
            budget=settings.budget,
            errors=tuple(errors),
            routing_checked=inputs.alertmanager is not None,
            drift=tuple(inputs.drift),
            waivers=settled.waivers,
            baseline=settled.baseline,
            not_judged=not_judged(inputs.ruleset.rules),
            orphans=orphans(),
            scenario=settings.scenario,
        )
        # The page, the largest document, is rendered by a forked child meanwhile.
        page = beside(lambda: html.render_report(result, overview), judging_workers(inputs, settings))
        others = {
            "report.md": markdown.render_report(result, overview),
            "report.json": json_reporter.render_report(result, overview),
        }
        exposition = metrics.exposition(metrics.build_registry(result, overview))
        documents = {"index.html": page(), **others}
        write_file_set(out, {**documents, "coverage.prom": exposition})
        history_note = "not updated (see the error)"
        if history is not None:
            try:
                history.append(run_of(findings, started_at, settings.budget))
                history_note = f"{history.count()} run(s) in {os.path.join(out, FILENAME)}"
            except InputError as exc:  # busy or full: the files stand, the history says so
                errors.append(exc.diagnostic)
    finally:
        if history is not None:
            history.close()

    pushed, push_error = None, None
    if gateway is not None:
        try:
            push(gateway, exposition, metrics.CONTENT_TYPE, settings.timeout)
            pushed = gateway.url
        except PushError as exc:
            push_error = f"{gateway.url}: pushing the metrics failed: {exc}"

    if settings.format == "markdown":
        write_output(documents["report.md"], settings.output)
    elif settings.format == "json":
        write_output(documents["report.json"], settings.output)
    else:
        written = [os.path.join(out, name) for name in (*documents, "coverage.prom")]
        write_output(text.render_report_summary(overview, written, history_note, pushed, result), settings.output)
    report_errors(errors, inputs.warnings)
    for message in (push_error, keep_error):
        if message:
            say("error", message)
    if errors or push_error or keep_error:
        return EXIT_ERROR
    return EXIT_GAPS if result.at_or_above(fail_on) else EXIT_OK


def _gateway(settings: Settings, flag: str | None) -> Any:
    """The Pushgateway endpoint, checked before any work: a bad URL is a usage error."""
    from ..pushgateway import gateway

    try:
        return gateway(flag, settings.push_gateway)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
