"""`coverage-audit check` end to end on the bundled example: change inputs, formats, exit codes."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest

from coverage_audit.cli import main

ROOT = Path(__file__).resolve().parents[1]
SARIF_SCHEMA = ROOT / ".cache" / "sarif-schema-2.1.0.json"
STORY = "services/checkout/handlers/place_order.py"


@pytest.fixture(autouse=True)
def in_repo(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_contract(capsys) -> None:
    code, out, _ = run(capsys, "check", "--changed", STORY, "--format", "json")
    document = json.loads(out)
    assert code == 1
    assert document["version"] == 1
    assert document["change"]["paths"] == [STORY]
    assert document["change"]["components"] == ["checkout/api"]
    summary = document["summary"]
    assert summary["total"] == len(document["findings"]) == summary["covered"] + summary["weak"] + summary["uncovered"]
    keys = {"subject", "service", "failure_mode", "direction", "impact", "status", "alerts", "related", "reason"}
    for finding in document["findings"]:
        assert keys <= set(finding)
        assert finding["reason"]
        for alert in finding["alerts"]:
            assert {"name", "file", "line", "level", "receivers", "detect_seconds", "problems"} <= set(alert)
            assert isinstance(alert["detect_seconds"], int)
    business = [f for f in document["findings"] if f["subject"].startswith("business/")]
    assert business and all(f["service"] is None and f["impact"] == "business" for f in business)
    errors = next(f for f in document["findings"] if f["subject"] == "checkout/api" and f["failure_mode"] == "errors")
    assert errors["status"] == "covered"
    assert errors["alerts"][0]["receivers"] and "http_requests_total" in errors["reason"]


def test_text_table(capsys) -> None:
    code, out, _ = run(capsys, "check", "--changed", STORY)
    assert code == 1
    header = out.splitlines()[1].split()
    assert header == ["SUBJECT", "MODE", "IMPACT", "STATUS", "BEST", "ALERT", "REASON"]
    assert "business/orders_completed" in out and "uncovered" in out
    assert "\033[" not in out  # no colour when not a terminal


def test_markdown_for_a_pull_request(capsys) -> None:
    code, out, _ = run(capsys, "check", "--changed", STORY, "--format", "markdown")
    assert out.startswith("### coverage-audit: ")
    assert "| Status | Subject | Mode | Impact | Best alert | Why |" in out
    assert "❌ uncovered" in out and "✅ covered" in out
    assert "`checkout/api`" in out


@pytest.mark.skipif(not SARIF_SCHEMA.exists(), reason="SARIF schema not fetched (scripts/bootstrap.sh gets it from the npm registry)")
def test_sarif_validates_against_the_official_schema(capsys) -> None:
    code, out, _ = run(capsys, "check", "--changed", STORY, "--format", "sarif")
    document = json.loads(out)
    schema = json.loads(SARIF_SCHEMA.read_text())
    jsonschema.Draft4Validator(schema).validate(document)
    results = document["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"uncovered-failure-mode", "weak-coverage"}
    weak = next(r for r in results if r["ruleId"] == "weak-coverage")
    assert weak["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].startswith("rulesets/")
    uncovered = next(r for r in results if r["ruleId"] == "uncovered-failure-mode")
    assert uncovered["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].startswith("service_maps/")
    assert all(r["locations"][0]["physicalLocation"]["region"]["startLine"] >= 1 for r in results)


def test_fail_on_levels(capsys) -> None:
    settlement = "services/settlement/job/run.py"
    assert run(capsys, "check", "--changed", settlement)[0] == 0
    assert run(capsys, "check", "--changed", settlement, "--fail-on", "weak")[0] == 1
    assert run(capsys, "check", "--changed", STORY, "--fail-on", "never")[0] == 0


def test_changed_from_file_and_stdin(capsys, tmp_path, monkeypatch) -> None:
    listing = tmp_path / "changed.txt"
    listing.write_text(f"# from the CI diff\n{STORY}\n\n./{STORY}\n")
    code, out, _ = run(capsys, "check", "--changed-from", str(listing), "--format", "json")
    assert code == 1 and json.loads(out)["change"]["paths"] == [STORY]
    monkeypatch.setattr("sys.stdin", io.StringIO(STORY + "\n"))
    code, out, _ = run(capsys, "check", "--changed-from", "-", "--format", "json")
    assert json.loads(out)["change"]["components"] == ["checkout/api"]


def test_component_by_name_and_unknown_component(capsys) -> None:
    code, out, _ = run(capsys, "check", "--component", "payments/psp", "--format", "json")
    assert json.loads(out)["change"]["components"] == ["payments/psp"]
    code, _, err = run(capsys, "check", "--component", "payments/nope")
    assert code == 2 and "no component 'payments/nope'" in err


def test_unmatched_paths_are_reported(capsys) -> None:
    code, out, _ = run(capsys, "check", "--changed", "docs/runbooks/payments.md", "--format", "json")
    document = json.loads(out)
    assert code == 0 and document["findings"] == []
    assert document["change"]["unmatched_paths"] == ["docs/runbooks/payments.md"]


def test_usage_errors_exit_2(capsys) -> None:
    code, _, err = run(capsys, "check")
    assert code == 2 and "check needs a change" in err
    code, _, err = run(capsys, "check", "--changed", "/etc/passwd")
    assert code == 2 and "absolute" in err


def test_a_broken_input_file_is_reported_and_the_rest_completes(capsys, tmp_path) -> None:
    rules = tmp_path / "rulesets"
    shutil.copytree(ROOT / "rulesets", rules)
    (rules / "zz-broken.yaml").write_text("groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: rate(x[5m]\n")
    code, out, err = run(capsys, "check", "--rules", str(rules), "--changed", STORY, "--format", "json")
    document = json.loads(out)
    assert code == 2
    assert document["findings"] and document["errors"][0]["line"] == 5
    assert "zz-broken.yaml:5:" in err


def test_without_alertmanager_routing_is_not_checked(capsys, tmp_path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"rules: [{ROOT / 'rulesets'}]\nservice_maps: [{ROOT / 'service_maps'}]\n")
    code, out, _ = run(capsys, "check", "--config", str(config), "--changed", STORY, "--format", "json")
    document = json.loads(out)
    assert document["routing_checked"] is False
    assert all(not a["receivers"] for f in document["findings"] for a in f["alerts"])
    code, out, _ = run(capsys, "check", "--config", str(config), "--changed", STORY)
    assert "Routing was not checked" in out


def test_budget_flag_changes_verdicts(capsys) -> None:
    _, out, _ = run(capsys, "check", "--changed", STORY, "--format", "json", "--budget", "2h")
    latency = next(f for f in json.loads(out)["findings"] if f["subject"] == "checkout/api" and f["failure_mode"] == "latency")
    assert latency["status"] == "covered"


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=True).stdout


def test_git_range_in_a_real_repository(capsys, tmp_path) -> None:
    repo = tmp_path / "shop"
    for folder in ("rulesets", "service_maps"):
        shutil.copytree(ROOT / folder, repo / folder)
    shutil.copy(ROOT / "coverage-audit.yaml", repo / "coverage-audit.yaml")
    (repo / "services" / "checkout" / "handlers").mkdir(parents=True)
    (repo / "services" / "payments" / "api").mkdir(parents=True)
    (repo / STORY).write_text("def place_order(): ...\n")
    (repo / "services/payments/api/charge.py").write_text("def charge(): ...\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    _git(repo, "checkout", "-qb", "feature")
    (repo / STORY).write_text("def place_order(): return None\n")
    _git(repo, "mv", "services/payments/api/charge.py", "services/payments/api/charges.py")
    _git(repo, "commit", "-qam", "change")
    code, out, _ = run(capsys, "check", "--config", str(repo / "coverage-audit.yaml"), "--repo", str(repo), "--git-range", "main..feature", "--format", "json")
    document = json.loads(out)
    assert code == 1
    assert set(document["change"]["paths"]) == {STORY, "services/payments/api/charge.py", "services/payments/api/charges.py"}
    assert set(document["change"]["components"]) == {"checkout/api", "payments/api"}
    code, _, err = run(capsys, "check", "--config", str(repo / "coverage-audit.yaml"), "--repo", str(repo), "--git-range", "main..nope")
    assert code == 2 and "nope" in err


def test_codeowners_claim_paths_no_component_claims(capsys, tmp_path) -> None:
    owners = tmp_path / "CODEOWNERS"
    owners.write_text("# who owns what\n/docs/payments/ @shop/team-payments\n*.md @shop/docs-team\n")
    code, out, _ = run(capsys, "check", "--codeowners", str(owners), "--changed", "docs/payments/refunds.py", "--format", "json")
    document = json.loads(out)
    assert document["change"]["unmatched_paths"] == []
    assert {"payments/api", "payments/psp"} <= set(document["change"]["components"])
    assert {f["subject"] for f in document["findings"] if f["impact"] == "direct"} >= {"payments/api", "payments/psp"}
    code, out, _ = run(capsys, "check", "--codeowners", str(owners), "--changed", "docs/other/readme.txt", "--format", "json")
    assert json.loads(out)["change"]["unmatched_paths"] == ["docs/other/readme.txt"]


def test_a_recording_rule_cycle_the_change_meets_is_an_input_error(capsys, tmp_path) -> None:
    rules = tmp_path / "rulesets"
    shutil.copytree(ROOT / "rulesets", rules)
    (rules / "zz-cycle.yaml").write_text(
        "groups:\n  - name: loop\n    rules:\n"
        "      - record: job:loop_a:rate5m\n        expr: job:loop_b:rate5m + sum by (job) (rate(http_requests_total[5m]))\n"
        "      - record: job:loop_b:rate5m\n        expr: job:loop_a:rate5m\n"
        "      - alert: CheckoutLoop\n        expr: job:loop_a:rate5m{job=\"checkout\"} < 1\n"
    )
    code, out, err = run(capsys, "check", "--rules", str(rules), "--changed", STORY, "--format", "json")
    assert code == 2
    assert "recording rules form a cycle: job:loop_a:rate5m -> job:loop_b:rate5m -> job:loop_a:rate5m" in err
