"""Service maps: the native format (DESIGN 3.3) and Backstage catalog files (3.4), merged into one.

Files named directly and the YAML files under named folders are read in order; one file may mix
native ``ServiceMap`` documents and Backstage entities (``---``). A Backstage ``Component`` is a
service; other Backstage kinds (System, Group, API, Resource, Location, ...) are ignored. YAML that
is neither is skipped and counted.

Every problem becomes a Diagnostic with file and line, and the entry it concerns is left out:

* a service with a bad field of its own (name, owner, tier, selector) is left out whole;
* a bad component is left out of its service, which keeps its other components;
* a dependency on a service that does not exist (checked once every file is merged) or on the
  service itself is left out of ``depends_on``; cycles between services are fine;
* an unknown key is reported but does not leave anything out (it is most likely a typo of an
  optional field, and the rest of the entry is sound).

Component kinds: a kind of the failure-mode catalog, or ``custom`` for a component that lists
all of its failure modes itself (``failure_modes`` is then required). ``signals`` may only name
failure modes of the component's kind, so a typo in a mode id is caught. ``paths`` is required;
an explicit empty list is accepted for a component that is only ever named (``--component``).
``publishes`` and ``consumes`` name the topics or queues a component writes and reads: a change
to a publisher reaches the topic's consumers (DESIGN 4).

``paths`` are gitignore globs relative to the repository root: a leading ``/`` anchors as in
gitignore (it is not a filesystem path), ``!`` excludes, a leading ``./`` is dropped. Refused:
empty globs, spaces at either end, ``#`` comments, ``..``, ``~`` and drive-letter paths,
backslash-separated folders, a bare ``/``, and what pathspec cannot compile.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping, Sequence

from .. import promql
from ..catalog import Catalog, parse_modes, selector_list
from ..model import (
    BusinessMetric,
    Component,
    Diagnostic,
    FailureMode,
    InputError,
    LabelMatcher,
    ServiceMap,
    Service,
    Skipped,
)
from ..suggest import Suggester, suggest
from ..yamlio import YMap, YSeq, load_documents, read_text, unknown_keys
from .codeowners import GlobError, check_glob
from .discovery import find_files

NATIVE_API_VERSION = "coverage-audit/v1"
NATIVE_KIND = "ServiceMap"
BACKSTAGE_API_PREFIX = "backstage.io/"
CUSTOM_KIND = "custom"
TIERS = ("critical", "standard", "low")

ANNOTATION_PREFIX = "coverage-audit/"
SELECTOR_ANNOTATION = "coverage-audit/selector"
TIER_ANNOTATION = "coverage-audit/tier"
COMPONENTS_ANNOTATION = "coverage-audit/components"
BUSINESS_ANNOTATION = "coverage-audit/business-metrics"
ANNOTATIONS = (SELECTOR_ANNOTATION, TIER_ANNOTATION, COMPONENTS_ANNOTATION, BUSINESS_ANNOTATION)

_NATIVE_KEYS = ("apiVersion", "kind", "metadata", "services", "business_metrics")
_SERVICE_KEYS = ("name", "owner", "tier", "selector", "depends_on", "components", "system", "traffic")
_COMPONENT_KEYS = ("name", "kind", "paths", "signals", "failure_modes", "selector", "publishes", "consumes")
_BUSINESS_KEYS = ("name", "owner", "metric", "failure_metric", "depends_on")
# ``key: |`` (a literal block scalar): its text keeps its lines, so line N of the embedded YAML
# is N lines below the key. Other styles fold or escape lines; errors then point at the key.
_LITERAL_BLOCK = re.compile(r":\s*\|[1-9]?[-+]?[1-9]?\s*(?:#.*)?$")
_WINDOWS_ABSOLUTE = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")
_BACKSLASH_LETTER = re.compile(r"\\[A-Za-z0-9]")


@dataclass(slots=True)
class ServiceMapLoad:
    """The merged service map, what went wrong, and the files that held no service map."""

    service_map: ServiceMap
    errors: list[Diagnostic] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    files: int = 0  # files read
    warnings: list[Diagnostic] = field(default_factory=list)  # reported, but the run is sound


def load_service_maps(paths: Sequence[str], catalog: Catalog, tiers: Mapping[str, str] | None = None) -> ServiceMapLoad:
    """Load and merge every service map under ``paths``; never raises for bad content.
    ``tiers`` maps an organisation's own tier names onto critical|standard|low."""
    builder = _Builder(catalog, tiers)
    found = find_files(paths)
    builder.errors.extend(found.errors)
    for path in found.files:
        builder.read_file(path)
    return builder.finish()


