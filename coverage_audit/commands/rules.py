"""``coverage-audit rules``: the inventory of every parsed rule."""

from __future__ import annotations

from ..analysis.inventory import build_inventory
from ..config import Settings
from ..reporters import json as json_reporter
from ..reporters import markdown, sarif, text
from .exits import EXIT_ERROR, EXIT_OK
from .rulesource import load_ruleset
from .output import report_errors, write_output


def rules(settings: Settings) -> int:
    inventory = build_inventory(load_ruleset(settings))
    renderers = {
        "text": text.render_inventory,
        "json": json_reporter.iter_inventory,  # streamed: the corpus's inventory is ~40 MB
        "markdown": markdown.render_inventory,
        "sarif": sarif.render_inventory,
    }
    write_output(renderers[settings.format if settings.format in renderers else "text"](inventory), settings.output)
    report_errors(inventory.errors)
    return EXIT_ERROR if inventory.errors else EXIT_OK
