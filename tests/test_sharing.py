"""Work shared with forked workers gives what doing it here gives (issue 10): the same results in
the same order, findings pointing at this process's own rules, progress told for every mode."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from coverage_audit.analysis.impact import every_mode
from coverage_audit.commands.common import load_inputs, make_judge
from coverage_audit.commands.judging import judge_modes
from coverage_audit.config import Settings
from coverage_audit.sharing import SharedObjects, beside, share_forked

ROOT = Path(__file__).resolve().parents[1]


def _square_with_pid(value: int) -> tuple[int, int]:
    return value * value, os.getpid()


def _forked_squares(
    count: int, there_sleeps: dict[int, float], here_sleeps: float = 0.0, fails: int | None = None, workers: int = 2
) -> tuple[list[tuple[int, int]], list[int]]:
    """``share_forked`` over ``count`` chunks, each chunk's square and who worked it out."""
    import pickle
    import time

    seen: list[int] = []

    def here(index: int) -> tuple[int, int]:
        time.sleep(here_sleeps)
        return _square_with_pid(index)

    def there(index: int) -> bytes:
        if index == fails:
            raise RuntimeError("the child fails")
        time.sleep(there_sleeps.get(index, 0.0))
        return pickle.dumps(_square_with_pid(index))

    results = share_forked(count, workers, here, there, lambda index, data: pickle.loads(data), seen.append)
    return results, seen


def test_share_forked_returns_every_chunk_in_order_and_both_processes_work() -> None:
    results, seen = _forked_squares(60, {index: 0.01 for index in range(60)}, here_sleeps=0.01)
    assert [value for value, _ in results] == [index * index for index in range(60)]
    assert sorted(seen) == list(range(60)), "every chunk is told once"
    workers = {pid for _, pid in results}
    assert os.getpid() in workers and len(workers) == 2
    # the child took a run from the front, this process one from the back
    first_here = min(index for index, (_, pid) in enumerate(results) if pid == os.getpid())
    assert all(pid == os.getpid() for _, pid in results[first_here:])


def test_a_lingering_child_is_not_waited_for_until_background_waits(tmp_path: Path) -> None:
    """``linger``: what a child does after its last chunk (the parse worker's cache entries)
    holds this process up no longer: the chunks come back at once, and ``background.wait``
    (as the command returns) waits for the child to finish."""
    import pickle
    import time

    from coverage_audit import background, sharing

    background.wait()  # children an earlier test left lingering
    marker = tmp_path / "written"

    def linger() -> None:
        time.sleep(2.0)
        marker.write_text(str(os.getpid()))

    started = time.monotonic()
    results = share_forked(20, 2, _square_with_pid, lambda i: pickle.dumps(_square_with_pid(i)), lambda i, d: pickle.loads(d), linger=linger)
    took = time.monotonic() - started
    assert [value for value, _ in results] == [i * i for i in range(20)]
    assert took < 1.5 and not marker.exists(), "the chunks came back only once the child had lingered"
    (child,) = sharing.lingering
    background.wait()
    assert not sharing.lingering and marker.read_text() == str(child) != str(os.getpid())


def test_share_forked_holds_no_chunk_back_for_a_busy_worker() -> None:
    """A pool's worker holds the next chunk queued while it works on a long one, and this
    process cannot take it; here, a chunk no one has started is anyone's."""
    results, _ = _forked_squares(4, {0: 1.5}, here_sleeps=0.2)
    here = os.getpid()
    assert results[0][1] != here, "the child took the first chunk"
    assert [pid for _, pid in results[1:]] == [here, here, here], "this process took every other one"


def test_share_forked_does_here_a_chunk_whose_child_failed() -> None:
    results, seen = _forked_squares(8, {}, here_sleeps=0.05, fails=0)
    assert [value for value, _ in results] == [index * index for index in range(8)]
    assert results[0][1] == os.getpid() and sorted(seen) == list(range(8))


def test_shared_objects_come_back_as_the_same_objects() -> None:
    class Thing:
        pass

    things = [Thing(), Thing()]
    shared = SharedObjects(things)
    back = shared.loads(shared.dumps({"a": things[1], "b": [things[0], 3]}))
    assert back["a"] is things[1] and back["b"][0] is things[0] and back["b"][1] == 3


