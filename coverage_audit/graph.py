"""The graph (networkx) linking services, components, dependencies, business metrics, failure
modes, metrics, recording rules, alerts and receivers.

Built once from the model. Impact analysis walks its ``depends_on`` edges; ``coverage-audit
graph`` exports it, with the analysis' verdicts as ``covers`` edges when they are given.
Node ids are ``kind:name`` strings so exports stay readable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

import networkx as nx

from .catalog import Catalog
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
            graph.add_node(cid, kind="component", label=component.subject, component_kind=component.kind)
            graph.add_edge(sid, cid, relation="has")
            for mode in catalog.modes_for(component) if modes else ():
                _add_mode(graph, cid, component.subject, mode.id, mode.direction, mode.signals)
    for service in service_map.services.values():
        for dependency in service.depends_on:
            if dependency in service_map.services:
                graph.add_edge(node_id("service", service.name), node_id("service", dependency), relation="depends_on")
    for metric in service_map.business_metrics.values():
        bid = node_id("business", metric.name)
        graph.add_node(bid, kind="business_metric", label=metric.subject, owner=metric.owner)
        for dependency in metric.depends_on:
            if dependency in service_map.services:
                graph.add_edge(bid, node_id("service", dependency), relation="depends_on")
        for mode in catalog.modes_for_business(metric) if modes else ():
            _add_mode(graph, bid, metric.subject, mode.id, mode.direction, mode.signals)


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


CALL_RELATIONS = frozenset({"depends_on", "discovered"})  # edges a failure travels up to callers


def add_discovered(graph: nx.DiGraph, client: str, server: str, metric: str = "") -> bool:
    """A call the running system shows (DESIGN 3.6): ``client`` calls ``server``, both services
    of the graph. It propagates impact like a declared dependency; a declared edge stays as it
    is. Returns whether a new (undeclared) edge was added."""
    a, b = node_id("service", client), node_id("service", server)
    if a not in graph or b not in graph or a == b or graph.has_edge(a, b):
        return False
    graph.add_edge(a, b, relation="discovered", metric=metric)
    return True


def callers(graph: nx.DiGraph, services: Iterable[str]) -> set[str]:
    """Services that depend on any of ``services``, directly or through others (one reverse
    breadth-first walk over declared and discovered call edges, however many services start it)."""
    queue = [node_id("service", name) for name in services if node_id("service", name) in graph]
    reached: set[str] = set()  # a changed service calling another changed one is a caller too
    while queue:
        current = queue.pop()
        for caller in graph.predecessors(current):
            if caller not in reached and graph.nodes[caller]["kind"] == "service" and graph.edges[caller, current].get("relation") in CALL_RELATIONS:
                reached.add(caller)
                queue.append(caller)
    return {graph.nodes[n]["label"] for n in reached}


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
