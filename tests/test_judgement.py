"""Issue 8's classes of error, each on a small hand-written rule file with hand-worked numbers
(DESIGN 5 and 5.1), including the dangerous direction of each: no false "covered"."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coverage_audit.commands import judge_everything, load_inputs
from coverage_audit.commands.common import Inputs
from coverage_audit.config import Settings

SERVICE_MAP = """\
apiVersion: coverage-audit/v1
kind: ServiceMap
services:
  - name: checkout
    owner: team-checkout
    selector: ['{job="checkout"}', '{service_name="checkout"}']
    components:
      - {name: api, kind: http_api, paths: ["checkout/**"]}
  - name: search
    owner: team-search
    selector: '{type="search"}'
    traffic: 40
    components:
      - name: lookups
        kind: http_api
        paths: ["search/**"]
        signals:
          errors: ['lookups_errors_total']
          latency: ['lookups_duration_milliseconds_bucket']
  - name: orders-db
    owner: team-dba
    selector: '{instance="orders-db"}'
    components:
      - {name: pooler, kind: external_dependency, paths: [], signals: {errors: ['pgbouncer_errors_total']}}
      - {name: pool, kind: datastore, paths: []}
"""

CATALOG = """\
kinds:
  datastore:
    description: a database or pooler, judged on its exporter's own metrics
    failure_modes:
      - {id: errors, direction: rise, model: bad_events, signals: ['pgbouncer_errors_total']}
"""

ALERTMANAGER = """\
route:
  receiver: pager
  group_wait: 30s
receivers:
  - {name: pager, pagerduty_configs: [{routing_key: k}]}
"""

ERRORS = ("checkout/api", "errors")
TRAFFIC = ("checkout/api", "traffic_drop")
LATENCY = ("search/lookups", "latency")


def judged(tmp_path: Path, rules: str, **overrides: object) -> dict:
    inputs, configured = loaded(tmp_path, rules, **overrides)
    return {(f.subject.name, f.mode.id): f for f in judge_everything(inputs, configured)}


def loaded(tmp_path: Path, rules: str, **overrides: object) -> tuple[Inputs, Settings]:
    (tmp_path / "rules.yaml").write_text(textwrap.dedent(rules))
    (tmp_path / "am.yaml").write_text(ALERTMANAGER)
    (tmp_path / "map.yaml").write_text(SERVICE_MAP)
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    configured = Settings(
        rules=(str(tmp_path / "rules.yaml"),),
        alertmanager=str(tmp_path / "am.yaml"),
        service_maps=(str(tmp_path / "map.yaml"),),
        catalog=str(tmp_path / "catalog.yaml"),
    )
    configured = replace(configured, **overrides)  # type: ignore[arg-type]
    inputs = load_inputs(configured)
    assert inputs.errors == [], inputs.errors
    return inputs, configured


def alert(expr: str, extra: str = "", interval: str = "1m", for_: str = "0s") -> str:
    return f"""\
        groups:
          - name: g
            interval: {interval}
            rules:
              - alert: A
                expr: |
{textwrap.indent(textwrap.dedent(expr).strip(), " " * 18)}
                for: {for_}
{extra}"""


# --------------------------------------------------------------------------- 1. offsets


RECORDED_WITH_LAG = """\
              - record: job:errors:rate5m
                expr: sum by (job) (rate(http_requests_total{code=~"5.."}[5m] offset 30s))
              - record: job:requests:rate5m
                expr: sum by (job) (rate(http_requests_total[5m] offset 30s))
