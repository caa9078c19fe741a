"""Verdicts kept for the next ``check`` (issue 10): with every input unchanged, a pre-deploy
query answers from the cache instead of parsing, expanding and judging the rule set again.

The key is a hash of everything a verdict depends on: the bytes and paths of every input file
(rules, service maps, catalog, Alertmanager configuration, CODEOWNERS), every setting except
where the output goes, and the source of the whole package (code, catalog, conventions,
templates). So an entry is never stale, only unused. The change is not in the key: an entry
holds each judged failure mode's finding, and grows as checks of other changes judge more.
A query whose modes are not all there is judged as usual, and what it judged is added.

Live sources and ``--prove`` are never answered from here: what a running system shows, or
what a drill measures, is not in any file.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from .. import promql, yamlio
from ..cache import FORMAT_VERSION, Cache, make_key
from ..config import Settings
from ..loaders.discovery import find_files
from ..model import Change, Diagnostic, InputError, Rule
from ..yamlio import read_bytes

if TYPE_CHECKING:
    from ..analysis.findings import Finding
    from ..analysis.impact import ChangeImpact, ImpactedMode
    from ..analysis.orphans import Orphans
    from ..catalog import Catalog
    from ..model import ServiceMap

KIND = "check-verdicts"
# Settings that only say where and how the answer is written, or how fast it is computed.
_NOT_IN_KEY = frozenset({"format", "output", "jobs", "cache_dir", "no_cache", "fail_on", "waivers", "extra"})
_PACKAGE = Path(__file__).resolve().parents[1]


@dataclass(slots=True)
class Verdicts:
    """What ``check`` needs besides the rule set: the map and catalog for impact, the inputs'
    problems, and every finding judged so far, by (subject, mode, impact)."""

    service_map: "ServiceMap"
    catalog: "Catalog"
    errors: list[Diagnostic]
    warnings: list[Diagnostic]
    routing_checked: bool
    not_judged: "tuple[Rule, ...]"
    orphans: "Orphans | None"
    findings: dict[tuple[str, str, str], "Finding"] = field(default_factory=dict)
    # What each change asked impacts (a query that repeats one needs no graph walk, nor networkx).
    impacts: dict[tuple[object, ...], "ChangeImpact"] = field(default_factory=dict)

    def answer(self, modes: Iterable["ImpactedMode"], orphans_needed: bool) -> "list[Finding] | None":
        """The findings of ``modes``, or None when one of them (or the orphans) was never judged."""
        if orphans_needed and self.orphans is None:
            return None
        found = []
        for mode in modes:
            finding = self.findings.get(mode_key(mode))
            if finding is None:
                return None
            found.append(finding)
        return found


def change_key(change: Change) -> tuple[object, ...]:
    return (change.paths, change.components, change.source)


def mode_key(mode: "ImpactedMode") -> tuple[str, str, str]:
    return (mode.subject.name, mode.mode.id, mode.impact or "")


def usable(settings: Settings, args: Mapping[str, Any]) -> bool:
    return not (settings.no_cache or settings.prometheus or settings.alertmanager_url or args.get("prove"))


def inputs_key(settings: Settings) -> str | None:
    """The hash of every input and setting; None when an input cannot be read (the usual run
    then reports it, with its line)."""
    parts: list[str | bytes] = [_code()]
    for item in fields(Settings):
        if item.name not in _NOT_IN_KEY:
            parts.append(f"{item.name}={getattr(settings, item.name)!r}")
    try:
        for group in (settings.rules, settings.service_maps):
            found = find_files(group)
            if found.errors:
                return None
            parts.append(f"{len(found.files)} files")
            for path in found.files:
                parts += [os.path.abspath(path), read_bytes(path)]
        for single in (settings.catalog, settings.alertmanager, settings.codeowners):
            parts += [os.path.abspath(single), read_bytes(single)] if single else ["-"]
    except InputError:
        return None
    return make_key(*parts)


def _code() -> str:
    """The package's own files and the parsers' versions: an edited judge, catalog or template,
    or another promql-parser, never reads old verdicts."""
    parts: list[str | bytes] = [str(FORMAT_VERSION), sys.version, promql.parser_version(), yamlio.YAML_VERSION]
    for path in sorted(p for p in _PACKAGE.rglob("*") if p.is_file() and p.suffix in (".py", ".yaml", ".json", ".j2")):
        parts += [str(path.relative_to(_PACKAGE)), path.read_bytes()]
    return make_key(*parts)


def lookup(cache: Cache, key: str) -> Verdicts | None:
    found = cache.get(KIND, key)
    return found if isinstance(found, Verdicts) else None


def store(
    cache: Cache,
    key: str,
    verdicts: Verdicts,
    modes: Iterable["ImpactedMode"],
    findings: Iterable["Finding"],
    previous: Verdicts | None,
) -> None:
    """Add this run's findings to what the entry held when the run looked it up (``previous``),
    and write it back (atomically; two runs at once each write a whole entry, the later wins)."""
    if previous is not None:
        verdicts.findings = {**previous.findings, **verdicts.findings}
        verdicts.impacts = {**previous.impacts, **verdicts.impacts}
        if verdicts.orphans is None:
            verdicts.orphans = previous.orphans
    verdicts.findings.update(zip(map(mode_key, modes), findings))
    cache.put(KIND, key, verdicts)
    cache.prune(KIND)
