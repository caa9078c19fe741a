"""Does an alert cover a failure mode? DESIGN 5 and 5.1.

An alerting rule covers a failure mode of a subject when, evaluated in the failure's scenario
(``evaluate``: recording rules followed, offsets, joins and magnitudes modelled), it starts firing
on the subject's failing series, it reaches a person, and it does so within the budget. Its
problems (``problems``) make the coverage weak. When the model is unsure, the answer is weak,
never covered.

Built once per run: alerts are indexed by the raw metrics they read and by the label values they
pin, so judging a failure mode costs what the alerts that can select it cost.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Iterable, Sequence

from .. import promql
from ..durations import format_duration
from ..model import AlertmanagerConfig, FailureMode, LabelMatcher, MatchOp, Route, Rule, Selectors
from ..promql import Selector
from ..ruleset import RuleSet
from ..scenarios import DEFAULT_SCENARIO, SCENARIOS, Role, behaviour, subject_traffic, world
from .evaluate import Evaluator, Outcome, Quiet, World, describe_never, describe_noisy, subject_selects
from .evaluate import moves as _moves
from .findings import AlertCoverage, Finding, Impact, Related, Subject, Target
from .matching import compatible_pair, is_specific, outcome_label
from .reads import ReadIndex, common_pins, literal_pins
from .roles import role_of
from .routing import Reach, reach

if TYPE_CHECKING:
    from ..live.evidence import Evidence

_OPPOSITE = {"rise": "drop", "drop": "rise", "absent": "rise"}
CANARY_LABELS = ("instance", "pod")  # what tells one replica's series from the others'


class CoverageJudge:
    """Judges failure modes against one rule set and one Alertmanager configuration."""

    def __init__(
        self,
        ruleset: RuleSet,
        alertmanager: AlertmanagerConfig | None,
        budget: float,
        evaluation_interval: float,
        scenario: str = DEFAULT_SCENARIO,
        canary_selector: str = "",
        evidence: "Evidence | None" = None,
    ) -> None:
        self.evidence = evidence  # live evidence (issue 12): dead and silenced alerts
        self.ruleset = ruleset
        self.alertmanager = alertmanager
        self.budget = budget
        self.evaluation_interval = evaluation_interval
        self.scenario = scenario
        canary = promql.parse_selector(canary_selector).matchers if canary_selector else ()
        self.canary_labels = frozenset(CANARY_LABELS) | {m.name for m in canary}
        self.routing_labels = _route_labels(alertmanager.route) if alertmanager is not None else frozenset()
        self._join_labels: frozenset[str] | None = None
        self._by_metric: dict[str, list[Rule]] = {}
        self._pins: dict[tuple[Rule, str], dict[str, str]] = {}
        self._pin_tables: dict[tuple[str, str], dict[str | None, list[Rule]]] = {}
        for rule in ruleset.rules:
            if rule.kind == "alert" and rule.query is not None:
                for metric in ruleset.raw_metrics[rule]:
                    self._by_metric.setdefault(metric, []).append(rule)
        self._infra_by_label: dict[tuple[str, str], list[Rule]] | None = None
        self._reads = ReadIndex(ruleset.records)
        self._quiet: dict[tuple[tuple[LabelMatcher, ...], float], dict] = {}  # (selector, traffic) -> values
        self._reached: dict[tuple[tuple[str, str], ...], Reach] = {}

    @property
    def pins(self) -> dict[tuple[Rule, str], dict[str, str]]:
        """The label values worked out so far per (alert, metric read): what screening costs, and
        the same for every run on the same rules (``commands.screens`` keeps them)."""
        return self._pins

    def learn_pins(self, pins: dict[tuple[Rule, str], dict[str, str]]) -> None:
        for key, found in pins.items():
            self._pins.setdefault(key, found)

    @property
    def join_labels(self) -> frozenset[str]:
        """Every label the rule set matches series on (``on(...)``, ``ignoring(...)``): joins
        need to know which of these the subject's series carry."""
        if self._join_labels is None:
            found: set[str] = set()
            for rule in self.ruleset.rules:
                if rule.query is not None and rule.query.joins:
                    found.update(rule.query.joins)
            self._join_labels = frozenset(found)
        return self._join_labels

    # ------------------------------------------------------------------ judging

    def judge(
        self,
        subject: Subject,
        mode: FailureMode,
        target: Target | tuple[LabelMatcher, ...],
        impact: Impact | None,
    ) -> Finding:
        if not isinstance(target, Target):  # a plain matcher tuple: one alternative
            target = Target(((tuple(target)),))
        signals, inverse = self._signals(mode)
        worlds = _Worlds(self, subject, mode, target, signals, inverse)
        covering: list[AlertCoverage] = []
        related: dict[Rule, Related] = {}
        elsewhere: list[Related] = []
        candidates, others = self._candidates(signals + inverse, target)
        elsewhere += [_OtherSeries(rule, self.ruleset.levels[rule], f"watches it only for {_pins_text(self._pins_of(rule))}") for rule in others[:1]]
        for rule in candidates:
            verdict = self._judge_alert(rule, worlds, target, subject.service is not None)
            if isinstance(verdict, AlertCoverage) and self.evidence is not None:
                # Live evidence hook (issue 12): a dead alert covers nothing (it becomes related,
                # with why); a silenced one is weak until the silence ends.
                verdict = self.evidence.apply(verdict, target.selectors)
            if isinstance(verdict, AlertCoverage):
                covering.append(verdict)
            elif isinstance(verdict, _OtherSeries):
                elsewhere.append(verdict)
            elif verdict is not None:
                related.setdefault(rule, verdict)
        reading = set(related)  # alerts that read the mode's signal: named before the others
        if subject.service is not None:
            for rule in self._infrastructure_alerts(target.selectors):
                related.setdefault(rule, Related(rule, "infrastructure", "infrastructure-level: does not watch the application"))
        # Best first: fewest problems, then the broadest view of the subject (an alert on one
        # endpoint of the API ranks after the API's own), then the fastest.
        covering.sort(key=lambda a: (len(a.problems), a.narrowing, a.detect_seconds, a.rule.name, a.rule.file, a.rule.line))
        status = "covered" if covering and covering[0].ok else "weak" if covering else "uncovered"
        ordered_related = tuple(sorted(related.values(), key=lambda r: (r.level != "application", r.rule not in reading, r.rule.name)))
        return Finding(
            subject=subject,
            mode=mode,
            impact=impact,
            status=status,  # type: ignore[arg-type]
            alerts=tuple(covering),
            related=ordered_related,
            reason=self._reason(status, covering, ordered_related, elsewhere, mode, reading),
        )

    def _signals(self, mode: FailureMode) -> tuple[tuple[Selector, ...], tuple[Selector, ...]]:
        return self._raw_selectors(mode.signals), self._raw_selectors(mode.inverse)

    def _raw_selectors(self, texts: Sequence[str]) -> tuple[Selector, ...]:
        """Signal selectors as raw reads: one naming a recording (a map may give
        ``nginx_ingress_controller_requests:labeled``) stands for what that recording reads."""
        found: dict[Selector, None] = {}
        for text in texts:
            selector = promql.parse_selector(text)
            if not selector.metric:
                continue
            if selector.metric in self.ruleset.records:
                found.update(dict.fromkeys(sorted(self._reads.under(selector, (), 0).raw, key=str)))
            else:
                found[selector] = None
        return tuple(found)

    def _candidates(self, signals: Sequence[Selector], target: Target) -> tuple[list[Rule], list[Rule]]:
        """Alerts that read a signal's metric, split into those that may select the subject's
        series and a few of those whose every selector pins a service label to another value
        (most of an organisation's alerts on a shared metric are of that kind: an index by
        pinned value sets them aside without looking at each)."""
        maybe: dict[Rule, None] = {}
        others: list[Rule] = []
        for alternative in target.selectors:
            wanted = [m for m in alternative if m.op is MatchOp.EQ]
            for signal in signals:
                metric = signal.metric or ""
                if not wanted:
                    maybe.update(dict.fromkeys(self._by_metric.get(metric, ())))
                    continue
                first = wanted[0]
                table = self._pin_table(metric, first.name)
                for rule in table.get(first.value, []) + table.get(None, []):
                    pins = self._raw_pins(rule, metric)
                    if all(pins.get(m.name, m.value) == m.value for m in wanted[1:]):
                        maybe.setdefault(rule, None)
                if not others:
                    others = next((rules[:1] for value, rules in table.items() if value not in (None, first.value)), [])
        return list(maybe), others

    def _pins_of(self, rule: Rule, metric: str = "") -> dict[str, str]:
        """Label values the alert's reads of ``metric`` (all its reads when "") pin, through the
        recordings they read, where they agree: a guard such as ``unless on(type)
        mapping{monitor="global"}`` does not read the metric and pins nothing for it."""
        key = (rule, metric)
        pins = self._pins.get(key)
        if pins is None:
            selectors = rule.query.selectors if rule.query is not None else ()
            if metric:
                selectors = tuple(s for s in selectors if metric in self.ruleset.metrics_of(s))
            pins = self._pins[key] = _agreeing(self.ruleset.records.pins(s) for s in selectors)
        return pins

    def _raw_pins(self, rule: Rule, metric: str) -> dict[str, str]:
        """Label values every raw series of ``metric`` the alert reads must carry (matchers
        pushed through its recordings). Not what its output carries: a recording may relabel
        (GitLab's patroni SLI reads ``type="patroni"`` pgbouncer series; mailroom's reads
        sidekiq's and records them as ``type="mailroom"``)."""
        key = (rule, "raw:" + metric)
        pins = self._pins.get(key)
        if pins is None:
            reads = [r for r in self._reads.of(rule).raw if r.metric == metric]
            pins = self._pins[key] = common_pins([literal_pins(r.matchers) for r in reads]) or {}
        return pins

    def _pin_table(self, metric: str, label: str) -> dict[str | None, list[Rule]]:
        """The alerts reading ``metric`` by the value they pin ``label`` to (None: unpinned)."""
        table = self._pin_tables.get((metric, label))
        if table is None:
            table = self._pin_tables[(metric, label)] = {}
            for rule in self._by_metric.get(metric, ()):
                table.setdefault(self._raw_pins(rule, metric).get(label), []).append(rule)
        return table

    def _judge_alert(self, rule: Rule, worlds: "_Worlds", target: Target, has_service: bool) -> AlertCoverage | Related | None:
        level = self.ruleset.levels[rule]
        # An alert whose series say they are another service's (its recordings relabel them
        # ``type="mailroom"``) is not about this subject, whatever raw series it reads. Its
        # output speaks for a service: compare it with the service's selector (a component's
        # own selector describes the raw series it is measured from).
        metrics = {s.metric for s in worlds.signals + worlds.inverse if s.metric in self.ruleset.raw_metrics[rule]}
        pins = _agreeing(self._pins_of(rule, metric) for metric in metrics if metric)
        service = target.context or target.selectors
        if service != ((),) and _contradicts(pins, service):
            return _OtherSeries(rule, level, f"watches it only for {_pins_text(pins)}")
        reads = self._reads.of(rule)
        if not any(worlds.moves(read) for read in reads.raw):
            # No failure of this subject moves anything it reads: it cannot fire on one.
            # Said without evaluating it (most candidates of a large rule set end here).
            near = sorted(str(promql.simplified(r)) for r in reads.raw if worlds.near(r))
            if near:
                wanted = " or ".join(dict.fromkeys(worlds.mode.signals))
                return Related(rule, level, f"reads {near[0]} but not the failing series {_shorten(wanted, 160)}")
            return _OtherSeries(rule, level, "watches it only for other series")
        outcomes = worlds.outcomes(rule)
        judged = outcomes[self.scenario]
        if not judged.facts.signal:
            if judged.facts.empty_reads:
                return Related(rule, "application", f"reads {judged.facts.empty_reads[0]}, which no recording rule produces for these labels")
            if judged.facts.near:
                wanted = " or ".join(dict.fromkeys(worlds.mode.signals))
                return Related(rule, level, f"reads {judged.facts.near[0]} but not the failing series {_shorten(wanted, 160)}")
            return _OtherSeries(rule, level, "watches it only for other series")
        watch = judged.facts.watch
        watched = str(promql.simplified(watch)) if watch is not None else "the signal"
        if watch is not None and not self.ruleset.classifier.application_for(watch.metric or "", target.owns):
            return Related(rule, "infrastructure", "infrastructure-level: its metrics never cover an application failure")
        if judged.noisy:
            return Related(rule, "application", describe_noisy(judged.facts))
        problems: list[str] = []
        details: list[str] = []
        fallback = judged.fires_at is None
        if fallback:
            if not judged.facts.unsure:
                if judged.facts.empty_reads:
                    return Related(rule, "application", f"reads {judged.facts.empty_reads[0]}, which no recording rule produces for these labels")
                if self.scenario != "outage" and "outage" in outcomes and outcomes["outage"].fires_at is not None:
                    return Related(rule, "application", f"never fires in the {self.scenario} scenario ({describe_never(judged.facts, watched)}); it fires in an outage")
                return Related(rule, "application", describe_never(judged.facts, watched))
        if judged.facts.unsure:
            problems.append("direction_unclear")
            details.append(f"cannot tell how it responds when {watched} moves ({', '.join(judged.facts.unsure)} on the failing path)")
        labels = self.alert_labels(rule, judged)
        receivers, group_wait = self._delivery(labels, problems, details)
        latency = (rule.interval or self.evaluation_interval) + rule.query_offset + group_wait
        detect: dict[str, float | None] = {
            name: (float(round(o.fires_at + latency)) if o.fires_at is not None else None) for name, o in outcomes.items()
        }
        seconds = detect[self.scenario]
        if seconds is None:  # unsure and not firing in the model: the windows it reads, at least
            seconds = (rule.query.max_range if rule.query is not None else 0.0) + rule.for_seconds + latency
        if seconds > self.budget:
            problems.append("over_budget")
            scenario = "" if self.scenario == DEFAULT_SCENARIO else f" in the {self.scenario} scenario"
            details.append(f"detects in ~{format_duration(seconds)}{scenario}, over the {format_duration(self.budget)} budget")
        if has_service and not judged.facts.isolated:
            problems.append("diluted")
            details.append("does not isolate the subject (no matcher or grouping keeps its labels), so its failure is averaged with other series")
        if judged.facts.filters:
            problems.append("filtered")
            details.append(f"fires only for series that pass {judged.facts.filters[0]}, which the rule set cannot tell")
        return AlertCoverage(
            rule=rule,
            level="application",
            watches=watched,
            receivers=receivers,
            detect_seconds=seconds,
            problems=tuple(problems),
            details=tuple(details),
            labels=tuple(sorted(labels.items())),
            detect=detect,
            narrowing=_narrowing(judged.facts.watch, worlds.identity_labels),
        )

    # ------------------------------------------------------------------ routing

    def alert_labels(self, rule: Rule, outcome: Outcome) -> dict[str, str]:
        """The labels the alert would carry for this subject: the equality matchers of its
        failing reads that survive its aggregations, then the rule's labels and alertname."""
        labels = dict(outcome.facts.labels)
        labels.update(rule.labels)
        labels["alertname"] = rule.name
        return labels

    def _delivery(self, labels: dict[str, str], problems: list[str], details: list[str]) -> tuple[tuple[str, ...], float]:
        if self.alertmanager is None:
            return (), 0.0
        # Routing reads only the labels its matchers name: alerts alike in those go alike.
        key = tuple(sorted((name, value) for name, value in labels.items() if name in self.routing_labels))
        reached = self._reached.get(key)
        if reached is None:
            reached = self._reached[key] = reach(self.alertmanager, labels)  # routing.reach: the one answer, drafts use it too
        for problem, detail in reached.problems:
            problems.append(problem)
            details.append(detail)
        return reached.receivers, reached.group_wait

    # ------------------------------------------------------------------ related

    def _infrastructure_alerts(self, selectors: Selectors) -> list[Rule]:
        """Infrastructure-level alerts pointed at this service (``up{job="payments"} == 0``)."""
        if self._infra_by_label is None:
            index: dict[tuple[str, str], list[Rule]] = {}
            for rule in self.ruleset.rules:
                if rule.kind == "alert" and rule.query is not None and self.ruleset.levels[rule] == "infrastructure":
                    keys = {(m.name, m.value) for s in rule.query.selectors for m in s.matchers if m.op is MatchOp.EQ}
                    for key in keys:
                        index.setdefault(key, []).append(rule)
            self._infra_by_label = index
        found: dict[Rule, None] = {}
        for alternative in selectors:
            for matcher in alternative:
                if matcher.op is MatchOp.EQ:
                    for rule in self._infra_by_label.get((matcher.name, matcher.value), ()):
                        found.setdefault(rule, None)
        return list(found)

    # ------------------------------------------------------------------ reason

    def _reason(
        self,
        status: str,
        covering: list[AlertCoverage],
        related: tuple[Related, ...],
        elsewhere: list[Related],
        mode: FailureMode,
        reading: set[Rule],
    ) -> str:
        if status == "covered":
            best = covering[0]
            where = f", pages {', '.join(dict.fromkeys(best.receivers))}" if best.receivers else ""
            return f"{best.rule.name} watches {best.watches}; ~{format_duration(best.detect_seconds)} to detect{where}"
        if status == "weak":
            best = covering[0]
            return f"only weak coverage: {best.rule.name} {'; '.join(best.details)}"
        wanted = ", ".join(dict.fromkeys(mode.signals)) or "its signals"
        application = [r for r in related if r.level == "application"]
        if application:
            return f"no alert covers it: {application[0].rule.name} {application[0].why}"
        infrastructure = [r.rule.name for r in related]
        if related and (not elsewhere or related[0].rule in reading):
            names = ", ".join(infrastructure[:3]) + (" …" if len(infrastructure) > 3 else "")
            return f"no application-level alert watches {_shorten(wanted)}; only infrastructure alerts relate ({names})"
        if elsewhere:
            # Alerts on the signal for other subjects are not near misses for this one.
            return f"no alert selects this subject's series: the alerts on {_shorten(wanted)} watch other series only"
        return f"no alert watches {_shorten(wanted)}"


