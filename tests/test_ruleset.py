"""Recording-rule expansion, cycles, and application vs infrastructure levels."""

from __future__ import annotations

import textwrap
from pathlib import Path

from coverage_audit.levels import default_levels
from coverage_audit.loaders.rules import load_rule_file
from coverage_audit.ruleset import build_ruleset


def ruleset(tmp_path: Path, text: str):
    path = tmp_path / "r.yaml"
    path.write_text(textwrap.dedent(text))
    return build_ruleset(load_rule_file(str(path)))


# One recorded name, told apart by a static label (GitLab records one name per service type).
OPS_PER_TYPE = """\
              - record: component:ops:rate5m
                labels: {type: web}
                expr: sum(rate(web_requests_total[5m]))
              - record: component:ops:rate5m
                labels: {type: api}
                expr: sum(rate(api_requests_total[5m]))
"""


def by_name(rs, name):
    return next(r for r in rs.rules if r.name == name)


def test_transitive_expansion(tmp_path: Path) -> None:
    rs = ruleset(tmp_path, """\
        groups:
          - name: g
            rules:
              - record: job:errors:rate5m
                expr: sum by (job) (rate(http_requests_total{code=~"5.."}[5m]))
              - record: job:requests:rate5m
                expr: sum by (job) (rate(http_requests_total[5m]))
              - record: job:error_ratio:rate5m
                expr: job:errors:rate5m / job:requests:rate5m
              - alert: HighErrorRatio
                expr: job:error_ratio:rate5m > 0.05 and on (job) orders_in_flight > 0
    """)
    assert rs.raw_metrics[by_name(rs, "HighErrorRatio")] == ("http_requests_total", "orders_in_flight")
    assert rs.raw_metrics[by_name(rs, "job:error_ratio:rate5m")] == ("http_requests_total",)
    assert rs.errors == []


def test_rules_that_read_no_recording_are_expanded_without_walking_them(tmp_path: Path, monkeypatch) -> None:
    """Most of a large organisation's rules read raw metrics only: what they read is their own
    names, known without the walk's bookkeeping (each rule once through ``_edges``)."""
    import coverage_audit.ruleset as ruleset_module

    walked: list[str] = []
    edges = ruleset_module._edges
    monkeypatch.setattr(ruleset_module, "_edges", lambda node, records: (walked.append(str(getattr(node, "name", node))), edges(node, records))[1])
    rs = ruleset(tmp_path, """\
        groups:
          - name: g
            rules:
              - alert: RawOnly
                expr: rate(b_total[5m]) > 1 and on () a_total > 0
              - record: job:errors:rate5m
                expr: sum by (job) (rate(http_requests_total{code=~"5.."}[5m]))
              - alert: ThroughARecording
                expr: job:errors:rate5m > 1 unless on () maintenance == 1
              - alert: Constant
                expr: vector(1)
    """)
    assert rs.raw_metrics[by_name(rs, "RawOnly")] == ("a_total", "b_total")
    assert rs.raw_metrics[by_name(rs, "ThroughARecording")] == ("http_requests_total", "maintenance")
    assert rs.raw_metrics[by_name(rs, "job:errors:rate5m")] == ("http_requests_total",)
    assert rs.raw_metrics[by_name(rs, "Constant")] == ()
    assert "RawOnly" not in walked and "Constant" not in walked and "ThroughARecording" in walked


def test_static_labels_pick_the_right_definition(tmp_path: Path) -> None:
    rs = ruleset(tmp_path, """\
        groups:
          - name: g
            rules:
""" + OPS_PER_TYPE + """\
              - alert: WebOps
                expr: component:ops:rate5m{type="web"} < 1
              - alert: AnyOps
                expr: component:ops:rate5m{type=~"web|api"} < 1
              - alert: NotWeb
                expr: component:ops:rate5m{type!="web", env="prod"} < 1
    """)
    assert rs.raw_metrics[by_name(rs, "WebOps")] == ("web_requests_total",)
    assert rs.raw_metrics[by_name(rs, "AnyOps")] == ("api_requests_total", "web_requests_total")
    assert rs.raw_metrics[by_name(rs, "NotWeb")] == ("api_requests_total",)


def test_lookups_are_asked_once_each_with_those_of_one_name_together() -> None:
    """``find_all`` shares its lookups out in contiguous runs: a name's lookups together mean its
    label tables are built by one process. Real rules, where names interleave in file order."""
    from coverage_audit.loaders.rules import load_rules
    from coverage_audit.ruleset import RecordIndex, _recorded_selectors, questions

    root = Path(__file__).resolve().parent.parent
    load = load_rules([str(root / "rulesets"), str(root / "tests" / "otel_shop")], jobs=1)
    selectors = _recorded_selectors(load.rules, RecordIndex(load.rules))
    names = [s.metric for s in selectors]
    assert any(a != b and b in names[:i] for i, (a, b) in enumerate(zip(names, names[1:]))), "names never interleave here"
    asked = questions(selectors)
    assert len(asked) == len({(s.metric, s.matchers) for s in asked}) == len({(s.metric, s.matchers) for s in selectors})
    runs = [name for i, name in enumerate(s.metric for s in asked) if i == 0 or asked[i - 1].metric != name]
    assert len(runs) == len(set(runs))  # each name in one run


