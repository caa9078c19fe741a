"""DESIGN 5, rule by rule, on small inline inputs; and a property: never a false "covered"."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coverage_audit.commands import judge_everything, load_inputs
from coverage_audit.config import Settings

SERVICE_MAP = """\
apiVersion: coverage-audit/v1
kind: ServiceMap
services:
  - name: orders
    owner: team-orders
    selector: '{job="orders"}'
    components:
      - {name: api, kind: http_api, paths: ["services/orders/**"]}
      - {name: nightly, kind: batch_job, paths: ["jobs/orders/**"]}
      - name: events
        kind: queue_consumer
        paths: ["services/orders/events/**"]
        selector: '{consumergroup="orders-events"}'
business_metrics:
  - {name: orders_completed, owner: team-orders, metric: shop_orders_completed_total, depends_on: [orders]}
"""

ALERTMANAGER = """\
route:
  receiver: catch-all
  group_wait: 30s
  routes:
    - matchers: ['severity="info"']
      receiver: blackhole
    - matchers: ['team="orders-daytime"']
      receiver: orders-pager
      active_time_intervals: [office]
    - matchers: ['team="orders"']
      receiver: orders-chat
      group_wait: 45s
      continue: true
    - matchers: ['team="orders"', 'severity="page"']
      receiver: orders-pager
receivers:
  - {name: catch-all, slack_configs: [{api_url: 'http://x', channel: '#all'}]}
  - {name: orders-chat, slack_configs: [{api_url: 'http://x', channel: '#orders'}]}
  - {name: orders-pager, pagerduty_configs: [{routing_key: k}]}
  - {name: blackhole}
time_intervals:
  - name: office
    time_intervals: [{weekdays: ['monday:friday'], times: [{start_time: '09:00', end_time: '17:00'}]}]
"""


def judge(tmp_path: Path, rules: str, budget: float = 900.0) -> dict:
    (tmp_path / "rules.yaml").write_text(textwrap.dedent(rules))
    (tmp_path / "am.yaml").write_text(ALERTMANAGER)
    (tmp_path / "map.yaml").write_text(SERVICE_MAP)
    configured = Settings(
        rules=(str(tmp_path / "rules.yaml"),),
        alertmanager=str(tmp_path / "am.yaml"),
        service_maps=(str(tmp_path / "map.yaml"),),
        budget=budget,
    )
    inputs = load_inputs(configured)
    assert inputs.errors == []
    return {(f.subject.name, f.mode.id): f for f in judge_everything(inputs, configured)}


def rule(expr: str, name: str = "A", labels: str = "{team: orders, severity: page}", extra: str = "") -> str:
    return f"""\
        groups:
          - name: g
            rules:
              - alert: {name}
                expr: '{expr}'
                labels: {labels}
{extra}"""


def status(tmp_path: Path, expr: str, key: tuple[str, str], **kwargs: str) -> tuple[str, tuple[str, ...]]:
    finding = judge(tmp_path, rule(expr, **kwargs))[key]
    problems = finding.best.problems if finding.best else ()
    return finding.status, problems


ERRORS = ("orders/api", "errors")
DROP = ("business/orders_completed", "drop")


@pytest.mark.parametrize(
    "expr, expected",
    [
        # rule 1: the signal, narrowed as the failure narrows it
        ('sum(rate(http_requests_total{job="orders",code=~"5.."}[5m])) > 1', "covered"),
        ('sum(rate({__name__="http_requests_total",job="orders",code=~"5.."}[5m])) > 1', "covered"),
        ('sum(rate(http_requests_total{job="orders",code="503"}[5m])) > 1', "covered"),
        ('sum(rate(http_requests_total{job="orders",code!~"2..|3.."}[5m])) > 1', "covered"),
        ('sum(rate(http_requests_total{job="orders"}[5m])) > 100', "uncovered"),  # all traffic
        ('sum(rate(http_requests_total{job="orders",code=~"2.."}[5m])) > 100', "uncovered"),
        ('sum(rate(http_requests_total{job="orders",code!="404"}[5m])) > 100', "uncovered"),  # traffic
        # rule 2: matchers that can select the subject's series
        ('sum(rate(http_requests_total{job=~"orders|cart",code=~"5.."}[5m])) > 1', "covered"),
        ('sum(rate(http_requests_total{job="payments",code=~"5.."}[5m])) > 1', "uncovered"),
        # rule 3: direction
        ('sum(rate(http_requests_total{job="orders",code=~"5.."}[5m])) < 1', "uncovered"),
        ('sum(rate(http_requests_total{job="orders",code=~"5.."}[5m])) > 1 unless on() maintenance_mode == 1', "covered"),
        ('-sum(rate(http_requests_total{job="orders",code=~"5.."}[5m])) < -1', "covered"),
        # rule 4: infrastructure metrics never cover
        ('up{job="orders"} == 0', "uncovered"),
    ],
)
def test_errors_mode(tmp_path: Path, expr: str, expected: str) -> None:
    assert status(tmp_path, expr, ERRORS)[0] == expected


@pytest.mark.parametrize(
    "expr, expected",
    [
        ("sum(rate(shop_orders_completed_total[5m])) > 1000", "uncovered"),
        ("sum(rate(shop_orders_completed_total[5m])) < 1", "covered"),
        ("sum(increase(shop_orders_completed_total[10m])) == 0", "covered"),
        # The counter stays exported (at its last value) when orders stop: absent() never fires.
        ("absent(shop_orders_completed_total)", "uncovered"),
        ("sum(rate(shop_orders_completed_total[10m])) < 0.5 * sum(rate(shop_orders_completed_total[10m] offset 1w))", "covered"),
        ("sum(rate(shop_orders_completed_total[10m] offset 1w)) > 1", "uncovered"),  # only the past
        ("sum(rate(shop_orders_failed_total[5m])) / sum(rate(shop_orders_completed_total[5m])) > 0.1", "uncovered"),  # a divisor
    ],
)
def test_business_drop(tmp_path: Path, expr: str, expected: str) -> None:
    found, problems = status(tmp_path, expr, DROP)
    assert found == expected
    assert "diluted" not in problems  # business metrics have no service selector


def test_recording_rules_are_expanded_transitively(tmp_path: Path) -> None:
    rules = rule("job:orders_error_ratio:rate5m{job=\"orders\"} > 0.05", extra="""\
              - record: job:orders_errors:rate5m
                expr: sum by (job) (rate(http_requests_total{code=~"5.."}[5m]))
              - record: job:orders_requests:rate5m
                expr: sum by (job) (rate(http_requests_total[5m]))
              - record: job:orders_error_ratio:rate5m
                expr: job:orders_errors:rate5m / job:orders_requests:rate5m
