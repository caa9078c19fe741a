"""Command line: argparse wiring only; the commands live in ``commands``."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from typing import Sequence

from . import __version__, background, commands
from .commands import EXIT_ERROR
from .commands.output import closed_streams, say
from .config import FAIL_ON, load_config, merge, with_live_flags
from .durations import parse_duration
from .model import InputError, OutputError
from .scenarios import SCENARIOS


EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 15m or 1h30m") from None


def _positive_duration(text: str) -> float:
    seconds = _duration(text)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be longer than 0s")
    return seconds


def _live(parser: argparse.ArgumentParser) -> None:
    live = parser.add_argument_group("live sources (credentials only from the config file)")
    live.add_argument("--prometheus", metavar="URL", help="Prometheus, Thanos, Mimir or Cortex: its rules and the series that exist")
    live.add_argument("--alertmanager-url", metavar="URL", help="a running Alertmanager: its configuration and active silences")
    live.add_argument("--lookback", type=_positive_duration, metavar="DURATION", help="how far back a series counts as existing (default 7d)")
    live.add_argument("--timeout", type=_positive_duration, metavar="DURATION", help="per request to a live source (default 30s)")
    live.add_argument("--offline", action="store_true", help="ignore every live source the config file names")


def _jobs(text: str) -> int:
    try:
        jobs = int(text)
    except ValueError:
        jobs = 0
    if jobs < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes (1 or more)")
    return jobs


def _common(parser: argparse.ArgumentParser, formats: Sequence[str]) -> None:
    inputs = parser.add_argument_group("inputs (flags win over the config file)")
    inputs.add_argument("--rules", nargs="+", action="extend", metavar="PATH", help="rule files or folders (repeatable)")
    inputs.add_argument("--alertmanager", metavar="FILE", help="Alertmanager configuration (or a Secret holding it)")
    inputs.add_argument("--service-map", dest="service_maps", nargs="+", action="extend", metavar="PATH",
                        help="service map or Backstage catalog files or folders (repeatable)")
    inputs.add_argument("--codeowners", metavar="FILE", help="CODEOWNERS file mapping paths to owners")
    inputs.add_argument("--catalog", metavar="FILE", help="failure-mode catalog extending the bundled one")
    inputs.add_argument("--config", metavar="FILE", help="settings file (default: ./coverage-audit.yaml if present)")
    inputs.add_argument("--evaluation-interval", type=_duration, metavar="DURATION",
                        help="rule evaluation interval for groups without one (default 1m)")
    inputs.add_argument("--jobs", type=_jobs, metavar="N", help="processes for parsing, expanding and judging large rule sets (default and most: the CPUs)")
    inputs.add_argument("--cache-dir", metavar="DIR",
                        help="cache of parsed rule files (default: $XDG_CACHE_HOME/coverage-audit or ~/.cache/coverage-audit)")
    inputs.add_argument("--no-cache", action="store_true", help="parse every rule file; read and write no cache")
    _live(parser)
    output = parser.add_argument_group("output")
    output.add_argument("--format", choices=formats, default=None, help=f"output format (default {formats[0]})")
    output.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    output.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="print the traceback of an unexpected error")


def _change(parser: argparse.ArgumentParser, scenarios: Sequence[str] = SCENARIOS) -> None:
    change = parser.add_argument_group("the change")
    which = change.add_mutually_exclusive_group()
    which.add_argument("--changed", nargs="+", action="extend", metavar="PATH", help="changed file paths (repeatable)")
    which.add_argument("--changed-from", metavar="FILE", help="file with one changed path per line ('-': stdin)")
    which.add_argument("--git-range", metavar="BASE..HEAD", help="paths changed between two git revisions")
    which.add_argument("--component", nargs="+", action="extend", metavar="SERVICE/COMPONENT", help="changed components by name (repeatable)")
    change.add_argument("--repo", default=".", metavar="DIR", help="git repository for --git-range (default .)")
    parser.add_argument("--budget", type=_duration, metavar="DURATION", help="time-to-detect budget (default 15m)")
    parser.add_argument("--fail-on", choices=FAIL_ON, default=None, help="exit 1 at this status or worse (default uncovered)")
    _scenario(parser, scenarios)


def _adoption(parser: argparse.ArgumentParser) -> None:
    """What a team needs to live with the gate in CI (DESIGN 5.4, issue 13)."""
    parser.add_argument("--waivers", metavar="FILE", help="accepted gaps: {subject, failure_mode, reason, owner, expires}")
    parser.add_argument("--baseline", metavar="FILE",
                        help="a previous report.json or check --format json: --fail-on counts only new or worse findings")


def _scenario(parser: argparse.ArgumentParser, scenarios: Sequence[str] = SCENARIOS) -> None:
    if "all" in scenarios:
        text = "scenarios to drill: outage, partial, canary or all; verdicts judge the configured one (default outage)"
    else:
        text = "the failure verdicts are judged against: outage, partial or canary (default outage)"
    parser.add_argument("--scenario", choices=scenarios, default=None, help=text)


def _drill_options(parser: argparse.ArgumentParser, prove: bool) -> None:
    drill = parser.add_argument_group("drill (DESIGN 5.2: the real Prometheus engine)")
    if prove:
        drill.add_argument("--prove", action="store_true",
                           help="also drill every alert a verdict rests on, and let the measurement overrule the model")
    drill.add_argument("--keep", metavar="DIR",
                       help="write the drills' rule and promtool test files to DIR (rerun: promtool test rules DIR/*.test.yaml)")
    drill.add_argument("--drill-timeout", type=_duration, metavar="DURATION",
                       help="limit of one drill in the engine's CPU time (default 2m); past it the alert is reported as not drilled")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coverage-audit",
        description="What would this change break, and do I have an alert for that?",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="print the traceback of an unexpected error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    check = sub.add_parser("check", help="pre-deploy query: a change -> failure modes -> covering alerts or gaps")
    _common(check, ("text", "markdown", "json", "sarif"))
    _change(check)
    _adoption(check)
    _drill_options(check, prove=True)

    draft = sub.add_parser("draft", help="write rule drafts (+ promtool tests) for failure modes that lack an alert")
    _common(draft, ("prometheus", "prometheusrule"))
    _change(draft)
    draft.add_argument("--all", action="store_true", help="every failure mode in the service map, not a change")
    draft.add_argument("--out", default="drafts", metavar="DIR", help="folder to write into (default drafts/)")
    draft.add_argument("--dry-run", action="store_true", help="print what would be written; write nothing")
    draft.add_argument("--force", action="store_true", help="overwrite existing files")

    report = sub.add_parser("report", help="periodic coverage report of the whole service map")
    _common(report, ("text", "markdown", "json"))
    report.add_argument("--out", default="reports", metavar="DIR", help="folder for the report (default reports/)")
    report.add_argument("--budget", type=_duration, metavar="DURATION", help="time-to-detect budget (default 15m)")
    report.add_argument("--push-gateway", metavar="URL", help="also push the coverage metrics to a Pushgateway")
    report.add_argument("--fail-on", choices=FAIL_ON, default=None, help="exit 1 at this status or worse (default never)")
    _scenario(report)
    _adoption(report)
    _drill_options(report, prove=True)

    drill = sub.add_parser("drill", help="prove coverage: replay each failure through the real Prometheus engine")
    _common(drill, ("text", "markdown", "json", "sarif"))
    _change(drill, (*SCENARIOS, "all"))
    drill.add_argument("--all", action="store_true", help="every failure mode in the service map, not a change")
    _adoption(drill)
    _drill_options(drill, prove=False)

    rules = sub.add_parser("rules", help="inventory of every parsed rule, with the metrics it watches")
    _common(rules, ("text", "json", "markdown", "sarif"))

    graph = sub.add_parser("graph", help="export the service / failure-mode / alert graph")
    _common(graph, ("json", "graphml", "dot", "mermaid"))

    init = sub.add_parser("init", help="write a first service map from a repository and a running Prometheus")
    init.add_argument("--repo", default=".", metavar="DIR", help="the repository to read (default .)")
    init.add_argument("--out", required=True, metavar="FILE", help="where to write the map (never overwritten)")
    init.add_argument("--config", metavar="FILE", help="settings file (default: ./coverage-audit.yaml if present)")
    init.add_argument("--catalog", metavar="FILE", help="failure-mode catalog extending the bundled one")
    _live(init)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit code. Nothing escapes as a traceback: an unexpected error is
    one line and exit 2, never 1 (which means "gaps found" to CI)."""
    parser = build_parser()
    args = parser.parse_args(_grouped(sys.argv[1:] if argv is None else argv))
    try:
        return _run(args)
    finally:
        background.wait()  # the cache entries this run writes are whole when it returns


