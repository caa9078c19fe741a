"""`coverage-audit rules`: the inventory contract (DESIGN 6), exit codes, config and output."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from coverage_audit.cli import main

RULES = """\
    groups:
      - name: payments
        rules:
          - record: job:payments_errors:rate5m
            expr: sum by (job) (rate(payments_requests_total{status=~"5.."}[5m]))
          - alert: PaymentsHighErrorRatio
            expr: job:payments_errors:rate5m > 0.05
            for: 5m
          - alert: NodeDown
            expr: up{job="node"} == 0
"""


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "rulesets"
    folder.mkdir()
    (folder / "payments.yaml").write_text(textwrap.dedent(RULES))
    return folder


def test_json_inventory_contract(rules_dir: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(rules_dir.parent)
    assert main(["rules", "--rules", "rulesets", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["version"] == 1 and document["errors"] == []
    alert = next(r for r in document["rules"] if r["name"] == "PaymentsHighErrorRatio")
    assert {k: alert[k] for k in ("kind", "name", "group", "file", "line", "expr", "metrics", "level")} == {
        "kind": "alert",
        "name": "PaymentsHighErrorRatio",
        "group": "payments",
        "file": "rulesets/payments.yaml",
        "line": 6,
        "expr": "job:payments_errors:rate5m > 0.05",
        "metrics": ["payments_requests_total"],
        "level": "application",
    }
    node = next(r for r in document["rules"] if r["name"] == "NodeDown")
    assert node["level"] == "infrastructure"
    assert document["summary"]["alerts"] == 2 and document["summary"]["records"] == 1


def test_text_inventory_is_a_table(rules_dir: Path, capsys) -> None:
    assert main(["rules", "--rules", str(rules_dir)]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header == ["LOCATION", "KIND", "NAME", "LEVEL", "METRICS"]
    assert "payments.yaml:6" in out and "PaymentsHighErrorRatio" in out
    assert "2 alerting rules (1 application-level), 1 recording rules from 1 files" in out


def test_errors_exit_2_name_file_and_line_and_the_rest_completes(rules_dir: Path, capsys) -> None:
    (rules_dir / "broken.yaml").write_text("groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: sum(\n")
    assert main(["rules", "--rules", str(rules_dir), "--format", "json"]) == 2
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert len(document["rules"]) == 4  # the good file, plus the broken rule kept with its error
    (error,) = document["errors"]
    assert error["file"].endswith("broken.yaml") and error["line"] == 5
    assert f"{error['file']}:5: alert 'A': could not parse expr" in captured.err


def test_output_file_and_markdown(rules_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "inventory.md"
    assert main(["rules", "--rules", str(rules_dir), "--format", "markdown", "--output", str(target)]) == 0
    text = target.read_text()
    assert text.startswith("## Rule inventory") and "| PaymentsHighErrorRatio |" in text.replace("\\", "")


def test_config_file_paths_are_relative_to_it(rules_dir: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    config = rules_dir.parent / "coverage-audit.yaml"
    config.write_text("rules: [rulesets/]\nbudget: 10m\n")
    monkeypatch.chdir(tmp_path.parent)
    assert main(["rules", "--config", str(config), "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["rules"]) == 3


def test_bad_config_is_a_usage_error_with_line(tmp_path: Path, capsys) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("rules: [x]\nbudgte: 10m\n")
    assert main(["rules", "--config", str(config)]) == 2
    assert f"{config}:2: unknown setting 'budgte'" in capsys.readouterr().err


def test_no_rules_is_a_usage_error(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["rules"]) == 2
    assert "no rules given" in capsys.readouterr().err


def test_python_dash_m_entry_point(rules_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "coverage_audit", "rules", "--rules", str(rules_dir), "--format", "json"],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["rules"]) == 3