"""


def test_an_offset_on_every_read_is_a_delay_not_a_baseline(tmp_path: Path) -> None:
    # GitLab's pattern: every raw read carries `offset 30s` (ingestion lag).
    found = judged(tmp_path, alert('job:errors:rate5m{job="checkout"} / job:requests:rate5m{job="checkout"} > 0.05', RECORDED_WITH_LAG))
    finding = found[ERRORS]
    assert finding.status == "covered", finding.reason
    # The 5m ratio passes 5 % after 300 * 0.05 = 15 s, seen 30 s late; + 1m evaluation + 30s group_wait.
    assert finding.best.detect_seconds == 30 + 15 + 60 + 30


def test_an_offset_compared_with_the_live_read_is_a_baseline(tmp_path: Path) -> None:
    # Traffic below half of last week's: the `offset 1w` side stays healthy, so the drop shows.
    drop = 'sum by (job) (rate(http_requests_total{job="checkout"}[10m])) < 0.5 * sum by (job) (rate(http_requests_total{job="checkout"}[10m] offset 1w))'
    finding = judged(tmp_path, alert(drop))[TRAFFIC]
    assert finding.status == "covered", finding.reason
    assert finding.best.detect_seconds == 300 + 60 + 30  # half of the 10m window
    # ...and it never fires on a rise in errors (the dangerous direction of item 2).
    assert judged(tmp_path, alert(drop))[ERRORS].status == "uncovered"


def test_reading_only_the_past_covers_nothing(tmp_path: Path) -> None:
    finding = judged(tmp_path, alert('sum by (job) (rate(http_requests_total{job="checkout",code=~"5.."}[5m] offset 1d)) > 1'))[ERRORS]
    assert finding.status == "weak" and finding.best.problems == ("over_budget",)  # a day late


# --------------------------------------------------------------------------- 2. joins and filters


MAPPING = """\
              - record: service_component:mapping
                labels: {job: checkout, component: api, aggregate: "yes"}
                expr: "1"
              - record: service_component:mapping
                labels: {job: search, component: lookups, aggregate: "no"}
                expr: "1"
"""


def test_a_join_with_a_static_recording_is_evaluated(tmp_path: Path) -> None:
    passes = 'sum by (job) (rate(http_requests_total{job="checkout",code=~"5.."}[5m])) > 1 and on (job) service_component:mapping{aggregate="yes"}'
    blocks = 'sum by (job) (rate(http_requests_total{job="checkout",code=~"5.."}[5m])) > 1 and on (job) service_component:mapping{aggregate="no"}'
    assert judged(tmp_path, alert(passes, MAPPING))[ERRORS].status == "covered"
    finding = judged(tmp_path, alert(blocks, MAPPING))[ERRORS]
    assert finding.status == "uncovered", finding.reason


def test_a_join_the_rule_set_cannot_evaluate_is_weak_filtered(tmp_path: Path) -> None:
    unknown = 'sum by (job) (rate(http_requests_total{job="checkout",code=~"5.."}[5m])) > 1 and on (job) deployment_enabled{feature="alerts"} == 1'
    finding = judged(tmp_path, alert(unknown))[ERRORS]
    assert finding.status == "weak" and "filtered" in finding.best.problems, finding.reason


def test_filters_and_predictions_do_not_make_a_traffic_alert_cover_errors(tmp_path: Path) -> None:
    # A lower-bound traffic anomaly alert whose 5xx read only passes a `>= 0` filter and whose
    # prediction is a week-long average: errors rising do not push traffic below the bound
    # (the old sign analysis said they did, and called it covered).
    anomaly = '''
        sum by (job) (rate(http_requests_total{job="checkout"}[5m]))
          < 0.5 * sum by (job) (avg_over_time(rate(http_requests_total{job="checkout"}[5m])[1w:5m] offset 1w))
        and on (job)
        sum by (job) (rate(http_requests_total{job="checkout",code=~"5.."}[5m])) >= 0
    '''
    assert judged(tmp_path, alert(anomaly))[ERRORS].status == "uncovered"
    assert judged(tmp_path, alert(anomaly))[TRAFFIC].status == "covered"  # it does watch traffic


# --------------------------------------------------------------------------- 3. magnitude and scenarios

BURN_RATE = """\
    (
      sum by (job) (rate(http_requests_total{job="checkout",code=~"5.."}[1h])) / sum by (job) (rate(http_requests_total{job="checkout"}[1h])) > 14.4 * 0.001
    and
      sum by (job) (rate(http_requests_total{job="checkout",code=~"5.."}[5m])) / sum by (job) (rate(http_requests_total{job="checkout"}[5m])) > 14.4 * 0.001
    )