class _Roles:
    """The role each raw read plays in one failure mode of one subject. Apart from ``_Worlds``:
    its evaluators keep ``touches``, and a method of ``_Worlds`` there would make every mode's
    evaluators a reference cycle, freed only by the cyclic collector (which forked workers run
    without: a judging worker grew by 60 MiB on GitLab)."""

    def __init__(self, target: Target, signals: tuple[Selector, ...], inverse: tuple[Selector, ...],
                 companions: tuple[tuple[str | None, tuple[Selector, ...]], ...]) -> None:
        self.target, self.signals, self.inverse, self.companions = target, signals, inverse, companions
        self._roles: dict[Selector, Role] = {}

    def touches(self, read: Selector) -> bool:
        """Does the failure concern this raw read at all (its family, or a companion's)?"""
        return self.role(read) != "other" or any(role_of(read, signals) != "other" for _, signals in self.companions)

    def role(self, read: Selector) -> Role:
        found = self._roles.get(read)
        if found is None:
            alternatives = self.target.selectors
            selects = any(
                subject_selects(read.matchers, alternative, tuple(m for j, other in enumerate(alternatives) if j != i for m in other))
                for i, alternative in enumerate(alternatives)
            )
            found = self._roles[read] = role_of(read, self.signals, self.inverse) if selects else "other"
        return found


