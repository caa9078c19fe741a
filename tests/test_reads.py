"""What an alert reads through its recording rules (analysis/reads.py): raw selectors with its
matchers pushed down, the history it needs, shared across alerts and paths."""

from __future__ import annotations

import textwrap
from pathlib import Path

from coverage_audit.analysis.reads import ReadIndex
from coverage_audit.loaders.rules import load_rules
from coverage_audit.ruleset import build_ruleset

RULES = """\
groups:
  - name: g
    rules:
      - record: job:errors:rate5m
        expr: sum by (job) (rate(http_requests_total{code=~"5.."}[5m] offset 30s))
      - record: job:errors:ratio_rate1h
        expr: sum by (job) (rate(http_requests_total{code=~"5.."}[1h])) / sum by (job) (rate(http_requests_total[1h]))
      - record: team:mapping
        labels: {job: checkout, team: red}
        expr: "1"
      - alert: Ratio
        expr: job:errors:ratio_rate1h{job="checkout"} > 0.01 and on (job) team:mapping
      - alert: Past
        expr: max_over_time(job:errors:rate5m{job="checkout"}[10m] offset 1d) > 1
      - alert: Contradiction
        expr: job:errors:rate5m{job="checkout"} > 1 and on() job:errors:rate5m{job="cart", code="200"} > 1
"""


def index(tmp_path: Path) -> tuple[ReadIndex, dict]:
    (tmp_path / "rules.yaml").write_text(textwrap.dedent(RULES))
    ruleset = build_ruleset(load_rules([str(tmp_path / "rules.yaml")], jobs=1))
    return ReadIndex(ruleset.records), {r.name: r for r in ruleset.rules}


def test_raw_reads_carry_the_alerts_matchers(tmp_path: Path) -> None:
    reads, rules = index(tmp_path)
    raw = sorted(str(s) for s in reads.of(rules["Ratio"]).raw)
    assert raw == ['http_requests_total{code=~"5..",job="checkout"}', 'http_requests_total{job="checkout"}']
    assert {r.name for r in reads.of(rules["Ratio"]).recordings} == {"job:errors:ratio_rate1h", "team:mapping"}


def test_pushed_matchers_that_contradict_a_read_select_nothing(tmp_path: Path) -> None:
    reads, rules = index(tmp_path)
    # code="200" pushed into code=~"5..": that branch reads nothing, the other one still does.
    assert [str(s) for s in reads.of(rules["Contradiction"]).raw] == ['http_requests_total{code=~"5..",job="checkout"}']


def test_lookback_adds_ranges_and_offsets_along_the_longest_path(tmp_path: Path) -> None:
    reads, rules = index(tmp_path)
    past = rules["Past"]
    assert past.query is not None
    # 10m range + 1d offset at the alert, then 5m range + 30s offset in the recording.
    assert reads.lookback(past.query.ast) == 600 + 86400 + 300 + 30
    ratio = rules["Ratio"]
    assert ratio.query is not None and reads.lookback(ratio.query.ast) == 3600
