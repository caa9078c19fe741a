"""Dependencies the running system shows: calls seen in service-graph metrics (DESIGN 3.6).

Each series of a service-graph metric (``data/service_graph.yaml``) in the lookback names a caller
and a callee. Names map onto the service map by service name or by a value the service's selector
pins (``{job="checkout-svc"}``). A call between two mapped services becomes a ``discovered`` edge;
one the caller does not declare in ``depends_on``, and a name the map does not know, is map drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from ..model import MatchOp, ServiceMap
from ..yamlio import YMap, YSeq, load_documents
from .prometheus import PrometheusClient


@dataclass(frozen=True, slots=True)
class EdgeMetric:
    metric: str
    client: str
    server: str


@dataclass(frozen=True, slots=True)
class DiscoveredEdge:
    client: str  # service names in the map
    server: str
    metric: str  # the metric that showed the call

    @property
    def declared_key(self) -> tuple[str, str]:
        return (self.client, self.server)


@dataclass(slots=True)
class Discovery:
    edges: list[DiscoveredEdge] = field(default_factory=list)
    undeclared: list[DiscoveredEdge] = field(default_factory=list)
    unknown: dict[str, str] = field(default_factory=dict)  # peer name -> metric it appeared in


@lru_cache(maxsize=1)
def edge_metrics() -> tuple[tuple[EdgeMetric, ...], frozenset[str]]:
    name = "coverage_audit/data/service_graph.yaml"
    text = resources.files("coverage_audit").joinpath("data/service_graph.yaml").read_text(encoding="utf-8")
    data = load_documents(text, name)[0].value
    assert isinstance(data, YMap) and isinstance(data["edges"], YSeq)
    metrics = tuple(EdgeMetric(e["metric"], e["client"], e["server"]) for e in data["edges"])
    return metrics, frozenset(data.get("ignore") or ())


def discover(client: PrometheusClient, service_map: ServiceMap, start: float, end: float) -> Discovery:
    """Calls seen in [start, end], as edges between services of the map (LiveError if the
    server fails)."""
    return edges_between(observed_calls(client, start, end), service_map, edge_metrics()[1])


def observed_calls(client: PrometheusClient, start: float, end: float) -> dict[tuple[str, str], str]:
    """(caller, callee) peer names seen in [start, end], each with the metric that showed it."""
    metrics, _ = edge_metrics()
    series = client.series(['{__name__="%s"}' % m.metric for m in metrics], start, end)
    by_metric = {m.metric: m for m in metrics}
    pairs: dict[tuple[str, str], str] = {}
    for labels in series:
        spec = by_metric.get(labels.get("__name__", ""))
        if spec is None:
            continue
        caller, callee = labels.get(spec.client, ""), labels.get(spec.server, "")
        pairs.setdefault((caller, callee), spec.metric)
    return pairs


def edges_between(pairs: dict[tuple[str, str], str], service_map: ServiceMap, ignore: frozenset[str] = frozenset()) -> Discovery:
    """Peer-name pairs (with the metric that showed each) as edges between mapped services."""
    names = service_names(service_map)
    found = Discovery()
    seen: set[tuple[str, str]] = set()
    for (caller, callee), metric in sorted(pairs.items()):
        if caller in ignore or callee in ignore:
            continue
        a, b = names.get(caller), names.get(callee)
        for peer, mapped in ((caller, a), (callee, b)):
            if mapped is None:
                found.unknown.setdefault(peer, metric)
        if a is None or b is None or a == b or (a, b) in seen:
            continue
        seen.add((a, b))
        edge = DiscoveredEdge(a, b, metric)
        found.edges.append(edge)
        if b not in service_map.services[a].depends_on:
            found.undeclared.append(edge)
    return found


def service_names(service_map: ServiceMap) -> dict[str, str]:
    """Peer name -> service: the service's own name, and the values its selector pins."""
    names: dict[str, str] = {}
    for service in service_map.services.values():
        for alternative in service.alternatives or (service.matchers,):
            for matcher in alternative:
                if matcher.op is MatchOp.EQ:
                    names.setdefault(matcher.value, service.name)
    for service in service_map.services.values():
        names[service.name] = service.name  # a service's own name wins over another's selector value
    return names
