"""Grafana-managed alert rules (DESIGN 3.1): provisioning files judged like Prometheus rules.

The central case is hand-judged: tests/grafana/checkout-errors.grafana.yaml holds a rule with
three data nodes (A: a PromQL ratio of checkout's 5xx responses, B: reduce last, C: threshold
gt 0.05), for 5m, in a 1m group, labelled severity=critical, team=checkout. Its Prometheus twin
is tests/grafana/checkout-errors.prometheus.yaml. By hand, against the bundled shop:

* it reads http_requests_total{job="checkout",code=~"5.."}, the signal of checkout/api errors,
  pins job="checkout" (not diluted) and fires on a rise: checkout/api errors is covered by it;
* routing (rulesets/alertmanager.yaml): severity=critical matches the #incidents route, which
  continues; team=checkout then takes the checkout-slack route and its severity=critical child,
  checkout-pager (group_wait 10s). Receivers: incidents-slack, checkout-pager;
* time to detect: for 5m + the group's 1m + group_wait 10s = 370s, plus the time the 5m ratio
  takes to cross 5 %, at most its 5m window: between 370s and 670s, within the 15m budget;
* nothing else of checkout/api is covered by it (latency, traffic_drop stay uncovered).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from coverage_audit.cli import main
from coverage_audit.loaders.rules import load_rule_file

ROOT = Path(__file__).resolve().parents[1]
GRAFANA = ROOT / "tests" / "grafana" / "checkout-errors.grafana.yaml"
TWIN = ROOT / "tests" / "grafana" / "checkout-errors.prometheus.yaml"
PROMTOOL = shutil.which("promtool")
RATIO = (
    'sum by (job) (rate(http_requests_total{job="checkout", code=~"5.."}[5m]))\n/\n'
    'sum by (job) (rate(http_requests_total{job="checkout"}[5m]))'
)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def check_json(capsys, rules: Path | str, *extra: str) -> tuple[int, dict, str]:
    code, out, err = run(
        capsys, "check", "--rules", str(rules), "--alertmanager", str(ROOT / "rulesets/alertmanager.yaml"),
        "--service-map", str(ROOT / "service_maps"), "--component", "checkout/api", "--format", "json", *extra,
    )
    return code, json.loads(out), err


def by_key(document: dict) -> dict[tuple[str, str], dict]:
    return {(f["subject"], f["failure_mode"]): f for f in document["findings"]}


# --------------------------------------------------------------------------- the twin


def test_the_multi_query_rule_is_judged_like_its_prometheus_twin(capsys) -> None:
    _, grafana, err = check_json(capsys, GRAFANA)
    assert grafana["errors"] == [], err
    _, prometheus, _ = check_json(capsys, TWIN)
    errors = by_key(grafana)[("checkout/api", "errors")]
    # by hand (module docstring)
    assert errors["status"] == "covered"
    (alert,) = errors["alerts"]
    assert (alert["name"], alert["file"], alert["line"]) == ("CheckoutHigh5xxRatio", str(GRAFANA), 10)
    assert alert["receivers"] == ["incidents-slack", "checkout-pager"]
    assert alert["problems"] == []
    assert alert["watches"] == 'http_requests_total{job="checkout",code=~"5.."}'
    assert 370 <= alert["detect_seconds"] <= 670
    # the same verdict as the Prometheus rule, for every failure mode the change touches
    twin = by_key(prometheus)
    assert {k: f["status"] for k, f in by_key(grafana).items()} == {k: f["status"] for k, f in twin.items()}
    (twin_alert,) = twin[("checkout/api", "errors")]["alerts"]
    same = ("receivers", "problems", "watches", "detect_seconds", "level", "details")
    assert {k: alert[k] for k in same} == {k: twin_alert[k] for k in same}
    assert alert["labels"] == {**twin_alert["labels"], "grafana_folder": "Shop"}  # Grafana adds the folder
    assert by_key(grafana)[("checkout/api", "latency")]["status"] == "uncovered"


def test_the_translation_is_the_equivalent_promql(capsys) -> None:
    loaded = load_rule_file(str(GRAFANA))
    assert loaded.errors == [] and loaded.rule_files == [str(GRAFANA)]
    (rule,) = loaded.rules
    assert rule.expr == f"({RATIO}) > 0.05"
    assert (rule.kind, rule.group, rule.source, rule.for_seconds, rule.interval) == ("alert", "checkout", "grafana", 300.0, 60.0)
    assert rule.annotations == {"summary": "Checkout returns server errors."}
    code, out, _ = run(capsys, "rules", "--rules", str(GRAFANA), "--format", "json")
    (listed,) = json.loads(out)["rules"]
    assert code == 0 and listed["judged"] is True and listed["metrics"] == ["http_requests_total"] and listed["level"] == "application"


# --------------------------------------------------------------------------- translations

QUERY = 'sum by (job) (rate(http_requests_total{job="checkout"}[5m]))'


def provisioning(data: str, extra: str = "", condition: str = "C") -> str:
    return (
        "apiVersion: 1\ngroups:\n  - name: g\n    folder: F\n    interval: 1m\n    rules:\n"
        f"      - uid: r\n        title: R\n        condition: {condition}\n        for: 1m\n{extra}        data:\n{data}"
    )


def query(ref: str = "A", expr: str = QUERY, model: str = "instant: true", span: str = "{from: 600, to: 0}") -> str:
    return (
        f"          - refId: {ref}\n            relativeTimeRange: {span}\n            datasourceUid: prom\n"
        f"            model: {{expr: '{expr}', {model}}}\n"
    )


def expression(ref: str, model: str) -> str:
    return f"          - refId: {ref}\n            datasourceUid: __expr__\n            model: {model}\n"


REDUCE_B = expression("B", "{type: reduce, expression: A, reducer: last}")
Q = f"({QUERY})"
TRANSLATED = [
    ("threshold on a reduced instant query", query() + REDUCE_B + expression("C", "{type: threshold, expression: B, conditions: [{evaluator: {type: lt, params: [1]}}]}"), f"{Q} < 1"),
    ("mean over a range query", query(model="range: true") + expression("B", "{type: reduce, expression: A, reducer: mean}")
     + expression("C", "{type: threshold, expression: B, conditions: [{evaluator: {type: gte, params: [2]}}]}"), f"avg_over_time({Q}[600s:]) >= 2"),
    ("max over a range query", query(model="range: true", span="{from: 900, to: 0}") + expression("B", "{type: reduce, expression: A, reducer: max}")
     + expression("C", "{type: threshold, expression: B, conditions: [{evaluator: {type: gt, params: [2]}}]}"), f"max_over_time({Q}[900s:]) > 2"),
    ("within range", query() + REDUCE_B + expression("C", "{type: threshold, expression: B, conditions: [{evaluator: {type: within_range, params: [5, 1]}}]}"), f"{Q} > 1 < 5"),
    ("outside range", query() + REDUCE_B + expression("C", "{type: threshold, expression: B, conditions: [{evaluator: {type: outside_range, params: [1, 5]}}]}"), f"{Q} < 1 or {Q} > 5"),
    ("math over two reduced queries", query() + REDUCE_B + query("D", "sum(up)") + expression("E", "{type: reduce, expression: D, reducer: last}")
     + expression("C", "{type: math, expression: '$B / 100 > 0.05 && $E < 3'}"), f"({Q} / 100 > 0.05) and ((sum(up)) < 3)"),
    ("math on a value alone fires when non-zero", query() + REDUCE_B + expression("C", "{type: math, expression: 'abs($B - 1)'}"), f"abs({Q} - 1) != 0"),
    ("a condition on the query itself", query(), f"{Q} != 0"),
    ("classic conditions", query(model="range: true", span="{from: 300, to: 0}") + expression(
        "C", "{type: classic_conditions, conditions: [{evaluator: {type: gt, params: [3]}, operator: {type: and}, query: {params: [A]}, reducer: {type: avg}},"
        " {evaluator: {type: no_value, params: []}, operator: {type: or}, query: {params: [A]}, reducer: {type: last}}]}"),
     f"(max(avg_over_time({Q}[300s:])) > 3) or (absent({Q}))"),
]


@pytest.mark.parametrize(("case", "data", "expected"), TRANSLATED, ids=[case for case, _, _ in TRANSLATED])
def test_translations(tmp_path, case, data, expected) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(provisioning(data, condition="A" if case == "a condition on the query itself" else "C"))
    loaded = load_rule_file(str(path))
    assert loaded.errors == []
    (rule,) = loaded.rules
    assert rule.not_judged is None and rule.query is not None
    assert rule.expr == expected


@pytest.mark.tools
@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package 'prometheus')")
def test_every_translation_is_valid_promql_for_prometheus(tmp_path) -> None:
    """promtool, not our parser, says the translated expressions are PromQL Prometheus runs."""
    rules = []
    for index, (case, data, _) in enumerate(TRANSLATED):
        path = tmp_path / f"{index}.yaml"
        path.write_text(provisioning(data, condition="A" if case == "a condition on the query itself" else "C"))
        rules += load_rule_file(str(path)).rules
    lines = ["groups:", "  - name: translated", "    rules:"]
    for index, rule in enumerate(rules):
        lines += [f"      - alert: Translated{index}", "        expr: " + json.dumps(rule.expr)]
    target = tmp_path / "translated.yaml"
    target.write_text("\n".join(lines) + "\n")
    done = subprocess.run([PROMTOOL, "check", "rules", str(target)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(TRANSLATED)} rules found" in done.stdout


NOT_JUDGED = [
    ("sum of a range query's points", query(model="range: true") + expression("B", "{type: reduce, expression: A, reducer: sum}")
     + expression("C", "{type: threshold, expression: B, conditions: [{evaluator: {type: gt, params: [1]}}]}"), "depends on its step"),
    ("resample", query() + expression("B", "{type: resample, expression: A, window: 1m}")
     + expression("C", "{type: threshold, expression: B, conditions: [{evaluator: {type: gt, params: [1]}}]}"), "type 'resample'"),
    ("a loki data source", "          - refId: A\n            datasourceUid: logs\n            model: {datasource: {type: loki, uid: logs}, expr: 'sum(rate({app=\"x\"}[5m]))'}\n"
     + expression("C", "{type: threshold, expression: A, conditions: [{evaluator: {type: gt, params: [1]}}]}"), "reads a loki data source"),
    ("LogQL with no data source type", "          - refId: A\n            datasourceUid: logs\n            model: {expr: 'sum(count_over_time({app=\"x\"} |= \"error\" [5m]))'}\n"
     + expression("C", "{type: threshold, expression: A, conditions: [{evaluator: {type: gt, params: [1]}}]}"), "is not PromQL"),
    ("SQL", "          - refId: A\n            datasourceUid: pg\n            model: {rawSql: 'SELECT 1'}\n"
     + expression("C", "{type: threshold, expression: A, conditions: [{evaluator: {type: gt, params: [1]}}]}"), "has no PromQL 'expr'"),
    ("a range query never reduced", query(model="range: true") + expression("C", "{type: threshold, expression: A, conditions: [{evaluator: {type: gt, params: [1]}}]}"),
     "range query that is not reduced"),
    ("a comparison used in arithmetic", query() + REDUCE_B + expression("C", "{type: math, expression: '($B > 1) * 2'}"), "used in arithmetic"),
    ("a query ending in the past", query(span="{from: 600, to: 300}") + REDUCE_B
     + expression("C", "{type: threshold, expression: B, conditions: [{evaluator: {type: gt, params: [1]}}]}"), "relativeTimeRange.to"),
    ("math nested too deep", query() + REDUCE_B + expression("C", "{type: math, expression: '" + "(" * 500 + "$B" + ")" * 500 + " > 1'}"), "nested deeper"),
    ("a chain of signs", query() + REDUCE_B + expression("C", "{type: math, expression: '" + "-" * 3000 + "$B > 1'}"), "nested deeper"),
]


@pytest.mark.parametrize(("case", "data", "why"), NOT_JUDGED, ids=[case for case, _, _ in NOT_JUDGED])
def test_rules_without_a_promql_equivalent_are_listed_not_judged(tmp_path, case, data, why) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(provisioning(data))
    loaded = load_rule_file(str(path))
    assert loaded.errors == []
    (rule,) = loaded.rules
    assert rule.query is None and rule.not_judged is not None and why in rule.not_judged
    assert rule.line == 7 and rule.name == "R"


def test_paused_rules_and_no_data_alerting(tmp_path) -> None:
    data = query() + REDUCE_B + expression("C", "{type: threshold, expression: B, conditions: [{evaluator: {type: gt, params: [1]}}]}")
    path = tmp_path / "paused.yaml"
    path.write_text(provisioning(data, extra="        isPaused: true\n"))
    (paused,) = load_rule_file(str(path)).rules
    assert paused.not_judged == "paused in Grafana: it is not evaluated"
    path.write_text(provisioning(data, extra="        noDataState: Alerting\n"))
    (alerting,) = load_rule_file(str(path)).rules
    assert alerting.expr == f"({Q} > 1) or on () absent({QUERY})"


def test_recording_rules(tmp_path) -> None:
    path = tmp_path / "record.yaml"
    path.write_text(
        "apiVersion: 1\ngroups:\n  - name: g\n    folder: F\n    interval: 1m\n    rules:\n      - uid: r\n        title: Record\n"
        "        record: {metric: 'job:http_errors:rate5m', from: A}\n        labels: {source: grafana}\n        data:\n" + query()
    )
    (rule,) = load_rule_file(str(path)).rules
    assert (rule.kind, rule.name, rule.expr, dict(rule.labels)) == ("record", "job:http_errors:rate5m", Q, {"source": "grafana"})


# --------------------------------------------------------------------------- errors


def test_rules_grafana_would_refuse_are_input_errors_with_their_line(capsys, tmp_path) -> None:
    path = tmp_path / "broken.yaml"
    good = query() + REDUCE_B + expression("C", "{type: threshold, expression: B, conditions: [{evaluator: {type: gt, params: [1]}}]}")
    path.write_text(
        "apiVersion: 1\ngroups:\n  - name: g\n    folder: F\n    interval: 1m\n    rules:\n"
        "      - uid: no-title\n        condition: C\n        data:\n" + good
        + "      - uid: dangling\n        title: Dangling\n        condition: Z\n        data:\n" + good
        + "      - uid: bad-for\n        title: BadFor\n        condition: C\n        for: soon\n        data:\n" + good
        + "      - uid: cycle\n        title: Cycle\n        condition: C\n        data:\n"
        + expression("B", "{type: math, expression: '$C + 1'}") + expression("C", "{type: math, expression: '$B > 1'}")
        + "      - uid: ok\n        title: Fine\n        condition: C\n        data:\n" + good
        + "  - name: no-interval\n    folder: F\n    rules: []\n"
    )
    loaded = load_rule_file(str(path))
    assert [r.name for r in loaded.rules] == ["Fine"]
    messages = [(e.line, e.message) for e in loaded.errors]
    assert messages == [
        (7, "rule has no title"),
        (20, "rule 'Dangling': condition 'Z' names no query or expression in 'data'"),
        (37, "rule 'BadFor': 'for' is not a valid duration: 'soon'"),
        (56, "rule 'Cycle': expressions refer to each other in a cycle through C"),
        (73, "rule group 'no-interval' has no interval (Grafana requires one)"),
    ]
    code, out, err = run(capsys, "check", "--rules", str(path), "--service-map", str(ROOT / "service_maps"), "--component", "checkout/api")
    assert code == 2 and err.count("coverage-audit: error: ") == 5
    assert "7 failure modes" in out  # the run completed with the rule that loaded


def test_a_rule_with_too_many_nodes_is_refused(tmp_path) -> None:
    """References are followed recursively: a chain of thousands would exhaust the stack."""
    chain = "".join(expression(f"N{i}", f"{{type: reduce, expression: N{i + 1}, reducer: last}}") for i in range(5000))
    path = tmp_path / "chain.yaml"
    path.write_text(provisioning(chain + query("N5000"), condition="N0"))
    loaded = load_rule_file(str(path))
    assert loaded.rules == [] and [(e.line, e.message) for e in loaded.errors] == [(11, "rule 'R' has more than 64 queries and expressions; refused")]


def test_other_provisioning_files_are_skipped_with_a_reason(capsys, tmp_path) -> None:
    (tmp_path / "datasources.yaml").write_text("apiVersion: 1\ndatasources:\n  - {name: Prometheus, type: prometheus, uid: prom, url: http://prometheus:9090}\n")
    (tmp_path / "contact-points.yaml").write_text("apiVersion: 1\ncontactPoints:\n  - {orgId: 1, name: pager, receivers: []}\n")
    (tmp_path / "rules.json").write_text(json.dumps(json.loads(json.dumps({"apiVersion": 1, "groups": []}))))
    code, out, _ = run(capsys, "rules", "--rules", str(tmp_path), "--rules", str(tmp_path / "rules.json"), "--format", "json")
    document = json.loads(out)
    assert code == 0 and document["errors"] == []
    assert {Path(s["file"]).name: s["reason"] for s in document["skipped"]} == {
        "datasources.yaml": "Grafana data source provisioning file",
        "contact-points.yaml": "Grafana provisioning file without alert rules",
    }


# --------------------------------------------------------------------------- routing


def notifying(receiver: str, settings: str = "") -> str:
    data = query(expr='sum by (job) (rate(http_requests_total{job="checkout", code=~"5.."}[5m])) / sum by (job) (rate(http_requests_total{job="checkout"}[5m]))')
    data += REDUCE_B + expression("C", "{type: threshold, expression: B, conditions: [{evaluator: {type: gt, params: [0.05]}}]}")
    # labels that, without notification settings, would take the #alerts-triage catch-all
    extra = f"        labels: {{severity: warning}}\n        notification_settings: {{receiver: {receiver}{settings}}}\n"
    return provisioning(data, extra=extra)


def test_a_contact_point_in_notification_settings_is_where_the_alert_goes(capsys, tmp_path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(notifying("checkout-pager"))
    _, document, err = check_json(capsys, path)
    assert document["errors"] == [], err
    (alert,) = by_key(document)[("checkout/api", "errors")]["alerts"]
    assert alert["receivers"] == ["checkout-pager"] and alert["problems"] == []
    path.write_text(notifying("checkout-pager", ", group_wait: 2m"))
    _, slower, _ = check_json(capsys, path)
    (late,) = by_key(slower)[("checkout/api", "errors")]["alerts"]
    assert late["detect_seconds"] - alert["detect_seconds"] == 120 - 30  # its own group_wait replaces the root's 30s
    path.write_text(notifying("blackhole"))
    _, dropped, _ = check_json(capsys, path)
    (nowhere,) = by_key(dropped)[("checkout/api", "errors")]["alerts"]
    assert nowhere["problems"] == ["blackhole"] and nowhere["receivers"] == ["blackhole"]


def test_a_contact_point_that_is_no_receiver_is_an_input_error(capsys, tmp_path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(notifying("nobody-pager"))
    code, document, err = check_json(capsys, path)
    assert code == 2
    assert err.strip() == (
        f"coverage-audit: error: {path}:7: notification_settings.receiver 'nobody-pager' is not a receiver of "
        f"{ROOT / 'rulesets/alertmanager.yaml'}"
    )
    assert by_key(document)[("checkout/api", "errors")]["alerts"][0]["problems"] == ["blackhole"]


# --------------------------------------------------------------------------- the report


def test_rules_not_judged_are_listed_in_rules_and_in_the_report(capsys, tmp_path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(GRAFANA, rules)
    (rules / "logs.yaml").write_text(provisioning(NOT_JUDGED[2][1]))
    code, out, _ = run(capsys, "rules", "--rules", str(rules))
    assert code == 0 and f"{rules / 'logs.yaml'}:7: R: query A reads a loki data source, not PromQL" in out
    _, markdown, _ = run(capsys, "rules", "--rules", str(rules), "--format", "markdown")
    assert "| not judged: query A reads a loki data source, not PromQL |" in markdown
    report = tmp_path / "report"
    code, _, err = run(capsys, "report", "--rules", str(rules), "--service-map", str(ROOT / "service_maps"), "--out", str(report))
    assert code == 0, err
    document = json.loads((report / "report.json").read_text())
    assert document["not_judged"] == [{"name": "R", "file": str(rules / "logs.yaml"), "line": 7, "why": "query A reads a loki data source, not PromQL"}]
    assert "## Rules not judged" in (report / "report.md").read_text()
    assert '<section id="not-judged">' in (report / "index.html").read_text()
    _, text, _ = run(capsys, "check", "--rules", str(rules), "--service-map", str(ROOT / "service_maps"), "--component", "checkout/api")
    assert "1 rule(s) not judged, having no PromQL equivalent" in text
