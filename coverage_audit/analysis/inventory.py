"""The rule inventory (``coverage-audit rules``): every rule with what it really watches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from ..model import Diagnostic, Level, Rule, Skipped
from ..ruleset import RuleSet


@dataclass(frozen=True, slots=True)
class InventoryEntry:
    rule: Rule
    metrics: tuple[str, ...]  # raw metric names after recording-rule expansion
    level: Level


@dataclass(frozen=True, slots=True)
class Inventory:
    entries: tuple[InventoryEntry, ...]
    errors: tuple[Diagnostic, ...]
    skipped: tuple[Skipped, ...]
    files: int
    alerts: int
    records: int
    application_alerts: int


def not_judged(rules: Iterable[Rule]) -> tuple[Rule, ...]:
    """Rules that are listed but not judged (a Grafana rule with no PromQL equivalent)."""
    return tuple(sorted((r for r in rules if r.not_judged is not None), key=lambda r: (r.file, r.line)))


def build_inventory(ruleset: RuleSet) -> Inventory:
    entries = tuple(
        InventoryEntry(rule, ruleset.raw_metrics[rule], "none" if rule.not_judged is not None else ruleset.levels[rule])
        for rule in sorted(ruleset.rules, key=lambda r: (r.file, r.line))
    )
    alerts = [e for e in entries if e.rule.kind == "alert"]
    return Inventory(
        entries=entries,
        errors=tuple(sorted(ruleset.errors, key=lambda d: (d.file, d.line, d.message))),
        skipped=tuple(sorted(ruleset.skipped, key=lambda s: s.file)),
        files=ruleset.files,
        alerts=len(alerts),
        records=len(entries) - len(alerts),
        application_alerts=sum(1 for e in alerts if e.level == "application"),
    )
