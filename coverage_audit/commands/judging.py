"""Judging many failure modes: in this process while that is quick, shared with forked workers
when it is not.

Failure modes are judged independently, so a long run (GitLab.com's 298 modes take ~10 s on one
core) is split between processes. Forking pays only when much is left: judging starts here, one
subject at a time, and once the work left is estimated at more than ``FORK_WORTH`` seconds the
rest is shared (``sharing.share_forked``). Workers inherit the rule set, the judge and whatever it
remembered so far; their findings come back pointing at this process's own rules. The findings
are the same, in the same order, whichever way they were judged.
"""

from __future__ import annotations

import itertools
import time
from typing import Callable, Sequence

from .. import promql
from ..analysis.coverage import CoverageJudge
from ..analysis.findings import Finding
from ..analysis.impact import ImpactedMode
from ..gcpause import paused_gc
from ..sharing import SharedObjects, share_forked

FORK_WORTH = 0.5  # seconds of judging left (estimated) above which sharing it pays for the fork
CHUNKS_PER_PROCESS = 8  # finer chunks balance better; each splits what a judge remembers

Progress = Callable[[int, int], None]

def judge_modes(
    judge: CoverageJudge,
    modes: Sequence[ImpactedMode],
    workers: int,
    progress: Progress | None = None,
    worth: float = FORK_WORTH,
) -> list[Finding]:
    """Each mode's finding, in order; ``progress(done, total)`` after each one (or chunk).

    The cyclic collector is paused, as it is in the forked workers: judging makes no reference
    cycles (a test holds it to that), only memos and values that reference counting frees, and
    the collector's passes over them cost about a tenth of GitLab's judging CPU. What the judge
    remembered and the findings live as long as the run: kept out of the collector after too (its
    first pass would walk them all: 0.1 s after GitLab.com's report)."""
    with paused_gc(keep=True):
        return _judge_modes(judge, modes, workers, progress, worth)


def _judge_modes(judge: CoverageJudge, modes: Sequence[ImpactedMode], workers: int, progress: Progress | None, worth: float) -> list[Finding]:
    groups = _by_subject(modes)
    findings: list[Finding] = []
    started = time.perf_counter()
    for position, group in enumerate(groups):
        if workers > 1 and len(groups) - position > 1 and _left(started, len(findings), len(modes)) > worth:
            return findings + _shared(judge, groups[position:], workers, len(findings), len(modes), progress)
        for mode in group:
            findings.append(judge.judge(mode.subject, mode.mode, mode.target, mode.impact))
            if progress is not None:
                progress(len(findings), len(modes))
    return findings


def _by_subject(modes: Sequence[ImpactedMode]) -> list[list[ImpactedMode]]:
    """Runs of modes of one subject: they read the same series, so one judge should see them."""
    groups: list[list[ImpactedMode]] = []
    for mode in modes:
        if groups and groups[-1][-1].subject.name == mode.subject.name:
            groups[-1].append(mode)
        else:
            groups.append([mode])
    return groups


def _left(started: float, done: int, total: int) -> float:
    """Seconds of judging left, at the pace so far (unknown before the first finding: 0)."""
    return (time.perf_counter() - started) / done * (total - done) if done else 0.0


def _shared(
    judge: CoverageJudge,
    groups: list[list[ImpactedMode]],
    workers: int,
    before: int,
    total: int,
    progress: Progress | None,
) -> list[Finding]:
    # Subjects that read the same metrics judged by the same process, one after another: what a
    # judge works out for a metric (the alerts reading it, their pins) serves them all, where
    # the map's order (by service) spread every component kind over both processes.
    order = sorted(range(len(groups)), key=lambda index: _signal_names(groups[index]))
    chunks = _chunks([groups[index] for index in order], workers * CHUNKS_PER_PROCESS)
    # Findings come back with the rules (and subjects and modes) as positions in what both hold.
    objects = SharedObjects([*judge.ruleset.rules, *{id(x): x for g in groups for m in g for x in (m.subject, m.mode)}.values()])
    done = before

    def collected(index: int) -> None:
        nonlocal done
        done += len(chunks[index])
        if progress is not None:
            progress(done, total)

    def there(index: int) -> bytes:
        """A worker's chunk: its findings, and the pins it worked out for them (kept in the cache
        with this process's: ``commands.screens``)."""
        known = len(judge.pins)  # a dict keeps its order: what this chunk adds comes last
        findings = _judge_all(judge, chunks[index])
        return objects.dumps((findings, dict(itertools.islice(judge.pins.items(), known, None))))

    def collect(index: int, data: bytes) -> list[Finding]:
        findings, pins = objects.loads(data)
        judge.learn_pins(pins)
        return findings  # type: ignore[no-any-return]

    judged = share_forked(len(chunks), workers, lambda index: _judge_all(judge, chunks[index]), there, collect, collected)
    found = {id(mode): finding for chunk, findings in zip(chunks, judged) for mode, finding in zip(chunk, findings)}
    return [found[id(mode)] for group in groups for mode in group]  # back in the modes' order


def _signal_names(group: list[ImpactedMode]) -> tuple[str, ...]:
    """The metric names a subject's failure modes show in (the order that keeps subjects reading
    the same metrics together)."""
    return tuple(sorted({promql.parse_selector(text).metric or "" for m in group for text in (*m.mode.signals, *m.mode.inverse)}))


def _chunks(groups: list[list[ImpactedMode]], count: int) -> list[list[ImpactedMode]]:
    """About ``count`` contiguous chunks of whole subjects, of similar numbers of modes."""
    size = max(1.0, sum(len(g) for g in groups) / count)
    chunks: list[list[ImpactedMode]] = [[]]
    for group in groups:
        if len(chunks[-1]) >= size:
            chunks.append([])
        chunks[-1].extend(group)
    return chunks


def _judge_all(judge: CoverageJudge, modes: list[ImpactedMode]) -> list[Finding]:
    return [judge.judge(mode.subject, mode.mode, mode.target, mode.impact) for mode in modes]
