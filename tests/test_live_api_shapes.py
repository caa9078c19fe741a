"""Thanos, Mimir and Cortex have no Debian package: their rule APIs are tested on answers written
from their documentation, served on 127.0.0.1 (DESIGN 8). The Prometheus-compatible parts
(series, labels, /api/v1/rules as Prometheus serves it) run against a real Prometheus in
test_live.py.

Sources of the shapes:
* Prometheus rules API: https://prometheus.io/docs/prometheus/latest/querying/api/#rules
* Thanos: the rules API answers Prometheus' shape plus ``partialResponseStrategy`` per group, and
  Thanos Query adds its external labels to every rule (https://thanos.io/tip/components/query.md/
  "Rules API"; github.com/thanos-io/thanos pkg/rules/rulespb/rpc.proto and custom_test.go, whose
  expected JSON this answer follows field by field).
* Mimir: ``<prometheus-http-prefix>/api/v1/rules`` (Prometheus-compatible) and the ruler
  configuration API ``<prometheus-http-prefix>/config/v1/rules`` answering YAML
  ``{namespace: [group]}`` with ``source_tenants``; both need ``X-Scope-OrgID``
  (https://grafana.com/docs/mimir/latest/references/http-api/#list-rule-groups).
* Cortex: the ruler configuration API at ``/api/v1/rules`` (no prefix), YAML ``{namespace: [group]}``
  (https://cortexmetrics.io/docs/api/#list-rule-groups).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import live_servers as ls
from coverage_audit.cli import main

FILE_RULES = """groups:
  - name: api
    rules:
      - alert: ApiHighErrorRate
        expr: sum(rate(http_requests_total{job="api",code=~"5.."}[5m])) by (job) / sum(rate(http_requests_total{job="api"}[5m])) by (job) > 0.05
        for: 10m
        labels:
          severity: page
      - record: job:http_requests:rate5m
        expr: sum by (job) (rate(http_requests_total[5m]))
"""

# Thanos Query: the file's rules as the ruler evaluates them, printed canonically, with the
# external label cluster="eu1" on every rule, plus one rule that exists only on the ruler and one
# whose expression drifted from the file.
THANOS = {
    "status": "success",
    "data": {
        "groups": [
            {
                "name": "api",
                "file": "/etc/thanos/rules/api.yaml",
                "rules": [
                    {
                        "state": "inactive",
                        "name": "ApiHighErrorRate",
                        "query": 'sum by (job) (rate(http_requests_total{code=~"5..",job="api"}[5m])) / sum by (job) (rate(http_requests_total{job="api"}[5m])) > 0.05',
                        "duration": 600,
                        "labels": {"cluster": "eu1", "severity": "page"},
                        "annotations": {},
                        "alerts": [],
                        "health": "ok",
                        "lastError": "",
                        "evaluationTime": 0.0012,
                        "lastEvaluation": "2024-05-02T10:00:00Z",
                        "type": "alerting",
                    },
                    {
                        "name": "job:http_requests:rate5m",
                        "query": "sum by (job) (rate(http_requests_total[5m]))",
                        "labels": {"cluster": "eu1"},
                        "health": "ok",
                        "lastError": "",
                        "evaluationTime": 0.001,
                        "lastEvaluation": "2024-05-02T10:00:00Z",
                        "type": "recording",
                    },
                    {
                        "state": "firing",
                        "name": "ApiDown",
                        "query": 'up{job="api"} == 0',
                        "duration": 300,
                        "labels": {"cluster": "eu1", "severity": "page"},
                        "annotations": {"summary": "api is down"},
                        "alerts": [],
                        "health": "ok",
                        "evaluationTime": 0.001,
                        "lastEvaluation": "2024-05-02T10:00:00Z",
                        "type": "alerting",
                    },
                ],
                "interval": 30,
                "evaluationTime": 0.003,
                "lastEvaluation": "2024-05-02T10:00:00Z",
                "limit": 0,
                "partialResponseStrategy": "ABORT",
            },
            {
                "name": "latency",
                "file": "/etc/thanos/rules/latency.yaml",
                "rules": [
                    {"name": "ApiSlow", "query": "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m]))) > 2",
                     "duration": 0, "labels": {"cluster": "eu1"}, "annotations": {}, "alerts": [], "health": "ok", "type": "alerting"},
                    {"name": "Broken", "labels": {"cluster": "eu1"}, "type": "alerting"},
                ],
                "interval": 60,
                "partialResponseStrategy": "WARN",
            },
        ]
    },
}

# The Mimir documentation's example answer, with its placeholders filled in.
MIMIR_RULER = """---
payments:
- name: payments-slo
  interval: 1m
  source_tenants:
    - team-a
    - team-b
  rules:
  - record: job:payments_errors:ratio_rate5m
    expr: sum by (job) (rate(payments_requests_total{status=~"5.."}[5m])) / sum by (job) (rate(payments_requests_total[5m]))
  - alert: PaymentsErrorBudgetBurn
    expr: job:payments_errors:ratio_rate5m > 14.4 * 0.001
    for: 2m
    annotations:
      summary: Payments burn their error budget
    labels:
      severity: page
