"""Findings against a baseline: new, worse, better or unchanged (``--baseline``).

Statuses are compared as the judge gave them (a waiver accepts a gap; it does not close it):
covered < weak < uncovered. A failure mode the baseline does not have is ``new``. With a
baseline, ``--fail-on`` counts only new and worse findings (``CoverageReport.at_or_above``), so a
change that keeps the gaps main already has passes, and one that adds a gap fails.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from ..loaders.baseline import Baseline
from .findings import DELTAS, Delta, Finding

_RANK = {"covered": 0, "weak": 1, "uncovered": 2}


def delta(now: str, before: str | None) -> Delta:
    if before is None:
        return "new"
    if _RANK[now] > _RANK[before]:
        return "worse"
    if _RANK[now] < _RANK[before]:
        return "better"
    return "unchanged"


def compare(findings: Sequence[Finding], baseline: Baseline) -> list[Finding]:
    return [replace(f, delta=delta(f.judged, baseline.statuses.get((f.subject.name, f.mode.id)))) for f in findings]


def counts(findings: Sequence[Finding]) -> dict[str, int]:
    """How many findings are new, worse, better and unchanged (all four keys, always)."""
    found: dict[str, int] = dict.fromkeys(DELTAS, 0)
    for finding in findings:
        if finding.delta is not None:
            found[finding.delta] += 1
    return found
