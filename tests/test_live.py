"""Live evidence against a real Prometheus and a real Alertmanager (DESIGN 3.6, 5, 5.3; issue 12).

The shop in tests/live/shop runs on two days of series written by ``promtool tsdb
create-blocks-from openmetrics`` (tests/live_shop.py): checkout moved from ``http_requests_total``
to the OpenTelemetry name a day ago; the service graph shows checkout calling payments, which the
map does not declare; ghost's selector selects nothing. Prometheus evaluates the shop's rule file;
Alertmanager runs its configuration, with a silence made by amtool.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

import live_servers as ls
from live_shop import RENAMED, SHOP, shop_series
from coverage_audit.cli import main
from coverage_audit.levels import default_levels
from coverage_audit.live.endpoint import Endpoint
from coverage_audit.live.evidence import Evidence, recording_definitions
from coverage_audit.live.prometheus import PrometheusClient
from coverage_audit.live.rules import canonical
from coverage_audit.live.transport import Transport
from coverage_audit.loaders.rules import load_rule_file
from coverage_audit.model import LabelMatcher, MatchOp
from coverage_audit.ruleset import build_ruleset

pytestmark = [pytest.mark.tools, pytest.mark.skipif(ls.tools_missing() is not None, reason=ls.tools_missing() or "")]

RULES, MAP, AM_FILE = SHOP / "rules.yaml", SHOP / "map.yaml", SHOP / "alertmanager.yaml"
JOB = {"checkout": (LabelMatcher("job", MatchOp.EQ, "checkout"),), "payments": (LabelMatcher("job", MatchOp.EQ, "payments"),)}


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Out of the repository, whose coverage-audit.yaml would add the bundled example's rules."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("live-shop")
    now = time.time()
    ls.write_blocks(shop_series(), folder / "data", now)
    with ls.prometheus(folder / "prometheus", folder / "data", [RULES]) as prom, ls.alertmanager(folder / "alertmanager", AM_FILE.read_text()) as am:
        silence = ls.amtool_silence(am.url, ["alertname=PaymentsSlow"], "3h", "maintenance window", "alice")
        prom.extra.update(alertmanager=am.url, silence=silence, now=str(now))
        yield prom


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict, str]:
    code = main(["check", "--rules", str(RULES), "--service-map", str(MAP), "--lookback", "2d", "--format", "json", *args])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def finding(document: dict, subject: str, mode: str) -> dict:
    return next(f for f in document["findings"] if f["subject"] == subject and f["failure_mode"] == mode)


def evidence_for(url: str, rule_file: Path = RULES, lookback: float = 2 * 86400.0) -> tuple[Evidence, dict]:
    load = load_rule_file(str(rule_file))
    ruleset = build_ruleset(load, default_levels())
    client = PrometheusClient(Transport(Endpoint(url), timeout=10))
    return Evidence(client, lookback, recording_definitions(ruleset)), {r.name: r for r in ruleset.rules}


# --------------------------------------------------------------------------- rules


def test_live_rules_equal_the_file_rules(shop, capsys) -> None:
    assert main(["rules", "--prometheus", shop.url, "--format", "json"]) == 0
    live = json.loads(capsys.readouterr().out)["rules"]
    assert main(["rules", "--rules", str(RULES), "--format", "json"]) == 0
    files = json.loads(capsys.readouterr().out)["rules"]

    from coverage_audit import promql

    def same(rule: dict) -> tuple:
        return (rule["kind"], rule["name"], rule["group"], rule["for_seconds"], tuple(sorted(rule["labels"].items())), canonical(promql.parse(rule["expr"]).ast), tuple(rule["metrics"]), rule["level"])

    assert sorted(map(same, live), key=str) == sorted(map(same, files), key=str)
    assert len(live) == 8
    # They came from the server, which prints expressions its own way (matchers sorted, one line).
    assert all(r["file"] == f"{shop.url}/api/v1/rules" and r["source"] == "prometheus-api" for r in live)
    checkout = next(r for r in live if r["name"] == "CheckoutHighErrorRate")
    assert 'http_requests_total{code=~"5..",job="checkout"}' in checkout["expr"] and "\n" not in checkout["expr"]


def test_a_rule_in_a_file_and_on_the_server_is_one_rule_with_the_files_location(shop, capsys) -> None:
    assert main(["rules", "--rules", str(RULES), "--prometheus", shop.url, "--format", "json"]) == 0
    merged = json.loads(capsys.readouterr().out)["rules"]
    assert len(merged) == 8
    assert {r["file"] for r in merged} == {str(RULES)}
    assert next(r for r in merged if r["name"] == "PaymentsSlow")["line"] == 26


def test_a_rule_only_on_the_server_joins_the_file_rules(shop, tmp_path, capsys) -> None:
    partial = tmp_path / "rules.yaml"
    text = RULES.read_text()
    partial.write_text(text[: text.index("  - name: frontend")])  # the frontend group only runs
    assert main(["rules", "--rules", str(partial), "--prometheus", shop.url, "--format", "json"]) == 0
    merged = json.loads(capsys.readouterr().out)["rules"]
    assert len(merged) == 8
    frontend = {r["name"]: r["file"] for r in merged if r["group"] == "frontend"}
    assert frontend == dict.fromkeys(("job:http_requests:rate5m", "FrontendHighErrorRate", "FrontendTrafficDrop"), f"{shop.url}/api/v1/rules")


# --------------------------------------------------------------------------- dead alerts


def test_a_renamed_metric_makes_its_alert_dead_and_the_subject_uncovered(shop, capsys) -> None:
    code, static, _ = run(capsys, "--component", "checkout/api")
    errors = finding(static, "checkout/api", "errors")
    assert errors["status"] == "covered" and errors["alerts"][0]["name"] == "CheckoutHighErrorRate"

    code, live, err = run(capsys, "--component", "checkout/api", "--prometheus", shop.url)
    assert code == 1 and err == ""
    errors = finding(live, "checkout/api", "errors")
    assert errors["status"] == "uncovered" and errors["alerts"] == []
    (dead,) = [r for r in errors["related"] if r["name"] == "CheckoutHighErrorRate"]
    assert dead["why"].startswith('is dead: http_requests_total{job="checkout"} disappeared: last seen around ')
    assert "is dead" in errors["reason"]
    seen = datetime.strptime(dead["why"].rsplit("around ", 1)[1], "%Y-%m-%d %H:%M UTC").replace(tzinfo=timezone.utc)
    expected = float(shop.extra["now"]) - RENAMED
    # Bisection over two days of 2-hour blocks: within a block or two of the real end.
    assert abs(seen.timestamp() - expected) < 3 * 3600


def test_why_a_read_selects_nothing(shop, tmp_path) -> None:
    extra = tmp_path / "extra.yaml"
    extra.write_text(
        "groups:\n  - name: extra\n    rules:\n"
        "      - alert: PaymentsTypo\n        expr: rate(http_requests_total{job=\"paymnets\"}[5m]) < 1\n"
        "      - alert: NeverTogether\n        expr: rate(http_requests_total{job=\"checkout\", code=\"500\", instance=\"a\"}[5m]) > 0 and up{job=\"checkout\"} == 1\n"
        "      - alert: OrFallback\n        expr: rate(checkout_orders_failed_total[5m]) > 1 or rate(http_requests_total{job=\"payments\"}[5m]) > 1000\n"
        "      - alert: AbsentIsNeverDead\n        expr: absent(checkout_orders_failed_total)\n"
        "      - alert: UnlessRightMayBeEmpty\n        expr: up{job=\"payments\"} == 1 unless on(job) checkout_orders_failed_total\n"
    )
    evidence, rules = evidence_for(shop.url)
    more, extra_rules = evidence_for(shop.url, extra)
    evidence.prefetch(rules.values(), [("checkout/api", JOB["checkout"]), ("payments/api", JOB["payments"])])
    more.prefetch(extra_rules.values(), [])
    assert evidence.errors == [] and more.errors == []

    assert evidence.dead_reason(rules["CheckoutOrdersFailing"]) == "checkout_orders_failed_total was never seen in the last 2d"
    assert evidence.dead_reason(rules["PaymentsRefundErrors"]) == "http_requests_total has no series with a handler label in the last 2d (its labels: code, job)"
    assert more.dead_reason(extra_rules["PaymentsTypo"]) == (
        "no http_requests_total series has job=\"paymnets\" in the last 2d (job values seen: 'checkout', 'frontend', 'payments')"
    )
    assert "has no series with a instance label" in str(more.dead_reason(extra_rules["NeverTogether"]))
    assert more.dead_reason(extra_rules["OrFallback"]) is None  # `or`: one live side suffices
    assert more.dead_reason(extra_rules["AbsentIsNeverDead"]) is None
    assert more.dead_reason(extra_rules["UnlessRightMayBeEmpty"]) is None  # `unless`: only its left counts
    # Not dead: no 5xx has happened yet on payments (the failing series appear when it fails) ...
    assert evidence.dead_reason(rules["PaymentsHighErrorRate"]) is None
    # ... and a recording rule's series, from the server or through its definition.
    assert evidence.dead_reason(rules["FrontendTrafficDrop"]) is None
    assert evidence.dead_reason(rules["PaymentsSlow"]) is None


def test_a_signal_read_must_select_the_subjects_own_series(shop, tmp_path) -> None:
    generic = tmp_path / "generic.yaml"
    generic.write_text(
        "groups:\n  - name: generic\n    rules:\n      - alert: AnyServiceErrors\n"
        "        expr: sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m])) / sum by (job) (rate(http_requests_total[5m])) > 0.05\n"
    )
    evidence, rules = evidence_for(shop.url, generic)
    evidence.prefetch(rules.values(), [("checkout/api", JOB["checkout"]), ("payments/api", JOB["payments"])])
    alert = rules["AnyServiceErrors"]
    assert evidence.dead_reason(alert) is None  # it fires for the services that export the metric
    assert evidence.dead_reason(alert, JOB["payments"], frozenset({"http_requests_total"})) is None
    why = evidence.dead_reason(alert, JOB["checkout"], frozenset({"http_requests_total"}))
    assert why == 'http_requests_total has no series for {job="checkout"} in the last 2h'
    # The metric families each subject emits (the conventions in use), and what it no longer does.
    assert {"http_server_request_duration_seconds_count", "http_requests_total", "up"} <= evidence.families("checkout/api")
    assert "http_request_duration_seconds_bucket" in evidence.families("payments/api")
    assert evidence.families("unknown/subject") == frozenset()


# --------------------------------------------------------------------------- silences


def test_a_silence_makes_the_covering_alert_weak_until_its_end(shop, capsys) -> None:
    _, static, _ = run(capsys, "--component", "payments/api", "--budget", "30m")
    assert finding(static, "payments/api", "latency")["status"] == "covered"

    code, live, err = run(capsys, "--component", "payments/api", "--budget", "30m", "--alertmanager-url", shop.extra["alertmanager"])
    assert err == ""
    latency = finding(live, "payments/api", "latency")
    assert latency["status"] == "weak"
    (alert,) = latency["alerts"]
    assert alert["name"] == "PaymentsSlow" and alert["problems"] == ["silenced"]
    silence = ls.local_session().get(f"{shop.extra['alertmanager']}/api/v2/silence/{shop.extra['silence']}", timeout=10).json()
    ends = datetime.fromisoformat(silence["endsAt"].replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M UTC")
    assert alert["details"] == [f'is silenced until {ends} by alice (silence {shop.extra["silence"][:8]}: "maintenance window")']
    assert f"silenced until {ends}" in latency["reason"]
    # The silence names PaymentsSlow only: the error alert still pages.
    assert finding(live, "payments/api", "errors")["status"] == "covered"


def test_the_running_alertmanager_routes_when_no_file_is_given_and_is_compared_with_one(shop, tmp_path, capsys) -> None:
    code = main(["check", "--rules", str(RULES), "--service-map", str(MAP), "--component", "payments/api", "--format", "json",
                 "--alertmanager-url", shop.extra["alertmanager"]])  # fmt: skip
    document = json.loads(capsys.readouterr().out)
    assert document["routing_checked"] is True
    assert finding(document, "payments/api", "errors")["alerts"][0]["receivers"] == ["payments-pager"]
    assert document["drift"] == []

    changed = tmp_path / "alertmanager.yaml"
    changed.write_text(
        AM_FILE.read_text()
        .replace("    webhook_configs: [{url: \"http://127.0.0.1:9/payments\"}]\n", "")
        .replace("      receiver: web-pager\n", "      receiver: web-pager\n      continue: true\n")
    )
    code, document, err = run(capsys, "--component", "payments/api", "--alertmanager", str(changed), "--alertmanager-url", shop.extra["alertmanager"])
    drift = sorted(d["message"] for d in document["drift"] if d["kind"] == "alertmanager")
    assert drift == [
        "receiver 'payments-pager' has no integrations in the file but webhook running",
        'route {} > {team="frontend"}: continue is True in the file but False running',
    ]
    # The file is what will be deployed: its blackhole is what the verdict reflects.
    assert finding(document, "payments/api", "errors")["alerts"][0]["problems"] == ["blackhole"]


# --------------------------------------------------------------------------- the service graph


def test_a_call_only_the_service_graph_shows_propagates_impact_and_is_reported(shop, capsys) -> None:
    _, static, _ = run(capsys, "--component", "payments/api")
    assert {f["subject"] for f in static["findings"]} == {"payments/api"}

    _, live, err = run(capsys, "--component", "payments/api", "--prometheus", shop.url)
    assert err == ""
    impacted = {(f["subject"], f["impact"]) for f in live["findings"]}
    # checkout calls payments (discovered); frontend calls checkout (declared): both see it.
    assert {("payments/api", "direct"), ("checkout/api", "dependency"), ("frontend/web", "dependency")} <= impacted
    undeclared = [d for d in live["drift"] if d["kind"] == "undeclared_dependency"]
    assert undeclared == [{
        "kind": "undeclared_dependency", "subject": "checkout",
        "message": "checkout calls payments (traces_service_graph_request_total), but its depends_on does not say so",
        "file": str(MAP), "line": 14,
    }]  # fmt: skip
    unknown = [d["message"] for d in live["drift"] if d["kind"] == "unknown_service"]
    assert unknown == ["traces_service_graph_request_total shows calls from or to 'fraud-api', which is not in the service map"]


def test_a_subject_whose_selector_selects_nothing_is_reported_once(shop, capsys) -> None:
    _, live, _ = run(capsys, "--component", "ghost/api", "--prometheus", shop.url)
    missing = [d for d in live["drift"] if d["kind"] == "missing_subject"]
    assert [d["message"] for d in missing] == ['the selector {job="ghost"} of ghost/api selects no series in the last 2d']
    assert main(["check", "--rules", str(RULES), "--service-map", str(MAP), "--component", "ghost/api", "--prometheus", shop.url, "--lookback", "2d"]) == 1
    text = capsys.readouterr().out
    assert text.count('{job="ghost"}') == 1 and "Map drift" in text


def test_offline_ignores_the_live_sources_the_config_names(shop, tmp_path, capsys, monkeypatch) -> None:
    config = tmp_path / "coverage-audit.yaml"
    config.write_text(
        f"rules: [{RULES}]\nservice_maps: [{MAP}]\nlookback: 2d\nprometheus: {{url: {shop.url}}}\nalertmanager_url: {shop.extra['alertmanager']}\n"
    )
    args = ["check", "--config", str(config), "--component", "checkout/api", "--format", "json"]
    main(args)
    live = json.loads(capsys.readouterr().out)
    assert finding(live, "checkout/api", "errors")["status"] == "uncovered" and live["drift"]
    main([*args, "--offline"])
    offline = json.loads(capsys.readouterr().out)
    assert finding(offline, "checkout/api", "errors")["status"] == "covered" and offline["drift"] == []
    # A flag still counts under --offline.
    main([*args, "--offline", "--prometheus", shop.url])
    assert finding(json.loads(capsys.readouterr().out), "checkout/api", "errors")["status"] == "uncovered"


def test_the_report_carries_the_evidence(shop, tmp_path, capsys) -> None:
    out = tmp_path / "reports"
    code = main(["report", "--rules", str(RULES), "--service-map", str(MAP), "--out", str(out), "--prometheus", shop.url,
                 "--alertmanager-url", shop.extra["alertmanager"], "--lookback", "2d", "--format", "json"])  # fmt: skip
    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert finding(document, "checkout/api", "errors")["status"] == "uncovered"
    assert finding(document, "payments/api", "latency")["alerts"][0]["problems"] == ["silenced"]
    kinds = {d["kind"] for d in document["drift"]}
    assert kinds == {"missing_subject", "undeclared_dependency", "unknown_service"}
    assert "Map drift" in (out / "report.md").read_text()



def test_the_graph_export_holds_the_discovered_call(shop, capsys) -> None:
    main(["graph", "--rules", str(RULES), "--service-map", str(MAP), "--prometheus", shop.url, "--lookback", "2d", "--format", "json"])
    edges = json.loads(capsys.readouterr().out)["edges"]
    calls = {(e["source"], e["target"], e["relation"]) for e in edges if e["source"].startswith("service:") and e["target"].startswith("service:")}
    assert calls == {("service:frontend", "service:checkout", "calls"), ("service:checkout", "service:payments", "discovered")}


def test_alternative_selectors_count_together(shop, tmp_path, capsys) -> None:
    alternatives = tmp_path / "map.yaml"
    alternatives.write_text(
        MAP.read_text()
        .replace("""selector: '{job="checkout"}'""", """selector: ['{service_name="checkout"}', '{job="checkout"}']""")
        .replace("""selector: '{job="ghost"}'""", """selector: ['{job="ghost"}', '{service_name="ghost"}']""")
    )
    main(["check", "--rules", str(RULES), "--service-map", str(alternatives), "--component", "checkout/api", "ghost/api",
          "--prometheus", shop.url, "--lookback", "2d", "--format", "json"])  # fmt: skip
    document = json.loads(capsys.readouterr().out)
    missing = [d["message"] for d in document["drift"] if d["kind"] == "missing_subject"]
    assert missing == ['the selector {job="ghost"} or {service_name="ghost"} of ghost/api selects no series in the last 2d']
    assert finding(document, "checkout/api", "errors")["status"] == "uncovered"  # still dead through either alternative
