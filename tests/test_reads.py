"""What an alert reads through its recording rules (analysis/reads.py): raw selectors with its
matchers pushed down, the history it needs, shared across alerts and paths."""

from __future__ import annotations

import textwrap
from pathlib import Path

from coverage_audit.analysis.reads import ReadIndex
from coverage_audit.loaders.rules import load_rules
from coverage_audit.promql import Selector
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


def index(tmp_path: Path, text: str = RULES) -> tuple[ReadIndex, dict]:
    (tmp_path / "rules.yaml").write_text(textwrap.dedent(text))
    ruleset = build_ruleset(load_rules([str(tmp_path / "rules.yaml")], jobs=1))
    return ReadIndex(ruleset.records), {r.name: r for r in ruleset.rules}


def test_raw_reads_carry_the_alerts_matchers(tmp_path: Path) -> None:
    reads, rules = index(tmp_path)
    raw = sorted(str(s) for s in reads.of(rules["Ratio"]).raw)
    assert raw == ['http_requests_total{code=~"5..",job="checkout"}', 'http_requests_total{job="checkout"}']
    assert {r.name for r in reads.of(rules["Ratio"]).recordings} == {"job:errors:ratio_rate1h", "team:mapping"}


def test_a_rules_reads_are_found_from_its_parse_without_walking_its_tree(tmp_path: Path, monkeypatch) -> None:
    """A rule's selectors are known from the parse: screening ten thousand alerts must not walk
    each one's tree again to find them (a sixth of a large organisation's screen)."""
    import coverage_audit.analysis.reads as reads_module

    def seen(found: object) -> tuple[list[str], list[str], list[str]]:  # rules differ per load: names
        return sorted(map(str, found.raw)), sorted(r.name for r in found.recordings), sorted(map(str, found.empty))  # type: ignore[attr-defined]

    walked, loaded = index(tmp_path)
    expected = {name: seen(walked.of(rule)) for name, rule in loaded.items()}
    for rule in loaded.values():  # what the parse noted is what a walk of the tree finds
        assert set(rule.query.selectors) == {n for n in reads_module.walk(rule.query.ast) if isinstance(n, Selector)}

    def no_walk(node: object) -> None:
        raise AssertionError("walked a rule's tree")

    monkeypatch.setattr(reads_module, "walk", no_walk)
    reads, rules = index(tmp_path)
    assert {name: seen(reads.of(rule)) for name, rule in rules.items()} == expected
    assert len(expected["Ratio"][0]) == 2 and expected["Ratio"][1] == ["job:errors:ratio_rate1h", "team:mapping"]


def test_what_a_recorded_name_may_read_is_found_without_walking_its_recordings_trees(tmp_path: Path, monkeypatch) -> None:
    """The metric names a recorded name may read come from its recordings' selectors as the
    parse noted them: a name recorded per service (thousands of rules) is not walked node by
    node. What is found is what a walk finds."""
    import coverage_audit.analysis.reads as reads_module

    walked, loaded = index(tmp_path)
    expected = {name: walked.metrics(rule.query.ast) for name, rule in loaded.items()}
    assert expected["Ratio"] == {"http_requests_total"} and expected["Past"] == {"http_requests_total"}
    reads, rules = index(tmp_path)
    names = ["job:errors:rate5m", "job:errors:ratio_rate1h", "team:mapping"]
    real_children = reads_module.children
    inside = {id(n) for r in rules.values() if r.kind == "record" for n in reads_module.walk(r.query.ast) if real_children(n)}  # (leaves are shared)

    def children_outside_recordings(node: object) -> tuple:
        assert id(node) not in inside, "walked a recording's tree"
        return real_children(node)  # type: ignore[arg-type]

    monkeypatch.setattr(reads_module, "children", children_outside_recordings)
    assert [reads._recorded_metrics(name) for name in names] == [{"http_requests_total"}, {"http_requests_total"}, frozenset()]
    assert {name: reads.metrics(rule.query.ast) for name, rule in rules.items() if rule.kind == "alert"} == {
        name: found for name, found in expected.items() if loaded[name].kind == "alert"
    }


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


def _chain(levels: int) -> str:
    """Recordings ``level:1`` ... ``level:N``, each reading the one below; ``level:0`` is raw."""
    rules = [f'      - record: level:{n}\n        expr: sum by (job) (level:{n - 1})' for n in range(1, levels + 1)]
    rules.append(f'      - alert: Top\n        expr: level:{levels}{{job="a"}} > 1')
    rules.append('      - alert: Middle\n        expr: level:5{job="a"} > 1')
    return "groups:\n  - name: chain\n    rules:\n" + "\n".join(rules) + "\n"


