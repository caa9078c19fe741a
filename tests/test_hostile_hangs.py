"""Issue 14, hangs and super-linear work: hostile inputs that once hung a command or took time
quadratic in their size must finish quickly. Each test is bounded in time (pytest-timeout in
process, a subprocess deadline end to end)."""

from __future__ import annotations

import json
import pickle
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


# --------------------------------------------------------------------------- quadratic messages


def test_suggestions_among_many_choices_are_found_by_index() -> None:
    from coverage_audit.suggest import Suggester

    names = [f"service-{n:05d}" for n in range(20_000)] + ["payments", "ledger"]
    suggester = Suggester(names)
    assert suggester.best("paymnets") == "payments"  # a transposition
    assert suggester.best("ledgr") == "ledger"  # a deletion
    assert suggester.best("service-00042x") == "service-00042"
    assert suggester.best("zzzzzzzz") is None
    started = time.perf_counter()
    for n in range(2_000):
        suggester.best(f"service-{n:05d}-typo")
    assert time.perf_counter() - started < 5.0  # difflib over every choice: minutes


def test_ten_thousand_unknown_dependencies_are_reported_in_seconds(tmp_path: Path) -> None:
    lines = ["apiVersion: coverage-audit/v1", "kind: ServiceMap", "services:"]
    for n in range(10_000):
        lines.append(f"  - {{name: svc-{n:05d}, owner: team, selector: '{{job=\"s{n}\"}}', depends_on: [svc-{n:05d}x]}}")
    write_inputs(tmp_path, "\n".join(lines) + "\n")
    started = time.perf_counter()
    run = cli(["check", "--rules", "rules.yaml", "--service-map", "map.yaml", "--changed", "x"], tmp_path, timeout=90)
    assert time.perf_counter() - started < 60  # was 25 minutes
    err = run.one_line_error()
    assert err.count("depends on unknown service") == 10_000
    assert "map.yaml:13: service 'svc-00009' depends on unknown service 'svc-00009x' (did you mean 'svc-00009'?)" in err


def test_sixty_thousand_unknown_keys_are_one_count(tmp_path: Path) -> None:
    keys = ", ".join(f"k{n:06d}: v" for n in range(60_000))
    (tmp_path / "rules.yaml").write_text(f"groups:\n  - name: g\n    rules:\n      - {{alert: A, expr: up == 0, {keys}}}\n", encoding="utf-8")
    started = time.perf_counter()
    run = cli(["rules", "--rules", "rules.yaml"], tmp_path, timeout=60)
    assert time.perf_counter() - started < 30  # was 74 s
    err = run.one_line_error()
    assert "59995 more unknown keys in alert 'A'" in err
    assert err.count("unknown key 'k0") == 5 and len(err.splitlines()) == 6


# --------------------------------------------------------------------------- files that never end


@pytest.mark.parametrize("flag", ["--rules", "--alertmanager", "--service-map", "--codeowners", "--catalog", "--changed-from", "--config"])
def test_a_fifo_is_refused_not_waited_on(tmp_path: Path, flag: str) -> None:
    import os

    write_inputs(tmp_path)
    os.mkfifo(tmp_path / "fifo.yaml")
    argv = {"--rules": ["--rules", "fifo.yaml", "--service-map", "map.yaml"],
            "--service-map": ["--rules", "rules.yaml", "--service-map", "fifo.yaml"]}.get(
        flag, ["--rules", "rules.yaml", "--service-map", "map.yaml", flag, "fifo.yaml"])
    change = [] if flag == "--changed-from" else ["--changed", CHANGE]
    run = cli(["check", *argv, *change], tmp_path, timeout=20)
    err = run.one_line_error()
    assert "fifo.yaml:0: not a regular file (a FIFO); refused" in err


def test_a_fifo_named_yaml_in_a_rules_folder_is_refused_and_the_rest_is_read(tmp_path: Path) -> None:
    import os

    write_inputs(tmp_path / "rules")
    (tmp_path / "rules" / "map.yaml").rename(tmp_path / "map.yaml")
    os.mkfifo(tmp_path / "rules" / "a-fifo.yaml")
    run = cli(["check", "--rules", "rules", "--service-map", "map.yaml", "--changed", CHANGE], tmp_path, timeout=20)
    assert "rules/a-fifo.yaml:0: not a regular file (a FIFO); refused" in run.one_line_error()
    assert "PaymentsHighErrorRatio" in run.stdout  # the other file was judged


