"""Waivers applied to judged findings (DESIGN 5.4), as a step after the judge.

A gap (weak or uncovered) that an unexpired waiver names becomes ``waived``: reported, never
counted for ``--fail-on``. A waiver past its ``expires`` day waives nothing: the gap counts
again and the finding names the expired waiver. A waiver that names no failure mode of the
service map, or only failure modes that are all covered, is stale.

Matching is linear in the findings: waivers without glob characters are looked up by key, and
only the (few) glob waivers are tried against each finding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date
from fnmatch import translate
from typing import Iterable, Sequence

from ..model import Waiver
from .findings import Finding, WaiverMatch, WaiverUse

_GLOB = re.compile(r"[*?\[]")
GAPS = ("weak", "uncovered")


def expired(waiver: Waiver, today: date) -> bool:
    """``expires`` is the last day the waiver holds."""
    return today > waiver.expires


@dataclass(slots=True)
class _Matcher:
    """Finds the waivers naming a (subject, failure mode), in file order."""

    waivers: Sequence[Waiver]
    exact: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    globs: list[tuple[int, re.Pattern[str], re.Pattern[str]]] = field(default_factory=list)
    by_subject: dict[str, list[tuple[int, re.Pattern[str]]]] = field(default_factory=dict)  # glob hits per subject

    def __post_init__(self) -> None:
        for index, waiver in enumerate(self.waivers):
            if _GLOB.search(waiver.subject) or _GLOB.search(waiver.failure_mode):
                self.globs.append((index, re.compile(translate(waiver.subject)), re.compile(translate(waiver.failure_mode))))
            else:
                self.exact.setdefault((waiver.subject, waiver.failure_mode), []).append(index)

    def matching(self, subject: str, mode: str) -> list[int]:
        found = list(self.exact.get((subject, mode), ()))
        hits = self.by_subject.get(subject)
        if hits is None:  # a subject has several modes: match its name against the globs once
            hits = self.by_subject[subject] = [(index, m) for index, s, m in self.globs if s.match(subject)]
        found += [index for index, m in hits if m.match(mode)]
        return sorted(found)


def apply_waivers(
    findings: Sequence[Finding],
    waivers: Sequence[Waiver],
    today: date,
    every_mode: Iterable[tuple[str, str]] = (),
) -> tuple[list[Finding], tuple[WaiverUse, ...]]:
    """The findings with waivers applied, and what each waiver did.

    ``every_mode``: the (subject, failure mode) keys of the whole service map, so that a waiver
    a change does not touch is told from a stale one (a report judges them all anyway)."""
    if not waivers:
        return list(findings), ()
    matcher = _Matcher(waivers)
    seen: list[list[Finding]] = [[] for _ in waivers]  # findings each waiver names
    applied: list[list[tuple[str, str]]] = [[] for _ in waivers]  # the gaps it waived, or would have
    result: list[Finding] = []
    for finding in findings:
        indexes = matcher.matching(finding.subject.name, finding.mode.id)
        for index in indexes:
            seen[index].append(finding)
        if not indexes or finding.status not in GAPS:
            result.append(finding)
            continue
        active = [i for i in indexes if not expired(waivers[i], today)]
        chosen = active[0] if active else indexes[0]
        applied[chosen].append((finding.subject.name, finding.mode.id))
        match = WaiverMatch(waivers[chosen], expired=not active, judged=finding.status)
        result.append(replace(finding, status="waived", waiver=match) if active else replace(finding, waiver=match))

    judged = {(f.subject.name, f.mode.id) for f in findings}
    unseen = [i for i, found in enumerate(seen) if not found or all(f.status == "covered" for f in found)]
    in_map = _modes_named(matcher, unseen, every_mode, judged)
    uses = []
    for index, waiver in enumerate(waivers):
        if expired(waiver, today):
            uses.append(WaiverUse(waiver, "expired", tuple(applied[index])))
        elif applied[index]:
            uses.append(WaiverUse(waiver, "active", tuple(applied[index])))
        elif index in in_map and in_map[index] == 0:  # every mode it names was judged here
            why = "every failure mode it names is covered: it can go" if seen[index] else "names no failure mode of the service map"
            uses.append(WaiverUse(waiver, "stale", (), why))
        # otherwise it names modes this change does not touch, or gaps an earlier waiver took
    return result, tuple(uses)


def _modes_named(
    matcher: _Matcher, indexes: list[int], every_mode: Iterable[tuple[str, str]], judged: set[tuple[str, str]]
) -> dict[int, int]:
    """For each waiver in ``indexes`` (those that name no gap): how many failure modes of the
    map it names that this run did not judge; 0 means every mode it names, if any, was judged."""
    if not indexes:
        return {}
    wanted = set(indexes)
    counts: dict[int, int] = dict.fromkeys(indexes, 0)
    for subject, mode in every_mode:
        if (subject, mode) in judged:
            continue
        for index in matcher.matching(subject, mode):
            if index in wanted:
                counts[index] = counts.get(index, 0) + 1
    return counts