def test_reads_differing_only_in_range_or_offset_are_looked_up_once(tmp_path: Path, monkeypatch) -> None:
    """Which recordings a read reaches depends on its name and matchers, not on its window or
    offset (GitLab reads everything ``offset 30s``, over several windows): one lookup serves all."""
    from coverage_audit.ruleset import RecordIndex

    rs = ruleset(tmp_path, """\
        groups:
          - name: g
            rules:
""" + OPS_PER_TYPE + """\
              - alert: Now
                expr: component:ops:rate5m{type="web"} < 1
              - alert: Late
                expr: avg_over_time(component:ops:rate5m{type="web"}[1h] offset 30s) < 1
              - alert: Earlier
                expr: component:ops:rate5m{type="web"} offset 1m < 1
    """)
    reads = [s for r in rs.alerts for s in r.query.selectors]
    assert len(set(reads)) == 3 and len({(s.metric, s.matchers) for s in reads}) == 1
    looked_up: list[object] = []
    real = RecordIndex._find
    monkeypatch.setattr(RecordIndex, "_find", lambda self, selector: looked_up.append(selector) or real(self, selector))
    index = RecordIndex(rs.rules)
    found = [index.definitions(s) for s in reads]
    assert len(looked_up) == 1
    assert all(f is found[0] for f in found) and [r.labels["type"] for r in found[0]] == ["web"]
    assert all(rs.raw_metrics[r] == ("web_requests_total",) for r in rs.alerts)


def test_cycles_are_reported_and_do_not_hang(tmp_path: Path) -> None:
    rs = ruleset(tmp_path, """\
        groups:
          - name: g
            rules:
              - record: a
                expr: b + raw_a
              - record: b
                expr: a + raw_b
              - record: self
                expr: self + 1
              - alert: UsesA
                expr: a > 1
    """)
    cycles = [e for e in rs.errors if "cycle" in e.message]
    assert any("a -> b -> a" in e.message for e in cycles)
    assert any("self -> self" in e.message for e in cycles)
    assert set(rs.raw_metrics[by_name(rs, "UsesA")]) == {"raw_a", "raw_b"}


def test_long_chain_of_records_is_linear_and_iterative(tmp_path: Path) -> None:
    rules = "\n".join(f"      - record: level{i}\n        expr: level{i + 1} * 2" for i in range(3000))
    rs = ruleset(tmp_path, f"groups:\n  - name: g\n    rules:\n{rules}\n      - record: level3000\n        expr: rate(base_total[5m])\n")
    assert rs.raw_metrics[by_name(rs, "level0")] == ("base_total",)


def test_levels(tmp_path: Path) -> None:
    rs = ruleset(tmp_path, """\
        groups:
          - name: g
            rules:
              - record: instance:node_cpu:rate5m
                expr: rate(node_cpu_seconds_total[5m])
              - alert: CPU
                expr: instance:node_cpu:rate5m > 0.9
              - alert: Down
                expr: up{job="orders"} == 0
              - alert: Watchdog
                expr: vector(1)
              - alert: Orders
                expr: rate(shop_orders_completed_total[10m]) < 1 and on() up == 1
              - alert: CronMissed
                expr: time() - kube_cronjob_status_last_successful_time > 3600
              - alert: Lag
                expr: kafka_consumergroup_lag > 1000
              - alert: Broker
                expr: kafka_brokers < 3
    """)
    levels = {r.name: rs.levels[r] for r in rs.alerts}
    assert levels == {
        "CPU": "infrastructure",
        "Down": "infrastructure",
        "Watchdog": "infrastructure",
        "Orders": "application",
        "CronMissed": "application",
        "Lag": "application",
        "Broker": "infrastructure",
    }


def test_a_level_is_worked_out_once_per_list_of_raw_metrics(tmp_path: Path) -> None:
    """Thousands of rules read the same few lists of raw metrics: each list is classified once,
    and every rule still gets its own list's level."""
    from dataclasses import dataclass

    from coverage_audit.levels import LevelClassifier

    asked: list[tuple[str, ...]] = []

    @dataclass(frozen=True)
    class Counting(LevelClassifier):
        def level(self, metrics):  # type: ignore[no-untyped-def]
            asked.append(tuple(metrics))
            return super().level(metrics)

    base = default_levels()
    path = tmp_path / "r.yaml"
    rules = "".join(f"      - alert: App{i}\n        expr: rate(http_requests_total[5m]) > {i}\n" for i in range(20))
    rules += "".join(f"      - alert: Node{i}\n        expr: node_load1 > {i}\n" for i in range(20))
    path.write_text(f"groups:\n  - name: g\n    rules:\n{rules}")
    rs = build_ruleset(load_rule_file(str(path)), Counting(base.names, base.prefixes, base.application_prefixes))
    assert sorted(asked) == [("http_requests_total",), ("node_load1",)]
    assert {r.name: rs.levels[r] for r in rs.rules if r.name in ("App7", "Node7")} == {"App7": "application", "Node7": "infrastructure"}