class _Worlds:
    """The worlds one failure mode is judged in — each alternative selector of the subject in
    each scenario — with one evaluator each, shared by every candidate alert (recording rules
    they share are evaluated once)."""

    def __init__(self, judge: CoverageJudge, subject: Subject, mode: FailureMode, target: Target,
                 signals: tuple[Selector, ...], inverse: tuple[Selector, ...]) -> None:
        self.judge = judge
        self.evaluators: dict[tuple[int, str], Evaluator] = {}
        self.still: dict[int, dict] = {}  # per alternative: values no scenario moves
        self.quiet: dict[int, Quiet] = {}
        self.subject, self.mode, self.target = subject, mode, target
        self.signals, self.inverse = signals, inverse
        signal_identity = {m.name for s in signals for m in s.matchers if is_specific(m) and not outcome_label(m.name)}
        self.identity_labels = [
            frozenset({m.name for m in alternative if is_specific(m)} | signal_identity) for alternative in target.selectors
        ]
        self.traffic = subject_traffic(target.traffic)
        self.model = mode.model or {"rise": "events", "drop": "good_events", "absent": "heartbeat"}[mode.direction]
        self.companions = tuple(
            (m.model, tuple(x for x in (promql.parse_selector(t) for t in m.signals) if x.metric)) for m in mode.implied
        )
        self.roles = _Roles(target, signals, inverse, self.companions)
        self._moving: dict[Selector, bool] = {}

    def moves(self, read: Selector) -> bool:
        """Does a failure of the subject (an outage, the strongest) move this raw read?"""
        found = self._moving.get(read)
        if found is None:
            role = self.roles.role(read)
            found = self._moving[read] = role in ("signal", "rest", "total") and _moves(
                behaviour(self.model, role, world().scenario("outage"), self.traffic, read.metric or "", True)
            ) or any(
                compatible_pair(read.matchers, alternative) and role_of(read, signals) != "other"
                for alternative in self.target.selectors for _, signals in self.companions
            )
        return found

    @property
    def moving_metrics(self) -> frozenset[str]:
        """Metric names the failure may move: the mode's signals, inverse and companions."""
        names = {s.metric for s in self.signals + self.inverse if s.metric}
        names.update(s.metric for _, signals in self.companions for s in signals if s.metric)
        return frozenset(names)

    def near(self, read: Selector) -> bool:
        return self.roles.role(read) == "total"

    def evaluator(self, index: int, scenario: str) -> Evaluator:
        key = (index, scenario)
        found = self.evaluators.get(key)
        if found is None:
            world_ = World(
                identity=self.target.selectors[index],
                identity_labels=self.identity_labels[index],
                signals=self.signals,
                inverse=self.inverse,
                model=self.model,
                scenario=world().scenario(scenario),
                traffic=self.traffic,
                canary_labels=self.judge.canary_labels,
                routing_labels=self.judge.routing_labels,
                elsewhere=tuple(m for j, other in enumerate(self.target.selectors) if j != index for m in other),
                join_labels=self.judge.join_labels,
                companions=self.companions,
            )
            identity = self.target.selectors[index]
            values = self.judge._quiet.setdefault((identity, self.traffic), {})
            quiet = self.quiet.get(index)
            if quiet is None:
                quiet = self.quiet[index] = Quiet(self.judge._reads, values, self.moving_metrics, self.roles.touches)
            found = self.evaluators[key] = Evaluator(self.judge.ruleset.records, world_, self.still.setdefault(index, {}), quiet)
        return found

    def outcomes(self, rule: Rule) -> dict[str, Outcome]:
        """The alert's outcome per scenario, for the alternative selector it does best with. The
        other scenarios are only asked of an alert that fires in the judged one (or, for a
        message, of one that does not: whether it would in an outage)."""
        judged = self.judge.scenario
        best_index, best = 0, self.evaluator(0, judged).outcome(rule)
        for index in range(1, len(self.target.selectors)):
            found = self.evaluator(index, judged).outcome(rule)
            if _better(found, best):
                best_index, best = index, found
        outcomes: dict[str, Outcome] = {judged: best}
        fires = best.facts.signal and not best.noisy and (best.fires_at is not None or bool(best.facts.unsure))
        for name in SCENARIOS:
            if name != judged and (fires or (name == "outage" and best.facts.signal and not best.noisy)):
                outcomes[name] = self.evaluator(best_index, name).outcome(rule)
        return outcomes


