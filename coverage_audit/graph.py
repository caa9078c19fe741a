"""The graph (networkx) linking services, components, topics, business metrics, failure modes,
metrics, recording rules, alerts and receivers.

Built once from the model. Impact is computed on it (:func:`impacted`, DESIGN 4): one traversal
along its ``calls``, ``discovered``, ``publishes``, ``consumes`` and ``feeds`` edges, each kind
passing on the failure modes the catalog names for it. ``coverage-audit graph`` exports it, with
the analysis' verdicts as ``covers`` edges when they are given. Node ids are ``kind:name``
strings so exports stay readable.

Edges: service -has-> component; service -calls-> service it depends on; component -publishes->
topic; component -consumes-> topic; service -feeds-> business metric that depends on it;
service -discovered-> service (seen in the live service graph, :func:`add_discovered`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Mapping

import networkx as nx

from .catalog import Catalog, Propagation
from .model import AlertmanagerConfig, ServiceMap
from .ruleset import RuleSet

if TYPE_CHECKING:
    from .analysis.findings import Finding


def node_id(kind: str, name: str) -> str:
    return f"{kind}:{name}"


def build_graph(
    service_map: ServiceMap,
    catalog: Catalog,
    ruleset: RuleSet | None = None,
    alertmanager: AlertmanagerConfig | None = None,
    modes: bool = True,
) -> nx.DiGraph:
    """The graph; ``modes=False`` leaves out failure modes and metrics (impact needs only the
    services, components, business metrics and their dependencies)."""
    graph = nx.DiGraph()
    _add_services(graph, service_map, catalog, modes)
    if ruleset is not None:
        _add_rules(graph, ruleset)
    if alertmanager is not None:
        for receiver in alertmanager.receivers.values():
            graph.add_node(
                node_id("receiver", receiver.name),
                kind="receiver",
                label=receiver.name,
                blackhole=receiver.blackhole,
                integrations=",".join(receiver.integrations),
            )
    return graph


def _add_services(graph: nx.DiGraph, service_map: ServiceMap, catalog: Catalog, modes: bool) -> None:
    for service in service_map.services.values():
        sid = node_id("service", service.name)
        graph.add_node(sid, kind="service", label=service.name, owner=service.owner, tier=service.tier, selector=service.selector)
        for component in service.components:
            cid = node_id("component", component.subject)
            graph.add_node(cid, kind="component", label=component.subject, component_kind=component.kind, service=sid)
            graph.add_edge(sid, cid, relation="has")
            for topic in component.publishes:
                _add_topic(graph, topic)
                graph.add_edge(cid, node_id("topic", topic), relation="publishes")
            for topic in component.consumes:
                _add_topic(graph, topic)
                if not graph.has_edge(cid, node_id("topic", topic)):  # reading what it writes changes nothing
                    graph.add_edge(cid, node_id("topic", topic), relation="consumes")
            for mode in catalog.modes_for(component) if modes else ():
                _add_mode(graph, cid, component.subject, mode.id, mode.direction, mode.signals)
    for service in service_map.services.values():
        for dependency in service.depends_on:
            if dependency in service_map.services:
                graph.add_edge(node_id("service", service.name), node_id("service", dependency), relation="calls")
    for metric in service_map.business_metrics.values():
        bid = node_id("business", metric.name)
        graph.add_node(bid, kind="business_metric", label=metric.subject, owner=metric.owner)
        for dependency in metric.depends_on:
            if dependency in service_map.services:
                graph.add_edge(node_id("service", dependency), bid, relation="feeds")
        for mode in catalog.modes_for_business(metric) if modes else ():
            _add_mode(graph, bid, metric.subject, mode.id, mode.direction, mode.signals)


def _add_topic(graph: nx.DiGraph, topic: str) -> None:
    tid = node_id("topic", topic)
    if tid not in graph:
        graph.add_node(tid, kind="topic", label=topic)


def _add_mode(graph: nx.DiGraph, owner: str, subject: str, mode_id: str, direction: str, signals: Iterable[str]) -> None:
    mid = node_id("mode", f"{subject}#{mode_id}")
    graph.add_node(mid, kind="failure_mode", label=f"{subject} {mode_id}", direction=direction)
    graph.add_edge(owner, mid, relation="fails_as")
    for signal in signals:
        metric = signal.split("{", 1)[0].strip()
        if metric:
            graph.add_node(node_id("metric", metric), kind="metric", label=metric)
            graph.add_edge(mid, node_id("metric", metric), relation="signal", selector=signal)


def _add_rules(graph: nx.DiGraph, ruleset: RuleSet) -> None:
    for rule in ruleset.rules:
        if rule.kind == "record":
            rid = node_id("record", rule.name)
            graph.add_node(rid, kind="recording_rule", label=rule.name)
        else:
            rid = node_id("alert", f"{rule.file}:{rule.line}")
            graph.add_node(rid, kind="alert", label=rule.name, level=ruleset.levels[rule], file=rule.file, line=rule.line)
            for metric in ruleset.raw_metrics[rule]:
                graph.add_node(node_id("metric", metric), kind="metric", label=metric)
                graph.add_edge(rid, node_id("metric", metric), relation="watches")
        for name in rule.query.metrics if rule.query is not None else ():
            target = node_id("record", name) if name in ruleset.records else node_id("metric", name)
            if target not in graph:
                graph.add_node(target, kind="recording_rule" if name in ruleset.records else "metric", label=name)
            graph.add_edge(rid, target, relation="reads")


def add_discovered(graph: nx.DiGraph, client: str, server: str, metric: str = "") -> bool:
    """A call the running system shows (DESIGN 3.6): ``client`` calls ``server``, both services
    of the graph. It propagates impact like a declared ``calls`` edge (the catalog's ``impact``
    names ``discovered`` too); a declared edge stays as it is. Returns whether a new
    (undeclared) edge was added: map drift."""
    a, b = node_id("service", client), node_id("service", server)
    if a not in graph or b not in graph or a == b or graph.has_edge(a, b):
        return False
    graph.add_edge(a, b, relation="discovered", metric=metric)
    return True


@dataclass(frozen=True, slots=True)
class Reached:
    """A subject a change impacts: ``direct`` (its code changed) or reached through the graph,
    with the failure modes that reach it (None: every mode)."""

    node: str
    direct: bool
    modes: frozenset[str] | None


def impacted(graph: nx.DiGraph, direct: Iterable[str], rules: Mapping[str, Propagation]) -> list[Reached]:
    """Every component and business metric a change to the ``direct`` components (subjects
    ``service/component``) impacts: one breadth-first traversal, each node visited at most
    twice, each edge kind passing on the modes ``rules`` (the catalog's ``impact``) name.

    A component changed directly fails its service as a whole; a service failing as a whole
    reaches its callers (``calls``/``discovered``) and business metrics (``feeds``); a failing
    component fails the topics it ``publishes``, a failing topic its consumers (``consumes``);
    a component reached that way goes on along its own ``publishes`` and feeds business metrics
    through its service, but does not fail that service for its callers."""
    modes: dict[str, set[str] | None] = {}  # component or business node -> modes reaching it
    whole: set[str] = set()  # services failing as a whole
    feeding: set[str] = set()  # services whose business metrics are reached
    seen: set[str] = set()
    queue: deque[str] = deque()
    starts = [node_id("component", name) for name in dict.fromkeys(direct)]
    for cid in starts:
        if cid in graph:
            modes[cid] = None
            queue.append(cid)
            seen.add(cid)
            service = graph.nodes[cid]["service"]
            if service not in whole:
                whole.add(service)
                queue.append(service)

    def reach(node: str, passed: Propagation) -> None:
        kind = graph.nodes[node]["kind"]
        if kind == "service":
            if node not in whole:
                whole.add(node)
                queue.append(node)
            for cid in graph.successors(node):
                if graph.edges[node, cid].get("relation") == "has":
                    _add_modes(modes, cid, passed)
            return
        if kind in ("component", "business_metric"):
            _add_modes(modes, node, passed)
        if node not in seen:
            seen.add(node)
            queue.append(node)

    while queue:
        node = queue.popleft()
        kind = graph.nodes[node]["kind"]
        if kind == "component":
            service = graph.nodes[node]["service"]
            if service not in whole and service not in feeding:
                feeding.add(service)
                queue.append(service)
        allowed = None if kind != "service" or node in whole else ("feeds",)
        for relation, rule in rules.items():
            if allowed is not None and relation not in allowed:
                continue
            edges = graph.out_edges(node, data="relation") if rule.along == "forward" else graph.in_edges(node, data="relation")
            for source, target, edge_relation in edges:
                if edge_relation == relation:
                    reach(target if rule.along == "forward" else source, rule)
    starts_set = set(starts)
    return [Reached(node, node in starts_set, frozenset(found) if found is not None else None) for node, found in modes.items()]


def _add_modes(modes: dict[str, set[str] | None], node: str, passed: Propagation) -> None:
    current = modes.get(node, set())
    if current is None:
        return  # already impacted in every mode
    if passed.modes is None:
        modes[node] = None
    else:
        modes[node] = current | set(passed.modes)


def add_findings(graph: nx.DiGraph, findings: Iterable["Finding"]) -> None:
    """The analysis' verdicts as edges, for export: alert -covers-> failure mode (status
    ``covered`` or ``weak``), and alert -routes_to-> receiver."""
    for finding in findings:
        mode = node_id("mode", f"{finding.subject.name}#{finding.mode.id}")
        graph.nodes[mode]["status"] = finding.status
        for alert in finding.alerts:
            aid = node_id("alert", f"{alert.rule.file}:{alert.rule.line}")
            graph.add_edge(aid, mode, relation="covers", status="covered" if alert.ok else "weak", problems=",".join(alert.problems))
            for receiver in alert.receivers:
                graph.add_edge(aid, node_id("receiver", receiver), relation="routes_to")
