"""Which components (and, failing that, which owners' services) a changed path belongs to.

An organisation can have tens of thousands of components; testing every glob against every
changed path would cost ~1 µs x globs x paths. The index narrows each path down to the few
components that can possibly match, then lets pathspec (gitignore semantics) decide:

* a glob anchored at the root (``services/payments/**``, ``/Makefile``) can only match paths that
  start with its literal leading folders: it is filed under that prefix (``services/payments``),
  and a path looks up each of its own prefixes;
* a glob that matches at any depth and starts with a literal name (``docs/``, ``**/payments/**``)
  can only match paths holding a folder or file of that name: it is filed under the name;
* anything else (``*.md``, ``**/*_test.go``) goes into a fallback list tried for every path.

The index only proposes; each proposed component's own compiled spec confirms. Negated globs
(``!x``) never propose: they can only take a match away.
"""

from __future__ import annotations

import re
from typing import Iterable, Literal

import pathspec

from ..loaders.codeowners import gitignore_spec, owner_matches, owners_of
from ..model import CodeOwnersRule, Component, Service, ServiceMap

_LITERAL = re.compile(r"[\w.\-@+=,%~]+")  # \w: letters, digits, "_" (Unicode too)
IndexKey = tuple[Literal["prefix", "name", "fallback", "never"], str]


class PathIndex:
    """Built once per service map; ``components_for(path)`` answers in microseconds."""

    def __init__(self, service_map: ServiceMap) -> None:
        self.components: list[Component] = [
            component for service in service_map.services.values() for component in service.components
        ]
        # Compiled on first use: a change proposes a handful of components out of thousands.
        self._specs: list[pathspec.PathSpec | None] = [None] * len(self.components)
        self._by_prefix: dict[str, list[int]] = {}
        self._by_name: dict[str, list[int]] = {}
        self._fallback: list[tuple[int, pathspec.PathSpec]] = []  # (component, one of its globs)
        for number, component in enumerate(self.components):
            for glob in dict.fromkeys(component.paths):
                kind, key = index_key(glob)
                if kind == "prefix":
                    self._by_prefix.setdefault(key, []).append(number)
                elif kind == "name":
                    self._by_name.setdefault(key, []).append(number)
                elif kind == "fallback":
                    self._fallback.append((number, gitignore_spec([glob])))

    def components_for(self, path: str) -> tuple[Component, ...]:
        """The components whose ``paths`` match ``path`` (repository-relative), in map order."""
        # Candidates come from the spelling the specs match (they normalise the path once).
        candidates = self._candidates(path, pathspec.util.normalize_file(path))
        matched = [number for number in candidates if self._spec(number).match_file(path)]
        return tuple(self.components[number] for number in sorted(matched))

    def _spec(self, number: int) -> pathspec.PathSpec:
        spec = self._specs[number]
        if spec is None:
            spec = self._specs[number] = gitignore_spec(self.components[number].paths)
        return spec

    def _candidates(self, path: str, normalised: str) -> set[int]:
        # A wildcard-led glob is tried alone; only if it matches is the whole spec asked.
        candidates = {number for number, spec in self._fallback if spec.match_file(path)}
        segments = normalised.split("/")
        prefix = ""
        for segment in segments:
            prefix = f"{prefix}/{segment}" if prefix else segment
            candidates.update(self._by_prefix.get(prefix, ()))
            candidates.update(self._by_name.get(segment, ()))
        return candidates


def index_key(glob: str) -> IndexKey:
    """What every path a glob can match must hold: a leading ``prefix``, a segment ``name``; or
    nothing known (``fallback``); ``never`` for a negation, which only takes matches away."""
    if glob.startswith("!"):
        return ("never", "")
    anchored = glob.startswith("/")
    body = glob[1:] if anchored else glob
    if body.startswith("**/"):  # any depth, whatever the leading slash said
        while body.startswith("**/"):
            body = body[3:]
        first = body.split("/", 1)[0]
        return ("name", first) if _literal(first) else ("fallback", "")
    segments = body.split("/")
    if segments[-1] == "":  # a trailing slash: "a folder", which does not anchor
        segments.pop()
    if anchored or len(segments) > 1:
        literal: list[str] = []
        for segment in segments:
            if not _literal(segment):
                break
            literal.append(segment)
        return ("prefix", "/".join(literal)) if literal else ("fallback", "")
    return ("name", segments[0]) if segments and _literal(segments[0]) else ("fallback", "")


def _literal(segment: str) -> bool:
    """A plain name, matched by itself alone (no wildcard, escape, class or space in it)."""
    return _LITERAL.fullmatch(segment) is not None and segment not in (".", "..")


def services_for_owner_paths(
    codeowners_rules: Iterable[CodeOwnersRule], service_map: ServiceMap, path: str
) -> tuple[Service, ...]:
    """Services whose owner is a CODEOWNERS owner of ``path`` (for paths no component claims)."""
    owners = owners_of(codeowners_rules, path)
    if not owners:
        return ()
    return tuple(
        service
        for service in service_map.services.values()
        if any(owner_matches(owner, service.owner) for owner in owners)
    )
