"""The first service map as YAML text, every inferred value marked for a person to confirm.

Values are written quoted (single quotes, or a JSON string when they hold unprintable characters),
so no name from a repository can break the document; comments are cut to one line of printable text, so none can
start a YAML key either.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from ..catalog import Catalog
from ..durations import format_duration
from ..model import LabelMatcher, MatchOp
from .prometheus import Observed, kinds_from_families, selector_text
from .repository import Candidate, Fact
from .settings import init_data

GUESS = "guess"
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


@dataclass
class Drafted:
    text: str
    services: int = 0
    guesses: int = 0
    notes: list[str] = field(default_factory=list)


def render(candidates: dict[str, Candidate], observed: Observed | None, catalog: Catalog, origin: str, lookback: float) -> Drafted:
    drafted = Drafted("")
    names = sorted(n for n in candidates if n and "/" not in n)
    by_alias = _aliases(candidates, observed)
    lines = [
        "# A first service map, written by `coverage-audit init` from " + _comment(origin) + ".",
        "# Lines marked `guess` are inferred: confirm or correct each one, then remove the mark.",
        "# Then add what only people know: tiers, business metrics, failure modes of your own.",
        "apiVersion: coverage-audit/v1",
        "kind: ServiceMap",
        "services:" if names else "services: []",
    ]
    for name in names:
        candidate = candidates[name]
        drafted.services += 1
        lines.append(f"  - name: {_q(name)}")
        owner = candidate.owner or Fact("unowned", "guess: no catalog owner or CODEOWNERS entry names the owning team")
        lines.append(_field(4, "owner", _q(owner.value), owner, drafted))
        selector = _selector(candidate, observed, lookback)
        lines.append(_field(4, "selector", _q(selector.value), selector, drafted))
        if candidate.system:
            lines.append(f"    system: {_q(candidate.system)}")
        calls = _calls(candidate, observed, by_alias, candidates)
        if calls:
            lines.append("    depends_on:")
            for target, fact in calls.items():
                lines.append(_item(6, _q(target), fact, drafted))
        lines.append("    components:")
        for kind, fact in _kinds(candidate, observed, catalog).items():
            lines.append(f"      - name: {_q(init_data().components.get(kind, kind))}")
            lines.append(_field(8, "kind", _q(kind), fact, drafted))
            paths = candidate.paths
            why = Fact("", candidate.paths_why) if paths else Fact("", "guess: no code folder found: add this component's paths")
            lines.append(_field(8, "paths", "[" + ", ".join(_q(p) for p in paths) + "]", why, drafted))
    drafted.text = "\n".join(lines) + "\n"
    return drafted


def _selector(candidate: Candidate, observed: Observed | None, lookback: float) -> Fact:
    if candidate.selector is not None:
        return candidate.selector
    identity = observed.identities.get(candidate.name) if observed is not None else None
    if identity is not None:
        return Fact(selector_text(identity), f"guess: Prometheus shows {len(identity.families)} metric names with {identity.label}={json.dumps(identity.value)}")
    seen = f"Prometheus shows no series named for it in the last {format_duration(lookback)}; " if observed is not None else ""
    return Fact("{" + str(LabelMatcher("job", MatchOp.EQ, candidate.name)) + "}", f"guess: {seen}assumed its job label is its name")


def _kinds(candidate: Candidate, observed: Observed | None, catalog: Catalog) -> dict[str, Fact]:
    identity = observed.identities.get(candidate.name) if observed is not None else None
    if identity is not None:
        shown = kinds_from_families(identity.families, catalog)
        if shown:
            return {kind: Fact(kind, f"guess: it emits {family}") for kind, family in shown.items()}
    return dict(candidate.kinds) or {"http_api": Fact("http_api", "guess: nothing says otherwise")}


def _aliases(candidates: dict[str, Candidate], observed: Observed | None) -> dict[str, str]:
    """Peer name -> candidate: names, aliases, and the values their series are named by."""
    found: dict[str, str] = {}
    for candidate in candidates.values():
        for alias in {candidate.name, *candidate.aliases}:
            found.setdefault(alias, candidate.name)
    if observed is not None:
        for name, identity in observed.identities.items():
            found.setdefault(identity.value, name)
    return found


def _calls(candidate: Candidate, observed: Observed | None, by_alias: dict[str, str], candidates: dict[str, Candidate]) -> dict[str, Fact]:
    calls = {target: fact for target, fact in candidate.calls.items() if target in candidates and target != candidate.name}
    if observed is not None:
        for (caller, callee), metric in sorted(observed.calls.items()):
            if caller in observed.ignored_peers or callee in observed.ignored_peers:
                continue
            if by_alias.get(caller) == candidate.name:
                target = by_alias.get(callee)
                if target and target != candidate.name and target not in calls:
                    calls[target] = Fact(target, f"guess: {metric} shows {caller} calling {callee}")
    return dict(sorted(calls.items()))


def _field(indent: int, key: str, value: str, fact: Fact, drafted: Drafted) -> str:
    return " " * indent + f"{key}: {value}" + _mark(fact, drafted)


def _item(indent: int, value: str, fact: Fact, drafted: Drafted) -> str:
    return " " * indent + f"- {value}" + _mark(fact, drafted)


def _mark(fact: Fact, drafted: Drafted) -> str:
    if not fact.why:
        return ""
    if fact.guess:
        drafted.guesses += 1
    text = fact.why if fact.why.startswith(GUESS) or not fact.guess else f"{GUESS}: {fact.why}"
    return "  # " + _comment(text if fact.guess else f"from {text}")


def _q(value: str) -> str:
    """A YAML single-quoted scalar when the text is printable (reads like what people write),
    else a JSON string (a valid YAML double-quoted scalar, with escapes)."""
    if value and not _UNPRINTABLE.search(value) and value == value.strip():
        return "'" + value.replace("'", "''") + "'"
    return json.dumps(value)


def _comment(text: str) -> str:
    return _UNPRINTABLE.sub(" ", text)[:300]
