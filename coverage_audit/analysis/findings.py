"""What the analysis decides, as plain data for the reporters (DESIGN 6)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Mapping

from ..model import Change, Diagnostic, FailureMode, Level, Rule, Selectors, Waiver
from .problems import REGISTRY

if TYPE_CHECKING:
    from .orphans import Orphans

Status = Literal["covered", "weak", "uncovered", "waived"]
Impact = Literal["direct", "dependency", "business"]
# How a finding compares with the same subject and failure mode in a baseline (--baseline).
Delta = Literal["new", "worse", "better", "unchanged"]
DELTAS: tuple[Delta, ...] = ("new", "worse", "better", "unchanged")
WaiverState = Literal["active", "expired", "stale"]
STATUSES: tuple[Status, ...] = ("covered", "weak", "uncovered")
# "waived" (DESIGN 5.4) is a gap someone accepted: reported, never counted for --fail-on.
SEVERITY = {"covered": 0, "waived": 0, "weak": 1, "uncovered": 2}


class _ProblemSummaries(Mapping[str, str]):
    """The registry's summaries by id, read live so problems registered later show too."""

    def __getitem__(self, key: str) -> str:
        return REGISTRY[key].summary

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(REGISTRY)

    def __len__(self) -> int:
        return len(REGISTRY)


PROBLEMS: Mapping[str, str] = _ProblemSummaries()


@dataclass(frozen=True, slots=True)
class Target:
    """What picks a subject's series, for judging: alternative selectors (a series passes one),
    the selectors of its service when a component's own replaced them (an alert pinned to
    another service is not about this one), and its traffic (None: the default)."""

    selectors: Selectors = ((),)
    context: Selectors = ()
    traffic: float | None = None
    owns: tuple[str, ...] = ()  # infrastructure families that are this subject's own signals


@dataclass(frozen=True, slots=True)
class DrillResult:
    """What the drill measured for one alert in one scenario (DESIGN 5.2)."""

    fired_after_seconds: float | None  # None: it did not fire (silent)
    noisy: bool  # fired while healthy
    drilled: bool = True  # False: could not be drilled; ``why`` says why
    why: str = ""


@dataclass(frozen=True, slots=True)
class AlertCoverage:
    """One alert's coverage of one failure mode."""

    rule: Rule
    level: Level
    watches: str  # the selector, as the alert reads it, that carries the signal
    receivers: tuple[str, ...]  # receivers it reaches (empty without an Alertmanager config)
    detect_seconds: float  # in the judged scenario (the model's estimate; see ``detect``)
    problems: tuple[str, ...]  # ids of analysis.problems.REGISTRY
    details: tuple[str, ...] = ()  # one human phrase per problem
    labels: tuple[tuple[str, str], ...] = ()  # the labels it was routed with, for this subject
    detect: Mapping[str, float | None] = field(default_factory=dict)  # scenario -> seconds (None: never)
    drill: Mapping[str, DrillResult] | None = None  # scenario -> measured (with --prove / drill)
    narrowing: int = 0  # labels its watched read narrows beyond the subject's: ranks broad views first

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class Related:
    """An alert that concerns the subject but does not cover the mode, and why not."""

    rule: Rule
    level: Level
    why: str


@dataclass(frozen=True, slots=True)
class Subject:
    """What a failure mode belongs to: a component of a service, or a business metric."""

    name: str  # "service/component" or "business/<name>"
    service: str | None
    owner: str
    tier: str
    kind: str  # component kind, or "business_metric"
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class WaiverMatch:
    """The waiver that matched a gap: active (the finding is ``waived``) or expired (it counts)."""

    waiver: Waiver
    expired: bool
    judged: Status  # the judge's verdict under the waiver: weak or uncovered


@dataclass(frozen=True, slots=True)
class WaiverUse:
    """What one waiver did in this run, for the waivers section of every output."""

    waiver: Waiver
    state: WaiverState
    matched: tuple[tuple[str, str], ...]  # (subject, failure mode) of the gaps it waives (or would)
    why: str = ""  # for a stale waiver: why it is stale


@dataclass(frozen=True, slots=True)
class Finding:
    subject: Subject
    mode: FailureMode
    impact: Impact | None  # None in a full report (not tied to a change)
    status: Status
    alerts: tuple[AlertCoverage, ...]  # covering alerts, best first
    related: tuple[Related, ...]
    reason: str
    waiver: WaiverMatch | None = None  # set after judging (analysis.waivers), never by the judge
    delta: Delta | None = None  # against --baseline (analysis.baseline); None without one

    @property
    def best(self) -> AlertCoverage | None:
        return self.alerts[0] if self.alerts else None

    @property
    def judged(self) -> Status:
        """The judge's verdict, whatever a waiver made of it: what coverage really is."""
        return self.waiver.judged if self.status == "waived" and self.waiver else self.status


@dataclass(frozen=True, slots=True)
class Summary:
    total: int
    covered: int
    weak: int
    uncovered: int
    waived: int = 0

    @staticmethod
    def of(findings: tuple[Finding, ...] | list[Finding]) -> "Summary":
        counts = {status: 0 for status in (*STATUSES, "waived")}
        for finding in findings:
            counts[finding.status] += 1
        return Summary(len(findings), counts["covered"], counts["weak"], counts["uncovered"], counts["waived"])


@dataclass(frozen=True, slots=True)
class Drift:
    """Where the running system and the files disagree (live evidence, DESIGN 5.3): a subject
    whose selector selects no series, a call the map does not declare, a running Alertmanager
    or rule that differs from the file. ``file``/``line`` point at the map entry concerned."""

    kind: str  # missing_subject | undeclared_dependency | unknown_service | alertmanager | rule
    subject: str
    message: str
    file: str = ""
    line: int = 0


@dataclass(frozen=True, slots=True)
class CoverageReport:
    """The answer of ``check`` (for a change) or ``report`` (for everything)."""

    findings: tuple[Finding, ...]
    summary: Summary
    budget: float
    change: Change | None = None
    change_components: tuple[str, ...] = ()  # components the change touches directly
    unmatched_paths: tuple[str, ...] = ()  # changed paths no component (or CODEOWNERS) claims
    errors: tuple[Diagnostic, ...] = ()
    routing_checked: bool = True  # False without an Alertmanager configuration
    notes: tuple[str, ...] = field(default_factory=tuple)
    scenario: str = "outage"  # the scenario the verdicts judge (DESIGN 5.1)
    drift: tuple[Drift, ...] = ()  # live evidence only
    waivers: tuple[WaiverUse, ...] = ()  # every waiver given, and what it did
    not_judged: tuple[Rule, ...] = ()  # rules listed but not judged (no PromQL equivalent)
    baseline: str | None = None  # the baseline file the findings were compared with
    orphans: "Orphans | None" = None  # alerts covering no subject, subjects no rule reads

    def at_or_above(self, fail_on: str) -> list[Finding]:
        """The findings that fail the gate: waived ones never; with a baseline, only the new
        and the worse."""
        if fail_on == "never":
            return []
        threshold = SEVERITY[fail_on]
        return [f for f in self.findings if SEVERITY[f.status] >= threshold and f.delta not in ("better", "unchanged")]


_IMPACT_ORDER = {"direct": 0, "dependency": 1, "business": 2, None: 3}


def order_findings(findings: list[Finding]) -> list[Finding]:
    """Worst first; then direct before dependency before business; then by subject and mode."""
    return sorted(findings, key=lambda f: (-SEVERITY[f.status], _IMPACT_ORDER[f.impact], f.subject.name, f.mode.id))