checkout:
- name: checkout
  rules:
  - alert: CheckoutDown
    expr: up{job="checkout"} == 0
    for: 5m
    labels:
      severity: page
"""

CORTEX_RULER = """---
checkout:
- name: checkout
  interval: 30s
  rules:
  - alert: CheckoutDown
    expr: up{job="checkout"} == 0
    for: 5m
    labels:
      severity: page
"""


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def serve(routes: dict[str, tuple[str, str]], seen: list[tuple[str, str | None]]):
    """Answers ``routes[path] = (content type, body)``; 404 elsewhere. Records (path, tenant)."""

    def behaviour(handler) -> None:
        path = handler.path.split("?", 1)[0]
        seen.append((path, handler.headers.get("X-Scope-OrgID")))
        found = routes.get(path)
        body = found[1].encode() if found else b'{"status":"error","errorType":"not_found","error":"not found"}'
        handler.send_response(200 if found else 404)
        handler.send_header("Content-Type", found[0] if found else "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return ls.fault_server(behaviour)


def inventory(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict, str]:
    code = main(["rules", "--format", "json", *args])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def test_thanos_query_rules_merge_with_the_file_despite_external_labels(capsys, tmp_path) -> None:
    (tmp_path / "rules.yaml").write_text(FILE_RULES)
    seen: list = []
    with serve({"/api/v1/rules": ("application/json", json.dumps(THANOS))}, seen) as url:
        code, document, err = inventory(capsys, "--rules", "rules.yaml", "--prometheus", url)
    assert seen == [("/api/v1/rules", None)]
    rules = {r["name"]: r for r in document["rules"]}
    # The file's two rules are the server's first two (external label cluster="eu1" aside): one each.
    assert sorted(rules) == ["ApiDown", "ApiHighErrorRate", "ApiSlow", "job:http_requests:rate5m"]
    assert rules["ApiHighErrorRate"]["file"] == "rules.yaml" and rules["ApiHighErrorRate"]["line"] == 4
    assert rules["job:http_requests:rate5m"]["file"] == "rules.yaml"
    assert rules["ApiDown"] | {"expr": None} == rules["ApiDown"] | {
        "kind": "alert", "group": "api", "file": f"{url}/api/v1/rules", "line": 0, "source": "thanos", "for_seconds": 300.0,
        "labels": {"cluster": "eu1", "severity": "page"}, "metrics": ["up"], "level": "infrastructure", "expr": None,
    }  # fmt: skip
    assert rules["ApiSlow"]["source"] == "thanos" and rules["ApiSlow"]["metrics"] == ["http_request_duration_seconds_bucket"]
    # The malformed entry is one error naming its group; everything else loaded; exit 2.
    assert code == 2
    assert err.splitlines() == [f"coverage-audit: error: {url}/api/v1/rules: group 'latency': a rule without a type, name or query; left out"]


def test_a_rule_that_differs_on_the_server_is_reported_as_drift(capsys, tmp_path) -> None:
    (tmp_path / "rules.yaml").write_text(FILE_RULES.replace("> 0.05", "> 0.01"))
    (tmp_path / "map.yaml").write_text(
        "apiVersion: coverage-audit/v1\nkind: ServiceMap\nservices:\n  - name: api\n    owner: team-api\n"
        "    selector: '{job=\"api\"}'\n    components: [{name: http, kind: http_api, paths: ['api/**']}]\n"
    )
    seen: list = []
    with serve({"/api/v1/rules": ("application/json", json.dumps(THANOS))}, seen) as url:
        main(["check", "--rules", "rules.yaml", "--service-map", "map.yaml", "--component", "api/http", "--prometheus", url, "--format", "json"])
    document = json.loads(capsys.readouterr().out)
    rule_drift = [d["message"] for d in document["drift"] if d["kind"] == "rule"]
    assert rule_drift == [f"alert 'ApiHighErrorRate' in group 'api' differs between rules.yaml:4 and {url}/api/v1/rules"]


def test_mimir_prometheus_compatible_rules_under_a_prefix_with_a_tenant(capsys, tmp_path) -> None:
    answer = {"status": "success", "data": {"groups": [{"name": "checkout", "file": "checkout", "interval": 60, "rules": [
        {"name": "CheckoutDown", "query": 'up{job="checkout"} == 0', "duration": 300, "labels": {"severity": "page"},
         "annotations": {}, "alerts": [], "health": "ok", "type": "alerting"}]}]}}  # fmt: skip
    seen: list = []
    with serve({"/prometheus/api/v1/rules": ("application/json", json.dumps(answer))}, seen) as url:
        (tmp_path / "coverage-audit.yaml").write_text(f"prometheus: {{url: {url}, path_prefix: /prometheus, tenant: team-a}}\n")
        code, document, err = inventory(capsys)
    assert (code, err) == (0, "")
    assert seen == [("/prometheus/api/v1/rules", "team-a")]
    (rule,) = document["rules"]
    assert (rule["name"], rule["file"], rule["for_seconds"]) == ("CheckoutDown", f"{url}/prometheus/api/v1/rules", 300.0)


def test_the_mimir_ruler_configuration_api(capsys, tmp_path) -> None:
    seen: list = []
    with serve({"/prometheus/config/v1/rules": ("application/yaml", MIMIR_RULER)}, seen) as url:
        (tmp_path / "coverage-audit.yaml").write_text(f"prometheus: {{url: {url}, path_prefix: /prometheus, tenant: team-a, rules_api: mimir_ruler}}\n")
        code, document, err = inventory(capsys)
    assert (code, err) == (0, "")
    assert seen == [("/prometheus/config/v1/rules", "team-a")]
    rules = {r["name"]: r for r in document["rules"]}
    assert sorted(rules) == ["CheckoutDown", "PaymentsErrorBudgetBurn", "job:payments_errors:ratio_rate5m"]
    burn = rules["PaymentsErrorBudgetBurn"]
    assert burn["file"] == f"{url}/prometheus/config/v1/rules/payments" and burn["group"] == "payments-slo"
    assert burn["source"] == "mimir" and burn["for_seconds"] == 120.0
    assert burn["metrics"] == ["payments_requests_total"]  # through the recording rule
    assert rules["CheckoutDown"]["file"] == f"{url}/prometheus/config/v1/rules/checkout"


def test_the_cortex_ruler_configuration_api_is_at_the_root(capsys, tmp_path) -> None:
    seen: list = []
    with serve({"/api/v1/rules": ("application/yaml", CORTEX_RULER)}, seen) as url:
        (tmp_path / "coverage-audit.yaml").write_text(f"prometheus: {{url: {url}, path_prefix: /prometheus, tenant: '1', rules_api: cortex_ruler}}\n")
        code, document, err = inventory(capsys)
    assert (code, err) == (0, "")
    assert seen == [("/api/v1/rules", "1")]
    (rule,) = document["rules"]
    assert (rule["name"], rule["group"], rule["file"]) == ("CheckoutDown", "checkout", f"{url}/api/v1/rules/checkout")


def test_a_ruler_answer_that_is_not_rule_groups_is_an_error_with_its_line(capsys, tmp_path) -> None:
    broken = "checkout:\n- name: checkout\n  rules:\n  - alert: X\n    expr: up ==\n"
    seen: list = []
    with serve({"/prometheus/config/v1/rules": ("application/yaml", broken)}, seen) as url:
        (tmp_path / "coverage-audit.yaml").write_text(f"prometheus: {{url: {url}, path_prefix: /prometheus, rules_api: mimir_ruler}}\n")
        code, document, err = inventory(capsys)
    assert code == 2
    (line,) = err.splitlines()
    assert line.startswith(f"coverage-audit: error: {url}/prometheus/config/v1/rules/checkout:5: alert 'X': could not parse expr")
