"""Readable terminal output."""

from __future__ import annotations

from ..analysis.inventory import Inventory
from .table import format_table


def render_inventory(inventory: Inventory) -> str:
    rows = [
        (e.rule.location, e.rule.kind, e.rule.name, e.level, ", ".join(e.metrics) or "-")
        for e in inventory.entries
    ]
    parts = [format_table(("LOCATION", "KIND", "NAME", "LEVEL", "METRICS"), rows, (0, 0, 60, 0, 90))]
    if inventory.errors:
        parts.append(f"\n{len(inventory.errors)} error(s):")
        parts.extend(f"  {error}" for error in inventory.errors)
    parts.append(
        f"\n{inventory.alerts} alerting rules ({inventory.application_alerts} application-level), "
        f"{inventory.records} recording rules from {inventory.files} files; "
        f"{len(inventory.skipped)} files skipped (not rule files); {len(inventory.errors)} errors."
    )
    return "\n".join(parts) + "\n"
