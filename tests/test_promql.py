"""The PromQL module: facts read off real expressions, and the guard in front of the parser."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage_audit import promql
from coverage_audit.model import LabelMatcher, MatchOp


def test_selectors_matchers_ranges_and_offsets() -> None:
    q = promql.parse('sum by (job) (rate(http_requests_total{job="api",code=~"5.."}[5m] offset 1w)) > 0.05')
    (sel,) = q.selectors
    assert sel.metric == "http_requests_total"
    assert sel.matchers == (LabelMatcher("job", MatchOp.EQ, "api"), LabelMatcher("code", MatchOp.RE, "5.."))
    assert (sel.range, sel.offset) == (300.0, 604800.0)
    assert q.functions == {"rate"} and q.aggregations == {"sum"}
    assert q.comparisons == (promql.Comparison(">", 0.05),)
    assert q.metrics == ("http_requests_total",)


def test_name_matcher_is_normalised_to_the_metric() -> None:
    (sel,) = promql.parse('{__name__="orders_total", shop="eu"}').selectors
    assert sel.metric == "orders_total"
    assert sel.matchers == (LabelMatcher("shop", MatchOp.EQ, "eu"),)


def test_regex_name_matcher_stays_a_matcher() -> None:
    (sel,) = promql.parse('{__name__=~"orders_.*"}').selectors
    assert sel.metric is None
    assert sel.matchers == (LabelMatcher("__name__", MatchOp.RE, "orders_.*"),)


def test_or_matchers_become_a_union() -> None:
    q = promql.parse('x{a="1" or b="2"}')
    assert isinstance(q.ast, promql.Binary) and q.ast.op == "or"
    assert [s.matchers for s in q.selectors] == [
        (LabelMatcher("a", MatchOp.EQ, "1"),),
        (LabelMatcher("b", MatchOp.EQ, "2"),),
    ]


def test_thresholds_are_folded_and_put_on_the_right() -> None:
    assert promql.parse("x > 14.4 * 0.001").comparisons[0].threshold == pytest.approx(0.0144)
    assert promql.parse("5 < x").comparisons == (promql.Comparison(">", 5.0),)
    assert promql.parse("x == bool 0").comparisons == (promql.Comparison("==", 0.0, return_bool=True),)
    assert promql.parse("a > b").comparisons == (promql.Comparison(">", None),)


def test_comparisons_under_set_operators_and_unless_negation() -> None:
    q = promql.parse("(a > 1 and b < 2) unless c == 0")
    assert q.comparisons == (
        promql.Comparison(">", 1.0),
        promql.Comparison("<", 2.0),
        promql.Comparison("==", 0.0, negated=True),
    )


def test_subquery_range_and_step() -> None:
    q = promql.parse("max_over_time(rate(x[5m])[1h:1m] offset 10m)")
    sub = q.ast.args[0]
    assert isinstance(sub, promql.Subquery)
    assert (sub.range, sub.step, sub.offset) == (3600.0, 60.0, 600.0)
    assert q.max_range == 3600.0


def test_bare_number_and_string() -> None:
    assert promql.parse("1").ast == promql.Number(1.0)
    assert promql.parse('"x"').ast == promql.String("x")
    assert promql.parse("1").metrics == ()


def test_aggregation_params_and_grouping() -> None:
    ast = promql.parse("topk without (pod) (3, x)").ast
    assert isinstance(ast, promql.Aggregate)
    assert (ast.op, ast.param, ast.grouping, ast.without) == ("topk", promql.Number(3.0), ("pod",), True)


def test_syntax_error_is_a_promql_error() -> None:
    with pytest.raises(promql.PromQLError, match="parenthesis"):
        promql.parse("sum(rate(x[5m])")
    with pytest.raises(promql.PromQLError):
        promql.parse("rate(x)")


@pytest.mark.parametrize(
    "text",
    [
        "(" * 100_000 + "x" + ")" * 100_000,  # would overflow the Rust parser's stack
        "sum(" * 6_000 + "x" + ")" * 6_000,  # would take many minutes
        "+".join(["x"] * 20_000),
        " or ".join(["x"] * 5_000),
        "-" * 50_000 + "x",
        "x{a=\"" + "b" * 70_000 + "\"}",
    ],
)
def test_guard_refuses_hostile_expressions_quickly(text: str) -> None:
    started = time.monotonic()
    with pytest.raises(promql.PromQLError, match="refused"):
        promql.parse(text)
    assert time.monotonic() - started < 2.0


def test_guard_ignores_brackets_inside_strings_and_comments() -> None:
    deep_string = 'x{a="' + "(" * 200 + '"}'
    assert promql.parse(deep_string).metrics == ("x",)
    assert promql.parse("x # " + "(" * 200 + "\n + y").metrics == ("x", "y")


@pytest.mark.parametrize("extra", [0, 1])
def test_the_operator_limit_is_counted_exactly_beside_non_ascii_text(extra: int) -> None:
    """Operators are counted in the text's UTF-8 bytes: a character such as "é" or "€" adds none
    (no UTF-8 sequence of a non-ASCII character holds an ASCII byte)."""
    text = "x # é€ü\n " + " ".join(["+ x"] * (promql.MAX_OPERATORS + extra))
    if extra:
        with pytest.raises(promql.PromQLError, match="more than 256 operators"):
            promql.check_size(text)
    else:
        promql.check_size(text)
        assert promql.parse(text).metrics == ("x",)


def test_real_sized_expressions_pass_the_guard() -> None:
    text = " or ".join(f'sum(rate(m{i}{{job="a"}}[5m])) / sum(rate(t{i}[5m])) > 0.01' for i in range(40))
    assert len(promql.parse(text).selectors) == 80


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes(text: str) -> None:
    try:
        query = promql.parse(text)
    except promql.PromQLError:
        return
    assert set(query.metrics) <= {s.metric for s in query.selectors}


def _expressions() -> st.SearchStrategy[str]:
    leaves = st.sampled_from(["up", 'http_requests_total{code=~"5.."}', "rate(x[5m] offset 1w)", "vector(0)"])

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, st.sampled_from(["+", "/", "and", "or", "unless", ">", "<"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            inner.map(lambda e: f"sum by (job) ({e})"),
            inner.map(lambda e: f"abs({e})"),
            inner.map(lambda e: f"-({e})"),
            inner.map(lambda e: f"({e} >= 0.5)"),
        )

    return st.recursive(leaves, extend, max_leaves=40)


@settings(max_examples=300, deadline=None)
@given(_expressions())
def test_valid_generated_expressions_parse(text: str) -> None:
    query = promql.parse(text)
    assert all(node is not None for node in promql.walk(query.ast))


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=promql.MAX_NESTING + 1, max_value=20_000), st.sampled_from(["(", "abs(", "sum("]))
def test_nesting_past_the_limit_is_refused(depth: int, opener: str) -> None:
    with pytest.raises(promql.PromQLError, match="refused"):
        promql.parse(opener * depth + "x" + ")" * depth)


def test_nesting_within_the_limit_parses() -> None:
    depth = promql.MAX_NESTING
    assert promql.parse("(" * depth + "x" + ")" * depth).metrics == ("x",)


def test_the_parser_version_in_cache_keys_is_the_installed_one() -> None:
    """Read off the install record's folder (no importlib.metadata at start-up): the same answer."""
    from importlib.metadata import version

    from coverage_audit.promql import parser_version

    assert parser_version() == "promql-parser " + version("promql-parser")
