"""Parsed rule files from the cache: a hit loads exactly what parsing loads (every rule, field
by field, every error and skipped file), a changed or corrupt entry is parsed again, and the
command line's --cache-dir, --no-cache and cache_dir: do what they say."""

from __future__ import annotations

import dataclasses
import enum
import json
import pickle
import shutil
import textwrap
from pathlib import Path
from typing import Mapping

import pytest

from coverage_audit.cache import Cache
from coverage_audit.cli import main
from coverage_audit.loaders.rules import RULE_FILES, RuleLoad, file_key, load_rules

ROOT = Path(__file__).resolve().parents[1]
GITLAB_API = "mattrussi__gitlab-com-runbooks/mimir-rules/gitlab-gprd/api"


def snapshot(load: RuleLoad) -> tuple[object, ...]:
    """Everything a load holds, every rule field by field down to the last node of its parsed
    query, in a form where equal means identical (floats by repr, so NaN equals NaN and 0.0
    differs from -0.0; sets sorted, so their iteration order does not matter)."""
    return (
        [canonical(rule) for rule in load.rules],
        list(load.errors),
        list(load.skipped),
        list(load.rule_files),
        load.files,
    )


def canonical(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__name__, *(canonical(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init))
    if isinstance(value, (set, frozenset)):
        return ("set", *sorted((canonical(v) for v in value), key=repr))
    if isinstance(value, Mapping):
        return ("map", *((k, canonical(v)) for k, v in value.items()))  # the order written
    if isinstance(value, (list, tuple)):
        return tuple(canonical(v) for v in value)
    if isinstance(value, float):
        return ("float", repr(value))
    if isinstance(value, enum.Enum):
        return repr(value)
    assert value is None or isinstance(value, (str, int)), type(value)
    return value


def entries(cache: Cache) -> list[Path]:
    return sorted((Path(cache.folder) / RULE_FILES).glob("*/*"))


def bad_and_good_files(folder: Path) -> list[str]:
    """Rule files with every kind of content the loader reports: rules, errors with lines,
    a file that is not rules, a file that is not YAML, an empty one."""
    shutil.copytree(ROOT / "rulesets", folder / "shop")
    (folder / "broken.yaml").write_text("groups:\n  - name: g\n    rules:\n      - alert: X\n        expr: rate(x[5m]) >\n      - record: 'bad{name'\n        expr: up\n")
    (folder / "not-yaml.yaml").write_text("groups: [\n")
    (folder / "empty.yaml").write_text("")
    (folder / "nan.yaml").write_text("groups: [{name: n, rules: [{alert: N, expr: 'x > NaN', for: 1m, labels: {é: 'ü'}}]}]\n")
    return [str(folder)]


def test_a_hit_loads_exactly_what_parsing_loads(tmp_path: Path) -> None:
    paths = bad_and_good_files(tmp_path / "rules")
    cache = Cache.open(str(tmp_path / "cache"))
    parsed = load_rules(paths, jobs=1)
    cold = load_rules(paths, jobs=1, cache=cache)
    files = cold.files
    # an empty cache is not looked up file by file (a first run's, a CI machine's every run)
    assert cache.stats.misses == 0 and cache.stats.written == files and cache.stats.hits == 0
    warm = load_rules(paths, jobs=1, cache=cache)
    assert cache.stats.hits == files and cache.stats.written == files  # nothing parsed again
    assert snapshot(parsed) == snapshot(cold) == snapshot(warm)
    assert parsed.errors and parsed.skipped and any("NaN" in r.expr for r in warm.rules)
    # and field by field, beyond repr: the same values, including the parsed expression
    for a, b in zip(parsed.rules, warm.rules):
        assert (a.kind, a.name, a.expr, a.group, a.file, a.line, a.source, a.interval, a.labels, a.annotations) == (
            b.kind, b.name, b.expr, b.group, b.file, b.line, b.source, b.interval, b.labels, b.annotations)
        assert (a.for_seconds, a.keep_firing_for, a.query_offset, a.parse_error) == (b.for_seconds, b.keep_firing_for, b.query_offset, b.parse_error)
        assert "NaN" in a.expr or a.query == b.query


@pytest.mark.corpus
def test_parallel_loads_with_a_cache_equal_a_serial_parse(tmp_path: Path, corpus_dir: Path, monkeypatch) -> None:
    from coverage_audit import background
    from coverage_audit.loaders import rules as rules_module

    monkeypatch.setattr(rules_module, "PARALLEL_FROM_FILES", 8)  # 31 files: shared with a worker
    folder = corpus_dir / GITLAB_API
    cache = Cache.open(str(tmp_path / "cache"))
    serial = load_rules([str(folder)], jobs=1)
    assert serial.files >= 20
    cold = load_rules([str(folder), str(ROOT / "rulesets")], jobs=2, cache=cache)
    assert cache.stats.written == 0, "this process's entries wait for the background writer"
    # Done here (nothing started it): this process's share is written now, and the worker, which
    # writes its own once it has sent its last chunk, is waited for.
    background.wait()
    assert 0 < cache.stats.written < cold.files and len(entries(cache)) == cold.files
    warm = load_rules([str(folder), str(ROOT / "rulesets")], jobs=2, cache=cache)
    assert cache.stats.hits == cold.files
    assert snapshot(cold) == snapshot(warm)
    assert [canonical(r) for r in warm.rules[: len(serial.rules)]] == [canonical(r) for r in serial.rules]


def test_a_changed_file_is_parsed_again_and_only_it(tmp_path: Path) -> None:
    paths = bad_and_good_files(tmp_path / "rules")
    cache = Cache.open(str(tmp_path / "cache"))
    first = load_rules(paths, jobs=1, cache=cache)
    changed = tmp_path / "rules" / "nan.yaml"
    changed.write_text(changed.read_text().replace("alert: N", "alert: Renamed"))
    second = load_rules(paths, jobs=1, cache=cache)
    assert cache.stats.hits == first.files - 1 and cache.stats.written == first.files + 1
    assert [r.name for r in second.rules if r.file == str(changed)] == ["Renamed"]
    assert snapshot(second) == snapshot(load_rules(paths, jobs=1))


def test_the_same_bytes_at_another_path_are_another_entry(tmp_path: Path) -> None:
    text = "groups: [{name: g, rules: [{alert: A, expr: up == 0}]}]\n"
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text(text)
    cache = Cache.open(str(tmp_path / "cache"))
    load_rules([str(tmp_path)], jobs=1, cache=cache)
    warm = load_rules([str(tmp_path)], jobs=1, cache=cache)
    assert cache.stats.hits == 2 and [r.file for r in warm.rules] == [str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")]
    data = text.encode()
    assert file_key(str(tmp_path / "a.yaml"), data) != file_key(str(tmp_path / "b.yaml"), data)


def test_a_corrupt_entry_is_rebuilt_and_replaced(tmp_path: Path) -> None:
    paths = bad_and_good_files(tmp_path / "rules")
    cache = Cache.open(str(tmp_path / "cache"))
    reference = snapshot(load_rules(paths, jobs=1, cache=cache))
    victims = entries(cache)[:3]
    victims[0].write_bytes(victims[0].read_bytes()[:-20])  # truncated
    victims[1].write_bytes(b"\0" * 100)  # garbled
    victims[2].write_bytes(victims[2].read_bytes()[:-1] + b"!")  # one byte off
    assert snapshot(load_rules(paths, jobs=1, cache=cache)) == reference
    assert cache.stats.rejected == 3
    assert snapshot(load_rules(paths, jobs=1, cache=cache)) == reference
    assert cache.stats.rejected == 3  # replaced by good entries: no new rejections


def test_an_entry_of_the_wrong_type_is_not_used(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("groups: [{name: g, rules: [{alert: A, expr: up == 0}]}]\n")
    cache = Cache.open(str(tmp_path / "cache"))
    cache.put(RULE_FILES, file_key(str(path), path.read_bytes()), ["not", "a", "RuleLoad"])
    load = load_rules([str(path)], jobs=1, cache=cache)
    assert [r.name for r in load.rules] == ["A"]


# --------------------------------------------------------------------------- the command line


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_cache_dir_no_cache_and_the_default_folder(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    rules = ["rules", "--rules", str(ROOT / "rulesets"), "--format", "json"]
    code, reference, _ = run([*rules, "--no-cache"], capsys)
    assert code == 0 and not (tmp_path / "xdg").exists()  # --no-cache writes nothing
    assert run(rules, capsys)[:2] == (0, reference)
    default = tmp_path / "xdg" / "coverage-audit" / RULE_FILES
    assert len(list(default.glob("*/*"))) == len(json.loads(reference)["skipped"]) + len({r["file"] for r in json.loads(reference)["rules"]})
    assert run(rules, capsys)[:2] == (0, reference)  # warm: the same output
    own = tmp_path / "own"
    assert run([*rules, "--cache-dir", str(own)], capsys)[:2] == (0, reference)
    assert len(list((own / RULE_FILES).glob("*/*"))) == len(list(default.glob("*/*")))


def test_config_cache_dir_is_relative_to_the_config_file(tmp_path: Path, capsys, monkeypatch) -> None:
    config = tmp_path / "conf" / "coverage-audit.yaml"
    config.parent.mkdir()
    config.write_text(f"rules: [{ROOT / 'rulesets'}]\ncache_dir: my-cache\n")
    monkeypatch.chdir(tmp_path)
    code, _, err = run(["rules", "--config", str(config)], capsys)
    assert code == 0 and err == ""
    assert list((tmp_path / "conf" / "my-cache" / RULE_FILES).glob("*/*"))


def test_an_unusable_cache_is_a_warning_and_the_run_is_the_same(tmp_path: Path, capsys) -> None:
    rules = ["rules", "--rules", str(ROOT / "rulesets"), "--format", "json"]
    code, reference, _ = run([*rules, "--no-cache"], capsys)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code2, out, err = run([*rules, "--cache-dir", str(blocker)], capsys)
    assert (code2, out) == (code, reference)
    assert err.count("\n") == 1 and err.startswith("coverage-audit: warning: cache not used: ") and str(blocker) in err
    assert blocker.read_text() == "not a folder"


def test_the_whole_load_has_one_content_key_for_a_second_level_of_cache(tmp_path: Path, monkeypatch) -> None:
    """The key an entry built from every file (the expanded rule set) would be stored under:
    the same for the same bytes however they were loaded, different when anything changes."""
    paths = bad_and_good_files(tmp_path / "rules")
    cache = Cache.open(str(tmp_path / "cache"))
    assert load_rules(paths, jobs=1).content_key is None  # no cache, no keys
    cold = load_rules(paths, jobs=1, cache=cache).content_key
    warm = load_rules(paths, jobs=1, cache=cache).content_key
    monkeypatch.setattr("coverage_audit.loaders.rules.PARALLEL_FROM_FILES", 2)
    parallel = load_rules(paths, jobs=2, cache=Cache.open(str(tmp_path / "other-cache"))).content_key
    assert cold is not None and cold == warm == parallel
    with_missing = load_rules([*paths, str(tmp_path / "absent.yaml")], jobs=1, cache=cache).content_key
    changed_file = tmp_path / "rules" / "nan.yaml"
    changed_file.write_text(changed_file.read_text() + "# a comment changes the bytes\n")
    changed = load_rules(paths, jobs=1, cache=cache).content_key
    assert len({cold, with_missing, changed}) == 3
    big = tmp_path / "rules" / "huge.yaml"
    with open(big, "wb") as handle:  # larger than the loader reads: an error, and no key
        handle.truncate(33 * 1024 * 1024)
    unreadable = load_rules(paths, jobs=1, cache=cache)
    assert unreadable.content_key is None and any("huge.yaml" in e.file for e in unreadable.errors)


def test_rules_from_the_cache_share_what_parsed_rules_share(tmp_path: Path) -> None:
    """Copies of a rule in several files are one parsed query, one label mapping, one matcher
    each, whether parsed here or rebuilt from cache entries (one pickle per file)."""
    text = textwrap.dedent("""\
        groups:
          - name: g
            rules:
              - alert: Copied
                expr: rate(http_requests_total{job="api", code=~"5.."}[5m]) > 1
                labels: {severity: page, team: api}
        """)
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text(text)
    cache = Cache.open(str(tmp_path / "cache"))
    for load in (load_rules([str(tmp_path)], jobs=1, cache=cache), load_rules([str(tmp_path)], jobs=1, cache=cache)):
        a, b = load.rules
        assert a.file != b.file
        assert a.query is b.query and a.labels is b.labels and a.expr is b.expr
    assert cache.stats.hits == 2
    warm_a, warm_b = load.rules
    assert warm_a.query.selectors[0].matchers[0] is warm_b.query.selectors[0].matchers[0]


# --------------------------------------------------------------------------- verdicts


@pytest.mark.corpus
def test_gitlab_verdicts_are_the_same_with_and_without_the_cache(tmp_path: Path, corpus_dir: Path, capsys) -> None:
    """A real organisation's check, parsed, from a cold cache, from a warm one, in one process
    or several: the same document, byte for byte."""
    gitlab = corpus_dir / "mattrussi__gitlab-com-runbooks/mimir-rules/gitlab-gprd"
    realworld = corpus_dir.parent / "realworld" / "gitlab"
    if not realworld.is_dir():
        pytest.skip(f"GitLab's map and Alertmanager config not found at {realworld}")
    rules = [str(p) for p in sorted(gitlab.glob("*.yml"))] + [str(gitlab / "pgbouncer"), str(gitlab / "patroni")]
    check = ["check", *(a for r in rules for a in ("--rules", r)), "--alertmanager", str(realworld / "alertmanager.yaml"),
             "--service-map", str(realworld / "service-map.yaml"), "--component", "pgbouncer/service", "--format", "json"]  # fmt: skip
    outputs = {}
    for name, extra in (("parsed", ["--no-cache"]), ("parsed, one process", ["--no-cache", "--jobs", "1"]), ("cold", ["--cache-dir", str(tmp_path / "c")]),
                        ("warm", ["--cache-dir", str(tmp_path / "c")]), ("warm, one process", ["--cache-dir", str(tmp_path / "c"), "--jobs", "1"])):  # fmt: skip
        code = main([*check, *extra])
        outputs[name] = (code, capsys.readouterr().out)
    assert len(list((tmp_path / "c" / RULE_FILES).glob("*/*"))) >= 60  # the cache was used
    document = json.loads(outputs["parsed"][1])
    # the rules decide something here: some finding names an alert (covering or related)
    assert document["findings"] and any(f["alerts"] or f["related"] for f in document["findings"])
    assert document["orphans"]["alerts"], "orphans found beside judging are in the document"
    assert all(result == outputs["parsed"] for result in outputs.values()), {k: v[0] for k, v in outputs.items()}


def test_shop_verdicts_are_the_same_with_and_without_the_cache(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(ROOT)
    outputs = []
    for extra in (["--no-cache"], ["--cache-dir", str(tmp_path / "c")], ["--cache-dir", str(tmp_path / "c")]):
        code = main(["check", "--changed", "services/checkout/handlers/place_order.py", "--format", "json", *extra])
        outputs.append((code, capsys.readouterr().out))
    assert outputs[0][0] == 1 and json.loads(outputs[0][1])["findings"]
    assert outputs[0] == outputs[1] == outputs[2]


# --------------------------------------------------------------------------- the expansion


def test_an_expansion_from_the_cache_builds_the_same_rule_set(tmp_path: Path) -> None:
    """What expanding a load found, kept by position and handed back, gives the rule set that
    expanding gives: every rule's raw metrics and level, the cycles, every definition."""
    from coverage_audit.ruleset import build_ruleset, expansion_of

    folder = tmp_path / "rules"
    paths = bad_and_good_files(folder)
    (folder / "cycle.yaml").write_text("groups: [{name: c, rules: [{record: 'a:x', expr: 'b:x'}, {record: 'b:x', expr: 'a:x + raw_total'}]}]\n")
    # x:sum read unfiltered reads both copies: a list of raw metrics no rule has as its own
    (folder / "copies.yaml").write_text(
        "groups: [{name: s, rules: [{record: 'x:sum', labels: {job: a}, expr: 'sum(a_total)'}, {record: 'x:sum', labels: {job: b}, expr: 'sum(b_total)'},"
        " {alert: Both, expr: 'x:sum > on() group_left other_total'}]}]\n"
    )
    load = load_rules(paths, jobs=1)
    fresh = build_ruleset(load)
    kept = pickle.loads(pickle.dumps(expansion_of(fresh, load)))  # as the cache keeps it
    again = build_ruleset(load, known=kept)
    assert any("cycle" in e.message for e in fresh.errors) and again.errors == fresh.errors
    assert [again.raw_metrics[r] for r in load.rules] == [fresh.raw_metrics[r] for r in load.rules]
    assert [again.levels[r] for r in load.rules] == [fresh.levels[r] for r in load.rules]
    assert again.recorded_metrics == fresh.recorded_metrics and fresh.recorded_metrics
    assert set(fresh.recorded_metrics.values()) - set(fresh.raw_metrics.values())  # a list of its own
    for rule in load.rules:
        for selector in rule.query.selectors if rule.query is not None else ():
            assert again.records.definitions(selector) == fresh.records.definitions(selector)
    # One that does not fit the load (another number of rules) is not used.
    assert build_ruleset(load, known=dataclasses.replace(kept, raw=kept.raw[:-1])).raw_metrics == fresh.raw_metrics
    # Nor one whose positions point nowhere.
    assert build_ruleset(load, known=dataclasses.replace(kept, metrics=kept.metrics[:1])).recorded_metrics == fresh.recorded_metrics
    assert build_ruleset(load, known=dataclasses.replace(kept, definitions=((len(load.rules),),) * len(kept.definitions))).errors == fresh.errors


def test_the_kept_expansion_is_used_and_a_bad_one_is_not(tmp_path: Path, capsys) -> None:
    """A second run reads the first run's expansion (a forged one shows through: it is what
    answers); a changed file is another load with its own; a corrupt entry is expanded again."""
    from coverage_audit.commands.rulesource import EXPANSIONS

    folder, cache_dir = tmp_path / "rules", tmp_path / "cache"
    rules = ["rules", "--rules", *bad_and_good_files(folder), "--format", "json"]
    reference = run([*rules, "--no-cache"], capsys)[:2]
    assert reference[0] == 2 and json.loads(reference[1])["rules"]  # rules, and errors with lines
    cached = [*rules, "--cache-dir", str(cache_dir)]
    assert run(cached, capsys)[:2] == reference
    (entry,) = (cache_dir / EXPANSIONS).glob("*/*")
    assert run(cached, capsys)[:2] == reference
    cache = Cache.open(str(cache_dir))
    kept = cache.get(EXPANSIONS, entry.name)
    forged_entry = dataclasses.replace(kept, metrics=(("forged_total",),), raw=(0,) * len(kept.raw), recorded_raw=(0,) * len(kept.recorded_raw))
    cache.put(EXPANSIONS, entry.name, forged_entry)
    forged = json.loads(run(cached, capsys)[1])["rules"]
    assert {tuple(r["metrics"]) for r in forged} == {("forged_total",)}
    entry.write_bytes(entry.read_bytes()[:-10] + b"0123456789")  # corrupt: expanded again
    assert run(cached, capsys)[:2] == reference
    (folder / "nan.yaml").write_text("groups: [{name: n, rules: [{alert: Changed, expr: 'x > 1'}]}]\n")
    changed = run([*rules, "--no-cache"], capsys)[:2]
    assert changed != reference and "Changed" in changed[1]
    assert run(cached, capsys)[:2] == changed == run(cached, capsys)[:2]
    assert len(list((cache_dir / EXPANSIONS).glob("*/*"))) == 2


def test_levels_come_from_the_settings_not_from_the_kept_expansion(tmp_path: Path, capsys, monkeypatch) -> None:
    """The expansion is the same whatever the settings; the levels are not (the shop's HTTP
    alerts are infrastructure-level where ``http_`` is declared so), and are worked out anew."""
    monkeypatch.chdir(tmp_path)
    plain = ["rules", "--rules", str(ROOT / "rulesets"), "--format", "json", "--cache-dir", str(tmp_path / "cache")]
    (tmp_path / "infra.yaml").write_text("infrastructure_prefixes: [http_]\n")
    declared = [*plain, "--config", str(tmp_path / "infra.yaml")]

    def levels(output: str) -> dict[str, str]:
        return {r["name"]: r["level"] for r in json.loads(output)["rules"]}

    for _ in range(2):  # the second time, both read the expansion the first plain run kept
        plain_out, declared_out = run(plain, capsys)[1], run(declared, capsys)[1]
        assert plain_out == run([*plain, "--no-cache"], capsys)[1]
        assert declared_out == run([*declared, "--no-cache"], capsys)[1]
        changed = {name for name, level in levels(plain_out).items() if levels(declared_out)[name] != level}
        assert changed and all(levels(declared_out)[name] == "infrastructure" for name in changed)
