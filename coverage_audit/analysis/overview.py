"""The periodic report's view of all findings: totals, coverage per service / owner / tier,
business metrics first, alerts that reach no one, areas only infrastructure alerts watch, the
trend over past runs and what changed since the previous one.

Pure functions over the findings and the past runs that ``history`` read; no I/O, no clock.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from .findings import PROBLEMS, SEVERITY, STATUSES, Finding, Status, Subject

# Alerts with these problems notify nobody, whatever they cover.
UNREACHABLE = ("blackhole", "unrouted")
TIER_ORDER = {"critical": 0, "standard": 1, "low": 2}


# --------------------------------------------------------------------------- what history keeps


@dataclass(frozen=True, slots=True)
class ModeStatus:
    """One failure mode's status in one run: the unit history keeps and runs are compared by."""

    subject: str
    service: str | None
    owner: str
    tier: str
    failure_mode: str
    status: Status

    @property
    def key(self) -> tuple[str, str]:
        return (self.subject, self.failure_mode)


@dataclass(frozen=True, slots=True)
class RunTotals:
    """One run's counts: a point of the trend."""

    started_at: str  # UTC, ISO 8601
    budget: float
    total: int
    covered: int
    weak: int
    uncovered: int
    run_id: int | None = None  # None until history stores it

    @property
    def ratio(self) -> float:
        """Share of failure modes covered without a problem (weak does not count)."""
        return self.covered / self.total if self.total else 0.0

    @property
    def reached_ratio(self) -> float:
        """Share with at least weak coverage: some alert would fire, maybe late or to no one."""
        return (self.covered + self.weak) / self.total if self.total else 0.0


@dataclass(frozen=True, slots=True)
class Run:
    totals: RunTotals
    statuses: tuple[ModeStatus, ...]


def run_of(findings: Sequence[Finding], started_at: str, budget: float) -> Run:
    """History keeps what coverage is (the judge's verdicts): a waiver accepts a gap, it does
    not close it, so the trend does not improve when gaps are waived."""
    statuses = tuple(
        ModeStatus(f.subject.name, f.subject.service, f.subject.owner, f.subject.tier, f.mode.id, f.judged) for f in findings
    )
    counts = _counts(f.judged for f in findings)
    totals = RunTotals(started_at, budget, len(findings), counts["covered"], counts["weak"], counts["uncovered"])
    return Run(totals, statuses)


# --------------------------------------------------------------------------- the overview


@dataclass(frozen=True, slots=True)
class GroupCoverage:
    """Counts by status for a group of failure modes (a service, an owner, a tier, ...)."""

    name: str
    total: int
    covered: int
    weak: int
    uncovered: int
    owners: tuple[str, ...] = ()
    tier: str = ""
    waived: int = 0  # gaps accepted by a waiver (counted here, not as weak or uncovered)

    @property
    def ratio(self) -> float:
        return self.covered / self.total if self.total else 0.0

    def count(self, status: str) -> int:
        return {"covered": self.covered, "weak": self.weak, "uncovered": self.uncovered, "waived": self.waived}[status]


@dataclass(frozen=True, slots=True)
class ServiceModeCoverage:
    """Counts for one failure mode id within one service (service "" for business metrics):
    the grain of the ``coverage_audit_failure_modes`` metric."""

    service: str
    owner: str
    failure_mode: str
    covered: int
    weak: int
    uncovered: int
    waived: int = 0

    def count(self, status: str) -> int:
        return {"covered": self.covered, "weak": self.weak, "uncovered": self.uncovered, "waived": self.waived}[status]


@dataclass(frozen=True, slots=True)
class UnreachableAlert:
    """An alert that would fire for some failure mode but notifies nobody."""

    name: str
    file: str
    line: int
    problems: tuple[str, ...]  # "blackhole" and/or "unrouted"
    receivers: tuple[str, ...]
    details: tuple[str, ...]
    modes: tuple[tuple[str, str], ...]  # (subject, failure mode) it is the (weak) coverage of
    owners: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class InfrastructureOnly:
    """A subject with failure modes that no alert covers, watched only by infrastructure alerts:
    the dashboards look green while the application fails."""

    subject: str
    service: str | None
    owner: str
    tier: str
    failure_modes: tuple[str, ...]
    alerts: tuple[str, ...]  # the infrastructure-level alerts that do watch it