def load_service_map_text(text: str, name: str, catalog: Catalog, tiers: Mapping[str, str] | None = None) -> ServiceMapLoad:
    """One YAML text, as if it were the only file (for tests and embedded maps)."""
    builder = _Builder(catalog, tiers)
    builder.read_text(text, name)
    return builder.finish()


# --------------------------------------------------------------------------- where things are


@dataclass(frozen=True, slots=True)
class _Where:
    """The file being read, and how lines of the YAML at hand map onto the file's lines.

    Native YAML maps one to one. YAML embedded in a Backstage annotation starts below the
    annotation (``offset``), or, when its lines cannot be mapped, points at the annotation."""

    file: str
    offset: int | None = 0  # None: every line is ``anchor``
    anchor: int = 0

    def line(self, line: int) -> int:
        if self.offset is None:
            return self.anchor
        if line <= 0:  # "somewhere in this text": the anchor says more than line 0
            return self.anchor or line
        return line + self.offset


@dataclass(slots=True)
class _Entry:
    """A service or business metric waiting for the checks that need every file merged."""

    item: Service | BusinessMetric
    dependency_lines: dict[str, int]  # dependency -> line it is named on


# --------------------------------------------------------------------------- reading


class _Builder:
    def __init__(self, catalog: Catalog, tiers: Mapping[str, str] | None = None) -> None:
        self.catalog = catalog
        self.tiers = dict(tiers or {})
        self.unknown_tiers: set[str] = set()
        self.warnings: list[Diagnostic] = []
        self.errors: list[Diagnostic] = []
        self.skipped: list[Skipped] = []
        self.files = 0
        self.read: list[str] = []  # files in the order read, to sort diagnostics by
        self.services: dict[str, _Entry] = {}
        self.metrics: dict[str, _Entry] = {}
        self.rejected: set[str] = set()  # services left out for their own errors (reported)
        self._suggester: Suggester | None = None

    def error(self, where: _Where, line: int, message: str) -> None:
        self.errors.append(Diagnostic(where.file, where.line(line), message))

    # ----------------------------------------------------------------- files and documents

    def read_file(self, path: str) -> None:
        try:
            text = read_text(path)
        except InputError as exc:
            self.files += 1
            self.read.append(path)
            self.errors.append(exc.diagnostic)
            return
        self.read_text(text, path)

    def read_text(self, text: str, path: str) -> None:
        self.files += 1
        self.read.append(path)
        try:
            documents = load_documents(text, path)
        except InputError as exc:
            self.errors.append(exc.diagnostic)
            return
        lines = text.splitlines()
        where = _Where(path)
        held: list[str] = []  # per document: "map", "other-entity", or why it is not a map
        for document in documents:
            held.append(self._read_document(document.value, where, lines))
        if not documents:
            self.skipped.append(Skipped(path, "empty file"))
        elif "map" not in held:
            reasons = [reason for reason in held if reason != "other-entity"]
            reason = reasons[0] if reasons else "Backstage catalog file without Component entities"
            self.skipped.append(Skipped(path, reason))

    def _read_document(self, value: object, where: _Where, lines: list[str]) -> str:
        if not isinstance(value, YMap):
            return "not a service map (the document is not a mapping)"
        api, kind = value.get("apiVersion"), value.get("kind")
        if api == NATIVE_API_VERSION and kind == NATIVE_KIND:
            self._native(value, where)
            return "map"
        if isinstance(api, str) and api.startswith(ANNOTATION_PREFIX):
            if api != NATIVE_API_VERSION:
                self.error(where, value.line_of("apiVersion"), f"unsupported apiVersion {api!r}: expected {NATIVE_API_VERSION!r}")
            else:
                self.error(where, value.line_of("kind"), f"unknown kind {kind!r} for {NATIVE_API_VERSION}: expected {NATIVE_KIND!r}")
            return "map"
        if kind == NATIVE_KIND:
            self.error(where, value.line, f"a ServiceMap needs 'apiVersion: {NATIVE_API_VERSION}' (got {api!r})")
            return "map"
        if isinstance(api, str) and api.startswith(BACKSTAGE_API_PREFIX):
            if kind == "Component":
                self._backstage_component(value, where, lines)
                return "map"
            return "other-entity"
        if isinstance(kind, str):
            return f"Kubernetes {kind}, not a service map"
        return f"not a service map (no 'apiVersion: {NATIVE_API_VERSION}' or Backstage entity)"

    # ----------------------------------------------------------------- native format

    def _native(self, document: YMap, where: _Where) -> None:
        self._unknown_keys(document, _NATIVE_KEYS, "a ServiceMap", where)
        services = self._list(document, "services", where)
        if services is not None:
            for index, item in enumerate(services):
                self._native_service(item, where, services.line_of(index))
        metrics = self._list(document, "business_metrics", where)
        if metrics is not None:
            for index, item in enumerate(metrics):
                self._business_metric(item, where, metrics.line_of(index))

    def _native_service(self, item: object, where: _Where, line: int) -> None:
        if not isinstance(item, YMap):
            self.error(where, line, "a service must be a mapping with name, owner, components, ...")
            return
        mark = len(self.errors)
        name = self._name(item, "name", "a service", where)
        what = f"service {name!r}" if name else "a service"
        owner = self._text(item, "owner", what, where, required=True)
        tier = self._tier(item.get("tier"), what, where, item.line_of("tier"))
        selector, alternatives = self._service_selector(item.get("selector"), what, where, item.line_of("selector"))
        system = self._text(item, "system", what, where, required=False)
        depends_on = self._names(item, "depends_on", what, where)
        traffic = self._traffic(item, what, where)
        own_fields_ok = len(self.errors) == mark
        components = self._components(item.get("components"), name or "", where, item.line_of("components"))
        self._unknown_keys(item, _SERVICE_KEYS, what, where)
        if not own_fields_ok or depends_on is None:
            self._reject(name)
            return
        self._register(name, owner, tier, selector, alternatives, depends_on, components, system, where, item.line, traffic)

    # ----------------------------------------------------------------- Backstage

    def _backstage_component(self, entity: YMap, where: _Where, lines: list[str]) -> None:
        mark = len(self.errors)
        metadata = entity.get("metadata")
        if not isinstance(metadata, YMap):
            self.error(where, entity.line_of("metadata"), "Backstage Component without a 'metadata' mapping")
            return
        name = self._name(metadata, "name", "a Backstage Component", where)
        what = f"Backstage Component {name!r}" if name else "a Backstage Component"
        spec = entity.get("spec")
        if not isinstance(spec, YMap):
            self.error(where, entity.line_of("spec"), f"{what}: 'spec' must be a mapping with at least 'owner'")
            if name:
                self.rejected.add(name)
            return
        owner = self._entity_ref(spec, "owner", what, where, required=True)
        system = self._entity_ref(spec, "system", what, where, required=False)
        depends_on = self._backstage_dependencies(spec, what, where)
        annotations = metadata.get("annotations")
        if annotations is not None and not isinstance(annotations, YMap):
            self.error(where, metadata.line_of("annotations"), f"{what}: 'annotations' must be a mapping")
            annotations = None
        ours = _OurAnnotations(annotations, lines)
        tier = self._tier(ours.value(TIER_ANNOTATION), what, where, ours.line(TIER_ANNOTATION), TIER_ANNOTATION)
        selector, alternatives = self._service_selector(
            ours.value(SELECTOR_ANNOTATION), what, where, ours.line(SELECTOR_ANNOTATION), SELECTOR_ANNOTATION
        )
        own_fields_ok = len(self.errors) == mark
        for key in ours.unknown():
            self.error(where, ours.line(key), f"{what}: unknown annotation {key!r}{_suggest(key, ANNOTATIONS)}")
        components: tuple[Component, ...] = ()
        embedded = self._embedded(ours, COMPONENTS_ANNOTATION, what, where)
        if embedded is not None:
            value, inner = embedded
            components = self._components(value, name or "", inner, 1, COMPONENTS_ANNOTATION)
        embedded = self._embedded(ours, BUSINESS_ANNOTATION, what, where)
        if embedded is not None:
            value, inner = embedded
            if isinstance(value, YSeq):
                for index, item in enumerate(value):
                    self._business_metric(item, inner, value.line_of(index))
            elif value is not None:
                self.error(inner, 1, f"{what}: annotation {BUSINESS_ANNOTATION!r} must hold a YAML list of business metrics")
        if not own_fields_ok:
            self._reject(name)
            return
        self._register(name, owner, tier, selector, alternatives, depends_on, components, system, where, entity.line)

    def _reject(self, name: str | None) -> None:
        """A service left out: dependencies on it get no second message."""
        if name:
            self.rejected.add(name)

    def _register(
        self,
        name: str | None,
        owner: str | None,
        tier: str,
        selector: str,
        alternatives: tuple[tuple[LabelMatcher, ...], ...],
        depends_on: dict[str, int],
        components: tuple[Component, ...],
        system: str | None,
        where: _Where,
        line: int,
        traffic: float | None = None,
    ) -> None:
        """A service from either format, once its own fields passed."""
        if name is None or owner is None:
            self._reject(name)
            return
        service = Service(
            name=name,
            owner=owner,
            tier=tier,  # type: ignore[arg-type]
            selector=selector,
            matchers=alternatives[0] if alternatives else (),
            alternatives=alternatives,
            depends_on=tuple(depends_on),
            components=components,
            system=system,
            file=where.file,
            line=where.line(line),
            traffic=traffic,
        )
        self._add_service(service, {dep: where.line(n) for dep, n in depends_on.items()})

    def _backstage_dependencies(self, spec: YMap, what: str, where: _Where) -> dict[str, int]:
        """``spec.dependsOn``: component refs are services; refs to other kinds are ignored."""
        value = spec.get("dependsOn")
        if value is None:
            return {}
        if not isinstance(value, YSeq):
            self.error(where, spec.line_of("dependsOn"), f"{what}: 'dependsOn' must be a list of entity references")
            return {}
        result: dict[str, int] = {}
        for index, ref in enumerate(value):
            line = value.line_of(index)
            if not isinstance(ref, str) or not ref.strip():
                self.error(where, line, f"{what}: 'dependsOn' entries must be entity references such as 'component:ledger'")
                continue
            kind, name = entity_ref(ref)
            if kind in (None, "component") and name:
                result.setdefault(name, line)
        return result

    def _entity_ref(self, spec: YMap, key: str, what: str, where: _Where, required: bool) -> str | None:
        text = self._text(spec, key, what, where, required, field_name=f"spec.{key}")
        if text is None:
            return None
        name = entity_ref(text)[1]
        if not name:
            self.error(where, spec.line_of(key), f"{what}: 'spec.{key}' is not an entity reference: {text!r}")
            return None
        return name

    def _embedded(self, ours: "_OurAnnotations", key: str, what: str, where: _Where) -> tuple[object, _Where] | None:
        """The YAML held in an annotation, and where its lines are in the catalog file."""
        if not ours.has(key):
            return None
        text, line = ours.value(key), ours.line(key)
        if not isinstance(text, str):
            self.error(where, line, f"{what}: annotation {key!r} must be YAML text (a string), e.g. a '|' block")
            return None
        inner = _Where(where.file, line if ours.literal_block(key) else None, line)
        try:
            documents = load_documents(text, where.file)
        except InputError as exc:
            self.error(inner, exc.diagnostic.line, f"{what}: in annotation {key!r}: {exc.diagnostic.message}")
            return None
        if len(documents) > 1:
            self.error(inner, documents[1].line, f"{what}: annotation {key!r} holds more than one YAML document")
            return None
        return (documents[0].value if documents else None), inner

    # ----------------------------------------------------------------- components

    def _components(
        self, value: object, service: str, where: _Where, line: int, field_name: str = "components"
    ) -> tuple[Component, ...]:
        if value is None:
            return ()
        if not isinstance(value, YSeq):
            self.error(where, line, f"service {service!r}: {field_name!r} must be a list of components")
            return ()
        seen: dict[str, int] = {}
        components: list[Component] = []
        for index, item in enumerate(value):
            component = self._component(item, service, where, value.line_of(index))
            if component is None:
                continue
            if component.name in seen:
                self.errors.append(Diagnostic(
                    where.file, component.line,
                    f"service {service!r}: component {component.name!r} is defined twice (first at line {seen[component.name]})",
                ))  # fmt: skip
                continue
            seen[component.name] = component.line
            components.append(component)
        return tuple(components)

    def _component(self, item: object, service: str, where: _Where, line: int) -> Component | None:
        if not isinstance(item, YMap):
            self.error(where, line, f"service {service!r}: a component must be a mapping with name, kind, paths")
            return None
        mark = len(self.errors)
        name = self._name(item, "name", f"a component of service {service!r}", where)
        what = f"component {service}/{name}" if name else f"a component of service {service!r}"
        kind = self._text(item, "kind", what, where, required=True)
        paths = self._paths(item, what, where)
        modes = self._own_modes(item, what, where)
        if kind is not None:
            self._check_kind(kind, modes, what, where, item.line_of("kind"))
        signals = self._signals(item, kind, modes, what, where)
        selector, alternatives = self._service_selector(item.get("selector"), what, where, item.line_of("selector"))
        publishes = self._topics(item, "publishes", what, where)
        consumes = self._topics(item, "consumes", what, where)
        ok = len(self.errors) == mark
        self._unknown_keys(item, _COMPONENT_KEYS, what, where)
        if not ok or name is None or kind is None or paths is None or modes is None:
            return None
        return Component(
            service=service,
            name=name,
            kind=kind,
            paths=paths,
            signals=signals,
            failure_modes=modes,
            file=where.file,
            line=where.line(item.line),
            selector=selector,
            matchers=alternatives[0] if alternatives else (),
            alternatives=alternatives,
            publishes=publishes,
            consumes=consumes,
        )

    def _topics(self, item: YMap, key: str, what: str, where: _Where) -> tuple[str, ...]:
        """``publishes`` / ``consumes``: names of topics or queues (a single name is a list of one)."""
        value = item.get(key)
        if value is None:
            return ()
        line = item.line_of(key)
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(t, str) and t.strip() for t in items):
            self.error(where, line, f"{what}: '{key}' must be a list of topic or queue names")
            return ()
        return tuple(dict.fromkeys(t.strip() for t in items))

    def _check_kind(self, kind: str, modes: tuple[FailureMode, ...] | None, what: str, where: _Where, line: int) -> None:
        if kind in self.catalog.kinds:
            return
        if kind == CUSTOM_KIND:
            if modes == ():
                self.error(where, line, f"{what}: kind 'custom' needs its own 'failure_modes'")
            return
        known = ", ".join(sorted(self.catalog.kinds))
        self.error(where, line, f"{what}: unknown kind {kind!r}{_suggest(kind, self.catalog.kinds)} (known: {known}; or 'custom' with failure_modes)")

    def _own_modes(self, item: YMap, what: str, where: _Where) -> tuple[FailureMode, ...] | None:
        try:
            return parse_modes(item.get("failure_modes"), where.file, item.line_of("failure_modes"))
        except InputError as exc:
            self.error(where, exc.diagnostic.line, f"{what}: {exc.diagnostic.message}")
        except ValueError as exc:  # a selector the PromQL module could not take apart
            self.error(where, item.line_of("failure_modes"), f"{what}: bad signal selector: {exc}")
        return None

    def _signals(
        self, item: YMap, kind: str | None, modes: tuple[FailureMode, ...] | None, what: str, where: _Where
    ) -> dict[str, tuple[str, ...]]:
        value = item.get("signals")
        if value is None:
            return {}
        if not isinstance(value, YMap):
            self.error(where, item.line_of("signals"), f"{what}: 'signals' must map failure-mode ids to selectors")
            return {}
        known = [mode.id for mode in self.catalog.kinds.get(kind or "", ())]
        own = {mode.id for mode in modes or ()}
        signals: dict[str, tuple[str, ...]] = {}
        for mode_id, selectors in value.items():
            line = value.line_of(mode_id)
            if mode_id not in known:
                if mode_id in own:
                    hint = "; it is one of this component's own failure_modes: give its signals there"
                elif kind is None or (kind not in self.catalog.kinds and kind != CUSTOM_KIND):
                    hint = ""
                else:
                    hint = f"{_suggest(mode_id, known)} (kind {kind!r} has: {', '.join(known) or 'none'})"
                self.error(where, line, f"{what}: signals for unknown failure mode {mode_id!r}{hint}")
                continue
            try:
                parsed = selector_list(selectors, where.file, line)
            except InputError as exc:
                self.error(where, exc.diagnostic.line, f"{what}: {exc.diagnostic.message}")
                continue
            except ValueError as exc:
                self.error(where, line, f"{what}: bad signal selector for {mode_id!r}: {exc}")
                continue
            if not parsed:
                self.error(where, line, f"{what}: signals for {mode_id!r} list no selector")
                continue
            signals[mode_id] = parsed
        return signals

    def _paths(self, item: YMap, what: str, where: _Where) -> tuple[str, ...] | None:
        if "paths" not in item:
            self.error(where, item.line, f"{what} has no 'paths' (gitignore-style globs of its code)")
            return None
        value = item["paths"]
        line = item.line_of("paths")
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.error(where, line, f"{what}: 'paths' must be a list of gitignore-style globs")
            return None
        globs: list[str] = []
        ok = True
        for index, glob in enumerate(value):
            at = value.line_of(index) if isinstance(value, YSeq) else line
            problem = glob_problem(glob)
            if problem:
                self.error(where, at, f"{what}: bad glob in 'paths': {problem}")
                ok = False
            else:
                globs.append(_strip_dot_slash(glob))  # type: ignore[arg-type]
        if ok and globs and all(glob.startswith("!") for glob in globs):
            self.error(where, line, f"{what}: 'paths' holds only negations ('!'), so it matches nothing")
            ok = False
        return tuple(globs) if ok else None

    # ----------------------------------------------------------------- business metrics

    def _business_metric(self, item: object, where: _Where, line: int) -> None:
        if not isinstance(item, YMap):
            self.error(where, line, "a business metric must be a mapping with name, owner, metric, ...")
            return
        mark = len(self.errors)
        name = self._name(item, "name", "a business metric", where)
        what = f"business metric {name!r}" if name else "a business metric"
        owner = self._text(item, "owner", what, where, required=True)
        metric = self._metric(item, "metric", what, where, required=True)
        failure_metric = self._metric(item, "failure_metric", what, where, required=False)
        depends_on = self._names(item, "depends_on", what, where)
        ok = len(self.errors) == mark
        self._unknown_keys(item, _BUSINESS_KEYS, what, where)
        if not ok or name is None or owner is None or metric is None or depends_on is None:
            return
        business = BusinessMetric(
            name=name,
            owner=owner,
            metric=metric,
            failure_metric=failure_metric,
            depends_on=tuple(depends_on),
            file=where.file,
            line=where.line(item.line),
        )
        first = self.metrics.get(name)
        if first is not None:
            self.error(where, item.line, f"business metric {name!r} is defined twice (first at {first.item.file}:{first.item.line})")
            return
        self.metrics[name] = _Entry(business, {dep: where.line(n) for dep, n in depends_on.items()})

    def _metric(self, item: YMap, key: str, what: str, where: _Where, required: bool) -> str | None:
        text = self._text(item, key, what, where, required)
        if text is None:
            return None
        try:
            selector = _parse_selector(text)
        except promql.PromQLError as exc:
            self.error(where, item.line_of(key), f"{what}: '{key}' is not a PromQL selector: {exc}")
            return None
        if selector.metric is None:
            self.error(where, item.line_of(key), f"{what}: '{key}' must name a metric, e.g. 'shop_orders_completed_total'")
            return None
        return text

    # ----------------------------------------------------------------- fields

    def _list(self, mapping: YMap, key: str, where: _Where) -> YSeq | None:
        value = mapping.get(key)
        if value is not None and not isinstance(value, YSeq):
            self.error(where, mapping.line_of(key), f"'{key}' must be a list")
            return None
        return value

    def _text(
        self, item: YMap, key: str, what: str, where: _Where, required: bool, field_name: str | None = None
    ) -> str | None:
        label = field_name or key
        value = item.get(key)
        if value is None:
            if required:
                self.error(where, item.line_of(key) if key in item else item.line, f"{what} has no '{label}'")
            return None
        if not isinstance(value, str) or not value.strip():
            self.error(where, item.line_of(key), f"{what}: '{label}' must be a non-empty string")
            return None
        return value.strip()

    def _name(self, item: YMap, key: str, what: str, where: _Where) -> str | None:
        name = self._text(item, key, what, where, required=True)
        if name is not None and "/" in name:
            self.error(where, item.line_of(key), f"{what}: name {name!r} must not contain '/'")
            return None
        return name

    def _names(self, item: YMap, key: str, what: str, where: _Where) -> dict[str, int] | None:
        """A list of service names -> the line each is on (a single name is a list of one)."""
        value = item.get(key)
        if value is None:
            return {}
        line = item.line_of(key)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.error(where, line, f"{what}: '{key}' must be a list of service names")
            return None
        names: dict[str, int] = {}
        for index, name in enumerate(value):
            at = value.line_of(index) if isinstance(value, YSeq) else line
            if not isinstance(name, str) or not name.strip():
                self.error(where, at, f"{what}: '{key}' must be a list of service names")
                return None
            names.setdefault(name.strip(), at)
        return names

    def _tier(self, value: object, what: str, where: _Where, line: int, label: str = "tier") -> str:
        """critical | standard | low, or an organisation's own name mapped onto one by the
        config's ``tiers:``. An unknown name is reported once (a warning) and read as standard:
        a whole service map in GitLab's ``sv``/``db`` tiers must not be thrown away."""
        if value is None:
            return "standard"
        if isinstance(value, str) and value in self.tiers:
            return self.tiers[value]
        if value not in TIERS:
            if not isinstance(value, str):
                self.error(where, line, f"{what}: invalid {label}: expected one of {', '.join(TIERS)}")
            elif value not in self.unknown_tiers:
                self.unknown_tiers.add(value)
                self.warnings.append(Diagnostic(where.file, where.line(line), (
                    f"unknown {label} {value!r} (first in {what}), read as standard: map it onto "
                    f"{', '.join(TIERS)} with 'tiers: {{{value}: critical}}' in coverage-audit.yaml"
                )))  # fmt: skip
            return "standard"
        return value  # type: ignore[return-value]

    def _traffic(self, item: YMap, what: str, where: _Where) -> float | None:
        value = item.get("traffic")
        if value is None:
            return None
        try:
            traffic = float(value)  # scalars stay text: "40", "2.5"
        except (TypeError, ValueError):
            traffic = math.nan
        if not math.isfinite(traffic) or traffic <= 0:
            self.error(where, item.line_of("traffic"), f"{what}: 'traffic' must be a positive number of requests per second, not {value!r}")
            return None
        return traffic

    def _service_selector(
        self, value: object, what: str, where: _Where, line: int, label: str = "selector"
    ) -> tuple[str, tuple[tuple[LabelMatcher, ...], ...]]:
        """A selector, or a list of alternative selectors (DESIGN 3.3); each label matchers
        only. Returns the text as written and the parsed alternatives."""
        if value is None:
            return "", ()
        items = list(value) if isinstance(value, YSeq) else [value]
        if not items or not all(isinstance(item, str) for item in items):
            self.error(where, line, f"{what}: '{label}' must be a string such as '{{job=\"payments\"}}' or a list of them")
            return "", ()
        alternatives: list[tuple[LabelMatcher, ...]] = []
        for item in items:
            text = str(item).strip()
            try:
                selector = _parse_selector(text)
            except promql.PromQLError as exc:
                self.error(where, line, f"{what}: bad {label} {text!r}: {exc}")
                return "", ()
            if selector.metric is not None:
                self.error(where, line, f"{what}: {label} {text!r} must hold label matchers only, e.g. '{{job=\"payments\"}}', not a metric name")
                return "", ()
            if not selector.matchers:
                self.error(where, line, f"{what}: {label} {text!r} has no matcher, e.g. '{{job=\"payments\"}}'")
                return "", ()
            if selector.matchers not in alternatives:
                alternatives.append(selector.matchers)
        return " or ".join(str(item).strip() for item in items), tuple(alternatives)

    def _unknown_keys(self, item: YMap, known: tuple[str, ...], what: str, where: _Where) -> None:
        shown, more = unknown_keys(item, known)
        for key in shown:
            self.error(where, item.line_of(key), f"unknown key {key!r} in {what}{_suggest(key, known)}")
        if more:
            self.error(where, item.line, f"{more} more unknown keys in {what}")

    # ----------------------------------------------------------------- merging

    def _add_service(self, service: Service, dependency_lines: dict[str, int]) -> None:
        first = self.services.get(service.name)
        if first is not None:
            self.errors.append(Diagnostic(
                service.file, service.line,
                f"service {service.name!r} is defined twice (first at {first.item.file}:{first.item.line})",
            ))  # fmt: skip
            return
        self.services[service.name] = _Entry(service, dependency_lines)

    def finish(self) -> ServiceMapLoad:
        """Check dependencies against the merged map, and hand everything over."""
        services = {name: self._checked(entry, "service") for name, entry in self.services.items()}
        metrics = {name: self._checked(entry, "business metric") for name, entry in self.metrics.items()}
        service_map = ServiceMap(services=services, business_metrics=metrics)  # type: ignore[arg-type]
        order = {name: number for number, name in enumerate(self.read)}
        errors = sorted(self.errors, key=lambda d: (order.get(d.file, -1), d.line))  # stable: file, line
        return ServiceMapLoad(service_map, errors, self.skipped, self.files, self.warnings)

    def _service_names(self) -> Suggester:
        """Built once: every unknown dependency is looked up in it (linear, not quadratic)."""
        if self._suggester is None:
            self._suggester = Suggester(self.services)
        return self._suggester

    def _checked(self, entry: _Entry, what: str) -> Service | BusinessMetric:
        item = entry.item
        kept = []
        for dependency in item.depends_on:
            line = entry.dependency_lines[dependency]
            if what == "service" and dependency == item.name:
                # GitLab's gitaly and kas list themselves: harmless, worth a word, not an error.
                self.warnings.append(Diagnostic(item.file, line, f"service {item.name!r} depends on itself (ignored)"))
            elif dependency not in self.services:
                if dependency not in self.rejected:  # that one's own error is reported already
                    hint = self._service_names().hint(dependency)
                    message = f"{what} {item.name!r} depends on unknown service {dependency!r}{hint}"
                    self.errors.append(Diagnostic(item.file, line, message))
            else:
                kept.append(dependency)
        if len(kept) == len(item.depends_on):
            return item
        return replace(item, depends_on=tuple(kept))