@pytest.mark.parametrize("cache", [["--no-cache"], ["--cache-dir", "cache"]])
def test_a_fifo_among_files_parsed_by_a_worker_is_refused_and_the_rest_is_read(tmp_path: Path, cache: list[str]) -> None:
    """A folder large enough to be parsed by worker processes: the file a worker cannot read
    comes back as its error (it once came back as nothing, and the run failed unexpectedly)."""
    import os

    from coverage_audit.loaders.rules import PARALLEL_FROM_FILES, _load_chunk, load_rules

    folder = tmp_path / "rules"
    folder.mkdir()
    for index in range(PARALLEL_FROM_FILES + 12):
        (folder / f"r{index:03}.yaml").write_text(f"groups: [{{name: g, rules: [{{alert: A{index}, expr: up == 0}}]}}]\n")
    os.mkfifo(folder / "a-fifo.yaml")  # sorted first: the first chunk, which a worker takes
    blobs, keys = _load_chunk([str(folder / "a-fifo.yaml")], True)
    assert keys == [None] and "not a regular file (a FIFO)" in pickle.loads(blobs[0]).errors[0].message
    loaded = load_rules([str(folder)], jobs=2)
    assert len(loaded.rules) == PARALLEL_FROM_FILES + 12 and ["a-fifo.yaml:0" in str(e) for e in loaded.errors] == [True]
    run = cli(["rules", "--rules", "rules", "--format", "json", "--jobs", "2", *cache], tmp_path, timeout=60)
    assert "rules/a-fifo.yaml:0: not a regular file (a FIFO); refused" in run.one_line_error()
    assert len(json.loads(run.stdout)["rules"]) == PARALLEL_FROM_FILES + 12


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
def test_a_device_is_refused(tmp_path: Path, device: str) -> None:
    write_inputs(tmp_path)
    run = cli(["check", "--rules", "rules.yaml", "--service-map", "map.yaml", "--alertmanager", device, "--changed", CHANGE], tmp_path, timeout=20)
    assert f"{device}:0: not a regular file (a device); refused" in run.one_line_error()


# --------------------------------------------------------------------------- workers


def test_jobs_are_capped_at_the_cpus_this_process_may_use() -> None:
    import os

    from coverage_audit.loaders.rules import worker_count

    cpus = len(os.sched_getaffinity(0))
    assert worker_count(300) == cpus
    assert worker_count(None) == cpus
    assert worker_count(1) == 1


def test_jobs_300_loads_a_large_rule_folder_with_at_most_the_cpus(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    for number in range(60):  # above PARALLEL_FROM_FILES: loaded by worker processes
        (folder / f"r{number:02d}.yaml").write_text(RULES.replace("PaymentsHighErrorRatio", f"Alert{number}"), encoding="utf-8")
    run = cli(["rules", "--rules", "rules", "--jobs", "300", "--format", "json"], tmp_path, timeout=60)
    assert run.code == 0, run.stderr
    assert run.stdout.count('"kind": "alert"') == 60


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_jobs_must_be_a_positive_number(tmp_path: Path, value: str) -> None:
    write_inputs(tmp_path)
    run = cli(["rules", "--rules", "rules.yaml", "--jobs", value], tmp_path, timeout=20)
    assert run.code == 2 and "--jobs" in run.stderr and "Traceback" not in run.stderr


def test_init_reads_past_a_fifo_and_a_broken_link_in_the_repository(tmp_path: Path) -> None:
    import os

    service = tmp_path / "repo" / "services" / "payments"
    service.mkdir(parents=True)
    (service / "deploy.yaml").write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: payments}\n", encoding="utf-8")
    os.mkfifo(service / "values.yaml")
    os.symlink("missing.yaml", tmp_path / "repo" / "broken.yaml")
    run = cli(["init", "--repo", "repo", "--out", "map.yaml"], tmp_path, timeout=60)
    assert run.code == 0, run.stderr
    assert "values.yaml:0: not a regular file (a FIFO); refused" in run.stdout or "broken.yaml" in run.stdout
    assert (tmp_path / "map.yaml").is_file()


def test_a_cache_that_takes_no_entries_is_said_once_when_a_worker_parses(tmp_path: Path) -> None:
    """A parse worker writes its cache entries after its last chunk, once this process has told
    its warnings: a write that fails there is still told, once (before, it came back with the
    worker's chunks), and the run is the one it would be without a cache."""
    from coverage_audit.loaders.rules import PARALLEL_FROM_FILES, RULE_FILES

    folder = tmp_path / "rules"
    folder.mkdir()
    for index in range(PARALLEL_FROM_FILES + 12):
        (folder / f"r{index:03}.yaml").write_text(f"groups: [{{name: g, rules: [{{alert: A{index}, expr: up == 0}}]}}]\n")
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    (cache / RULE_FILES).write_text("a file where the entries' folder goes")  # every write fails, even as root
    run = cli(["rules", "--rules", "rules", "--format", "json", "--jobs", "2", "--cache-dir", "cache"], tmp_path, timeout=60)
    assert run.code == 0, run.stderr
    assert run.stderr.count("cache not written") == 1, run.stderr
    assert len(json.loads(run.stdout)["rules"]) == PARALLEL_FROM_FILES + 12
