"""Markdown for pull-request comments, wikis and issues. Input text is escaped."""

from __future__ import annotations

from ..analysis.inventory import Inventory


def escape(text: str) -> str:
    """Neutralise Markdown and HTML in text that came from input files."""
    text = " ".join(text.split())
    for char in "\\`*_{}[]<>()#+!|~":
        text = text.replace(char, "\\" + char)
    return text.replace("&", "&amp;")


def code(text: str) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    fence = "``" if "`" in text else "`"
    return f"{fence}{text}{fence}"


def render_inventory(inventory: Inventory) -> str:
    lines = [
        "## Rule inventory",
        "",
        f"{inventory.alerts} alerting rules ({inventory.application_alerts} application-level), "
        f"{inventory.records} recording rules from {inventory.files} files; "
        f"{len(inventory.skipped)} skipped; {len(inventory.errors)} errors.",
        "",
        "| Location | Kind | Name | Level | Metrics |",
        "|---|---|---|---|---|",
    ]
    for e in inventory.entries:
        metrics = ", ".join(code(m) for m in e.metrics) or "–"
        lines.append(f"| {code(e.rule.location)} | {e.rule.kind} | {escape(e.rule.name)} | {e.level} | {metrics} |")
    if inventory.errors:
        lines += ["", "### Errors", ""]
        lines += [f"- {code(f'{d.file}:{d.line}')} {escape(d.message)}" for d in inventory.errors]
    return "\n".join(lines) + "\n"