# --------------------------------------------------------------------------- helpers


class _OurAnnotations:
    """The ``coverage-audit/*`` annotations of a Backstage entity."""

    def __init__(self, annotations: YMap | None, lines: list[str]) -> None:
        self.annotations = annotations if annotations is not None else {}
        self.lines = lines

    def has(self, key: str) -> bool:
        return key in self.annotations

    def value(self, key: str) -> object:
        return self.annotations.get(key)

    def line(self, key: str) -> int:
        annotations = self.annotations
        return annotations.line_of(key) if isinstance(annotations, YMap) else 0

    def unknown(self) -> list[str]:
        return [key for key in self.annotations if key.startswith(ANNOTATION_PREFIX) and key not in ANNOTATIONS]

    def literal_block(self, key: str) -> bool:
        """Is the annotation written as ``key: |`` so its text keeps the file's lines?"""
        number = self.line(key)
        if not 0 < number <= len(self.lines):
            return False
        text = self.lines[number - 1]
        at = text.find(key)
        return at >= 0 and bool(_LITERAL_BLOCK.search(text[at + len(key):]))


def entity_ref(ref: str) -> tuple[str | None, str]:
    """A Backstage entity reference ``[kind:][namespace/]name`` -> (kind in lower case, name)."""
    text = ref.strip()
    kind: str | None = None
    head, colon, rest = text.partition(":")
    if colon and "/" not in head:
        kind, text = head.strip().lower(), rest
    return kind, text.rsplit("/", 1)[-1].strip()