@dataclass(frozen=True, slots=True)
class ProblemCount:
    problem: str
    text: str
    findings: int  # weak findings where some covering alert has this problem


@dataclass(frozen=True, slots=True)
class StatusChange:
    subject: str
    service: str | None
    owner: str
    tier: str
    failure_mode: str
    before: Status | None  # None: the mode is new
    after: Status | None  # None: the mode is gone


@dataclass(frozen=True, slots=True)
class Changes:
    """What moved since the previous run, keyed by subject and failure mode."""

    previous: RunTotals | None
    newly_uncovered: tuple[StatusChange, ...] = ()  # covered or weak -> uncovered
    newly_weak: tuple[StatusChange, ...] = ()  # covered -> weak
    newly_covered: tuple[StatusChange, ...] = ()  # weak or uncovered -> covered
    improved: tuple[StatusChange, ...] = ()  # uncovered -> weak
    added: tuple[StatusChange, ...] = ()  # modes that were not in the previous run
    removed: tuple[StatusChange, ...] = ()  # modes no longer in the service map

    @property
    def any(self) -> bool:
        return any((self.newly_uncovered, self.newly_weak, self.newly_covered, self.improved, self.added, self.removed))


@dataclass(frozen=True, slots=True)
class FindingGroup:
    """The findings of one service (or one business metric), worst first."""

    name: str
    coverage: GroupCoverage
    findings: tuple[Finding, ...]

    @property
    def by_subject(self) -> list[tuple[Subject, list[Finding]]]:
        """Per subject (a component, or the business metric), the subject with the worst
        finding first: each subject is written once, its failure modes below it."""
        subjects: dict[str, tuple[Subject, list[Finding]]] = {}
        for finding in self.findings:  # worst first, so subjects come in order of their worst
            subjects.setdefault(finding.subject.name, (finding.subject, []))[1].append(finding)
        return list(subjects.values())


@dataclass(frozen=True, slots=True)
class OwnerFindings:
    """One owner's findings, per service: how a report of thousands of findings is read."""

    owner: str
    coverage: GroupCoverage
    groups: tuple[FindingGroup, ...]  # business metrics first, then by tier and coverage


@dataclass(frozen=True, slots=True)
class Overview:
    generated_at: str
    budget: float
    totals: GroupCoverage
    business_metrics: tuple[GroupCoverage, ...]
    services: tuple[GroupCoverage, ...]
    owners: tuple[GroupCoverage, ...]
    tiers: tuple[GroupCoverage, ...]
    failure_modes: tuple[GroupCoverage, ...]  # by failure mode id, across every subject
    service_modes: tuple[ServiceModeCoverage, ...]
    critical_gaps: tuple[Finding, ...]  # uncovered modes of critical subjects, business first
    unreachable_alerts: tuple[UnreachableAlert, ...]
    infrastructure_only: tuple[InfrastructureOnly, ...]
    weak_reasons: tuple[ProblemCount, ...]
    trend: tuple[RunTotals, ...]  # oldest first; the current run last
    changes: Changes
    findings: tuple[Finding, ...]  # display order: business metrics first, then worst first
    subjects: int
    by_owner: tuple[OwnerFindings, ...] = ()  # every finding, per owner and service, worst first


