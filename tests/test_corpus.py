"""The real corpus (../shared/corpus, read in place): every file loads or is reported, the
counts match, and what promtool accepts we accept."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import yaml

from coverage_audit.loaders.rules import discover, load_rules
from coverage_audit.ruleset import build_ruleset

pytestmark = pytest.mark.corpus

# From the corpus's SOURCES.md: counted with yaml.safe_load_all over groups[].rules[] of plain
# rule files and PrometheusRule objects.
ALL_ALERTS, ALL_RECORDS = 5253, 39419
REAL_WORLD_ALERTS, REAL_WORLD_RECORDS = 5226, 29331  # without prometheus/prometheus's fixtures


def reference_counts(path: str) -> Counter[str]:
    """Counts as SOURCES.md made them, independently of our loader."""
    counts: Counter[str] = Counter()
    try:
        with open(path, "rb") as handle:
            documents = list(yaml.load_all(handle, Loader=yaml.CSafeLoader))
    except yaml.YAMLError:
        return counts
    for document in documents:
        if not isinstance(document, dict):
            continue
        holder = document.get("spec") if document.get("kind") == "PrometheusRule" else document
        groups = holder.get("groups") if isinstance(holder, dict) else None
        for group in groups if isinstance(groups, list) else []:
            rules = group.get("rules") if isinstance(group, dict) else None
            for rule in rules if isinstance(rules, list) else []:
                if isinstance(rule, dict) and "alert" in rule:
                    counts["alert"] += 1
                elif isinstance(rule, dict) and "record" in rule:
                    counts["record"] += 1
    return counts


@pytest.fixture(scope="session")
def corpus_load(corpus_dir: Path):
    return load_rules([str(corpus_dir)])


def test_every_file_loads_or_is_reported_with_a_line(corpus_load, corpus_dir: Path) -> None:
    files = discover([str(corpus_dir)])
    assert corpus_load.files == len(files) > 1700
    seen = set(corpus_load.rule_files) | {s.file for s in corpus_load.skipped} | {e.file for e in corpus_load.errors}
    assert seen == set(files), "a file was neither a rule file, nor skipped with a reason, nor reported"
    assert {r.file for r in corpus_load.rules} <= set(corpus_load.rule_files)
    for error in corpus_load.errors:
        assert error.line > 0, error
        assert os.path.exists(error.file)


def test_counts_match_the_corpus(corpus_load, corpus_dir: Path) -> None:
    ours: dict[str, Counter[str]] = defaultdict(Counter)
    for rule in corpus_load.rules:
        ours[rule.file][rule.kind] += 1
    errors = Counter(error.file for error in corpus_load.errors)
    reference_total: Counter[str] = Counter()
    real_world: Counter[str] = Counter()
    for path in discover([str(corpus_dir)]):
        expected = reference_counts(path)
        reference_total.update(expected)
        if "prometheus__prometheus" not in path:
            real_world.update(ours[path])
        if not errors[path]:
            assert ours[path] == expected, path
        else:  # a rejected entry is reported, never silently dropped
            missing = sum((expected - ours[path]).values())
            assert missing <= errors[path], path
    assert (reference_total["alert"], reference_total["record"]) == (ALL_ALERTS, ALL_RECORDS)
    assert (real_world["alert"], real_world["record"]) == (REAL_WORLD_ALERTS, REAL_WORLD_RECORDS)
    parsed = Counter(rule.kind for rule in corpus_load.rules)
    assert ALL_ALERTS - parsed["alert"] <= 2 and ALL_RECORDS - parsed["record"] <= 2


def test_skipped_files_are_the_non_rule_files(corpus_load) -> None:
    reasons = Counter(s.reason for s in corpus_load.skipped)
    assert reasons["promtool unit-test file"] == 200
    assert reasons["Alertmanager configuration"] + reasons["Kubernetes Secret, not a PrometheusRule"] >= 54


def test_rule_set_builds_with_levels(corpus_load) -> None:
    rules = build_ruleset(corpus_load)
    levels = Counter(rules.levels[a] for a in rules.alerts)
    assert levels["application"] > 1000 and levels["infrastructure"] > 2000
    assert not [e for e in rules.errors if "cycle" in e.message]


@pytest.mark.tools
def test_what_promtool_accepts_we_accept(corpus_load, corpus_dir: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package 'prometheus')")
    plain = sorted({r.file for r in corpus_load.rules if r.source != "prometheusrule"})
    output = subprocess.run([promtool, "check", "rules", *plain], capture_output=True, text=True).stdout
    accepted = set()
    for block in output.split("Checking ")[1:]:
        name, _, rest = block.partition("\n")
        if "SUCCESS" in rest.split("\n", 1)[0]:
            accepted.add(name.strip())
    assert len(accepted) > 1200
    errors_in_accepted = [e for e in corpus_load.errors if e.file in accepted]
    assert errors_in_accepted == []
