"""coverage-audit graph: the graph of the bundled example, in each export format."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import networkx as nx
import pytest

from coverage_audit.cli import main
from coverage_audit.reporters.graph import render_dot, render_mermaid

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def in_repo(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)


def export(capsys, fmt: str) -> str:
    assert main(["graph", "--format", fmt]) == 0
    return capsys.readouterr().out


def test_json_holds_every_kind_of_node_and_the_verdicts(capsys) -> None:
    document = json.loads(export(capsys, "json"))
    kinds = {node["kind"] for node in document["nodes"]}
    assert kinds == {"service", "component", "business_metric", "failure_mode", "metric", "recording_rule", "alert", "receiver"}
    relations = {edge["relation"] for edge in document["edges"]}
    assert {"has", "calls", "feeds", "fails_as", "signal", "watches", "reads", "covers", "routes_to"} <= relations
    edges = {(e["source"], e["target"]): e for e in document["edges"]}
    assert ("service:checkout", "service:payments") in edges  # checkout calls payments
    covers = [e for e in document["edges"] if e["relation"] == "covers" and e["target"] == "mode:payments/api#errors"]
    assert covers and any(e["status"] == "covered" for e in covers)
    modes = {n["id"]: n for n in document["nodes"] if n["kind"] == "failure_mode"}
    assert modes["mode:business/orders_completed#failure_ratio"]["status"] == "uncovered"


def test_graphml_round_trips_through_networkx(capsys) -> None:
    text = export(capsys, "graphml")
    graph = nx.read_graphml(io.BytesIO(text.encode()))
    document = json.loads(export(capsys, "json"))
    assert graph.number_of_nodes() == len(document["nodes"])
    assert graph.number_of_edges() == len(document["edges"])
    assert graph.nodes["service:payments"]["owner"] == "team-payments"


def test_dot_is_well_formed(capsys) -> None:
    text = export(capsys, "dot")
    assert text.startswith("digraph coverage {") and text.rstrip().endswith("}")
    assert '"service:checkout" -> "service:payments" [label="calls"];' in text
    assert text.count("{") == text.count("}")


def test_mermaid_is_well_formed(capsys) -> None:
    text = export(capsys, "mermaid")
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    node = re.compile(r"^  n\d+(\[\"|\(\"|\(\[\"|>\"|\[\[\"|\{\"|\{\{\"|\[\(\"|\[/\").*$")
    edge = re.compile(r"^  n\d+ -->\|[^|]*\| n\d+$")
    assert all(node.match(line) or edge.match(line) for line in lines[1:])


def test_labels_from_inputs_cannot_break_out() -> None:
    graph = nx.DiGraph()
    graph.add_node('alert:x', kind="alert", label='Evil"] --> n0; click n0 "javascript:alert(1)" <b>|')
    graph.add_node("alert:y", kind="alert", label='quote " and \\ backslash')
    graph.add_edge("alert:x", "alert:y", relation='covers"]')
    mermaid = render_mermaid(graph)
    assert '"javascript' not in mermaid and "<b>" not in mermaid and "#quot;" in mermaid
    dot = render_dot(graph)
    assert '\\"' in dot and dot.count('"alert:x"') == 2
