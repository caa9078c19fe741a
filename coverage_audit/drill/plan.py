"""Which alerts to drill, against what, and for how long.

A verdict rests on its covering alerts and, when none is clean, on the best weak one
(``Finding.alerts`` is best first). Alerts of one finding are drilled together, in one world
(the subject's series) per scenario and evaluation interval, so their series are written once
and one engine run measures them all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

from ..analysis.findings import AlertCoverage, DrillResult, Finding
from ..model import LabelMatcher, Rule
from ..scenarios import Scenario
from .config import DrillConfig
from .reads import Read, RuleReads
from .series import Timeline
from .world import Failure, Unsupported, World, build_world

# Functions that read native histograms: the drill writes classic ones, so these would see none.
_NATIVE_HISTOGRAM_FUNCTIONS = frozenset(
    "histogram_count histogram_sum histogram_avg histogram_fraction histogram_stddev histogram_stdvar".split()
)


@dataclass(frozen=True, slots=True)
class Target:
    """A finding, the alerts its verdict rests on, and the subject they are drilled for."""

    finding: Finding
    alerts: tuple[AlertCoverage, ...]
    matchers: tuple[LabelMatcher, ...]  # the subject's selector
    traffic: float  # the subject's requests (or messages) per second


@dataclass(frozen=True, slots=True)
class Drill:
    """One run of the engine: some alerts of one target, in one scenario."""

    target: Target
    scenario: Scenario
    alerts: tuple[Rule, ...]
    rules: tuple[Rule, ...]  # the alerts and the recording rules they read, in rule-set order
    depths: tuple[int, ...]  # per rule: groups are evaluated shallowest first (RuleReads.depth)
    interval: float  # the alerts' evaluation interval
    world: World
    timeline: Timeline
    horizon: float  # seconds watched after t0
    healthy_from: float  # from here to t0 every window is full of healthy data
    delays: tuple[float, ...]  # per alert: query offsets the engine is not told about, seconds

    @property
    def cost(self) -> float:
        """Evaluations times series: what makes a run slow (longest runs are started first)."""
        evaluations = (self.timeline.t0 + self.horizon) / self.interval
        return evaluations * (len(self.rules) + len(self.world.series))


Refusals = dict[tuple[Rule, str], DrillResult]


def verdict_alerts(finding: Finding) -> tuple[AlertCoverage, ...]:
    """The covering alerts, and the best weak one."""
    clean = [a for a in finding.alerts if a.ok]
    weak = [a for a in finding.alerts if not a.ok][:1]
    return tuple(clean + weak)


class Planner:
    """Turns targets into drills for one rule set and one set of drill parameters."""

    def __init__(
        self,
        reads: RuleReads,
        failure_of: Callable[[Target, Scenario], Failure],
        default_interval: float,
        budget: float,
        config: DrillConfig,
        query_offset_supported: bool,
    ) -> None:
        self.reads = reads
        self.failure_of = failure_of
        self.default_interval = default_interval
        self.budget = budget
        self.config = config
        self.query_offset_supported = query_offset_supported
        self._reads: dict[int, list[Read]] = {}

    def plan(self, target: Target, scenarios: Sequence[Scenario]) -> tuple[list[Drill], Refusals]:
        """The drills of one target, and the alerts that cannot be drilled (with why)."""
        drills: list[Drill] = []
        refused: Refusals = {}
        usable: list[Rule] = []
        for coverage in target.alerts:
            rule = coverage.rule
            why = self._unsupported(rule)
            if why:
                refused.update({(rule, s.name): DrillResult(None, False, drilled=False, why=why) for s in scenarios})
            elif rule not in usable:
                usable.append(rule)
        by_interval: dict[float, list[Rule]] = {}
        for rule in usable:
            by_interval.setdefault(rule.interval or self.default_interval, []).append(rule)
        for scenario in scenarios:
            failure = self.failure_of(target, scenario)
            for rules in by_interval.values():
                for batch in _distinct_names(rules):
                    made, why = self._drill(target, scenario, batch, failure)
                    if made is not None:
                        drills.append(made)
                        continue
                    for rule in batch if len(batch) > 1 else ():  # find the alert at fault
                        single, single_why = self._drill(target, scenario, [rule], failure)
                        if single is not None:
                            drills.append(single)
                        else:
                            refused[(rule, scenario.name)] = DrillResult(None, False, drilled=False, why=single_why)
                    if len(batch) == 1:
                        refused[(batch[0], scenario.name)] = DrillResult(None, False, drilled=False, why=why)
        return drills, refused

    def split(self, drill: Drill) -> list[Drill]:
        """The drill's alerts one by one (when a joint run failed: to find the one at fault)."""
        failure = self.failure_of(drill.target, drill.scenario)
        singles = (self._drill(drill.target, drill.scenario, [rule], failure)[0] for rule in drill.alerts)
        return [single for single in singles if single is not None]

    def _drill(self, target: Target, scenario: Scenario, alerts: list[Rule], failure: Failure) -> tuple[Drill | None, str]:
        reads = [r for rule in alerts for r in self._raw(rule)]
        try:
            world = build_world(reads, failure, self.config)
        except Unsupported as exc:
            return None, str(exc)
        recording: dict[int, Rule] = {}
        for rule in alerts:
            for record in self.reads.recording_rules(rule):
                recording.setdefault(id(record), record)
        rules = tuple(sorted([*alerts, *recording.values()], key=self.reads.position))
        interval = alerts[0].interval or self.default_interval
        timeline, horizon, healthy_from = timing(reads, alerts, interval, self.budget, self.config)
        delays = tuple(0.0 if self.query_offset_supported else self.reads.delay(rule) for rule in alerts)
        depths = tuple(self.reads.depth(rule) for rule in rules)
        return Drill(target, scenario, tuple(alerts), rules, depths, interval, world, timeline, horizon, healthy_from, delays), ""

    def _raw(self, rule: Rule) -> list[Read]:
        found = self._reads.get(id(rule))
        if found is None:
            found = self._reads[id(rule)] = self.reads.raw_reads(rule)
        return found

    def _unsupported(self, rule: Rule) -> str:
        """Why the drill cannot write what this alert reads, or ""."""
        if rule.query is None:
            return f"its expression does not parse: {rule.parse_error or 'invalid PromQL'}"
        for member in (rule, *self.reads.recording_rules(rule)):
            if member.query is None:
                return f"the recording rule {member.name} ({member.location}) does not parse"
            native = sorted(member.query.functions & _NATIVE_HISTOGRAM_FUNCTIONS)
            if native:
                return f"{member.name} reads native histograms ({native[0]}); the drill writes classic ones"
        if not self._raw(rule):
            return "it reads no series"
        return ""