def _better(a: Outcome, b: Outcome) -> bool:
    def rank(o: Outcome) -> tuple[int, float]:
        if not o.facts.signal:
            return (3, math.inf)
        if o.noisy or o.fires_at is None:
            return (2, math.inf)
        return (0 if o.facts.isolated else 1, o.fires_at)

    return rank(a) < rank(b)


def _narrowing(watch: Selector | None, identity: list[frozenset[str]]) -> int:
    """How many labels the watched read narrows beyond the subject's own and the outcome
    (``endpoint_id=~"POST /groups"`` on the whole API): a narrower view of the subject."""
    if watch is None:
        return 0
    known = frozenset().union(*identity) if identity else frozenset()
    return len({m.name for m in watch.matchers if is_specific(m) and not outcome_label(m.name) and m.name not in known} - _CONTEXT_LABELS)


# Labels that place every series of a deployment (its environment, cluster, scrape job): a
# matcher on them narrows nothing about which requests are watched.
_CONTEXT_LABELS = frozenset({"env", "environment", "cluster", "job", "namespace", "region", "monitor", "stage", "tier", "shard", "fqdn"})


def _route_labels(route: Route) -> frozenset[str]:
    """Every label name the routing tree matches on: the labels an alert's routing depends on."""
    names: set[str] = set()
    stack = [route]
    while stack:
        node = stack.pop()
        names.update(m.name for m in node.matchers)
        stack.extend(node.routes)
    return frozenset(names)


def _agreeing(mappings: Iterable[dict[str, str]]) -> dict[str, str]:
    """Every label some mapping pins, unless two of them pin it differently."""
    agreed: dict[str, str] = {}
    conflicts: set[str] = set()
    for mapping in mappings:
        for label, value in mapping.items():
            if agreed.setdefault(label, value) != value:
                conflicts.add(label)
    for label in conflicts:
        del agreed[label]
    return agreed


def _contradicts(pins: dict[str, str], context: Selectors) -> bool:
    """Does the alert pin a label of the service (whose selector the component's own replaced)
    to a value none of the service's alternatives allows? Then it is about another service."""
    if not context or not pins:
        return False
    for alternative in context:
        if all(pins.get(m.name) is None or m.matches(pins[m.name]) for m in alternative):
            return False
    return True


def _pins_text(pins: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(pins.items())) + "}"


class _OtherSeries(Related):
    """An alert on the signal for other series (another service): named in the reason only."""

    __slots__ = ()


def _shorten(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
