"""One source for each concept (issue 9): topics in the service map and the graph's impact
traversal; owner names; whether an alert reaches someone (judge and drafts alike); the labels
that satisfy matchers; the draft policy as configuration; orphans."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import networkx as nx
import pytest

from coverage_audit import drafts
from coverage_audit.analysis.matching import witness_labels
from coverage_audit.analysis.routing import owner_route_matchers, reach
from coverage_audit.catalog import default_catalog
from coverage_audit.cli import main
from coverage_audit.graph import add_discovered, build_graph, impacted, node_id
from coverage_audit.loaders.alertmanager import load_alertmanager_text
from coverage_audit.loaders.codeowners import owner_matches
from coverage_audit.loaders.service_map import load_service_map_text
from coverage_audit.model import LabelMatcher, MatchOp
from coverage_audit.owners import owner_names, same_owner

ROOT = Path(__file__).resolve().parents[1]

PIPELINE = """\
apiVersion: coverage-audit/v1
kind: ServiceMap
services:
  - name: web
    owner: team-web
    selector: '{job="web"}'
    depends_on: [orders]
    components:
      - {name: api, kind: http_api, paths: ["web/**"]}
  - name: orders
    owner: team-orders
    selector: '{job="orders"}'
    components:
      - {name: api, kind: http_api, paths: ["orders/api/**"]}
      - {name: outbox, kind: queue_producer, paths: ["orders/outbox/**"], publishes: [orders.placed]}
  - name: billing
    owner: team-billing
    selector: '{job="billing"}'
    components:
      - {name: api, kind: http_api, paths: ["billing/api/**"]}
      - {name: enricher, kind: queue_consumer, paths: ["billing/enricher/**"], consumes: [orders.placed], publishes: [orders.billed]}
  - name: ledger
    owner: team-ledger
    selector: '{job="ledger"}'
    components:
      - {name: poster, kind: queue_consumer, paths: ["ledger/**"], consumes: orders.billed}
  - name: portal
    owner: team-web
    selector: '{job="portal"}'
    depends_on: [billing]
    components:
      - {name: web, kind: http_api, paths: ["portal/**"]}
business_metrics:
  - {name: revenue, owner: team-ledger, metric: ledger_postings_total, depends_on: [ledger]}