def _distinct_names(rules: list[Rule]) -> list[list[Rule]]:
    """Batches in which no two alerts share a name (the engine's ALERTS series tell alerts
    apart by name only)."""
    batches: list[list[Rule]] = []
    for rule in rules:
        batch = next((b for b in batches if all(other.name != rule.name for other in b)), None)
        if batch is None:
            batches.append([rule])
        else:
            batch.append(rule)
    return batches


def timing(reads: list[Read], alerts: Sequence[Rule], interval: float, budget: float, config: DrillConfig) -> tuple[Timeline, float, float]:
    """Where the step goes and how long to watch.

    The history is long enough for every window and offset the alerts read; then they are
    watched while healthy for their ``for`` and a few evaluations (firing there is noisy).
    After the step at t0 they are watched for ``horizon_budgets`` budgets, and at least for
    their ``for``, a few evaluations and their longest window up to one budget: an alert not
    firing by then is, for the budget, as good as silent."""
    lookback = max((r.lookback for r in reads), default=0.0)
    window = max((r.window for r in reads), default=0.0)
    narrowest = min((r.window for r in reads if r.window > 0), default=0.0)
    hold = max((a.for_seconds for a in alerts), default=0.0)
    keep = max((a.keep_firing_for for a in alerts), default=0.0)
    healthy_from = _ceil(lookback + keep + interval, interval)
    t0 = _ceil(healthy_from + hold + config.healthy_intervals * interval + config.healthy_margin, interval)
    watch = hold + config.horizon_intervals * interval + min(window, budget)
    horizon = _ceil(min(max(config.horizon_budgets * budget, watch), config.max_horizon), interval)
    step = config.scrape_interval if t0 + horizon < config.long_history_from else config.long_history_scrape_interval
    if narrowest:
        step = min(step, max(1.0, math.floor(narrowest / config.samples_per_window)))
    step = float(math.gcd(int(step), int(interval)) or 1)  # samples land on evaluation times
    return Timeline(step, t0, round(horizon / step)), horizon, healthy_from


def _ceil(value: float, unit: float) -> float:
    return math.ceil(value / unit) * unit if unit > 0 else value