def build_overview(
    findings: Sequence[Finding],
    generated_at: str,
    budget: float,
    previous: Run | None = None,
    past: Sequence[RunTotals] = (),
) -> Overview:
    """``previous``: the last stored run; ``past``: stored runs' totals, oldest first."""
    current = run_of(findings, generated_at, budget)
    business = [f for f in findings if f.subject.service is None]
    ordered = tuple(sorted(findings, key=_display_key))
    return Overview(
        generated_at=generated_at,
        budget=budget,
        totals=_group("all", findings),
        business_metrics=_groups(business, lambda f: f.subject.name, _by_ratio),
        services=_groups([f for f in findings if f.subject.service is not None], lambda f: f.subject.service or "", _by_tier_then_ratio),
        owners=_groups(findings, lambda f: f.subject.owner, _by_ratio),
        tiers=_groups(findings, lambda f: f.subject.tier, lambda g: (TIER_ORDER.get(g.name, 9), g.name)),
        failure_modes=_groups(findings, lambda f: f.mode.id, _by_ratio),
        service_modes=service_modes(findings),
        critical_gaps=tuple(f for f in ordered if f.status == "uncovered" and f.subject.tier == "critical"),
        unreachable_alerts=unreachable_alerts(ordered),
        infrastructure_only=infrastructure_only(ordered),
        weak_reasons=weak_reasons(findings),
        trend=(*past, current.totals),
        changes=changes_between(previous, current),
        findings=ordered,
        subjects=len({f.subject.name for f in findings}),
        by_owner=findings_by_owner(ordered),
    )


def _display_key(finding: Finding) -> tuple[object, ...]:
    return (
        finding.subject.service is not None,  # business metrics first
        -SEVERITY[finding.status],
        TIER_ORDER.get(finding.subject.tier, 9),
        finding.subject.name,
        finding.mode.id,
    )


def _counts(statuses: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {status: 0 for status in (*STATUSES, "waived")}
    for status in statuses:
        counts[status] += 1
    return counts


def _group(name: str, findings: Sequence[Finding]) -> GroupCoverage:
    counts = _counts(f.status for f in findings)
    owners = tuple(dict.fromkeys(f.subject.owner for f in findings))
    tiers = sorted({f.subject.tier for f in findings}, key=lambda t: TIER_ORDER.get(t, 9))
    return GroupCoverage(
        name, len(findings), counts["covered"], counts["weak"], counts["uncovered"], owners, tiers[0] if tiers else "", counts["waived"]
    )


def _groups(
    findings: Sequence[Finding],
    key: Callable[[Finding], str],
    order: Callable[[GroupCoverage], tuple[object, ...]],
) -> tuple[GroupCoverage, ...]:
    grouped: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        grouped[key(finding)].append(finding)
    return tuple(sorted((_group(name, members) for name, members in grouped.items()), key=order))


def _by_ratio(group: GroupCoverage) -> tuple[object, ...]:
    """Worst first: the lowest coverage, then the most uncovered."""
    return (group.ratio, -group.uncovered, group.name)


def _by_tier_then_ratio(group: GroupCoverage) -> tuple[object, ...]:
    return (TIER_ORDER.get(group.tier, 9), *_by_ratio(group))


def findings_by_owner(ordered: Sequence[Finding]) -> tuple[OwnerFindings, ...]:
    """Owners worst first; within one, business metrics first, then services by tier and
    coverage; within a service, findings in ``ordered``'s order (worst first)."""
    owners: dict[str, dict[str, list[Finding]]] = defaultdict(lambda: defaultdict(list))
    for finding in ordered:
        owners[finding.subject.owner][finding.subject.service or finding.subject.name].append(finding)
    result = []
    for owner, services in owners.items():
        groups = [FindingGroup(name, _group(name, members), tuple(members)) for name, members in services.items()]
        groups.sort(key=lambda g: (g.findings[0].subject.service is not None, *_by_tier_then_ratio(g.coverage)))
        everything = [f for g in groups for f in g.findings]
        result.append(OwnerFindings(owner, _group(owner, everything), tuple(groups)))
    return tuple(sorted(result, key=lambda o: _by_ratio(o.coverage)))


def service_modes(findings: Sequence[Finding]) -> tuple[ServiceModeCoverage, ...]:
    counts: dict[tuple[str, str, str], dict[str, int]] = {}
    for f in findings:
        key = (f.subject.service or "", f.subject.owner, f.mode.id)
        counts.setdefault(key, {status: 0 for status in (*STATUSES, "waived")})[f.status] += 1
    return tuple(ServiceModeCoverage(*key, c["covered"], c["weak"], c["uncovered"], c["waived"]) for key, c in sorted(counts.items()))


def unreachable_alerts(findings: Sequence[Finding]) -> tuple[UnreachableAlert, ...]:
    """Covering alerts routed to a blackhole or to no route, one entry per rule."""
    found: dict[tuple[str, int, str], _Unreachable] = {}
    for finding in findings:
        for alert in finding.alerts:
            if not any(p in UNREACHABLE for p in alert.problems):
                continue
            rule = alert.rule
            entry = found.setdefault((rule.file, rule.line, rule.name), _Unreachable(rule.name, rule.file, rule.line))
            for index, problem in enumerate(alert.problems):
                if problem in UNREACHABLE:
                    entry.problems[problem] = None
                    if index < len(alert.details):
                        entry.details[alert.details[index]] = None
            entry.receivers.update(dict.fromkeys(alert.receivers))
            entry.modes[(finding.subject.name, finding.mode.id)] = None
            entry.owners[finding.subject.owner] = None
    return tuple(sorted((e.frozen() for e in found.values()), key=lambda a: (a.name, a.file, a.line)))


@dataclass(slots=True)
class _Unreachable:
    """Collects one rule's entries across findings; dicts keep first-seen order without repeats."""

    name: str
    file: str
    line: int
    problems: dict[str, None] = field(default_factory=dict)
    receivers: dict[str, None] = field(default_factory=dict)
    details: dict[str, None] = field(default_factory=dict)
    modes: dict[tuple[str, str], None] = field(default_factory=dict)
    owners: dict[str, None] = field(default_factory=dict)

    def frozen(self) -> UnreachableAlert:
        return UnreachableAlert(
            self.name, self.file, self.line, tuple(self.problems), tuple(self.receivers),
            tuple(self.details), tuple(self.modes), tuple(self.owners),
        )


def infrastructure_only(findings: Sequence[Finding]) -> tuple[InfrastructureOnly, ...]:
    """Per subject, the modes no alert covers whose related alerts are all infrastructure-level."""
    modes: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        related = finding.related
        if not finding.alerts and related and all(r.level == "infrastructure" for r in related):
            modes[finding.subject.name].append(finding)
    areas = []
    for subject, members in modes.items():
        first = members[0].subject
        alerts = dict.fromkeys(r.rule.name for f in members for r in f.related)
        areas.append(InfrastructureOnly(subject, first.service, first.owner, first.tier, tuple(f.mode.id for f in members), tuple(alerts)))
    return tuple(sorted(areas, key=lambda a: (TIER_ORDER.get(a.tier, 9), a.subject)))


def weak_reasons(findings: Sequence[Finding]) -> tuple[ProblemCount, ...]:
    counts: dict[str, int] = defaultdict(int)
    for finding in findings:
        if finding.status == "weak":
            for problem in dict.fromkeys(p for a in finding.alerts for p in a.problems):
                counts[problem] += 1
    order = list(PROBLEMS)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], order.index(item[0]) if item[0] in order else len(order)))
    return tuple(ProblemCount(problem, PROBLEMS.get(problem, problem), count) for problem, count in ranked)


