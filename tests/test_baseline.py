"""--baseline: only what a change makes new or worse fails the gate; every output says which.

Each test works on a copy of the bundled example (rules, Alertmanager configuration, service
map), takes a baseline from it as main would, then changes the copy as a pull request would.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from prometheus_client.parser import text_string_to_metric_families

from coverage_audit.cli import main

ROOT = Path(__file__).resolve().parents[1]
SARIF_SCHEMA = ROOT / ".cache" / "sarif-schema-2.1.0.json"
STORY = "services/checkout/handlers/place_order.py"
LATENCY_ALERT = "        - alert: CheckoutSlowRequests\n"
NEXT_ALERT = "        - alert: CheckoutTaxProviderErrors\n"


@pytest.fixture
def shop(tmp_path, monkeypatch) -> Path:
    for folder in ("rulesets", "service_maps"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    shutil.copy(ROOT / "coverage-audit.yaml", tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def take_baseline(capsys, shop: Path) -> str:
    """What main's CI keeps: the full report's JSON."""
    code, _, err = run(capsys, "report", "--out", str(shop / "main-report"))
    assert code == 0, err
    return str(shop / "main-report" / "report.json")


def drop_checkout_latency_alert(shop: Path) -> None:
    """CheckoutSlowRequests is checkout/api's only latency alert, and a weak one (too slow):
    without it the mode goes from weak to uncovered."""
    rules = shop / "rulesets" / "checkout.yaml"
    text = rules.read_text()
    start, end = text.index(LATENCY_ALERT), text.index(NEXT_ALERT)
    rules.write_text(text[:start] + text[end:])


def add_component(shop: Path) -> None:
    """A new checkout component, without any alert on its metrics."""
    service_map = shop / "service_maps" / "shop.yaml"
    text = service_map.read_text()
    anchor = '          - "services/checkout/domain/**"\n'
    assert anchor in text
    component = (
        "      - name: receipts\n"
        "        kind: queue_consumer\n"
        '        paths: ["services/checkout/receipts/**"]\n'
    )
    position = text.index("\n", text.index("    components:", text.index("- name: checkout"))) + 1
    service_map.write_text(text[:position] + component + text[position:])


def by_key(document: dict) -> dict[tuple[str, str], dict]:
    return {(f["subject"], f["failure_mode"]): f for f in document["findings"]}


def test_a_change_that_keeps_the_existing_gaps_passes(capsys, shop) -> None:
    baseline = take_baseline(capsys, shop)
    assert run(capsys, "check", "--changed", STORY, "--fail-on", "uncovered")[0] == 1  # gaps main already has
    code, out, err = run(capsys, "check", "--changed", STORY, "--fail-on", "uncovered", "--baseline", baseline, "--format", "json")
    assert code == 0, err
    document = json.loads(out)
    assert {f["baseline"] for f in document["findings"]} == {"unchanged"}
    assert document["baseline"] == {"file": baseline, "new": 0, "worse": 0, "better": 0, "unchanged": len(document["findings"])}
    assert document["summary"]["uncovered"] == 2  # the gaps are still reported, they just do not fail the gate


def test_a_change_that_makes_coverage_worse_fails_and_names_it(capsys, shop) -> None:
    baseline = take_baseline(capsys, shop)
    drop_checkout_latency_alert(shop)
    code, out, _ = run(capsys, "check", "--changed", STORY, "--fail-on", "uncovered", "--baseline", baseline)
    assert code == 1
    row = next(line for line in out.splitlines() if " latency " in line and "checkout/api" in line)
    assert row.split()[:5] == ["worse", "checkout/api", "latency", "direct", "uncovered"]
    assert "Against the baseline" in out and ": 0 new, 1 worse, 0 better, 6 unchanged." in out
    code, out, _ = run(capsys, "check", "--changed", STORY, "--baseline", baseline, "--format", "json")
    worse = [k for k, f in by_key(json.loads(out)).items() if f["baseline"] == "worse"]
    assert worse == [("checkout/api", "latency")]


def test_a_new_component_without_alerts_is_new(capsys, shop) -> None:
    baseline = take_baseline(capsys, shop)
    add_component(shop)
    code, out, _ = run(capsys, "check", "--changed", "services/checkout/receipts/worker.py", "--baseline", baseline, "--format", "json")
    assert code == 1
    new = {k: f["status"] for k, f in by_key(json.loads(out)).items() if f["baseline"] == "new"}
    assert set(new) == {("checkout/receipts", "lag"), ("checkout/receipts", "processing_errors"), ("checkout/receipts", "stalled")}
    assert new[("checkout/receipts", "lag")] == new[("checkout/receipts", "stalled")] == "uncovered"  # no rule reads consumer lag
    _, markdown, _ = run(capsys, "check", "--changed", "services/checkout/receipts/worker.py", "--baseline", baseline, "--format", "markdown")
    assert "| ❌ uncovered | **new** | `checkout/receipts` | lag |" in markdown
    assert markdown.index("**new**") < markdown.index("Known gaps, unchanged or better than the baseline")


def test_better_and_a_check_json_baseline(capsys, shop) -> None:
    code, out, _ = run(capsys, "check", "--changed", STORY, "--format", "json", "--output", "before.json")
    assert code == 1 and Path("before.json").exists()
    extra = Path("rulesets/checkout-traffic.yaml")
    extra.write_text(
        "groups:\n  - name: checkout-traffic\n    rules:\n      - alert: CheckoutNoTraffic\n"
        '        expr: sum by (job) (rate(http_requests_total{job="checkout"}[5m])) < 1\n'
        "        for: 5m\n        labels: {severity: critical, team: checkout}\n"
    )
    code, out, _ = run(capsys, "check", "--changed", STORY, "--baseline", "before.json", "--format", "json")
    better = {k: f["status"] for k, f in by_key(json.loads(out)).items() if f["baseline"] == "better"}
    assert better == {("checkout/api", "traffic_drop"): "covered"}
    assert code == 0  # business/orders_completed failure_ratio is still uncovered, but not new: it does not count
    assert json.loads(out)["baseline"]["better"] == 1


def test_waived_findings_compare_as_their_verdict(capsys, shop) -> None:
    """A waived gap in the baseline is still a gap: the same gap now is unchanged, not worse."""
    Path("waivers.yaml").write_text(
        "waivers:\n  - {subject: checkout/api, failure_mode: traffic_drop, reason: r, owner: o, expires: '2999-01-01'}\n"
    )
    run(capsys, "check", "--changed", STORY, "--waivers", "waivers.yaml", "--format", "json", "--output", "before.json")
    before = by_key(json.loads(Path("before.json").read_text()))[("checkout/api", "traffic_drop")]
    assert before["status"] == "waived" and before["waiver"]["judged"] == "uncovered"
    code, out, _ = run(capsys, "check", "--changed", STORY, "--baseline", "before.json", "--format", "json")
    assert code == 0
    assert by_key(json.loads(out))[("checkout/api", "traffic_drop")]["baseline"] == "unchanged"


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ('{"version": 1,\n "findings": [\n', 3, "not valid JSON"),
        ("[1, 2]\n", 1, "no 'findings' list"),
        ('{"version": 2, "findings": []}\n', 1, "unsupported version 2"),
        ('{"version": 1,\n "summary": {},\n "findings": [\n  {"subject": "a/b", "failure_mode": "errors", "status": "covered"},\n'
         '  {"subject": "a/b",\n   "failure_mode": "latency", "status": "fine"}\n ]\n}\n', 5, "findings[1]: status 'fine'"),
        ('{"version": 1, "findings": [{"subject": "a/b", "failure_mode": "x", "status": "waived"}]}', 1, "waiver.judged"),
        ("[" * 100_000 + "]" * 100_000, 1, "nested too deeply"),
    ],
)
def test_an_unusable_baseline_is_an_input_error(capsys, shop, content, line, message) -> None:
    Path("baseline.json").write_text(content)
    code, out, err = run(capsys, "check", "--changed", STORY, "--baseline", "baseline.json", "--format", "json")
    assert code == 2
    (error,) = err.splitlines()
    assert error.startswith(f"coverage-audit: error: baseline.json:{line}: ") and message in error
    document = json.loads(out)  # the run completed without the baseline
    assert "baseline" not in document and document["summary"]["total"] == 7


def test_missing_baseline_file(capsys, shop) -> None:
    code, _, err = run(capsys, "check", "--changed", STORY, "--baseline", "nope.json")
    assert code == 2 and err.strip() == "coverage-audit: error: nope.json:0: cannot read: No such file or directory"


@pytest.mark.skipif(not SARIF_SCHEMA.exists(), reason="SARIF schema not fetched (scripts/bootstrap.sh gets it from the npm registry)")
def test_sarif_with_baseline_and_waivers_validates(capsys, shop) -> None:
    baseline = take_baseline(capsys, shop)
    drop_checkout_latency_alert(shop)
    Path("waivers.yaml").write_text(
        "waivers:\n  - {subject: checkout/api, failure_mode: traffic_drop, reason: r, owner: o, expires: '2999-01-01'}\n"
        "  - {subject: gone/*, failure_mode: errors, reason: r, owner: o, expires: '2999-01-01'}\n"
        "  - {subject: cart/api, failure_mode: errors, reason: r, owner: o, expires: '2001-01-01'}\n"
    )
    _, out, _ = run(capsys, "check", "--changed", STORY, "--baseline", baseline, "--waivers", "waivers.yaml", "--format", "sarif")
    document = json.loads(out)
    jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(document)
    results = document["runs"][0]["results"]
    states = {r["message"]["text"].split(":")[0]: r.get("baselineState") for r in results if r["ruleId"] != "stale-waiver" and r["ruleId"] != "expired-waiver"}
    assert states["checkout/api latency (rise)"] == "updated"
    assert states["business/orders_completed failure_ratio (rise)"] == "unchanged"
    assert {r["ruleId"] for r in results} >= {"stale-waiver", "expired-waiver"}
    stale = next(r for r in results if r["ruleId"] == "stale-waiver")
    assert stale["locations"][0]["physicalLocation"]["region"]["startLine"] == 3


def test_report_against_a_baseline(capsys, shop) -> None:
    baseline = take_baseline(capsys, shop)
    drop_checkout_latency_alert(shop)
    code, out, _ = run(capsys, "report", "--out", "pr-report", "--baseline", baseline, "--fail-on", "uncovered")
    assert code == 1  # one worse finding (weak -> uncovered); without the baseline every gap would count
    assert "Against the baseline" in out and "1 worse" in out
    document = json.loads(Path("pr-report/report.json").read_text())
    assert document["baseline"]["worse"] == 1 and document["baseline"]["new"] == 0
    markdown = Path("pr-report/report.md").read_text()
    assert "## Against the baseline" in markdown and "### Worse (1)" in markdown
    html = Path("pr-report/index.html").read_text()
    assert '<section id="baseline">' in html and '<td class="delta-worse">worse</td>' in html
    families = {f.name: f for f in text_string_to_metric_families(Path("pr-report/coverage.prom").read_text())}
    deltas = {s.labels["delta"]: s.value for s in families["coverage_audit_baseline_findings"].samples}
    assert deltas == {"new": 0, "worse": 1, "better": 0, "unchanged": document["summary"]["total"] - 1}
    # against its own previous run (read before this run writes over it): nothing is new or worse
    code, _, _ = run(capsys, "report", "--out", "pr-report", "--baseline", "pr-report/report.json", "--fail-on", "uncovered")
    assert code == 0