"""


def graph_of(text: str = PIPELINE) -> nx.DiGraph:
    loaded = load_service_map_text(text, "map.yaml", default_catalog())
    assert loaded.errors == []
    return build_graph(loaded.service_map, default_catalog(), modes=False)


def reached(graph: nx.DiGraph, *direct: str) -> dict[str, frozenset[str] | None]:
    return {r.node: r.modes for r in impacted(graph, direct, default_catalog().impact)}


# --------------------------------------------------------------------------- topics and impact


def test_topics_load_in_both_forms_and_become_edges() -> None:
    loaded = load_service_map_text(PIPELINE, "map.yaml", default_catalog())
    enricher = loaded.service_map.services["billing"].components[1]
    assert enricher.consumes == ("orders.placed",) and enricher.publishes == ("orders.billed",)
    assert loaded.service_map.services["ledger"].components[0].consumes == ("orders.billed",)  # one name is a list of one
    backstage = textwrap.dedent("""\
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata:
          name: billing
          annotations:
            coverage-audit/components: |
              - {name: enricher, kind: queue_consumer, paths: ["billing/**"], consumes: [orders.placed]}
        spec: {owner: group:team-billing}
        """)
    from_backstage = load_service_map_text(backstage, "catalog-info.yaml", default_catalog())
    assert from_backstage.errors == []
    assert from_backstage.service_map.services["billing"].components[0].consumes == ("orders.placed",)
    graph = graph_of()
    assert graph.edges[node_id("component", "orders/outbox"), node_id("topic", "orders.placed")]["relation"] == "publishes"
    assert graph.edges[node_id("component", "billing/enricher"), node_id("topic", "orders.placed")]["relation"] == "consumes"
    assert graph.edges[node_id("service", "web"), node_id("service", "orders")]["relation"] == "calls"
    assert graph.edges[node_id("service", "ledger"), node_id("business", "revenue")]["relation"] == "feeds"


def test_bad_topic_lists_are_reported_with_their_line() -> None:
    bad = PIPELINE.replace("publishes: [orders.placed]", "publishes: [{topic: x}]")
    loaded = load_service_map_text(bad, "map.yaml", default_catalog())
    assert [(d.line, d.message) for d in loaded.errors] == [(15, "component orders/outbox: 'publishes' must be a list of topic or queue names")]
    assert [c.name for c in loaded.service_map.services["orders"].components] == ["api"]  # the rest kept


def test_impact_travels_through_topics_into_a_chain_of_consumers() -> None:
    found = reached(graph_of(), "orders/outbox")
    consumer = frozenset({"processing_errors", "stalled"})
    assert found[node_id("component", "billing/enricher")] == consumer
    # the enricher stalls, so the topic it publishes starves: the ledger's poster next
    assert found[node_id("component", "ledger/poster")] == consumer
    # and revenue, fed by ledger, through the two consumers
    assert found[node_id("business", "revenue")] is None
    # callers of the service whose code changed: errors and latency
    assert found[node_id("component", "web/api")] == frozenset({"errors", "latency"})
    # a consumer failing does not fail its service for that service's callers
    assert node_id("component", "billing/api") not in found and node_id("component", "portal/web") not in found
    assert found[node_id("component", "orders/outbox")] is None  # the direct one: every mode


def test_a_change_to_a_consumer_goes_downstream_only() -> None:
    found = reached(graph_of(), "ledger/poster")
    assert set(found) == {node_id("component", "ledger/poster"), node_id("business", "revenue")}


def test_discovered_calls_join_the_traversal_and_report_drift() -> None:
    graph = graph_of()
    assert node_id("component", "portal/web") not in reached(graph, "ledger/poster")
    assert add_discovered(graph, "portal", "ledger", "traces_service_graph_request_total") is True  # undeclared: drift
    assert graph.edges[node_id("service", "portal"), node_id("service", "ledger")]["relation"] == "discovered"
    assert add_discovered(graph, "web", "orders") is False  # the map says web calls orders already
    assert graph.edges[node_id("service", "web"), node_id("service", "orders")]["relation"] == "calls"
    assert reached(graph, "ledger/poster")[node_id("component", "portal/web")] == frozenset({"errors", "latency"})
    assert add_discovered(graph, "mobile-app", "web") is False  # a service the map lacks adds nothing
    assert add_discovered(graph, "web", "web") is False


def test_impact_is_one_linear_walk_on_a_long_chain() -> None:
    """2,000 services in one call chain and a 1,000-topic pipeline: each node once (well under a second)."""
    services = [f"  - {{name: s{i}, owner: t, selector: '{{job=\"s{i}\"}}', depends_on: [s{i + 1}], components: [{{name: api, kind: http_api, paths: ['s{i}/**']}}, {{name: c, kind: queue_consumer, paths: ['c{i}/**'], consumes: [t{i}], publishes: [t{i + 1}]}}]}}" for i in range(1999)]
    services.append("  - {name: s1999, owner: t, selector: '{job=\"s1999\"}', components: [{name: api, kind: http_api, paths: ['s1999/**']}]}")
    text = "apiVersion: coverage-audit/v1\nkind: ServiceMap\nservices:\n" + "\n".join(services) + "\n"
    import time

    graph = graph_of(text)
    started = time.perf_counter()
    found = reached(graph, "s1999/api", "s0/c")
    elapsed = time.perf_counter() - started
    assert len([n for n in found if n.endswith("/api")]) == 2000  # every caller up the chain
    assert len([n for n in found if n.endswith("/c")]) == 1999  # every consumer down the pipeline
    assert elapsed < 1.0, elapsed


# --------------------------------------------------------------------------- owners


@pytest.mark.parametrize(("one", "other", "same"), [
    ("payments-team", "team-payments", True),
    ("payments-team", "payments", True),
    ("@org/payments-team", "group:default/team-payments", True),
    ("payments_squad", "payments", True),
    ("payments-team-eu", "payments", False),
    ("team", "payments", False),
])
def test_one_owner_name_rule_for_routing_and_codeowners(one: str, other: str, same: bool) -> None:
    assert same_owner(one, other) is same
    assert owner_matches(one, other) is same  # CODEOWNERS goes through it
    if same:
        assert set(owner_names(one)) & set(owner_names(other))


def test_a_route_for_team_payments_is_found_for_owner_payments_team() -> None:
    config = load_alertmanager_text(textwrap.dedent("""\
        route:
          receiver: default
          routes:
            - {matchers: ['team="payments"'], receiver: payments-pager}
        receivers:
          - {name: default}
          - {name: payments-pager, pagerduty_configs: [{routing_key: k}]}
        """), "am.yaml")
    assert owner_route_matchers(config, "payments-team") == [(LabelMatcher("team", MatchOp.EQ, "payments"),)]


# --------------------------------------------------------------------------- reaching someone

MUTED = """\
route:
  receiver: catch-all
  routes:
    - matchers: ['team="payments"', 'severity="critical"']
      receiver: payments-pager
      mute_time_intervals: [nights]
    - matchers: ['team="payments"']
      receiver: payments-chat
    - matchers: ['team="void"']
      receiver: nobody