def changes_between(previous: Run | None, current: Run) -> Changes:
    if previous is None:
        return Changes(previous=None)
    before = {s.key: s for s in previous.statuses}
    after = {s.key: s for s in current.statuses}
    buckets: dict[str, list[StatusChange]] = defaultdict(list)
    for key, now in after.items():
        was = before.get(key)
        if was is None:
            buckets["added"].append(_change(now, None, now.status))
        elif was.status != now.status:
            buckets[_movement(was.status, now.status)].append(_change(now, was.status, now.status))
    for key, was in before.items():
        if key not in after:
            buckets["removed"].append(_change(was, was.status, None))
    ordered = {name: tuple(sorted(items, key=_change_key)) for name, items in buckets.items()}
    return Changes(previous=previous.totals, **ordered)


def _movement(before: Status, after: Status) -> str:
    if after == "uncovered":
        return "newly_uncovered"
    if after == "covered":
        return "newly_covered"
    return "newly_weak" if before == "covered" else "improved"


def _change(status: ModeStatus, before: Status | None, after: Status | None) -> StatusChange:
    return StatusChange(status.subject, status.service, status.owner, status.tier, status.failure_mode, before, after)


def _change_key(change: StatusChange) -> tuple[object, ...]:
    return (change.service is not None, TIER_ORDER.get(change.tier, 9), change.subject, change.failure_mode)