def test_level_classifier_can_be_extended() -> None:
    classifier = default_levels().extended(prefixes=["acme_platform_"])
    assert classifier.is_infrastructure("acme_platform_queue_depth")
    assert not default_levels().is_infrastructure("acme_platform_queue_depth")
    assert classifier.is_infrastructure("job:node_load1:avg")


def test_the_caller_is_told_once_the_lookups_are_done_and_only_the_expansion_is_left(tmp_path: Path, monkeypatch) -> None:
    """``looked_up``: the lookups' workers are gone and this process expands alone, so the caller
    can start a child on the idle core then (the cache writes); not told when nothing is expanded."""
    import coverage_audit.ruleset as ruleset_module
    from coverage_audit.ruleset import expansion_of

    events: list[str] = []
    expand = ruleset_module._expand
    monkeypatch.setattr(ruleset_module, "_expand", lambda rules, records: (events.append("expand"), expand(rules, records))[1])
    path = tmp_path / "r.yaml"
    path.write_text("groups:\n  - name: g\n    rules:\n" + OPS_PER_TYPE + "              - alert: A\n                expr: component:ops:rate5m{type='web'} > 1\n")
    load = load_rule_file(str(path))
    fresh = build_ruleset(load, workers=2, looked_up=lambda: events.append("looked up"))
    assert events == ["looked up", "expand"]
    events.clear()
    again = build_ruleset(load, workers=2, known=expansion_of(fresh, load), looked_up=lambda: events.append("looked up"))
    assert events == [] and again.raw_metrics == fresh.raw_metrics


# Alerts reading a recording that reads another; a recording no alert reads; two recordings no
# alert reads that read each other; one that reads itself.
READ_AND_UNREAD = """\
groups:
  - name: g
    rules:
      - record: job:errors:rate5m
        expr: sum(rate(http_errors_total[5m]))
      - record: job:errors:ratio5m
        expr: job:errors:rate5m / sum(rate(http_requests_total[5m]))
      - record: job:unread:rate5m
        expr: sum(rate(queue_depth_total[5m]))
      - record: loop:a
        expr: loop:b + 1
      - record: loop:b
        expr: loop:a + rate(jobs_total[5m])
      - record: self:loop
        expr: self:loop * 2
      - alert: Errors
        expr: job:errors:ratio5m > 0.05
      - alert: Up
        expr: up == 0
"""


def test_a_check_expands_only_what_alerts_read_and_still_reports_every_cycle(tmp_path: Path) -> None:
    """``every=False`` (check, report): the alerts and the recordings they reach are expanded as
    when everything is; a recording no alert reads is not; a cycle no alert reads is still an
    error, the same one."""
    path = tmp_path / "r.yaml"
    path.write_text(READ_AND_UNREAD)
    load = load_rule_file(str(path))
    everything = build_ruleset(load)
    read = build_ruleset(load, every=False)
    names = {r.name for r in read.raw_metrics}
    assert names == {"job:errors:rate5m", "job:errors:ratio5m", "loop:a", "loop:b", "self:loop", "Errors", "Up"}
    assert "job:unread:rate5m" in {r.name for r in everything.raw_metrics}
    assert all(read.raw_metrics[r] == everything.raw_metrics[r] and read.levels[r] == everything.levels[r] for r in read.raw_metrics)
    assert read.raw_metrics[by_name(read, "Errors")] == ("http_errors_total", "http_requests_total")
    cycles = [e.message for e in everything.errors if "cycle" in e.message]
    assert len(cycles) == 2 and sorted(e.message for e in read.errors if "cycle" in e.message) == sorted(cycles)


def test_a_kept_expansion_of_only_what_alerts_read_serves_a_check_not_the_inventory(tmp_path: Path) -> None:
    from coverage_audit.ruleset import expansion_of

    path = tmp_path / "r.yaml"
    path.write_text(READ_AND_UNREAD)
    load = load_rule_file(str(path))
    partial, whole = expansion_of(build_ruleset(load, every=False), load), expansion_of(build_ruleset(load), load)
    assert not partial.complete and whole.complete and -1 in partial.raw
    assert partial.fits(load.rules, every=False) and not partial.fits(load.rules)
    assert whole.fits(load.rules) and whole.fits(load.rules, every=False)
    again = build_ruleset(load, known=partial, every=False)
    assert again.raw_metrics == build_ruleset(load, every=False).raw_metrics and again.errors == build_ruleset(load, every=False).errors
