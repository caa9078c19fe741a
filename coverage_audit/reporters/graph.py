"""The graph in four formats: JSON (node/edge lists), GraphML, DOT (Graphviz) and Mermaid."""

from __future__ import annotations

from typing import Callable

import networkx as nx

from ..printable import printable
from .json import dumps

_SHAPES = {  # DOT / Mermaid shapes per node kind, so a picture reads at a glance
    "service": ("box", '["{}"]'),
    "component": ("box", '("{}")'),
    "business_metric": ("doubleoctagon", '{{{{"{}"}}}}'),
    "failure_mode": ("ellipse", '(["{}"])'),
    "metric": ("note", '>"{}"]'),
    "recording_rule": ("component", '[["{}"]]'),
    "alert": ("octagon", '{{"{}"}}'),
    "receiver": ("cylinder", '[("{}")]'),
    "topic": ("cds", '[/"{}"/]'),
}


FORMATS = ("json", "graphml", "dot", "mermaid")


def render(graph: nx.DiGraph, fmt: str) -> str:
    return {"json": render_json, "graphml": render_graphml, "dot": render_dot, "mermaid": render_mermaid}[fmt](graph)


def render_json(graph: nx.DiGraph) -> str:
    document = {
        "version": 1,
        "nodes": [{"id": node, **_plain(data)} for node, data in graph.nodes(data=True)],
        "edges": [{"source": a, "target": b, **_plain(data)} for a, b, data in graph.edges(data=True)],
    }
    return dumps(document)


def render_graphml(graph: nx.DiGraph) -> str:
    """XML 1.0 cannot hold most control characters, even as references: names and values that
    carry them are written with visible escapes (``printable``), so the document stays valid."""
    clean = nx.DiGraph()
    clean.add_nodes_from((_xml(node), _plain(data, _xml)) for node, data in graph.nodes(data=True))
    clean.add_edges_from((_xml(a), _xml(b), _plain(data, _xml)) for a, b, data in graph.edges(data=True))
    return "\n".join(nx.generate_graphml(clean, prettyprint=True)) + "\n"


def _xml(text: str) -> str:
    return printable(text, keep_lines=True)


def render_dot(graph: nx.DiGraph) -> str:
    lines = ["digraph coverage {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
    for node, data in graph.nodes(data=True):
        shape = _SHAPES.get(data.get("kind", ""), ("box", ""))[0]
        lines.append(f"  {_dot_quote(node)} [label={_dot_quote(str(data.get('label', node)))} shape={shape}];")
    for a, b, data in graph.edges(data=True):
        lines.append(f"  {_dot_quote(a)} -> {_dot_quote(b)} [label={_dot_quote(_edge_label(data))}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_mermaid(graph: nx.DiGraph) -> str:
    ids = {node: f"n{index}" for index, node in enumerate(graph.nodes)}
    lines = ["flowchart LR"]
    for node, data in graph.nodes(data=True):
        shape = _SHAPES.get(data.get("kind", ""), ("box", '["{}"]'))[1]
        lines.append(f"  {ids[node]}{shape.format(_mermaid_text(str(data.get('label', node))))}")
    for a, b, data in graph.edges(data=True):
        lines.append(f"  {ids[a]} -->|{_mermaid_text(_edge_label(data))}| {ids[b]}")
    return "\n".join(lines) + "\n"


def _edge_label(data: dict) -> str:
    """The relation, with the verdict on ``covers`` edges: "covers (weak)"."""
    relation = str(data.get("relation", ""))
    return f"{relation} ({data['status']})" if data.get("status") else relation


def _plain(data: dict, text: Callable[[str], str] = lambda value: value) -> dict:
    """Attribute values GraphML and JSON can hold (no None, no containers)."""
    return {
        text(k): text(v) if isinstance(v, str) else v if isinstance(v, (int, float, bool)) else text(str(v))
        for k, v in data.items()
        if v is not None
    }


def _dot_quote(text: str) -> str:
    text = printable(" ".join(text.split()), keep_lines=False)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _mermaid_text(text: str) -> str:
    """Mermaid labels: quotes and markup characters as entity codes, so input cannot break out."""
    text = printable(" ".join(text.split()), keep_lines=False)
    for char, code in (("&", "#amp;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"), ("|", "#124;"), ("`", "#96;")):
        text = text.replace(char, code)
    return text
