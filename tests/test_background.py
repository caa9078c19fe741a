"""Cache entries written by a forked child while the run goes on (issue 10): the child does the
writing, and the run's entries are whole once the command returns."""

from __future__ import annotations

import os
from pathlib import Path

from coverage_audit import background
from coverage_audit.cli import main
from coverage_audit.loaders.rules import PARALLEL_FROM_FILES, RULE_FILES
from coverage_audit.commands.rulesource import EXPANSIONS


def _note_pid(path: Path) -> None:
    path.write_text(str(os.getpid()))


def test_queued_work_is_done_by_a_child_once_flushed_and_waited_for(tmp_path: Path) -> None:
    background.later(lambda: _note_pid(tmp_path / "child"))
    assert not (tmp_path / "child").exists(), "queued, not done"
    background.flush(2)
    background.wait()
    assert int((tmp_path / "child").read_text()) != os.getpid()


def test_with_one_worker_or_never_flushed_the_work_is_done_here(tmp_path: Path) -> None:
    background.later(lambda: _note_pid(tmp_path / "one"))
    background.flush(1)
    assert int((tmp_path / "one").read_text()) == os.getpid()
    background.later(lambda: _note_pid(tmp_path / "never"))
    background.wait()
    assert int((tmp_path / "never").read_text()) == os.getpid()


def test_a_failing_child_costs_only_its_own_work(tmp_path: Path) -> None:
    def fail() -> None:
        raise RuntimeError("the disk is full")

    background.later(fail)
    background.flush(2)
    background.wait()  # no exception here: the child's failure stays the child's
    background.later(lambda: _note_pid(tmp_path / "after"))
    background.wait()
    assert (tmp_path / "after").exists()


def test_a_cold_run_leaves_every_entry_written_when_it_returns(tmp_path: Path, capsys) -> None:
    """Files enough to be parsed by two processes: this process's share of the entries and the
    expansion are written by a child, and are all there once ``main`` returns."""
    folder = tmp_path / "rules"
    folder.mkdir()
    count = PARALLEL_FROM_FILES + 16
    for index in range(count):
        (folder / f"r{index:03}.yaml").write_text(
            f"groups: [{{name: g, rules: [{{record: 'job:x{index}:rate5m', expr: 'sum(rate(x{index}_total[5m]))'}}, "
            f"{{alert: A{index}, expr: 'job:x{index}:rate5m > 1'}}]}}]\n"
        )
    cache = tmp_path / "cache"
    argv = ["rules", "--rules", str(folder), "--format", "json", "--cache-dir", str(cache), "--jobs", "2"]
    assert main(argv) == 0
    cold = capsys.readouterr().out
    assert len(list((cache / RULE_FILES).glob("*/*"))) == count
    assert len(list((cache / EXPANSIONS).glob("*/*"))) == 1
    assert main(argv) == 0 and capsys.readouterr().out == cold


def test_an_expansion_a_check_kept_is_replaced_when_every_rule_is_asked_for(tmp_path: Path) -> None:
    """A check keeps the expansion of what its alerts read; the inventory (``rules``) needs every
    rule, expands them all and keeps that instead, which serves the next check too."""
    from test_ruleset import READ_AND_UNREAD

    from coverage_audit.commands.rulesource import _expansion_code, build_rules, derived_entry, read_rules
    from coverage_audit.config import Settings

    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.yaml").write_text(READ_AND_UNREAD)
    settings = Settings(rules=(str(tmp_path / "rules"),), cache_dir=str(tmp_path / "cache"))

    def kept(load):  # type: ignore[no-untyped-def]
        background.wait()
        entry = derived_entry(settings, load.content_key, EXPANSIONS, _expansion_code())
        assert entry is not None
        cache, key = entry
        return cache.get(EXPANSIONS, key)

    load = read_rules(settings)
    checked = build_rules(settings, load, every=False)
    assert len(checked.raw_metrics) < len(load.rules) and not kept(load).complete
    listed = build_rules(settings, read_rules(settings))
    assert len(listed.raw_metrics) == len(load.rules) and kept(load).complete
    again = build_rules(settings, read_rules(settings), every=False)
    assert len(again.raw_metrics) == len(load.rules)  # the whole expansion, from the cache