def glob_problem(glob: object) -> str | None:
    """Why a component ``paths`` entry is not a usable gitignore-style glob (None if it is)."""
    if not isinstance(glob, str):
        return "globs must be strings"
    if not glob.strip():
        return "empty glob"
    if glob != glob.strip():
        return f"{glob!r} has leading or trailing spaces"
    if glob.startswith("#"):
        return f"{glob!r} starts with '#', which makes it a comment (write '\\#' for a literal '#')"
    if _WINDOWS_ABSOLUTE.match(glob) or glob.startswith("~"):
        return f"{glob!r} is an absolute path; globs are relative to the repository root"
    if glob.lstrip("!") == "/":
        return f"{glob!r} is ambiguous (gitignore: everything; CODEOWNERS: nothing); write '**' for everything"
    if _BACKSLASH_LETTER.search(glob):
        return f"{glob!r} has a backslash before a letter or digit; separate folders with '/'"
    if ".." in glob.split("/"):
        return f"{glob!r} climbs out of the repository with '..'"
    try:
        check_glob(glob)
    except GlobError as exc:
        return f"{glob!r}: {exc}"
    return None


def _strip_dot_slash(glob: str) -> str:
    """``./services/x/**`` means ``services/x/**`` (gitignore would look for a folder named '.')."""
    negated = glob.startswith("!")
    body = glob[1:] if negated else glob
    while body.startswith("./"):
        body = body[2:]
    return ("!" if negated else "") + body


def _parse_selector(text: str) -> promql.Selector:
    try:
        return promql.parse_selector(text)
    except promql.PromQLError:
        raise
    except ValueError:  # e.g. '{a="1"} + {b="2"}': more than one selector
        raise promql.PromQLError("not a single vector selector") from None


def _suggest(word: str, choices: Iterable[str]) -> str:
    return suggest(word, choices)
