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