def test_work_beside_is_done_by_a_child_meanwhile_and_comes_back_as_this_processs_objects() -> None:
    """``beside``: a forked child works while this process goes on; its result names the
    objects both hold as the very objects here, and asking twice reads the child once."""
    import time

    things = [object(), object()]
    here = os.getpid()
    started = time.perf_counter()
    result = beside(lambda: (time.sleep(0.5), os.getpid(), [things[1], "x" * 200_000])[1:], 2, things)
    assert time.perf_counter() - started < 0.4, "the caller went on while the child worked"
    pid, (thing, text) = result()
    assert pid != here and thing is things[1] and text == "x" * 200_000  # larger than a pipe's buffer
    assert result() == (pid, [things[1], text])
    assert beside(lambda: os.getpid(), 1)() == here, "one worker: done here"


def test_work_beside_whose_child_fails_is_done_here() -> None:
    here = os.getpid()

    def task() -> int:
        if os.getpid() != here:
            raise RuntimeError("the child fails")
        return 7

    assert beside(task, 2)() == 7


def test_judging_shared_with_a_worker_equals_judging_here() -> None:
    settings = Settings(
        rules=(str(ROOT / "rulesets"),),
        service_maps=(str(ROOT / "service_maps"),),
        alertmanager=str(ROOT / "rulesets" / "alertmanager.yaml"),
        no_cache=True,
    )
    inputs = load_inputs(settings)
    modes = every_mode(inputs.service_map, inputs.catalog)
    assert len(modes) > 20
    here = make_judge(inputs, settings)
    expected = [here.judge(m.subject, m.mode, m.target, m.impact) for m in modes]
    told: list[tuple[int, int]] = []
    # worth=0: share from the first subject on, as a large organisation would
    sharing = make_judge(inputs, settings)
    shared = judge_modes(sharing, modes, 2, lambda done, total: told.append((done, total)), worth=0.0)
    assert shared == expected  # rules compare by identity: these are this process's own rules
    # What the worker's screen worked out came back too (the cache keeps it: commands.screens).
    assert here.pins and sharing.pins == here.pins
    rules = {id(rule) for rule in inputs.ruleset.rules}
    assert all(id(a.rule) in rules for f in shared for a in (*f.alerts, *f.related))
    assert told[-1] == (len(modes), len(modes)) and all(a <= b for (a, _), (b, _) in zip(told, told[1:]))
    assert any(b - a > 1 for (a, _), (b, _) in zip(told, told[1:])), "judged one by one: nothing was shared"


def test_definitions_found_with_a_worker_equal_those_found_here(monkeypatch) -> None:
    import coverage_audit.ruleset as ruleset_module
    from coverage_audit.loaders.rules import load_rules
    from coverage_audit.ruleset import build_ruleset

    load = load_rules([str(ROOT / "rulesets"), str(ROOT / "tests" / "otel_shop")], jobs=1)
    here = build_ruleset(load)
    monkeypatch.setattr(ruleset_module, "PARALLEL_FROM_SELECTORS", 0)  # share even a small set
    monkeypatch.setattr(ruleset_module, "_FIND_CHUNK", 2)
    found: list[int] = []
    real = ruleset_module.RecordIndex.find_all

    def counted(self, selectors, workers):  # type: ignore[no-untyped-def]
        found.append(len(selectors))
        real(self, selectors, workers)

    monkeypatch.setattr(ruleset_module.RecordIndex, "find_all", counted)
    shared = build_ruleset(load, workers=2)
    assert found and found[0] > 4, "nothing was shared"
    assert shared.raw_metrics == here.raw_metrics and shared.levels == here.levels
    assert shared.recorded_metrics == here.recorded_metrics
    for selector, rules in here.records._memo.items():
        assert shared.records.definitions(selector) == rules  # the same rule objects, in order


def test_share_forked_does_its_own_work_meanwhile_once_here_while_the_child_starts() -> None:
    """``meanwhile``: this process's other work (reading the service maps while the rule files
    are parsed), done once, here, while the child already takes chunks; first without a child."""
    import pickle
    import time

    calls: list[int] = []

    def meanwhile() -> None:
        calls.append(os.getpid())
        time.sleep(0.5)

    def there(index: int) -> bytes:
        time.sleep(0.02)
        return pickle.dumps(_square_with_pid(index))

    results = share_forked(20, 2, _square_with_pid, there, lambda index, data: pickle.loads(data), meanwhile=meanwhile)
    assert calls == [os.getpid()]
    assert [value for value, _ in results] == [index * index for index in range(20)]
    assert sum(pid != os.getpid() for _, pid in results) >= 10, "the child worked while this process was busy"
    calls.clear()
    assert [v for v, _ in share_forked(3, 1, _square_with_pid, there, lambda i, d: pickle.loads(d), meanwhile=meanwhile)] == [0, 1, 4]
    assert calls == [os.getpid()]


