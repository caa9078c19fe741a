"""Rule files in every supported format, and what happens to bad ones."""

from __future__ import annotations

import textwrap
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coverage_audit.loaders.rules import discover, load_rule_file, load_rules


def write(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return str(path)


PLAIN = """\
    groups:
      - name: payments
        interval: 30s
        rules:
          - record: job:payments_errors:rate5m
            expr: sum by (job) (rate(payments_requests_total{status=~"5.."}[5m]))
          - alert: Payments High Error Ratio
            expr: job:payments_errors:rate5m > 0.05
            for: 5m
            keep_firing_for: 1m
            labels: {severity: page, team: payments}
            annotations:
              summary: "<b>{{ $labels.job }}</b>"
          - alert: Always
            expr: 1
"""


def test_plain_rule_file(tmp_path: Path) -> None:
    load = load_rule_file(write(tmp_path, "p.yaml", PLAIN))
    assert load.errors == [] and load.skipped == []
    record, alert, always = load.rules
    assert (record.kind, record.name, record.line, record.group) == ("record", "job:payments_errors:rate5m", 5, "payments")
    assert (alert.kind, alert.name, alert.line) == ("alert", "Payments High Error Ratio", 7)
    assert (alert.interval, alert.for_seconds, alert.keep_firing_for) == (30.0, 300.0, 60.0)
    assert alert.labels == {"severity": "page", "team": "payments"}
    assert alert.annotations["summary"] == "<b>{{ $labels.job }}</b>"
    assert alert.source == "prometheus"
    assert alert.query.metrics == ("job:payments_errors:rate5m",)
    assert always.expr == "1" and always.query.metrics == ()


def test_prometheusrule_objects_several_per_file(tmp_path: Path) -> None:
    text = """\
        apiVersion: monitoring.coreos.com/v1
        kind: PrometheusRule
        metadata: {name: a}
        spec:
          groups:
            - name: a
              rules:
                - alert: A
                  expr: up == 0
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: other}
        ---
        apiVersion: monitoring.coreos.com/v1
        kind: PrometheusRule
        metadata: {name: b}
        spec:
          groups:
            - name: b
              rules:
                - record: r
                  expr: sum(x)
    """
    load = load_rule_file(write(tmp_path, "crd.yaml", text))
    assert [(r.name, r.line, r.source) for r in load.rules] == [("A", 8, "prometheusrule"), ("r", 22, "prometheusrule")]
    assert load.errors == [] and load.skipped == []


def test_kind_list_of_prometheusrules(tmp_path: Path) -> None:
    text = """\
        apiVersion: v1
        kind: List
        items:
          - kind: PrometheusRule
            spec: {groups: [{name: g, rules: [{alert: X, expr: up == 0}]}]}
    """
    assert [r.name for r in load_rule_file(write(tmp_path, "list.yaml", text)).rules] == ["X"]


def test_thanos_and_mimir_groups(tmp_path: Path) -> None:
    text = """\
        namespace: tenant-a
        groups:
          - name: thanos
            partial_response_strategy: warn
            rules: [{alert: T, expr: up == 0}]
          - name: mimir
            source_tenants: [a, b]
            evaluation_delay: 1m
            rules: [{alert: M, expr: up == 0}]
    """
    load = load_rule_file(write(tmp_path, "t.yaml", text))
    assert load.errors == []
    assert [(r.name, r.source, r.query_offset) for r in load.rules] == [("T", "thanos", 0.0), ("M", "mimir", 60.0)]


def test_malformed_rules_are_errors_with_lines_and_the_rest_loads(tmp_path: Path) -> None:
    text = """\
        groups:
          - name: g
            rules:
              - alert: NoExpr
              - alert: Both
                record: both
                expr: up
              - alert: BadFor
                expr: up == 0
                for: 5 minutes
              - alert: BadExpr
                expr: sum(rate(x[5m])
              - record: bad_annot
                expr: up
                annotations: {a: b}
              - alert: Good
                expr: up == 0
              - just a string
    """
    load = load_rule_file(write(tmp_path, "bad.yaml", text))
    messages = {(e.line, e.message.split(":")[0]) for e in load.errors}
    assert (4, "alert 'NoExpr' has no 'expr'") in messages
    assert any(line == 5 and "not both" in m for line, m in messages)
    assert any(line == 10 and "'for' is not a valid duration" in m for line, m in messages)
    assert any(line == 12 and m.startswith("alert 'BadExpr'") for line, m in messages)
    assert any(line == 15 and "'annotations' is not allowed" in m for line, m in messages)
    assert any(line == 18 and "must be a mapping" in m for line, m in messages)
    names = [r.name for r in load.rules]
    assert names == ["BadFor", "BadExpr", "bad_annot", "Good"]
    bad_expr = load.rules[1]
    assert bad_expr.query is None and "parenthesis" in bad_expr.parse_error


def test_group_level_errors(tmp_path: Path) -> None:
    text = """\
        groups:
          - name: g
            interrrval: 1m
            rules: []
          - name: g
            rules: []
          - rules: [{alert: A, expr: up == 0}]
          - name: h
            rules: {alert: x}
    """
    load = load_rule_file(write(tmp_path, "g.yaml", text))
    lines = sorted((e.line, e.message) for e in load.errors)
    assert lines[0] == (3, "unknown key 'interrrval' in group 'g'")
    assert lines[1][0] == 5 and "repeated" in lines[1][1]
    assert lines[2] == (7, "group has no name")
    assert lines[3][0] == 9 and "must be a list" in lines[3][1]
    assert [r.name for r in load.rules] == ["A"]


def test_invalid_yaml_and_invalid_utf8_are_errors(tmp_path: Path) -> None:
    broken = write(tmp_path, "broken.yaml", "groups:\n  - name: [\n")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"groups:\n  - name: g\n    rules: []\n# \xff\n")
    good = write(tmp_path, "good.yaml", PLAIN)
    load = load_rules([broken, str(binary), good], jobs=1)
    assert len(load.rules) == 3
    errors = {e.file: e for e in load.errors}
    assert errors[broken].line >= 2 and "invalid YAML" in errors[broken].message
    assert errors[str(binary)].line == 4 and "UTF-8" in errors[str(binary)].message