"""


def test_a_burn_rate_page_detects_an_outage_in_a_minute_and_a_canary_in_17(tmp_path: Path) -> None:
    finding = judged(tmp_path, alert(BURN_RATE, for_="2m"))[ERRORS]
    assert finding.status == "covered", finding.reason
    detect = finding.best.detect
    # outage: 3600 * 0.0144 = 52 s; + 2m for + 1m + 30s
    assert detect["outage"] == 52 + 120 + 60 + 30
    # partial (10 % fail): 518 s; canary (one of 20 instances, summed by job: 5 %): 1037 s = 17.3 min
    assert detect["partial"] == 518 + 210
    assert detect["canary"] == 1037 + 210
    canary = judged(tmp_path, alert(BURN_RATE, for_="2m"), scenario="canary")[ERRORS]
    assert canary.status == "weak" and canary.best.problems == ("over_budget",)


def test_an_alert_that_keeps_the_instance_sees_a_canary_whole(tmp_path: Path) -> None:
    per_instance = 'sum by (job, instance) (rate(http_requests_total{job="checkout",code=~"5.."}[5m])) / sum by (job, instance) (rate(http_requests_total{job="checkout"}[5m])) > 0.5'
    finding = judged(tmp_path, alert(per_instance), scenario="canary")[ERRORS]
    assert finding.status == "covered", finding.reason
    assert finding.best.detect["canary"] == 150 + 60 + 30  # 300 * 0.5 / 1


def test_a_threshold_that_can_never_be_crossed_is_not_coverage(tmp_path: Path) -> None:
    ratio = 'sum by (job) (rate(http_requests_total{job="checkout",code=~"5.."}[5m])) / sum by (job) (rate(http_requests_total{job="checkout"}[5m])) > 1.5'
    finding = judged(tmp_path, alert(ratio))[ERRORS]
    assert finding.status == "uncovered" and "never crossed" in finding.reason


def test_a_latency_threshold_in_the_wrong_unit_is_noise(tmp_path: Path) -> None:
    # 2 on a millisecond histogram is 2 ms: healthy requests (10 ms) are already above it.
    wrong = 'histogram_quantile(0.99, sum by (type, le) (rate(lookups_duration_milliseconds_bucket{type="search"}[5m]))) > 2'
    right = 'histogram_quantile(0.99, sum by (type, le) (rate(lookups_duration_milliseconds_bucket{type="search"}[5m]))) > 2000'
    finding = judged(tmp_path, alert(wrong))[LATENCY]
    assert finding.status == "uncovered" and "fires while healthy" in finding.reason
    assert judged(tmp_path, alert(right))[LATENCY].status == "covered"


def test_an_absolute_threshold_is_judged_against_the_subjects_traffic(tmp_path: Path) -> None:
    # search declares 40 requests/s: 30 errors/s is reachable in an outage, 50 is not.
    reachable = 'sum by (type) (rate(lookups_errors_total{type="search"}[5m])) > 30'
    unreachable = 'sum by (type) (rate(lookups_errors_total{type="search"}[5m])) > 50'
    key = ("search/lookups", "errors")
    finding = judged(tmp_path, alert(reachable))[key]
    assert finding.status == "covered" and finding.best.detect_seconds == 225 + 90  # 300 * 30/40
    assert judged(tmp_path, alert(unreachable))[key].status == "uncovered"


# --------------------------------------------------------------------------- 4. dilution


def test_grouping_by_the_service_label_is_not_diluted(tmp_path: Path) -> None:
    by_job = 'sum by (job) (rate(http_requests_total{code=~"5.."}[5m])) / sum by (job) (rate(http_requests_total[5m])) > 0.05'
    overall = 'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m])) > 0.05'
    assert judged(tmp_path, alert(by_job))[ERRORS].status == "covered"
    finding = judged(tmp_path, alert(overall))[ERRORS]
    assert finding.status == "weak" and finding.best.problems == ("diluted",)


# --------------------------------------------------------------------------- 5. identity


def test_selector_alternatives_and_signal_matchers_identify_a_service(tmp_path: Path) -> None:
    # checkout's series carry job or (OpenTelemetry) service_name.
    otel = 'sum by (service_name) (rate(http_requests_total{service_name="checkout",code=~"5.."}[5m])) > 1'
    other = 'sum by (service_name) (rate(http_requests_total{service_name="cart",code=~"5.."}[5m])) > 1'
    assert judged(tmp_path, alert(otel))[ERRORS].status == "covered"
    assert judged(tmp_path, alert(other))[ERRORS].status == "uncovered"


# --------------------------------------------------------------------------- 6. data stores


def test_a_data_stores_own_exporter_metrics_cover_it_and_nothing_else(tmp_path: Path) -> None:
    pooler = 'sum by (instance) (rate(pgbouncer_errors_total{instance="orders-db"}[5m])) > 1'
    found = judged(tmp_path, alert(pooler))
    assert found[("orders-db/pool", "errors")].status == "covered"  # kind datastore owns pgbouncer_*
    as_dependency = found[("orders-db/pooler", "errors")]
    assert as_dependency.status == "uncovered" and "infrastructure" in as_dependency.reason


# --------------------------------------------------------------------------- 7. reasons


def test_a_near_miss_is_about_the_subject_and_selectors_read_once(tmp_path: Path) -> None:
    recorded = """\
              - record: job:errors:rate5m
                expr: sum by (job) (rate(http_requests_total{code=~"5..",job=~"checkout"}[5m]))
