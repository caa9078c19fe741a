"""What a change impacts (DESIGN 4).

* direct: components whose ``paths`` match a changed path (or that were named) → all their modes;
* dependency: what the graph traversal (``graph.impacted``) reaches from them — callers through
  ``calls``, consumers through the topics a changed component publishes — in the modes the
  catalog's ``impact`` names for each edge kind;
* business: business metrics fed by an impacted service → all their modes.

A changed path no component claims is matched through CODEOWNERS to the services its owners
own, when a CODEOWNERS file is given; otherwise it is reported as unmatched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from ..catalog import Catalog
from ..levels import default_levels
from ..model import BusinessMetric, Change, Component, FailureMode, InputError, LabelMatcher, Service, ServiceMap, subject_selectors
from .findings import Impact, Subject, Target
from .paths import PathIndex, services_for_owner_paths

if TYPE_CHECKING:  # networkx takes a fifth of a second to import: only a walk of the graph needs it
    import networkx as nx


@dataclass(frozen=True, slots=True)
class ImpactedMode:
    subject: Subject
    mode: FailureMode
    target: Target
    impact: Impact | None

    @property
    def service_matchers(self) -> tuple[LabelMatcher, ...]:
        """The first alternative selector (drafts write one)."""
        return self.target.selectors[0]


def target_of(service: Service, component: Component | None, catalog: Catalog | None = None) -> Target:
    """How a component's series are picked (one place for impact, judging and drafts)."""
    own = component is not None and bool(component.matchers)
    context = subject_selectors(service) if own else ()
    owns = catalog.owned_prefixes(component.kind, default_levels()) if catalog is not None and component is not None else ()
    return Target(subject_selectors(service, component), context if context != ((),) else (), service.traffic, owns)


@dataclass(frozen=True, slots=True)
class ChangeImpact:
    modes: tuple[ImpactedMode, ...]
    direct_components: tuple[str, ...]
    unmatched_paths: tuple[str, ...]


def component_subject(service: Service, component: Component) -> Subject:
    return Subject(component.subject, service.name, service.owner, service.tier, component.kind, component.file or service.file, component.line or service.line)


def business_subject(metric: BusinessMetric) -> Subject:
    return Subject(metric.subject, None, metric.owner, "critical", "business_metric", metric.file, metric.line)


def every_mode(service_map: ServiceMap, catalog: Catalog) -> list[ImpactedMode]:
    """Every failure mode of every subject: what a coverage report judges."""
    found = []
    for service in service_map.services.values():
        for component in service.components:
            found += _component_modes(service, component, catalog, None)
    for metric in service_map.business_metrics.values():
        found += _business_modes(metric, catalog, None)
    return found


def every_mode_key(service_map: ServiceMap, catalog: Catalog) -> Iterator[tuple[str, str]]:
    """(subject, failure mode) of every mode of the map, made only when first read (waivers
    read them now and then; a map of 10,000 components takes a second to list)."""
    for mode in every_mode(service_map, catalog):
        yield mode.subject.name, mode.mode.id


def impact_of(
    change: Change,
    service_map: ServiceMap,
    catalog: Catalog,
    graph: nx.DiGraph,
    paths: PathIndex,
) -> ChangeImpact:
    from ..graph import impacted, node_id  # networkx, imported only for a walk

    direct: dict[str, tuple[Service, Component]] = {}
    unmatched: list[str] = []
    for path in change.paths:
        hits = paths.components_for(path)
        if not hits and service_map.codeowners:
            hits = tuple(c for s in services_for_owner_paths(service_map.codeowners, service_map, path) for c in s.components)
        if not hits:
            unmatched.append(path)
        for component in hits:
            direct.setdefault(component.subject, (service_map.services[component.service], component))
    for name in change.components:
        direct.setdefault(name, _named_component(service_map, name, change.source))
    modes: list[ImpactedMode] = []
    for service, component in direct.values():
        modes += _component_modes(service, component, catalog, "direct")
    components = {node_id("component", c.subject): (s, c) for s in service_map.services.values() for c in s.components}
    businesses = {node_id("business", m.name): m for m in service_map.business_metrics.values()}
    reached = {r.node: r for r in impacted(graph, direct, catalog.impact)}
    for node in sorted(n for n in reached if n in components and not reached[n].direct):  # stable: by subject
        service, component = components[node]
        wanted = reached[node].modes
        modes += [m for m in _component_modes(service, component, catalog, "dependency") if wanted is None or m.mode.id in wanted]
    for node, metric in businesses.items():  # map order
        if node in reached:
            wanted = reached[node].modes
            modes += [m for m in _business_modes(metric, catalog, "business") if wanted is None or m.mode.id in wanted]
    return ChangeImpact(tuple(modes), tuple(direct), tuple(unmatched))


def _named_component(service_map: ServiceMap, name: str, source: str) -> tuple[Service, Component]:
    service_name, _, component_name = name.partition("/")
    service = service_map.services.get(service_name)
    if service is not None:
        for component in service.components:
            if component.name == component_name or not component_name and len(service.components) == 1:
                return service, component
    known = [c.subject for s in service_map.services.values() for c in s.components]
    hint = f" (known: {', '.join(known[:6])}{', …' if len(known) > 6 else ''})" if known else ""
    raise InputError(source or "--component", 0, f"no component {name!r} in the service map{hint}")


def _component_modes(service: Service, component: Component, catalog: Catalog, impact: Impact | None) -> list[ImpactedMode]:
    subject = component_subject(service, component)
    target = target_of(service, component, catalog)
    return [ImpactedMode(subject, mode, target, impact) for mode in catalog.modes_for(component)]


def _business_modes(metric: BusinessMetric, catalog: Catalog, impact: Impact | None) -> list[ImpactedMode]:
    subject = business_subject(metric)
    return [ImpactedMode(subject, mode, Target(), impact) for mode in catalog.modes_for_business(metric)]
