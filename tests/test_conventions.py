"""Instrumentation conventions: each convention family's own rule file, judged against a
service map that declares only kinds, with verdicts judged by hand (tests/conventions/*.yaml).

A case's `expect` says which alerts cover each mode, which must not (wrong status value, wrong
side of a call, wrong direction, another subject), and which have a threshold in the wrong unit
(see tests/conventions/README.md). A case's `xfail` names expectations the judge does not meet
yet, each with the reason (strict: they fail the suite once they pass).
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from coverage_audit import conventions
from coverage_audit.analysis.coverage import CoverageJudge
from coverage_audit.analysis.findings import Finding
from coverage_audit.analysis.impact import component_subject, target_of
from coverage_audit.analysis.matching import narrows_like, requires_value
from coverage_audit.catalog import default_catalog
from coverage_audit.levels import default_levels
from coverage_audit.loaders.rules import load_rules
from coverage_audit.loaders.service_map import load_service_map_text
from coverage_audit.model import LabelMatcher, MatchOp
from coverage_audit.promql import parse_selector
from coverage_audit.ruleset import build_ruleset
from coverage_audit.scenarios import name_unit_scale, time_unit_scale

CASES = Path(__file__).resolve().parent / "conventions"
BUDGET = 7200.0  # these cases are about recognising conventions, not about timing


def _case(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


@functools.lru_cache(maxsize=None)
def judged(name: str) -> dict[str, Finding]:
    """Every mode of every component of the case, judged (no Alertmanager: routing not at stake)."""
    case = _case(CASES / name)
    service = case["service"]
    components = [{"paths": [f"{c['name']}/**"], **c} for c in case["components"]]
    text = yaml.safe_dump({"apiVersion": "coverage-audit/v1", "kind": "ServiceMap",
                           "services": [{"owner": "team", **service, "components": components}]})
    loaded = load_service_map_text(text, f"{name}:map", default_catalog())
    assert loaded.errors == [], loaded.errors
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "rules.yaml").write_text(case["rules"])
        load = load_rules([folder], jobs=1)
    assert load.errors == [], load.errors
    judge = CoverageJudge(build_ruleset(load), None, BUDGET, 60.0)
    found = {}
    for svc in loaded.service_map.services.values():
        for component in svc.components:
            for mode in default_catalog().modes_for(component):
                found[f"{component.name} {mode.id}"] = judge.judge(
                    component_subject(svc, component), mode, target_of(svc, component, default_catalog()), None
                )
    return found


def _params() -> list[Any]:
    params = []
    for path in sorted(CASES.glob("*.yaml")):
        case = _case(path)
        for key, expected in case["expect"].items():
            for category, alerts in expected.items():
                for alert in alerts:
                    reason = (case.get("xfail") or {}).get(alert)
                    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
                    params.append(pytest.param(path.name, key, category, alert, id=f"{case['convention']}:{key}:{category}:{alert}", marks=marks))
    return params


@pytest.mark.parametrize(("case", "key", "category", "alert"), _params())
def test_hand_judged_verdicts_per_convention(case: str, key: str, category: str, alert: str) -> None:
    finding = judged(case)[key]
    ok = [a.rule.name for a in finding.alerts if a.ok]
    weak = [a.rule.name for a in finding.alerts if not a.ok]
    if category == "covered":
        assert alert in ok, finding.reason
    elif category == "weak":
        assert alert in weak and alert not in ok, finding.reason
    elif category == "not":
        assert alert not in ok + weak, f"{alert} should not cover {key}: {finding.reason}"
    elif category == "wrong_unit":
        assert alert not in ok, f"{alert}'s threshold is in the wrong unit, yet it covers {key}"
    else:
        raise AssertionError(f"unknown expectation {category!r}")


def test_every_convention_has_a_hand_judged_case() -> None:
    cased = {_case(path)["convention"] for path in CASES.glob("*.yaml")}
    known = {c.id for c in conventions.default_conventions().conventions}
    assert cased <= known, cased - known
    # Conventions without a case of their own are each named here, with the case that stands for them.
    stand_ins = {
        "nginx-vts": "ingress-nginx", "traefik": "ingress-nginx", "gcp-load-balancing": "cloudflare",
        "cloudwatch-alb": "haproxy", "pgbouncer-exporter": "postgres-exporter", "mysqld-exporter": "postgres-exporter",
        "memcached-exporter": "redis-exporter", "mongodb-exporter": "postgres-exporter", "elasticsearch-exporter": "postgres-exporter",
    }
    assert known - cased == set(stand_ins), sorted(known - cased - set(stand_ins))


def test_a_component_kind_picks_its_own_side_of_a_call() -> None:
    """spanmetrics carries every side in one metric: span_kind tells an API (server spans)
    from a Kafka producer (producer spans), a consumer, and the calls it makes (client spans)."""
    sides = {"http_api": "SPAN_KIND_SERVER", "grpc_api": "SPAN_KIND_SERVER", "queue_consumer": "SPAN_KIND_CONSUMER",
             "queue_producer": "SPAN_KIND_PRODUCER", "external_dependency": "SPAN_KIND_CLIENT"}
    catalog = default_catalog()
    for kind, side in sides.items():
        spans = [s for mode in catalog.kinds[kind] for s in mode.signals if s.startswith("traces_span_metrics_")]
        assert spans, kind
        assert all(f'span_kind="{side}"' in s for s in spans), (kind, spans)


def test_spanmetrics_status_values() -> None:
    error = LabelMatcher("status_code", MatchOp.EQ, "STATUS_CODE_ERROR")
    assert set(conventions.healthy_values("status_code")) >= {"STATUS_CODE_UNSET", "STATUS_CODE_OK"}
    assert narrows_like([error], error)
    # ERROR|UNSET counts normal calls (UNSET is how most requests that went fine end)
    assert not narrows_like([LabelMatcher("status_code", MatchOp.RE, "STATUS_CODE_(ERROR|UNSET)")], error)
    assert narrows_like([LabelMatcher("status_code", MatchOp.NRE, "STATUS_CODE_(OK|UNSET)")], error)
    # a scope label says whose series, not whether they failed
    assert not requires_value(LabelMatcher("span_kind", MatchOp.EQ, "SPAN_KIND_SERVER"))
    assert requires_value(error)


def test_http_status_classes_need_the_whole_class_left_out() -> None:
    five = LabelMatcher("code", MatchOp.RE, "5..")
    assert narrows_like([LabelMatcher("code", MatchOp.NRE, "2..|3..")], five)
    assert not narrows_like([LabelMatcher("code", MatchOp.NE, "200")], five)  # 201, 301 still counted
    assert not narrows_like([LabelMatcher("code", MatchOp.NRE, "2..")], five)  # 3xx still counted


def test_units_where_the_name_says_them_agree_with_the_scenarios() -> None:
    """The magnitude model reads a metric's unit through scenarios.time_unit_scale: the name
    where it says the unit, and the conventions' unit data where it does not. The two must
    agree wherever the name says it."""
    data = conventions.default_conventions()
    silent = {}
    for metric, scale in data.units.items():
        by_name = name_unit_scale(metric)
        if any(unit in metric for unit in ("_seconds", "_milliseconds", "_microseconds")):
            assert by_name == scale, metric
        elif by_name != scale:
            silent[metric] = scale
        assert time_unit_scale(metric) == scale, metric
    bases = {m.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count") for m in silent}
    assert bases == {
        "response_latency_ms", "envoy_http_downstream_rq_time", "envoy_cluster_upstream_rq_time",
        "redis_commands_latencies_usec", "stackdriver_https_lb_rule_loadbalancing_googleapis_com_https_total_latencies",
    }
    assert time_unit_scale("response_latency_ms_bucket") == 1000.0  # Linkerd
    assert time_unit_scale("envoy_cluster_upstream_rq_time_bucket") == 1000.0
    assert time_unit_scale("redis_commands_latencies_usec_bucket") == 1e6
    assert time_unit_scale("traces_span_metrics_duration_milliseconds_bucket") == 1000.0
    assert time_unit_scale("some_custom_duration_seconds_bucket") == 1.0  # unknown: what the name says
    assert time_unit_scale("some_custom_latency_bucket") == 1.0


def test_every_default_signal_parses_and_names_its_convention() -> None:
    data = conventions.default_conventions()
    literal = {"messages_failed_total", "consumer_errors_total", "messages_dead_lettered_total", "messages_processed_total",
               "migration_failures_total", "schema_migrations_failed_total", "kube_job_status_failed",
               "db_query_errors_total", "sql_errors_total", "db_query_duration_seconds_bucket", "db_query_duration_seconds_sum"}
    for kind, modes in default_catalog().kinds.items():
        for mode in modes:
            assert mode.signals, (kind, mode.id)
            for text in (*mode.signals, *mode.inverse):
                metric = parse_selector(text).metric
                assert metric and (data.of_metric(metric) or metric in literal), (kind, mode.id, text)


def test_host_metrics_are_infrastructure_and_own_signals_are_not_for_their_kind() -> None:
    levels = default_levels()
    assert levels.level(["system_cpu_time_seconds_total"]) == "infrastructure"
    assert levels.level(["k8s_pod_phase"]) == "infrastructure"
    assert levels.level(["pg_stat_database_xact_rollback"]) == "infrastructure"  # for everyone else
    catalog = default_catalog()
    owned = {kind: catalog.owned_prefixes(kind, levels) for kind in ("datastore", "proxy", "load_balancer", "cdn", "http_api")}
    assert {"pg_", "pgbouncer_", "redis_", "mysql_"} <= set(owned["datastore"])
    assert {"envoy_", "haproxy_", "nginx_"} <= set(owned["proxy"]) and "cloudflare_" in owned["cdn"]
    assert owned["http_api"] == ()  # an API's signals are application-level for everyone
    assert levels.application_for("pg_stat_database_xact_rollback", owned["datastore"])
    assert not levels.application_for("node_load1", owned["datastore"])
    assert not levels.application_for("pg_stat_database_xact_rollback", owned["proxy"])


def test_owned_prefixes_are_remembered_per_kind_and_classifier() -> None:
    """Asked once per component (10,000 in a large map): the remembered answer is the one
    worked out, and another classifier gets its own."""
    catalog, levels = default_catalog(), default_levels()
    for kind in ("datastore", "proxy", "http_api"):
        assert catalog.owned_prefixes(kind, levels) == catalog._owned_prefixes(kind, levels)
        assert catalog.owned_prefixes(kind, levels) is catalog.owned_prefixes(kind, levels)
    extended = levels.extended(prefixes=("myapp_",), application_prefixes=("pg_",))
    assert "pg_" in catalog.owned_prefixes("datastore", levels)
    assert "pg_" not in catalog.owned_prefixes("datastore", extended)  # pg_ is an application prefix there
