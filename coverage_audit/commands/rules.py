"""``coverage-audit rules``: the inventory of every parsed rule."""

from __future__ import annotations

from importlib import import_module
from types import ModuleType
from typing import Callable, Iterable

from ..analysis.inventory import Inventory, build_inventory
from ..config import Settings
from .exits import EXIT_ERROR, EXIT_OK
from .rulesource import load_ruleset
from .output import report_errors, write_output

# The renderer of each format: its module is imported only when chosen, and while the rule files
# are parsed (imported before, all four held the parse workers' start up by ~0.05 s). JSON is
# streamed: the corpus's inventory is ~40 MB.
_RENDERERS = {
    "text": ("text", "render_inventory"),
    "json": ("json", "iter_inventory"),
    "markdown": ("markdown", "render_inventory"),
    "sarif": ("sarif", "render_inventory"),
}


def rules(settings: Settings) -> int:
    module, name = _RENDERERS.get(settings.format, _RENDERERS["text"])

    def reporter() -> ModuleType:
        return import_module(f"..reporters.{module}", __package__)

    inventory = build_inventory(load_ruleset(settings, reporter))
    render: Callable[[Inventory], str | Iterable[str]] = getattr(reporter(), name)
    write_output(render(inventory), settings.output)
    report_errors(inventory.errors)
    return EXIT_ERROR if inventory.errors else EXIT_OK
