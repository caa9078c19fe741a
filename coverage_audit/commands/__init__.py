"""The commands: load -> model -> analysis -> render, and the exit code (one module each).

Input problems found while loading are printed to stderr one per line (``file:line: message``),
kept in the output, and make the exit code 2 once the run has completed for everything else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from ..config import Settings
from .exits import EXIT_ERROR, EXIT_GAPS, EXIT_OK, UsageError
from .output import report_errors, say, write_atomically, write_output

if TYPE_CHECKING:
    from .change import read_change
    from .common import Inputs, judge_all, judge_everything, load_inputs
    from .rulesource import load_ruleset

__all__ = [
    "EXIT_ERROR", "EXIT_GAPS", "EXIT_OK", "Inputs", "UsageError", "judge_all", "judge_everything",
    "load_inputs", "load_ruleset", "read_change", "report_errors", "run", "say", "write_atomically", "write_output",
]
_LAZY = {"Inputs": "common", "judge_all": "common", "judge_everything": "common", "load_inputs": "common",
         "read_change": "change", "load_ruleset": "rulesource"}  # fmt: skip


def __getattr__(name: str) -> Any:
    """The analysis is imported when a name that needs it is first used, so that ``rules`` (and
    ``--help``) start without networkx, the judge and the service-map loaders."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{module}"), name)


def run(command: str, settings: Settings, args: Mapping[str, Any]) -> int:
    # Each command's module is imported when it runs: `check` should not pay for the report's
    # Jinja2, prometheus-client and sqlite imports.
    if command == "check":
        from .check import check

        return check(settings, args)
    if command == "draft":
        from .draft import draft

        return draft(settings, args)
    if command == "report":
        from .report import report

        return report(settings, args)
    if command == "drill":
        from .drill import drill

        return drill(settings, args)
    if command == "rules":
        from .rules import rules

        return rules(settings)
    if command == "init":
        from .init import init

        return init(settings, args)
    if command == "graph":
        from .graph import graph

        return graph(settings)
    raise UsageError(f"unknown command {command!r}")
