"""What screening found is kept for the next run on the same rules (issue 10): a check of another
change learns the pins instead of walking every alert that reads a signal's metric again, and
answers exactly what a run without the cache answers; an entry that does not fit is not used."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from coverage_audit.analysis.reads import ReadIndex
from coverage_audit.cache import Cache
from coverage_audit.cli import main
from coverage_audit.commands.screens import SCREENS, KeptPins, _fitting

ROOT = Path(__file__).resolve().parents[1]
CHANGES = (["--changed", "services/checkout/handlers/place_order.py"], ["--component", "cart/api"], ["--component", "payments/api"])


def check(change: list[str], extra: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["check", *change, "--format", "json", *extra])
    return code, capsys.readouterr().out


def forget_verdicts(cache: Path) -> None:
    from coverage_audit.commands.verdicts import KIND

    shutil.rmtree(cache / KIND, ignore_errors=True)


def walks(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The alerts whose reads are walked from now on (the screen walks every one it meets)."""
    walked: list[object] = []
    real = ReadIndex.of
    monkeypatch.setattr(ReadIndex, "of", lambda self, rule: walked.append(rule) or real(self, rule))
    return walked


def test_a_check_of_another_change_learns_the_pins_and_answers_the_same(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(ROOT)
    cached = ["--cache-dir", str(tmp_path / "cache")]
    check(list(CHANGES[0]), cached, capsys)  # fills the rule files' entries, and the screens'
    (entry,) = (tmp_path / "cache" / SCREENS).glob("*/*")
    first = Cache.open(str(tmp_path / "cache")).get(SCREENS, entry.name)
    assert isinstance(first, KeptPins) and first.pins
    walked = walks(monkeypatch)
    for change in CHANGES[1:]:
        walked.clear()
        reference = check(change, ["--no-cache"], capsys)
        fresh = len(walked)
        walked.clear()
        assert check(change, cached, capsys) == reference and json.loads(reference[1])["findings"]
        assert len(walked) < fresh, "the kept pins were not used"
    kept = Cache.open(str(tmp_path / "cache")).get(SCREENS, entry.name)
    assert isinstance(kept, KeptPins) and set(first.pins) < set(kept.pins)  # each run adds what it worked out


def test_an_entry_that_does_not_fit_the_rules_is_not_learned(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(ROOT)
    cached = ["--cache-dir", str(tmp_path / "cache")]
    reference = check(list(CHANGES[1]), ["--no-cache"], capsys)
    check(list(CHANGES[0]), cached, capsys)
    (entry,) = (tmp_path / "cache" / SCREENS).glob("*/*")
    cache = Cache.open(str(tmp_path / "cache"))
    kept = cache.get(SCREENS, entry.name)
    assert isinstance(kept, KeptPins)
    (position, asked), _ = next(iter(kept.pins.items()))
    assert _fitting(kept, [object()] * kept.rules) == kept.pins  # type: ignore[arg-type]
    for forged in (
        KeptPins(kept.rules + 1, kept.pins),  # made from another load
        KeptPins(kept.rules, {(kept.rules, asked): {"job": "nowhere"}}),  # a position out of range
        KeptPins(kept.rules, {(str(position), asked): {}}),  # a foreign shape
        {"not": "pins"},
    ):
        assert _fitting(forged, [object()] * kept.rules) == {}  # type: ignore[arg-type]
        cache.put(SCREENS, entry.name, forged)
        assert check(list(CHANGES[1]), cached, capsys) == reference
        forget_verdicts(tmp_path / "cache")  # or the next run answers from them, judging nothing
    entry.write_bytes(entry.read_bytes()[:-8] + b"garbage!")  # corrupt: worked out again
    assert check(list(CHANGES[1]), cached, capsys) == reference
    assert isinstance(Cache.open(str(tmp_path / "cache")).get(SCREENS, entry.name), KeptPins)  # and kept anew
