"""Issue 14, hangs and super-linear work: hostile inputs that once hung a command or took time
quadratic in their size must finish quickly. Each test is bounded in time (pytest-timeout in
process, a subprocess deadline end to end)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from coverage_audit.analysis.matching import compatible, regex_examples, witness_labels
from coverage_audit.model import LabelMatcher, MatchOp

from hostile import CHANGE, MAP, RULES, cli, write_inputs

pytestmark = pytest.mark.timeout(60)


# --------------------------------------------------------------------------- regex examples


@pytest.mark.timeout(5)
@pytest.mark.parametrize(
    "pattern",
    ["[0-9a-f]{40}", "[0-9a-f]{7,40}", "(?:[a-z0-9]{8}-){4}[a-z0-9]{12}", "((a|b|c){10}){10}", "(x(y(z{5}){5}){4}){3}", "a{1000}"],
)
def test_bounded_repeats_give_examples_quickly(pattern: str) -> None:
    started = time.perf_counter()
    examples = regex_examples(pattern)
    assert time.perf_counter() - started < 1.0
    matcher = LabelMatcher("revision", MatchOp.RE, pattern)
    assert any(matcher.matches(example) for example in examples), examples


@pytest.mark.timeout(5)
def test_a_git_sha_matcher_is_compatible_with_a_sha_and_not_with_a_word() -> None:
    sha = LabelMatcher("revision", MatchOp.RE, "[0-9a-f]{40}")
    assert compatible([sha], [LabelMatcher("job", MatchOp.EQ, "payments")])
    labels = witness_labels([sha])
    assert labels is not None and len(labels["revision"]) == 40
    assert not compatible([sha], [LabelMatcher("revision", MatchOp.EQ, "main")])


def test_check_with_a_bounded_repeat_in_alert_selector_and_signal_finishes(tmp_path: Path) -> None:
    service_map = MAP.replace("'{job=\"payments\"}'", "'{job=\"payments\",revision=~\"[0-9a-f]{40}\"}'")
    rules = RULES.replace('code=~"5.."', 'code=~"5..",revision=~"[0-9a-f]{40}"')
    write_inputs(tmp_path, service_map, rules)
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        "kinds:\n  http_api:\n    failure_modes:\n      - id: errors\n        direction: rise\n"
        "        signals: ['http_requests_total{code=~\"5..\",revision=~\"[0-9a-f]{40}\"}']\n",
        encoding="utf-8",
    )
    for command in (["check", "--changed", CHANGE], ["report", "--out", "reports"], ["draft", "--all", "--dry-run"]):
        run = cli([*command, "--rules", "rules.yaml", "--service-map", "map.yaml", "--catalog", "catalog.yaml"], tmp_path, timeout=60)
        assert run.code in (0, 1), run.stderr
        assert b"Traceback" not in run.err


# --------------------------------------------------------------------------- globs

EXPONENTIAL_GLOB = "*a*a*a*a*a*a*a*a*a*a*a*a*b"


@pytest.mark.timeout(10)
def test_path_index_matches_a_backtracking_glob_in_linear_time() -> None:
    from coverage_audit.analysis.paths import PathIndex
    from coverage_audit.loaders.service_map import load_service_map_text
    from coverage_audit.catalog import default_catalog

    text = MAP.replace('paths: ["services/payments/**"]', f'paths: ["{EXPONENTIAL_GLOB}", "services/payments/**"]')
    loaded = load_service_map_text(text, "map.yaml", default_catalog())
    assert loaded.errors == []
    index = PathIndex(loaded.service_map)
    started = time.perf_counter()
    assert index.components_for("a" * 60) == ()
    assert [c.name for c in index.components_for("a" * 59 + "b")] == ["api"]
    assert [c.name for c in index.components_for(f"x/{'a' * 4000}b")] == ["api"]
    assert time.perf_counter() - started < 1.0


@pytest.mark.timeout(10)
def test_codeowners_matches_a_backtracking_pattern_in_linear_time() -> None:
    from coverage_audit.loaders.codeowners import owners_of, parse_codeowners

    rules = parse_codeowners(f"{EXPONENTIAL_GLOB} @org/team-payments\n*.md @org/docs\n", "CODEOWNERS")
    started = time.perf_counter()
    assert owners_of(rules, "a" * 60) == ()
    assert owners_of(rules, "docs/" + "a" * 60 + ".md") == ("@org/docs",)
    assert owners_of(rules, "a" * 59 + "b") == ("@org/team-payments",)
    assert time.perf_counter() - started < 1.0


def test_check_with_a_backtracking_glob_in_map_and_codeowners_finishes(tmp_path: Path) -> None:
    write_inputs(tmp_path, MAP.replace('paths: ["services/payments/**"]', f'paths: ["{EXPONENTIAL_GLOB}"]'))
    (tmp_path / "CODEOWNERS").write_text(f"{EXPONENTIAL_GLOB} @org/team-payments\n", encoding="utf-8")
    run = cli(
        ["check", "--rules", "rules.yaml", "--service-map", "map.yaml", "--codeowners", "CODEOWNERS", "--changed", "a" * 60, "a" * 59 + "b", "--format", "json"],
        tmp_path,
        timeout=30,
    )
    assert run.code in (0, 1), run.stderr
    assert '"payments/api"' in run.stdout  # the path ending in b is claimed
