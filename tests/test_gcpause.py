"""The collector's pause around bulk loading, and what is kept for the run."""

from __future__ import annotations

import gc
from typing import Iterator

import pytest

from coverage_audit.gcpause import paused_gc


@pytest.fixture
def passes() -> Iterator[list[int]]:
    """The generations the collector passes over from now on."""
    seen: list[int] = []

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.collect()
    gc.callbacks.append(note)
    yield seen
    gc.callbacks.remove(note)


def test_what_is_kept_is_frozen_before_the_collector_resumes(passes: list[int]) -> None:
    # Otherwise the collector's first pass after the pause walks every object made during it.
    frozen = gc.get_freeze_count()
    with paused_gc(keep=True):
        assert not gc.isenabled()
        made = [[index] for index in range(5000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= frozen + len(made)
    after = [[index] for index in range(100)]  # fewer than a pass of the youngest generation waits for
    assert after and passes == []


def test_a_plain_pause_leaves_its_objects_to_the_collector(passes: list[int]) -> None:
    frozen = gc.get_freeze_count()
    with paused_gc():
        made = [[index] for index in range(5000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen
    after = [[index] for index in range(100)]
    assert made and after and passes  # the first allocation after the pause starts a pass


def test_a_pause_inside_a_pause_neither_resumes_nor_freezes() -> None:
    frozen = gc.get_freeze_count()
    with paused_gc():
        with paused_gc(keep=True):
            made = [[index] for index in range(100)]
        assert not gc.isenabled()  # the outer pause still holds
        assert gc.get_freeze_count() == frozen
    assert made and gc.isenabled()
