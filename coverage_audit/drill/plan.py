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
from ..durations import format_duration
from ..model import Rule, Selectors
from ..scenarios import Scenario
from .config import DrillConfig
from .reads import ExpansionTooSlow, Read, RuleReads
from .series import Timeline
from .world import Failure, Unsupported, World, build_world

# Functions that read native histograms: the drill writes classic ones, so these would see none.
_NATIVE_HISTOGRAM_FUNCTIONS = frozenset(
    "histogram_count histogram_sum histogram_avg histogram_fraction histogram_stddev histogram_stdvar".split()
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A finding, the alerts its verdict rests on, and the subject they are drilled for."""

    finding: Finding
    alerts: tuple[AlertCoverage, ...]
    selectors: Selectors  # the subject's selector alternatives (none for a business metric)
    traffic: float  # the subject's requests (or messages) per second


@dataclass(frozen=True, slots=True)
class Drill:
    """One run of the engine: some alerts of one verdict, in one scenario."""

    verdict: Verdict
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
    """Turns verdicts into drills for one rule set and one set of drill parameters."""

    def __init__(
        self,
        reads: RuleReads,
        failure_of: Callable[[Verdict, Scenario], Failure],
        default_interval: float,
        budget: float,
        config: DrillConfig,
        query_offset_supported: bool,
        time_limit: float,
    ) -> None:
        self.time_limit = time_limit
        self.reads = reads
        self.failure_of = failure_of
        self.default_interval = default_interval
        self.budget = budget
        self.config = config
        self.query_offset_supported = query_offset_supported
        self._reads: dict[int, list[Read]] = {}

    def plan(self, verdict: Verdict, scenarios: Sequence[Scenario]) -> tuple[list[Drill], Refusals]:
        """The drills of one verdict, and the alerts that cannot be drilled (with why)."""
        drills: list[Drill] = []
        refused: Refusals = {}
        usable: list[Rule] = []
        for coverage in verdict.alerts:
            rule = coverage.rule
            why = self._unsupported(rule)
            if why:
                refused.update({(rule, s.name): DrillResult(None, False, drilled=False, why=why) for s in scenarios})
            elif rule not in usable:
                usable.append(rule)
        by_interval: dict[float, list[Rule]] = {}
        for rule in usable:
            by_interval.setdefault(rule.interval or self.default_interval, []).append(rule)
        batches = [b for rules in by_interval.values() for similar in self._by_history(rules) for b in _distinct_names(similar)]
        for scenario in scenarios:
            failure = self.failure_of(verdict, scenario)
            for batch in batches:
                made, why = self._drill(verdict, scenario, batch, failure)
                if made is not None:
                    drills.append(made)
                elif len(batch) == 1:
                    refused[(batch[0], scenario.name)] = DrillResult(None, False, drilled=False, why=why)
                else:  # find the alert at fault; the others are drilled alone
                    for rule in batch:
                        single, single_why = self._drill(verdict, scenario, [rule], failure)
                        if single is not None:
                            drills.append(single)
                        else:
                            refused[(rule, scenario.name)] = DrillResult(None, False, drilled=False, why=single_why)
        return drills, refused

    def split(self, drill: Drill) -> tuple[list[Drill], Refusals]:
        """The drill's alerts one by one (when a joint run failed: to find the one at fault)."""
        failure = self.failure_of(drill.verdict, drill.scenario)
        singles: list[Drill] = []
        refused: Refusals = {}
        for rule in drill.alerts:
            single, why = self._drill(drill.verdict, drill.scenario, [rule], failure)
            if single is not None:
                singles.append(single)
            else:
                refused[(rule, drill.scenario.name)] = DrillResult(None, False, drilled=False, why=why)
        return singles, refused

    def _drill(self, verdict: Verdict, scenario: Scenario, alerts: list[Rule], failure: Failure) -> tuple[Drill | None, str]:
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
        modelled = [_modelled(verdict, rule, scenario.name) for rule in alerts]
        expected = max((m for m in modelled if m is not None), default=None)
        timeline, horizon, healthy_from = timing(reads, alerts, interval, self.budget, self.config, expected)
        evaluations = (timeline.t0 + horizon) / interval
        estimate = evaluations * len(rules) * self.config.engine_seconds_per_rule_evaluation
        if estimate > self.time_limit:  # the engine evaluates every interval from the start
            return None, (f"{evaluations:.0f} evaluations of {len(rules)} rules over {format_duration(timeline.t0)} of "
                          f"history take about {format_duration(estimate)}, past the drill's time limit of {format_duration(self.time_limit)}")
        delays = tuple(0.0 if self.query_offset_supported else self.reads.delay(rule) for rule in alerts)
        depths = tuple(self.reads.depth(rule) for rule in rules)
        return Drill(verdict, scenario, tuple(alerts), rules, depths, interval, world, timeline, horizon, healthy_from, delays), ""

    def _by_history(self, rules: list[Rule]) -> list[list[Rule]]:
        """Alerts whose histories are of a length: the engine evaluates every interval from
        the start, so a week-long alert drilled with a five-minute one makes both slow."""
        ordered = sorted(rules, key=self._lookback)
        groups: list[list[Rule]] = []
        for rule in ordered:
            if groups and self._lookback(rule) <= 2 * self._lookback(groups[-1][0]) + 3600:
                groups[-1].append(rule)
            else:
                groups.append([rule])
        return groups

    def _lookback(self, rule: Rule) -> float:
        return max((r.lookback for r in self._raw(rule)), default=0.0)

    def _raw(self, rule: Rule) -> list[Read]:
        found = self._reads.get(id(rule))
        if found is None:
            found = self._reads[id(rule)] = self.reads.raw_reads(rule, self.config.expansion_time_limit)
        return found

    def _unsupported(self, rule: Rule) -> str:
        """Why the drill cannot write what this alert reads, or ""."""
        if rule.query is None:
            return f"its expression does not parse: {rule.parse_error or 'invalid PromQL'}"
        try:
            self._raw(rule)
        except ExpansionTooSlow as exc:
            return str(exc)
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


def _modelled(verdict: Verdict, rule: Rule, scenario: str) -> float | None:
    """The judge's time to detect for the alert in the scenario, if it has one."""
    coverage = next((a for a in verdict.alerts if a.rule is rule), None)
    return coverage.detect.get(scenario) if coverage is not None and coverage.detect else None


def timing(
    reads: list[Read], alerts: Sequence[Rule], interval: float, budget: float, config: DrillConfig, expected: float | None = None
) -> tuple[Timeline, float, float]:
    """Where the step goes, how long to watch, and how densely to sample where.

    The history is long enough for every window and offset the alerts read; then they are
    watched while healthy for their ``for`` and a few evaluations (firing there is noisy).
    After the step at t0 they are watched for ``horizon_budgets`` budgets, and at least for
    their ``for``, a few evaluations and their longest window up to one budget — and, so that
    a slow alert is measured rather than called silent, past the model's ``expected`` time to
    detect (only how long to watch comes from the model, never what is written), up to
    ``max_horizon``."""
    lookback = max((r.lookback for r in reads), default=0.0)
    window = max((r.window for r in reads), default=0.0)
    hold = max((a.for_seconds for a in alerts), default=0.0)
    keep = max((a.keep_firing_for for a in alerts), default=0.0)
    healthy_from = _ceil(lookback + keep + interval, interval)
    t0 = _ceil(healthy_from + hold + config.healthy_intervals * interval + config.healthy_margin, interval)
    watch = hold + config.horizon_intervals * interval + min(window, budget)
    if expected is not None:
        watch = max(watch, expected * config.horizon_past_model + config.horizon_intervals * interval)
    horizon = _ceil(min(max(config.horizon_budgets * budget, watch), config.max_horizon), interval)
    ranges = [r.selector.range for r in reads if r.selector.range]
    step = min([config.scrape_interval, *(max(1.0, math.floor(w / config.samples_per_window)) for w in ranges)])
    step = float(math.gcd(int(step), int(interval)) or 1)  # samples land on evaluation times
    last = round((t0 + horizon) / step)
    return Timeline(step, t0, round(horizon / step), _density(reads, healthy_from, t0 + horizon, step, last, config)), horizon, healthy_from


def _density(reads: list[Read], healthy_from: float, end: float, step: float, last: int, config: DrillConfig) -> tuple[tuple[int, int], ...]:
    """Sample strides over the grid: each read needs samples where the evaluations from
    ``healthy_from`` to the end look (its window and offset back): enough that every window
    starts close to a sample (or, for an instant read, well within Prometheus' 5-minute
    lookback); elsewhere one sample per ``background_interval`` keeps the series alive at
    almost no cost to the engine."""
    background = max(1, int(config.background_interval // step))
    regions: list[tuple[int, int, int]] = []
    for read in reads:
        offset = read.lookback - read.window
        own = read.selector.range or 0.0
        need = own / config.sparse_samples_per_window if own else config.instant_sample_interval
        first = max(0, math.floor((healthy_from - offset - read.window) / step) - 1)
        stop = min(last, math.ceil((end - offset) / step) + 1)
        regions.append((first, stop, max(1, int(need // step))))
    cuts = sorted({0, last + 1, *(r[0] for r in regions), *(r[1] + 1 for r in regions)})
    density: list[tuple[int, int]] = []
    for left, right in zip(cuts, cuts[1:]):
        if left > last:
            break
        stride = min((s for a, b, s in regions if a <= left <= b), default=background)
        if not density or density[-1][1] != stride:
            density.append((left, stride))
    return tuple(density)


def _ceil(value: float, unit: float) -> float:
    return math.ceil(value / unit) * unit if unit > 0 else value
