"""What a running Prometheus says about a repository's services (``init``): the label that names
each service's series, the metric families it emits (hence its component kinds, by the catalog's
conventions), and the calls the service graph shows."""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import promql
from ..catalog import Catalog
from ..live.discovered import edge_metrics, observed_calls
from ..live.prometheus import PrometheusClient
from ..model import LabelMatcher, MatchOp
from .settings import init_data


@dataclass(frozen=True, slots=True)
class Identity:
    label: str
    value: str
    families: frozenset[str]


@dataclass
class Observed:
    identities: dict[str, Identity] = field(default_factory=dict)  # candidate name -> identity
    calls: dict[tuple[str, str], str] = field(default_factory=dict)  # (caller, callee) -> metric
    ignored_peers: frozenset[str] = frozenset()


def observe(client: PrometheusClient, names: dict[str, set[str]], start: float, end: float) -> Observed:
    """``names``: each candidate's name and aliases. LiveError if the server fails."""
    labels = init_data().identity_labels
    values = dict(zip(labels, client.transport.map(lambda label: set(client.label_values(label, start, end)), labels)))
    chosen: dict[str, tuple[str, str]] = {}
    for name, aliases in names.items():
        found = _identity(values, labels, [name, *sorted(aliases - {name})])
        if found is not None:
            chosen[name] = found
    order = list(chosen)
    families = client.transport.map(
        lambda name: frozenset(client.metric_names(start, end, match=_selector(*chosen[name]))), order
    )
    identities = {name: Identity(chosen[name][0], chosen[name][1], found) for name, found in zip(order, families)}
    return Observed(identities, observed_calls(client, start, end), edge_metrics()[1])


def _identity(values: dict[str, set[str]], labels: tuple[str, ...], names: list[str]) -> tuple[str, str] | None:
    """The first label (in the data's order) one of whose values is the service's name (or ends
    in ``/name``, as Prometheus Operator's ``namespace/name`` jobs do)."""
    for label in labels:
        for name in names:
            if name in values[label]:
                return label, name
        for name in names:
            suffixed = sorted(v for v in values[label] if v.endswith("/" + name))
            if suffixed:
                return label, suffixed[0]
    return None


def _selector(label: str, value: str) -> str:
    return "{" + str(LabelMatcher(label, MatchOp.EQ, value)) + "}"


def selector_text(identity: Identity) -> str:
    return _selector(identity.label, identity.value)


def kinds_from_families(families: frozenset[str], catalog: Catalog) -> dict[str, str]:
    """Component kinds whose catalog signals the service emits, each with one family that shows
    it, in the order ``data/init.yaml`` lists kinds."""
    found: dict[str, str] = {}
    for kind in init_data().components:
        modes = catalog.kinds.get(kind, ())
        names = sorted({promql.parse_selector(s).metric or "" for mode in modes for s in mode.signals} - {""})
        shown = next((n for n in names if n in families), None)
        if shown is not None:
            found[kind] = shown
    return found
