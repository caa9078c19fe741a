"""The commands: load -> model -> analysis -> render, and the exit code.

Input problems found while loading are printed to stderr one per line (``file:line: message``),
kept in the output, and make the exit code 2 once the run has completed for everything else.
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Any, Mapping

from .analysis.inventory import build_inventory
from .config import Settings
from .levels import default_levels
from .loaders.rules import load_rules
from .model import Diagnostic
from .reporters import json as json_reporter
from .reporters import markdown, text
from .ruleset import RuleSet, build_ruleset

EXIT_OK, EXIT_GAPS, EXIT_ERROR = 0, 1, 2


class UsageError(Exception):
    """A request that cannot be run as given (missing inputs, bad combination)."""


def run(command: str, settings: Settings, args: Mapping[str, Any]) -> int:
    if command == "rules":
        return rules(settings)
    raise UsageError(f"the {command!r} command is not available yet")


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
    }
    fmt = settings.format if settings.format in renderers else "text"
    write_output(renderers[fmt](inventory), settings.output)
    report_errors(inventory.errors)
    return EXIT_ERROR if inventory.errors else EXIT_OK


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