def test_folder_walk_skips_and_counts_other_yaml(tmp_path: Path) -> None:
    write(tmp_path, "rules/a.yaml", PLAIN)
    write(tmp_path, "rules/nested/b.yml", "groups: [{name: b, rules: [{alert: B, expr: up == 0}]}]\n")
    write(tmp_path, "rules/am.yaml", "route: {receiver: x}\nreceivers: [{name: x}]\n")
    write(tmp_path, "rules/test.yaml", "rule_files: [a.yaml]\ntests: []\n")
    write(tmp_path, "rules/deploy.yaml", "apiVersion: apps/v1\nkind: Deployment\n")
    write(tmp_path, "rules/empty.yaml", "")
    write(tmp_path, "rules/notes.txt", "not yaml at all: [")
    write(tmp_path, "rules/.hidden/c.yaml", "groups: [{name: c, rules: [{alert: C, expr: up == 0}]}]\n")
    load = load_rules([str(tmp_path / "rules")], jobs=1)
    assert sorted(r.name for r in load.rules if r.kind == "alert") == ["Always", "B", "Payments High Error Ratio"]
    reasons = {Path(s.file).name: s.reason for s in load.skipped}
    assert reasons == {
        "am.yaml": "Alertmanager configuration",
        "test.yaml": "promtool unit-test file",
        "deploy.yaml": "Kubernetes Deployment, not a PrometheusRule",
        "empty.yaml": "empty file",
    }
    assert load.errors == [] and load.files == 6


def test_missing_path_is_an_error_not_a_crash(tmp_path: Path) -> None:
    load = load_rules([str(tmp_path / "missing.yaml")])
    assert [e.message for e in load.errors] == ["no such file or folder"]


def test_parallel_and_sequential_loads_agree(tmp_path: Path) -> None:
    for i in range(60):
        write(tmp_path, f"r{i:02}.yaml", f"groups: [{{name: g{i}, rules: [{{alert: A{i}, expr: 'rate(x{{i=\"{i}\"}}[5m]) > {i}'}}]}}]\n")
    write(tmp_path, "r99.yaml", "groups: [\n")
    sequential = load_rules([str(tmp_path)], jobs=1)
    parallel = load_rules([str(tmp_path)], jobs=2)
    assert [(r.file, r.line, r.name, r.query) for r in sequential.rules] == [(r.file, r.line, r.name, r.query) for r in parallel.rules]
    assert sequential.errors == parallel.errors and len(parallel.rules) == 60


def test_discover_names_each_file_once(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", PLAIN)
    assert discover([path, str(tmp_path), path]) == [path]


_values = st.recursive(
    st.one_of(st.none(), st.text(max_size=8), st.sampled_from(["up == 0", "5m", "rate(x[5m])", "groups", "rules", "alert"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["groups", "rules", "name", "alert", "record", "expr", "for", "labels", "annotations", "interval", "kind", "spec"]), inner, max_size=4)),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_values)
def test_arbitrary_structures_never_crash_the_loader(tmp_path: Path, value: object) -> None:
    import json

    path = tmp_path / "fuzz.yaml"
    path.write_text(json.dumps(value))  # JSON is YAML
    load = load_rule_file(str(path))
    assert all(e.file == str(path) for e in load.errors)
    assert all(r.expr for r in load.rules)


def test_a_slow_parent_and_fast_workers_still_meet_in_the_middle(tmp_path: Path, monkeypatch) -> None:
    """The parent takes chunks from the back while workers take them from the front; when the
    parent is slow, workers finish (and the parent collects) chunks it would have reached next."""
    import os
    import time

    import coverage_audit.loaders.rules as rules

    for i in range(80):
        write(tmp_path, f"r{i:02}.yaml", f"groups: [{{name: g{i}, rules: [{{alert: A{i}, expr: 'up{{i=\"{i}\"}} == 0'}}]}}]\n")
    serial = load_rules([str(tmp_path)], jobs=1)
    parent, parse = os.getpid(), rules._load_and_store

    def slow_here(path, cache):  # type: ignore[no-untyped-def]
        if os.getpid() == parent:
            time.sleep(0.3)  # workers (forked, another pid) run at full speed
        return parse(path, cache)

    monkeypatch.setattr(rules, "_load_and_store", slow_here)
    parallel = load_rules([str(tmp_path)], jobs=2)
    assert [(r.file, r.name) for r in parallel.rules] == [(r.file, r.name) for r in serial.rules]
    assert len(parallel.rules) == 80