""")
    finding = judge(tmp_path, rules)[ERRORS]
    assert finding.status == "covered", finding.reason
    assert 'code=~"5.."' in finding.best.watches and 'job="orders"' in finding.best.watches


def test_no_service_matcher_is_diluted(tmp_path: Path) -> None:
    # DESIGN 5: `sum by (job)` evaluates per service: it isolates the subject (issue 8, item 4).
    assert status(tmp_path, 'sum by (job) (rate(http_requests_total{code=~"5.."}[5m])) > 1', ERRORS) == ("covered", ())
    assert status(tmp_path, 'rate(http_requests_total{code=~"5.."}[5m]) > 1', ERRORS) == ("covered", ())  # no aggregation
    assert status(tmp_path, 'sum(rate(http_requests_total{job=~".+",code=~"5.."}[5m])) > 1', ERRORS) == ("weak", ("diluted",))
    assert status(tmp_path, 'sum(rate(http_requests_total{job!="payments",code=~"5.."}[5m])) > 1', ERRORS) == ("weak", ("diluted",))


def test_routing_problems(tmp_path: Path) -> None:
    expr = 'sum(rate(http_requests_total{job="orders",code=~"5.."}[5m])) > 1'
    assert status(tmp_path, expr, ERRORS, labels="{team: orders, severity: info}") == ("weak", ("blackhole",))
    assert status(tmp_path, expr, ERRORS, labels="{severity: page}") == ("weak", ("unrouted",))
    assert status(tmp_path, expr, ERRORS, labels="{team: orders-daytime, severity: page}") == ("weak", ("muted",))


def test_continue_reaches_every_matching_route(tmp_path: Path) -> None:
    finding = judge(tmp_path, rule('sum(rate(http_requests_total{job="orders",code=~"5.."}[5m])) > 1'))[ERRORS]
    assert finding.best.receivers == ("orders-chat", "orders-pager")


def test_time_to_detect_model(tmp_path: Path) -> None:
    rules = textwrap.dedent("""\
        groups:
          - name: g
            interval: 30s
            rules:
              - alert: A
                expr: 'sum(rate(http_requests_total{job="orders",code=~"5.."}[10m])) > 1'
                for: 3m
                labels: {team: orders, severity: page}
    """)
    finding = judge(tmp_path, rules)[ERRORS]
    # DESIGN 5.1: in an outage the 5xx rate steps from 0 to the default 10/s, so its [10m] rate
    # passes 1/s after 600 * (1 - 0) / (10 - 0) = 60 s; + 3m for + 30s evaluation + 30s
    # group_wait (inherited by orders-pager from the root).
    assert finding.best.detect_seconds == 60 + 180 + 30 + 30
    # partial: 10 % of 10/s fail, exactly 1/s, never above 1; canary: 5 % of the sum, never either
    assert finding.best.detect == {"outage": 300, "partial": None, "canary": None}
    assert finding.status == "covered"
    finding = judge(tmp_path, rules, budget=240)[ERRORS]
    assert finding.status == "weak" and finding.best.problems == ("over_budget",)


def test_and_needs_both_windows_or_takes_the_faster(tmp_path: Path) -> None:
    both = '(sum(rate(http_requests_total{job="orders",code=~"5.."}[1h])) > 1 and sum(rate(http_requests_total{job="orders",code=~"5.."}[5m])) > 1)'
    either = '(sum(rate(http_requests_total{job="orders",code=~"5.."}[1h])) > 1 or sum(rate(http_requests_total{job="orders",code=~"5.."}[5m])) > 1)'
    # [1h] passes 1/s of a 10/s outage after 360 s, [5m] after 30 s; `and` waits for the later,
    # `or` takes the earlier (+ 1m evaluation + 30s group_wait).
    assert judge(tmp_path, rule(both))[ERRORS].best.detect_seconds == 360 + 60 + 30
    assert judge(tmp_path, rule(either))[ERRORS].best.detect_seconds == 30 + 60 + 30


def test_direction_we_cannot_read_is_weak_not_covered(tmp_path: Path) -> None:
    assert status(tmp_path, 'stddev_over_time(rate(http_requests_total{job="orders",code=~"5.."}[5m])[5m:]) > 1', ERRORS) == ("weak", ("direction_unclear",))


def test_missed_run_is_covered_by_staleness_not_by_absence(tmp_path: Path) -> None:
    key = ("orders/nightly", "missed_run")
    # A last-success timestamp stops advancing (1m old while healthy): `> 10m` fires 9m later.
    assert status(tmp_path, 'time() - kube_cronjob_status_last_successful_time{job="orders"} > 600', key) == ("covered", ())
    # A daily threshold is reached a day after the last success: over a 15m budget.
    assert status(tmp_path, 'time() - kube_cronjob_status_last_successful_time{job="orders"} > 93600', key) == ("weak", ("over_budget",))
    # The timestamp stays exported at its last value: absence never comes.
    assert status(tmp_path, 'absent_over_time(job_last_success_timestamp_seconds{job="orders"}[10m])', key)[0] == "uncovered"
    assert status(tmp_path, 'kube_cronjob_status_last_successful_time{job="orders"} > 0', key)[0] == "uncovered"


def test_a_component_selector_replaces_the_service_selector(tmp_path: Path) -> None:
    key = ("orders/events", "lag")
    assert status(tmp_path, 'sum(kafka_consumergroup_lag{consumergroup="orders-events"}) > 1000', key)[0] == "covered"
    assert status(tmp_path, 'sum(kafka_consumergroup_lag{consumergroup="billing"}) > 1000', key)[0] == "uncovered"


def test_reasons_name_what_is_missing(tmp_path: Path) -> None:
    finding = judge(tmp_path, rule('up{job="orders"} == 0', name="OrdersDown"))[ERRORS]
    assert finding.status == "uncovered"
    assert "OrdersDown" in {r.rule.name for r in finding.related}
    assert "infrastructure" in finding.reason


# --------------------------------------------------------------------------- property

_WRONG = st.sampled_from(
    [
        'sum(rate(http_requests_total{{job="orders",code=~"5.."}}[{w}])) < {t}',  # wrong way
        'sum(rate(http_requests_total{{job="payments",code=~"5.."}}[{w}])) > {t}',  # other service
        'sum(rate(http_requests_total{{job="orders",code=~"2.."}}[{w}])) > {t}',  # not the failing series
        'sum(rate(http_requests_total{{job="orders"}}[{w}])) > {t}',  # all traffic
        'sum(rate(http_requests_total{{job="orders",code=~"5.."}}[{w}] offset 1d)) > {t}',  # only the past
        'sum(rate(container_cpu_usage_seconds_total{{job="orders"}}[{w}])) > {t}',  # infrastructure
        'sum(rate(http_requests_total{{job="orders"}}[{w}])) / sum(rate(http_requests_total{{job="orders",code=~"5.."}}[{w}])) > {t}',  # errors as divisor
    ]
)
_WRAPPERS = st.sampled_from(["{e}", "({e}) and on() vector(1)", "({e}) unless on() (vector(0) > 1)", "max_over_time(({e})[10m:])", "sum by (job) ({e})", "({e}) or on() absent(nonexistent_metric)"])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_WRONG, _WRAPPERS, st.sampled_from(["1m", "5m", "10m"]), st.integers(min_value=0, max_value=1000))
def test_alerts_that_cannot_cover_are_never_covered(tmp_path: Path, shape: str, wrapper: str, window: str, threshold: int) -> None:
    expr = wrapper.format(e=shape.format(w=window, t=threshold))
    finding = judge(tmp_path, rule(expr))[ERRORS]
    assert finding.status != "covered", (expr, finding.reason)