@pytest.mark.parametrize("files", [0, 3, 60])
def test_load_rules_does_the_callers_work_meanwhile_exactly_once(tmp_path: Path, files: int) -> None:
    from coverage_audit.cache import Cache
    from coverage_audit.loaders.rules import load_rules

    for index in range(files):
        (tmp_path / f"r{index:02}.yaml").write_text(f"groups: [{{name: g, rules: [{{alert: A{index}, expr: up == 0}}]}}]\n")
    calls: list[int] = []
    cache = Cache.open(tmp_path / "cache")
    for _ in range(2):  # parsed, then every file from the cache
        loaded = load_rules([str(tmp_path)], jobs=2, cache=cache, meanwhile=lambda: calls.append(os.getpid()))
        assert len(loaded.rules) == files
    assert calls == [os.getpid(), os.getpid()]


def test_share_forked_with_two_children_gives_every_chunk_once_in_order() -> None:
    # The second child is forked while the first one's reader thread runs here.
    results, seen = _forked_squares(30, {index: 0.02 for index in range(30)}, here_sleeps=0.02, workers=3)
    assert [value for value, _ in results] == [index * index for index in range(30)]
    assert sorted(seen) == list(range(30))
    assert len({pid for _, pid in results} - {os.getpid()}) == 2, "both children took chunks"


def test_subjects_reading_the_same_metrics_are_judged_together(monkeypatch) -> None:
    """The work shared keeps the subjects whose failures show in the same metrics next to each
    other (one process then works out those metrics' alerts once), whatever the map's order; the
    findings still come back in the modes' order."""
    import coverage_audit.commands.judging as judging_module
    from coverage_audit import promql

    settings = Settings(rules=(str(ROOT / "rulesets"),), service_maps=(str(ROOT / "service_maps"),), no_cache=True)
    inputs = load_inputs(settings)
    modes = every_mode(inputs.service_map, inputs.catalog)
    shared_order: list[str] = []
    share = judging_module.share_forked

    def watching(count, workers, here, there, collect, collected=None, meanwhile=None):  # type: ignore[no-untyped-def]
        results = share(count, workers, here, there, collect, collected, meanwhile)
        shared_order.extend(finding.subject.name for chunk in results for finding in chunk)
        return results

    monkeypatch.setattr(judging_module, "share_forked", watching)
    expected = [make_judge(inputs, settings).judge(m.subject, m.mode, m.target, m.impact) for m in modes]
    assert judge_modes(make_judge(inputs, settings), modes, 2, worth=0.0) == expected

    def names(subject: str) -> frozenset[str]:
        return frozenset(promql.parse_selector(t).metric for m in modes if m.subject.name == subject for t in (*m.mode.signals, *m.mode.inverse))

    def runs(order: list[str]) -> int:
        """How many separate runs the subjects of each set of metrics make, in all."""
        subjects = list(dict.fromkeys(order))
        return sum(1 for before, after in zip([None, *subjects], subjects) if before is None or names(before) != names(after))

    in_map_order = [m.subject.name for m in modes if m.subject.name in set(shared_order)]
    assert len({names(s) for s in shared_order}) < len(set(shared_order)), "some subjects share their metrics"
    assert runs(shared_order) == len({names(s) for s in shared_order}) < runs(in_map_order)


def test_a_child_sends_a_large_chunk_without_waiting_for_this_busy_process() -> None:
    """A parsed chunk of GitLab.com's rules is ~600 KiB. The pipe holds it whole, so the child
    goes on to its next chunk while this process keeps the interpreter busy with its own: with a
    64 KiB pipe it waited for the reader thread, which waits for the interpreter once per 64 KiB
    (20-40 ms a chunk; here, with the switch interval raised to make the wait plain, ~0.5 s)."""
    import pickle
    import sys
    import time

    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.05)
    try:
        started = time.monotonic()

        def here(index: int) -> float:
            while time.monotonic() - started < 1.5:  # busy in Python: the interpreter held
                pass
            return 0.0

        def there(index: int) -> bytes:
            return pickle.dumps((time.monotonic() - started, b"x" * 700_000))

        results = share_forked(3, 2, here, there, lambda index, data: pickle.loads(data)[0])
    finally:
        sys.setswitchinterval(interval)
    # chunk 1 began in the child once chunk 0 was in the pipe
    assert results[1] - results[0] < 0.25, f"the child waited {results[1] - results[0]:.2f} s to send its chunk"