def test_a_chain_deeper_than_the_limit_is_cut_off_and_shares_nothing_wrong(tmp_path: Path) -> None:
    from coverage_audit.analysis.reads import MAX_RECORDING_DEPTH

    levels = MAX_RECORDING_DEPTH + 4
    reads, rules = index(tmp_path, _chain(levels))
    # From the top, the walk stops MAX_RECORDING_DEPTH recordings down: what it reads there
    # is a recorded series, not the raw one.
    top = [s.metric for s in reads.of(rules["Top"]).raw]
    assert top == [f"level:{levels - MAX_RECORDING_DEPTH}"]
    # The middle of the same chain, asked after the top (whose walk passed there deep and was
    # cut off), reads all the way down, as a fresh index says.
    middle = reads.of(rules["Middle"]).raw
    fresh, fresh_rules = index(tmp_path, _chain(levels))
    assert middle == fresh.of(fresh_rules["Middle"]).raw
    assert [s.metric for s in middle] == ["level:0"]
    assert [str(m) for s in middle for m in s.matchers] == ['job="a"']


def test_a_recording_reached_at_two_depths_is_walked_once(tmp_path: Path) -> None:
    text = """\
groups:
  - name: g
    rules:
      - record: base:sum
        expr: sum by (job) (rate(requests_total[5m]))
      - record: wrapped:sum
        expr: base:sum * 2
      - alert: Direct
        expr: base:sum{job="a"} > 1
      - alert: Wrapped
        expr: wrapped:sum{job="a"} > 1
"""
    reads, rules = index(tmp_path, text)
    assert reads.of(rules["Direct"]).raw == reads.of(rules["Wrapped"]).raw
    base = next(r for r in rules.values() if r.name == "base:sum")
    assert base.query is not None
    # base:sum's body is reached one recording down from Direct and two from Wrapped: one walk.
    entries = [key for key in reads._memo if key[0] == id(base.query.ast)]
    assert len(entries) == 1


def test_a_cycle_of_recordings_ends(tmp_path: Path) -> None:
    text = """\
groups:
  - name: g
    rules:
      - record: a:x
        expr: b:x{job="a"} or raw_total
      - record: b:x
        expr: a:x
      - alert: Loop
        expr: a:x > 1
"""
    reads, rules = index(tmp_path, text)
    raw = {s.metric for s in reads.of(rules["Loop"]).raw}
    assert "raw_total" in raw
    assert reads.lookback(rules["Loop"].query.ast) == 0.0


def test_what_nodes_read_is_shared_not_copied_per_node(tmp_path: Path) -> None:
    """A node reads the union of what its children read: the same set object when one child's
    holds the others', and one set per distinct union (a set per node took two thirds of the
    judge's memory on GitLab)."""
    reads, rules = index(tmp_path, RULES + """\
      - alert: Twice
        expr: job:errors:ratio_rate1h{job="checkout"} > 0.01 and job:errors:rate5m{job="checkout"} > 1
      - alert: Mixed
        expr: rate(up_total[5m]) > 0 and job:errors:rate5m > 1
      - alert: MixedAgain
        expr: job:errors:rate5m > 1 or rate(up_total[5m]) > 0
""")
    twice, mixed, again = (rules[name].query.ast for name in ("Twice", "Mixed", "MixedAgain"))
    ratio = rules["Ratio"].query.ast
    assert reads.metrics(twice) == {"http_requests_total"}
    assert reads.metrics(twice) is reads.metrics(twice.lhs) is reads.metrics(twice.lhs.lhs)
    assert reads.metrics(ratio) is reads.metrics(ratio.lhs)  # team:mapping reads no raw metric
    assert reads.metrics(mixed) == reads.metrics(again) == {"up_total", "http_requests_total"}
    assert reads.metrics(mixed) is reads.metrics(again)  # two nodes, one union


def test_a_union_that_adds_nothing_is_the_part_itself(tmp_path: Path) -> None:
    reads, rules = index(tmp_path, RULES + """\
      - alert: Again
        expr: job:errors:rate5m{job="checkout"} > 1 and job:errors:rate5m{job="checkout"} offset 1h > 1
""")
    again = rules["Again"].query.ast
    assert reads.under(again, (), 0) is reads.under(again.lhs, (), 0)
    assert [str(s) for s in reads.under(again, (), 0).raw] == ['http_requests_total{code=~"5..",job="checkout"}']