_LISTS = ("--rules", "--service-map", "--changed", "--component")  # flags taking several values


def _grouped(argv: Sequence[str]) -> list[str]:
    """``--rules a --rules b`` as ``--rules a b`` (the same list): argparse looks through every
    flag left each time it meets one, so a flag per file (as scripts write them) cost O(n²):
    a tenth of a second for 1,300 files, seconds for ten thousand. Stops at ``--``; a value
    that looks like a flag is left for argparse to refuse as before."""
    grouped: list[str] = []
    last = None  # the list flag whose values end ``grouped`` so far
    position = 0
    while position < len(argv):
        item = argv[position]
        if item == "--":
            grouped += argv[position:]
            break
        value = argv[position + 1] if position + 1 < len(argv) else None
        if item in _LISTS and value is not None and not value.startswith("-"):
            if item != last:
                grouped.append(item)
            grouped.append(value)
            last = item
            position += 2
            continue
        grouped.append(item)
        last = item if item in _LISTS else None
        position += 1
    return grouped


def _run(args: argparse.Namespace) -> int:
    command = args.command
    try:
        settings = merge(
            load_config(args.config),
            rules=getattr(args, "rules", None),
            alertmanager=getattr(args, "alertmanager", None),
            service_maps=getattr(args, "service_maps", None),
            codeowners=getattr(args, "codeowners", None),
            catalog=args.catalog,
            evaluation_interval=getattr(args, "evaluation_interval", None),
            budget=getattr(args, "budget", None),
            fail_on=getattr(args, "fail_on", None),
            scenario=getattr(args, "scenario", None) if getattr(args, "scenario", None) != "all" else None,
            format=getattr(args, "format", None),
            output=getattr(args, "output", None),
            jobs=getattr(args, "jobs", None),
            lookback=getattr(args, "lookback", None),
            timeout=getattr(args, "timeout", None),
            waivers=getattr(args, "waivers", None),
            cache_dir=getattr(args, "cache_dir", None),
            no_cache=getattr(args, "no_cache", False) or None,
        )
        try:
            settings = with_live_flags(settings, getattr(args, "prometheus", None), getattr(args, "alertmanager_url", None), bool(getattr(args, "offline", False)))
        except ValueError as exc:
            raise commands.UsageError(str(exc)) from None
        return commands.run(command, settings, vars(args))
    except (InputError, OutputError, commands.UsageError) as exc:
        say("error", exc)
        return EXIT_ERROR
    except KeyboardInterrupt:
        say("error", f"{command}: interrupted")
        return EXIT_INTERRUPTED
    except MemoryError:
        say("error", f"{command}: out of memory")
        return EXIT_ERROR
    except Exception as exc:  # a bug: say so, in one line, and never exit 1
        if getattr(args, "debug", False):
            traceback.print_exc()
        detail = " ".join(str(exc).split())[:300]
        say(
            "error",
            f"{command} failed unexpectedly ({type(exc).__name__}{': ' + detail if detail else ''}); "
            "this is a bug in coverage-audit, please report it with the output of --debug",
        )
        return EXIT_ERROR


def console_main() -> None:
    guard_standard_streams()
    try:
        code = main()
    except KeyboardInterrupt:  # during argument parsing
        code = EXIT_INTERRUPTED
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()  # type: ignore[union-attr]
    # Skip tearing down a large rule set object by object (a second or more on 50,000 rules):
    # every file is written and closed by now.
    os._exit(code)


def guard_standard_streams() -> None:
    """A standard stream closed at start (``>&-``) would let the first file the run opens take
    its descriptor, and output meant for the terminal would land in that file. Put /dev/null
    there and remember the stream was closed: writing to it is then an error, not a mix-up."""
    for descriptor in (0, 1, 2):
        try:
            os.fstat(descriptor)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != descriptor:
                os.dup2(null, descriptor)
                os.close(null)
            closed_streams.add(descriptor)