time_intervals:
  - name: nights
    time_intervals: [{times: [{start_time: '22:00', end_time: '23:59'}]}]
receivers:
  - {name: catch-all, slack_configs: [{api_url: 'http://127.0.0.1:9/x', channel: '#all'}]}
  - {name: payments-pager, pagerduty_configs: [{routing_key: k}]}
  - {name: payments-chat, slack_configs: [{api_url: 'http://127.0.0.1:9/x', channel: '#payments'}]}
  - {name: nobody}
"""


def test_reach_is_the_one_answer_and_drafts_take_only_what_reaches_always() -> None:
    config = load_alertmanager_text(MUTED, "am.yaml")
    muted = reach(config, {"team": "payments", "severity": "critical"})
    assert [p for p, _ in muted.problems] == ["muted"] and muted.receivers == ("payments-pager",)
    assert [p for p, _ in reach(config, {"team": "void"}).problems] == ["blackhole"]
    assert [p for p, _ in reach(config, {"team": "other"}).problems] == ["unrouted"]
    assert reach(config, {"team": "payments"}).ok
    labels, note, _ = drafts.routing_labels(config, "payments-team", {}, "PaymentsDown")
    assert reach(config, {**labels, "alertname": "PaymentsDown"}).ok, (labels, note)
    # not the muted pager route: without severity=critical it goes to the team's chat, always
    assert labels == {"team": "payments"} and note == "routes to payments-chat"


def test_witness_labels_prefer_given_values_and_leave_out_what_only_negative_matchers_need() -> None:
    matchers = (LabelMatcher("team", MatchOp.RE, "pay.*|orders"), LabelMatcher("env", MatchOp.NE, "dev"))
    assert witness_labels(matchers, prefer={"team": ["payments"]}) == {"team": "payments"}
    plain = witness_labels(matchers)
    assert plain is not None and set(plain) == {"team"} and plain["team"] in ("pay", "orders")  # env!="dev": no label at all
    assert witness_labels((LabelMatcher("a", MatchOp.EQ, "1"),), (LabelMatcher("a", MatchOp.EQ, "2"),)) is None


# --------------------------------------------------------------------------- draft policy


def test_the_draft_policy_is_configuration(tmp_path: Path, capsys) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(textwrap.dedent(f"""\
        rules: [{ROOT / 'rulesets'}]
        service_maps: [{ROOT / 'service_maps'}]
        drafts:
          runbook_url: https://wiki.example.org/runbooks/{{owner}}/{{alert}}
          severity: page
          slo_objective: 0.995
        """))
    out = tmp_path / "out"
    assert main(["draft", "--config", str(config), "--component", "checkout/api", "--out", str(out)]) == 0
    text = (out / "checkout.rules.yaml").read_text()
    assert "https://wiki.example.org/runbooks/team-checkout/CheckoutApiTrafficDrop" in text
    assert 'severity: "page"' in text and 'severity: "critical"' not in text
    config.write_text(config.read_text().replace("slo_objective: 0.995", "slo_objectiv: 0.995"))
    capsys.readouterr()
    assert main(["draft", "--config", str(config), "--component", "checkout/api", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown setting 'slo_objectiv'" in err[0]


def test_the_draft_policy_refuses_bad_values() -> None:
    policy = drafts.default_policy()
    assert policy.fast_burn == 14.4 and policy.runbook_url.endswith("{owner}/{alert}")
    with pytest.raises(ValueError, match="runbook_url may use only"):
        policy.with_overrides({"runbook_url": "https://x/{team}"})
    with pytest.raises(ValueError, match="slo_objective must be float"):
        policy.with_overrides({"slo_objective": "high"})


# --------------------------------------------------------------------------- orphans


def test_orphans_of_the_bundled_shop(capsys, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["check", "--component", "checkout/api", "--format", "json", "--fail-on", "never"]) == 0
    orphans = json.loads(capsys.readouterr().out)["orphans"]
    # hand-judged from rulesets/: each watches something no failure mode of the map names
    assert {a["name"]: a["why"].split(",")[0] for a in orphans["alerts"]} == {
        "LedgerReconciliationMismatch": "watches ledger_reconciliation_mismatch_cents",
        "KafkaConsumerGroupLagHigh": "watches kafka_consumergroup_lag",  # the map declares eventbus lag instead
        "ShopMaintenanceMode": "watches shop_maintenance_mode",
    }
    assert orphans["unread_selectors"] == [{"subject": "fraud/scoring", "selector": '{job="fraud"}'}]


def test_an_alert_on_a_service_the_map_lacks_is_an_orphan(tmp_path: Path, capsys, monkeypatch) -> None:
    (tmp_path / "rules.yaml").write_text(textwrap.dedent("""\
        groups:
          - name: g
            rules:
              - alert: LegacyErrors
                expr: sum by (job) (rate(http_requests_total{job="legacy",code=~"5.."}[5m])) > 1
              - alert: WebErrors
                expr: sum by (job) (rate(http_requests_total{job="web",code=~"5.."}[5m])) > 1
              - alert: AnyErrors
                expr: sum(rate(http_requests_total{code=~"5.."}[5m])) > 1
        """))
    (tmp_path / "map.yaml").write_text(PIPELINE)
    monkeypatch.chdir(tmp_path)  # no coverage-audit.yaml here: only the flags count
    assert main(["check", "--rules", "rules.yaml", "--service-map", "map.yaml", "--component", "web/api", "--format", "json", "--fail-on", "never"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [(a["name"], a["why"]) for a in document["orphans"]["alerts"]] == [
        ("LegacyErrors", 'selects {job="legacy"}, series no subject of the service map has')
    ]
    unread = {u["subject"] for u in document["orphans"]["unread_selectors"]}
    assert "web/api" not in unread and "orders/api" in unread


def test_topics_export_in_every_graph_format() -> None:
    from coverage_audit.reporters.graph import render_dot, render_json, render_mermaid

    graph = graph_of()
    document = json.loads(render_json(graph))
    topics = {n["id"] for n in document["nodes"] if n["kind"] == "topic"}
    assert topics == {"topic:orders.placed", "topic:orders.billed"}
    assert {e["relation"] for e in document["edges"]} == {"has", "calls", "publishes", "consumes", "feeds"}
    assert '"topic:orders.placed" [label="orders.placed" shape=cds];' in render_dot(graph)
    assert '[/"orders.placed"/]' in render_mermaid(graph)


def test_families_in_use_rank_declared_then_live_then_rules() -> None:
    from coverage_audit.analysis.in_use import InUse
    from coverage_audit.promql import parse_selector

    candidates = [parse_selector(s) for s in (
        'http_requests_total{code=~"5.."}',
        'http_server_request_duration_seconds_count{http_response_status_code=~"5.."}',
        'traces_span_metrics_calls_total{span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_ERROR"}',
    )]
    rules = ["http_requests_total"]
    live = {"shop/api": {"http_server_request_duration_seconds_bucket"}}
    nothing = InUse({}, [])
    assert nothing.choose("shop/api", candidates) == (candidates[0], None)  # assumed: unverified
    from_rules = InUse({}, rules).choose("shop/api", candidates)
    assert from_rules is not None and from_rules[0] == candidates[0] and from_rules[1] is not None and from_rules[1].source == "rules"
    seen = InUse({}, rules, live=lambda subject: live.get(subject, set())).choose("shop/api", candidates)
    assert seen is not None and seen[0] == candidates[1] and seen[1] is not None and (seen[1].source, seen[1].closeness) == ("live", "sibling")
    declared = InUse({"shop/api": {"traces_span_metrics_duration_milliseconds_bucket"}}, rules, live=lambda s: live.get(s, set()))
    chosen = declared.choose("shop/api", candidates)
    assert chosen is not None and chosen[0] == candidates[2] and chosen[1] is not None and (chosen[1].source, chosen[1].closeness) == ("declared", "family")
    assert "otel-spanmetrics" in chosen[1].describe("traces_span_metrics_calls_total")