"""
    found = judged(tmp_path, alert('job:errors:rate5m{job="checkout"} > 1', recorded))[ERRORS]
    assert found.status == "covered"
    assert 'job=~"checkout"' not in found.best.watches and 'job="checkout"' in found.best.watches
    other = judged(tmp_path, alert('sum by (job) (rate(http_requests_total{job="cart",code=~"5.."}[5m])) > 1'))[ERRORS]
    assert other.status == "uncovered" and "A" not in other.reason.split()


# --------------------------------------------------------------------------- properties


_OFFSETS = st.sampled_from([0, 15, 30, 60, 120])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offset=_OFFSETS, scenario=st.sampled_from(["outage", "partial", "canary"]))
def test_an_offset_everywhere_only_delays(tmp_path_factory: pytest.TempPathFactory, offset: int, scenario: str) -> None:
    """Adding `offset` to every read of an alert and its recordings changes no verdict, and
    moves every time to detect by exactly the offset (twice where a recording adds its own)."""
    lag = f" offset {offset}s" if offset else ""
    plain = alert('job:errors:rate5m{job="checkout"} / job:requests:rate5m{job="checkout"} > 0.04', RECORDED_WITH_LAG.replace(" offset 30s", ""))
    shifted = alert(
        f'job:errors:rate5m{{job="checkout"}}{lag} / job:requests:rate5m{{job="checkout"}}{lag} > 0.04',
        RECORDED_WITH_LAG.replace(" offset 30s", lag),
    )
    a = judged(tmp_path_factory.mktemp("a"), plain, scenario=scenario)[ERRORS]
    b = judged(tmp_path_factory.mktemp("b"), shifted, scenario=scenario)[ERRORS]
    assert a.status == b.status or (b.status == "weak" and b.best is not None and b.best.problems == ("over_budget",))
    if a.best is None:
        assert b.best is None
        return
    assert b.best is not None
    for name, seconds in a.best.detect.items():
        later = b.best.detect[name]
        assert (seconds is None) == (later is None)
        if seconds is not None:
            assert later == seconds + 2 * offset


_CANNOT = st.sampled_from([
    'sum by (job) (rate(http_requests_total{job="checkout"}[5m])) > 5',  # all traffic, not the errors
    'sum by (job) (rate(http_requests_total{job="checkout",code=~"5.."}[5m])) < 1',  # the wrong way
    'sum by (job) (rate(http_requests_total{job="cart",code=~"5.."}[5m])) > 1',  # another service
    'sum by (job) (rate(http_requests_total{job="checkout",code=~"5.."}[5m])) > 1 and on (job) service_component:mapping{aggregate="no"}',  # filtered away
    'sum by (job) (rate(http_requests_total{job="checkout",code=~"5.."}[5m] offset 1w)) > 1 and sum by (job) (rate(http_requests_total{job="checkout",code=~"5.."}[5m])) < 0',  # never both
    'up{job="checkout"} == 0',  # infrastructure
])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(expr=_CANNOT, scenario=st.sampled_from(["outage", "partial", "canary"]))
def test_an_alert_that_cannot_cover_is_never_covered(tmp_path_factory: pytest.TempPathFactory, expr: str, scenario: str) -> None:
    finding = judged(tmp_path_factory.mktemp("c"), alert(expr, MAPPING), scenario=scenario)[ERRORS]
    assert finding.status == "uncovered", finding.reason


# --------------------------------------------------------------------------- shared work


def test_recordings_that_read_the_last_one_four_times_do_not_hang(tmp_path: Path) -> None:
    """13 recordings, each reading the previous one 4 times (1 KB of YAML), are 4^13 paths:
    evaluation shares each recording's answer and keeps its curves bounded (issue 14)."""
    import subprocess
    import sys

    lines = ["groups:", "- name: g", "  rules:", "  - record: r0", '    expr: sum by (job) (rate(http_requests_total{code=~"5.."}[5m]))']
    for level in range(1, 14):
        previous = f"r{level - 1}"
        lines += [f"  - record: r{level}", f"    expr: {previous} + {previous} * {previous} - {previous}"]
    lines += ["  - alert: Deep", '    expr: r13{job="checkout"} > 1']
    (tmp_path / "rules.yaml").write_text("\n".join(lines) + "\n")
    (tmp_path / "map.yaml").write_text(SERVICE_MAP)
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    common = ["--rules", "rules.yaml", "--service-map", "map.yaml", "--catalog", "catalog.yaml"]
    for command in (["check", "--component", "checkout/api"], ["graph"], ["report", "--out", "out"]):
        done = subprocess.run([sys.executable, "-m", "coverage_audit", *command, *common], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert done.returncode in (0, 1), done.stderr
    # Prometheus itself overflows r0^(2^13) to +Inf and Inf - Inf to NaN: the alert cannot fire.
    found = judged(tmp_path, "\n".join(lines) + "\n")[ERRORS]
    assert found.status == "uncovered" and "not a number" in found.reason, found.reason


def test_judging_leaves_no_reference_cycles(tmp_path: Path) -> None:
    """Forked judging workers run without the cyclic collector: what judging a mode builds (its
    evaluators, their memos) must go when the mode is done, by reference counting alone. A
    cycle through the evaluators made a GitLab judging worker 60 MiB larger."""
    import gc

    from coverage_audit.analysis.impact import every_mode
    from coverage_audit.commands.common import make_judge

    inputs, configured = loaded(tmp_path, alert('job:errors:rate5m{job="checkout"} / job:requests:rate5m{job="checkout"} > 0.05', RECORDED_WITH_LAG))
    judge = make_judge(inputs, configured)
    modes = list(every_mode(inputs.service_map, inputs.catalog))
    gc.collect()
    gc.disable()
    try:
        findings = [judge.judge(m.subject, m.mode, m.target, m.impact) for m in modes]
        assert gc.collect() == 0
    finally:
        gc.enable()
    assert {(f.subject.name, f.mode.id): f.status for f in findings}[ERRORS] == "covered"


def test_judging_pauses_the_cyclic_collector_and_restores_it(tmp_path: Path) -> None:
    """Judging makes no cycles (above), so its collector passes were only cost: paused while
    judging, on again after; what judging made (memos, findings) is frozen out of it first, as
    it lives for the run."""
    import gc

    from coverage_audit.analysis.impact import every_mode
    from coverage_audit.commands.common import make_judge
    from coverage_audit.commands.judging import judge_modes

    inputs, configured = loaded(tmp_path, alert('job:errors:rate5m{job="checkout"} / job:requests:rate5m{job="checkout"} > 0.05', RECORDED_WITH_LAG))
    modes = list(every_mode(inputs.service_map, inputs.catalog))
    seen: list[bool] = []
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    findings = judge_modes(make_judge(inputs, configured), modes, 1, lambda done, total: seen.append(gc.isenabled()))
    assert len(seen) == len(findings) == len(modes) and not any(seen)
    assert gc.isenabled()
    assert gc.get_freeze_count() > frozen + len(findings)


def test_evaluation_contexts_are_one_object_each_and_share_their_pushed_matchers() -> None:
    """Contexts are in every memo key of the evaluator: one object per (kept labels, pushed
    matchers, depth), hashed by identity, and one tuple per set of pushed matchers (memos that
    depend on the push alone key it by identity)."""
    from coverage_audit.analysis.evaluate import Grouping, _Ctx
    from coverage_audit.promql import parse_selector

    push = parse_selector('x{job="a", env="b"}').matchers
    copy = tuple(list(push))
    assert copy == push and copy is not push
    kept = Grouping.of(frozenset({"job"}))
    first = _Ctx.of(kept, push, 1)
    assert _Ctx.of(kept, copy, 1) is first
    assert _Ctx.of(kept, push, 2) is not first
    other = _Ctx.of(Grouping.of(frozenset()), copy, 1)
    assert other is not first and other.push is first.push
    assert type(first).__hash__ is object.__hash__ and type(first).__eq__ is object.__eq__
