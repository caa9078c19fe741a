"""`rules --format json` is streamed a rule at a time; its text is exactly what one
``json.dumps(document, indent=2)`` of the whole contract document makes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coverage_audit.analysis.inventory import Inventory, build_inventory
from coverage_audit.cli import main
from coverage_audit.loaders.rules import load_rules
from coverage_audit.printable import json_text
from coverage_audit.reporters.json import iter_inventory, render_inventory
from coverage_audit.ruleset import build_ruleset

ROOT = Path(__file__).resolve().parents[1]

TRICKY = """\
groups:
  - name: "g \\"quoted\\" ü"
    interval: 30s
    rules:
      - alert: "Spaces and \\t tab, ✓ and \\u0007 bell"
        expr: 'rate(http_requests_total{path="/a\\\\b", code=~"5.."}[5m]) > 0.5'
        for: 90s
        labels: {severity: page, "é": "ü\\nnewline", empty: ""}
      - alert: NoLabels
        expr: vector(1)
      - record: 'job:x:rate5m'
        expr: sum by (job) (rate(x[5m]))
      - alert: Broken
        expr: 'rate(x[5m]) >'
  - name: other
    rules:
      - alert: UsesRecording
        expr: job:x:rate5m > 1
        for: 1h
"""


def reference(inventory: Inventory) -> str:
    """The document as the reporter built it before streaming: one dict, one dumps."""
    document = {
        "version": 1,
        "rules": [
            {
                "kind": e.rule.kind, "name": e.rule.name, "group": e.rule.group, "file": e.rule.file,
                "line": e.rule.line, "expr": e.rule.expr, "metrics": list(e.metrics), "level": e.level,
                "source": e.rule.source, "for_seconds": e.rule.for_seconds, "labels": dict(e.rule.labels),
                "judged": e.rule.not_judged is None,
                **({"not_judged": e.rule.not_judged} if e.rule.not_judged is not None else {}),
            }
            for e in inventory.entries
        ],
        "errors": [error.as_dict() for error in inventory.errors],
        "skipped": [{"file": s.file, "reason": s.reason} for s in inventory.skipped],
        "summary": {
            "files": inventory.files, "alerts": inventory.alerts, "records": inventory.records,
            "application_alerts": inventory.application_alerts, "errors": len(inventory.errors),
            "skipped": len(inventory.skipped),
        },
    }
    return json_text(json.dumps(document, indent=2, ensure_ascii=False)) + "\n"


def inventory_of(*paths: str) -> Inventory:
    return build_inventory(build_ruleset(load_rules(list(paths), jobs=1)))


def test_tricky_text_streams_exactly_as_one_dumps(tmp_path: Path) -> None:
    (tmp_path / "tricky.yaml").write_text(TRICKY)
    (tmp_path / "not-rules.yaml").write_text("route: {receiver: x}\n")
    inventory = inventory_of(str(tmp_path))
    assert inventory.errors and inventory.skipped and any(not e.metrics for e in inventory.entries)
    streamed = "".join(iter_inventory(inventory))
    assert streamed == reference(inventory)
    document = json.loads(streamed)
    assert document["rules"][0]["labels"] == {"severity": "page", "é": "ü\nnewline", "empty": ""}
    assert document["rules"][0]["for_seconds"] == 90.0


def test_a_rule_that_is_not_judged_streams_why(tmp_path: Path) -> None:
    """Grafana rules on other data sources are listed, with why they are not judged."""
    loki = """\
apiVersion: 1
groups:
  - name: g
    folder: F
    interval: 1m
    rules:
      - uid: r
        title: "Logs \\u202e say so"
        condition: C
        data:
          - refId: A
            datasourceUid: logs
            model: {datasource: {type: loki, uid: logs}, expr: 'sum(rate({app="x"}[5m]))'}
          - refId: C
            datasourceUid: __expr__
            model: {type: threshold, expression: A, conditions: [{evaluator: {type: gt, params: [1]}}]}
"""
    (tmp_path / "grafana.yaml").write_text(loki)
    (tmp_path / "prometheus.yaml").write_text(TRICKY)
    inventory = inventory_of(str(tmp_path))
    assert any(e.rule.not_judged for e in inventory.entries)
    assert render_inventory(inventory) == reference(inventory)
    document = json.loads(render_inventory(inventory))
    assert {r["judged"] for r in document["rules"]} == {True, False}


def test_an_empty_inventory_streams_exactly_as_one_dumps(tmp_path: Path) -> None:
    (tmp_path / "empty.yaml").write_text("groups: []\n")
    inventory = inventory_of(str(tmp_path))
    assert inventory.entries == ()
    assert render_inventory(inventory) == reference(inventory)


def test_the_bundled_example_streams_exactly_as_one_dumps() -> None:
    inventory = inventory_of(str(ROOT / "rulesets"))
    assert len(inventory.entries) > 20
    assert render_inventory(inventory) == reference(inventory)


@pytest.mark.corpus
def test_a_real_organisation_streams_exactly_as_one_dumps(corpus_dir: Path) -> None:
    inventory = inventory_of(str(corpus_dir / "mattrussi__gitlab-com-runbooks/mimir-rules/gitlab-gprd/api"),
                             str(corpus_dir / "wikimedia__operations-alerts"))
    assert len(inventory.entries) > 1000
    assert render_inventory(inventory) == reference(inventory)


def test_the_command_streams_to_stdout_and_to_a_file(tmp_path: Path, capsys) -> None:
    (tmp_path / "tricky.yaml").write_text(TRICKY)
    assert main(["rules", "--rules", str(tmp_path), "--format", "json", "--no-cache"]) == 2  # Broken: exit 2
    out = capsys.readouterr().out
    assert out == reference(inventory_of(str(tmp_path)))
    target = tmp_path / "out" / "inventory.json"
    assert main(["rules", "--rules", str(tmp_path / "tricky.yaml"), "--format", "json", "-o", str(target)]) == 2
    assert target.read_text() == out
    assert [p.name for p in target.parent.iterdir()] == ["inventory.json"]  # no temporary left
