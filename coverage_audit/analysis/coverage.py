"""Does an alert cover a failure mode? DESIGN 5, rule by rule.

An alerting rule covers a failure mode of a subject when (1) its expression, with recording
rules expanded, reads a signal of the mode — the signal's metric, narrowed at least as the
signal narrows it (``code=~"5.."``); (2) its matchers can select the subject's series; (3) it
fires when the signal moves the failure's way; (4) it is application-level. Its problems make
the coverage weak: only blackholed or unrouted, slower than the budget, diluted (no service
matcher), delivered only inside time intervals, or a direction we cannot read.

When the analysis is unsure it says ``weak`` with the reason — never ``covered``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from .. import promql
from ..durations import format_duration
from ..model import AlertmanagerConfig, FailureMode, LabelMatcher, MatchOp, Rule
from ..promql import Selector
from ..ruleset import RuleSet, _common
from .effects import Use, detection_window, uses
from .expansion import Expander
from .findings import AlertCoverage, Finding, Impact, Related, Subject
from .matching import compatible, is_specific, narrows_like, requires_value
from .routing import route

_OPPOSITE = {"rise": "drop", "drop": "rise", "absent": "rise"}


@dataclass(frozen=True, slots=True)
class Signal:
    selector: Selector
    direction: str  # the way this series moves when the failure happens
    text: str


@dataclass(frozen=True, slots=True)
class _Analysed:
    expanded: promql.Expr
    uses: tuple[Use, ...]


class CoverageJudge:
    """Judges failure modes against one rule set and one Alertmanager configuration.

    Built once per run; alerts are indexed by the raw metrics they watch, and each alert is
    expanded and analysed at most once, so judging a change costs what the change touches.
    """

    def __init__(
        self,
        ruleset: RuleSet,
        alertmanager: AlertmanagerConfig | None,
        budget: float,
        evaluation_interval: float,
    ) -> None:
        self.ruleset = ruleset
        self.alertmanager = alertmanager
        self.budget = budget
        self.evaluation_interval = evaluation_interval
        self._expander = Expander(ruleset.records)
        self._analysed: dict[Rule, _Analysed] = {}
        self._by_metric: dict[str, list[Rule]] = {}
        self._pins: dict[Rule, dict[str, str]] = {}
        self._pin_tables: dict[tuple[str, str], dict[str | None, list[Rule]]] = {}
        for rule in ruleset.rules:
            if rule.kind == "alert" and rule.query is not None:
                for metric in ruleset.raw_metrics[rule]:
                    self._by_metric.setdefault(metric, []).append(rule)
        self._infra_by_label: dict[tuple[str, str], list[Rule]] | None = None

    # ------------------------------------------------------------------ judging

    def judge(
        self,
        subject: Subject,
        mode: FailureMode,
        service_matchers: tuple[LabelMatcher, ...],
        impact: Impact | None,
    ) -> Finding:
        signals = self._signals(mode)
        covering: list[AlertCoverage] = []
        related: dict[Rule, Related] = {}
        elsewhere: list[Related] = []
        candidates, others = self._candidates(signals, service_matchers)
        elsewhere += [_OtherSeries(rule, self.ruleset.levels[rule], f"watches it only for {_pins_text(self._pins_of(rule))}") for rule in others[:1]]
        for rule in candidates:
            verdict = self._judge_alert(rule, signals, service_matchers, subject.service is not None)
            if isinstance(verdict, AlertCoverage):
                covering.append(verdict)
            elif isinstance(verdict, _OtherSeries):
                elsewhere.append(verdict)
            elif verdict is not None:
                related.setdefault(rule, verdict)
        if subject.service is not None:
            for rule in self._infrastructure_alerts(service_matchers):
                related.setdefault(rule, Related(rule, "infrastructure", "infrastructure-level: does not watch the application"))
        covering.sort(key=lambda a: (len(a.problems), a.detect_seconds, a.rule.name, a.rule.file, a.rule.line))
        status = "covered" if covering and covering[0].ok else "weak" if covering else "uncovered"
        ordered_related = tuple(sorted(related.values(), key=lambda r: (r.level != "application", r.rule.name)))
        return Finding(
            subject=subject,
            mode=mode,
            impact=impact,
            status=status,  # type: ignore[arg-type]
            alerts=tuple(covering),
            related=ordered_related,
            reason=self._reason(status, covering, ordered_related, elsewhere, signals),
        )

    def _signals(self, mode: FailureMode) -> list[Signal]:
        found = [Signal(promql.parse_selector(text), mode.direction, text) for text in mode.signals]
        found += [Signal(promql.parse_selector(text), _OPPOSITE[mode.direction], text) for text in mode.inverse]
        return [s for s in found if s.selector.metric]

    def _candidates(self, signals: Sequence[Signal], service: tuple[LabelMatcher, ...]) -> tuple[list[Rule], list[Rule]]:
        """Alerts that read a signal's metric, split into those that may select the subject's
        series and a few of those whose every selector pins a service label to another value
        (most of an organisation's alerts on a shared metric are of that kind: an index by
        pinned value sets them aside without looking at each)."""
        wanted = [m for m in service if m.op is MatchOp.EQ]
        maybe: dict[Rule, None] = {}
        others: list[Rule] = []
        for signal in signals:
            metric = signal.selector.metric or ""
            if not wanted:
                maybe.update(dict.fromkeys(self._by_metric.get(metric, ())))
                continue
            first = wanted[0]
            table = self._pin_table(metric, first.name)
            for rule in table.get(first.value, []) + table.get(None, []):
                pins = self._pins_of(rule)
                if all(pins.get(m.name, m.value) == m.value for m in wanted[1:]):
                    maybe.setdefault(rule, None)
            if not others:
                others = next((rules[:1] for value, rules in table.items() if value not in (None, first.value)), [])
        return list(maybe), others

    def _pins_of(self, rule: Rule) -> dict[str, str]:
        """Label values every selector of the alert pins, through the recordings it reads."""
        pins = self._pins.get(rule)
        if pins is None:
            selectors = rule.query.selectors if rule.query is not None else ()
            pins = self._pins[rule] = _common(self.ruleset.records.pins(s) for s in selectors)
        return pins

    def _pin_table(self, metric: str, label: str) -> dict[str | None, list[Rule]]:
        """The alerts reading ``metric`` by the value they pin ``label`` to (None: unpinned)."""
        table = self._pin_tables.get((metric, label))
        if table is None:
            table = self._pin_tables[(metric, label)] = {}
            for rule in self._by_metric.get(metric, ()):
                table.setdefault(self._pins_of(rule).get(label), []).append(rule)
        return table

    def _analyse(self, rule: Rule) -> _Analysed:
        """The alert with recording rules expanded, and every read in it (candidates always
        have a parsed query: they were indexed by the metrics it reads)."""
        found = self._analysed.get(rule)
        if found is None:
            assert rule.query is not None
            expanded = self._expander.expand(rule.query.ast)
            found = self._analysed[rule] = _Analysed(expanded, tuple(uses(expanded)))
        return found

    def _judge_alert(
        self,
        rule: Rule,
        signals: Sequence[Signal],
        service_matchers: tuple[LabelMatcher, ...],
        has_service: bool,
    ) -> AlertCoverage | Related | None:
        level = self.ruleset.levels[rule]
        analysed = self._analyse(rule)
        reads = [(use, signal) for use in analysed.uses for signal in signals if use.selector.metric == signal.selector.metric]
        if not reads:
            return None
        selecting = [(u, s) for u, s in reads if compatible(u.selector.matchers, s.selector.matchers, service_matchers)]
        if not selecting:  # about another service: not related, but worth naming in the reason
            return _OtherSeries(rule, level, f"watches it only for other series ({reads[0][0].selector})")
        narrowed = [(u, s) for u, s in selecting if _narrows_like(u.selector, s.selector)]
        if not narrowed:
            use, signal = selecting[0]
            return Related(rule, level, f"reads {use.selector} but not the failing series {signal.text}")
        selecting = narrowed
        if level != "application":
            return Related(rule, level, "infrastructure-level: its metrics never cover an application failure")
        firing = [(u, s) for u, s in selecting if u.fires_on(s.direction)]
        problems: list[str] = []
        details: list[str] = []
        if not firing:
            unsure = [(u, s) for u, s in selecting if u.unsure]
            if not unsure:
                divisors = [(u, s) for u, s in selecting if u.divisor and s.direction != "rise"]
                if divisors:
                    use = divisors[0][0]
                    return Related(rule, level, f"reads {use.selector} only as a divisor: a ratio cannot fire when it drops to zero")
                use, signal = selecting[0]
                moved = "falls" if signal.direction == "rise" else "rises"
                return Related(rule, level, f"fires when {use.selector} {moved}, not when it {_verb(signal.direction)}")
            firing = unsure
            problems.append("direction_unclear")
            details.append(f"cannot tell whether it fires when {firing[0][0].selector} {_verb(firing[0][1].direction)}")
        relevant = {u.path for u, _ in firing}
        window = detection_window(analysed.expanded, lambda path: path in relevant) or 0.0
        labels = self.alert_labels(rule, firing, service_matchers)
        receivers, group_wait = self._delivery(labels, problems, details)
        detect = window + rule.for_seconds + (rule.interval or self.evaluation_interval) + rule.query_offset + group_wait
        if detect > self.budget:
            problems.append("over_budget")
            details.append(f"detects in ~{format_duration(detect)}, over the {format_duration(self.budget)} budget")
        if has_service and not _selects_service(firing, service_matchers):
            problems.append("diluted")
            details.append("has no service matcher, so one service's (or a canary's) failure may not cross its threshold")
        return AlertCoverage(
            rule=rule,
            level=level,
            watches=str(firing[0][0].selector),
            receivers=receivers,
            detect_seconds=detect,
            problems=tuple(problems),
            details=tuple(details),
            labels=tuple(sorted(labels.items())),
        )

    # ------------------------------------------------------------------ routing

    def alert_labels(self, rule: Rule, firing: Iterable[tuple[Use, Signal]], service_matchers: tuple[LabelMatcher, ...]) -> dict[str, str]:
        """The labels the alert would carry for this subject: the service's and the alert's own
        equality matchers that survive its aggregations, then the rule's labels and alertname."""
        labels: dict[str, str] = {}
        firing = list(firing)
        for matcher in service_matchers:
            if matcher.op is MatchOp.EQ and all(use.keeps(matcher.name) for use, _ in firing):
                labels[matcher.name] = matcher.value
        for use, _ in firing:
            for matcher in use.selector.matchers:
                if matcher.op is MatchOp.EQ and use.keeps(matcher.name):
                    labels.setdefault(matcher.name, matcher.value)
        labels.update(rule.labels)
        labels["alertname"] = rule.name
        return labels

    def _delivery(self, labels: dict[str, str], problems: list[str], details: list[str]) -> tuple[tuple[str, ...], float]:
        if self.alertmanager is None:
            return (), 0.0
        deliveries = route(self.alertmanager, labels)
        live = [d for d in deliveries if not d.blackhole]
        if not live:
            problems.append("blackhole")
            names = ", ".join(sorted({d.receiver for d in deliveries}))
            details.append(f"routes only to {names}, a receiver with no integrations")
            return tuple(d.receiver for d in deliveries), min(d.group_wait for d in deliveries)
        if self.alertmanager.route.routes and all(not d.route_path for d in deliveries):
            # No route of the tree takes it: it reaches only the root's catch-all receiver.
            problems.append("unrouted")
            details.append(f"matches no route, so only the catch-all receiver {deliveries[0].receiver} gets it")
        always = [d for d in live if not d.muted_by and not d.active_only]
        if not always:
            intervals = sorted({name for d in live for name in (*d.muted_by, *d.active_only)})
            problems.append("muted")
            details.append(f"is delivered only as time intervals allow ({', '.join(intervals)})")
        chosen = always or live
        return tuple(d.receiver for d in live), min(d.group_wait for d in chosen)

    # ------------------------------------------------------------------ related

    def _infrastructure_alerts(self, service_matchers: tuple[LabelMatcher, ...]) -> list[Rule]:
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
        for matcher in service_matchers:
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
        signals: Sequence[Signal],
    ) -> str:
        if status == "covered":
            best = covering[0]
            where = f", pages {', '.join(dict.fromkeys(best.receivers))}" if best.receivers else ""
            return f"{best.rule.name} watches {best.watches}; ~{format_duration(best.detect_seconds)} to detect{where}"
        if status == "weak":
            best = covering[0]
            return f"only weak coverage: {best.rule.name} {'; '.join(best.details)}"
        wanted = ", ".join(dict.fromkeys(s.text for s in signals)) or "its signals"
        application = [r for r in related if r.level == "application"]
        if application:
            return f"no alert covers it: {application[0].rule.name} {application[0].why}"
        if elsewhere:
            return f"no alert selects this subject: {elsewhere[0].rule.name} {elsewhere[0].why}"
        infrastructure = [r.rule.name for r in related]
        if infrastructure:
            names = ", ".join(infrastructure[:3]) + (" …" if len(infrastructure) > 3 else "")
            return f"no application-level alert watches {_shorten(wanted)}; only infrastructure alerts relate ({names})"
        return f"no alert watches {_shorten(wanted)}"


def _pins_text(pins: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(pins.items())) + "}"


class _OtherSeries(Related):
    """An alert on the signal for other series (another service): named in the reason only."""

    __slots__ = ()


def _narrows_like(read: Selector, signal: Selector) -> bool:
    """Does the alert read the failing series, not merely the same metric? For every label the
    signal pins (``code=~"5.."``), the read must narrow that label too (compatibility is checked
    next)."""
    return all(narrows_like(read.matchers, m) for m in signal.matchers if requires_value(m))


def _selects_service(firing: list[tuple[Use, Signal]], service_matchers: tuple[LabelMatcher, ...]) -> bool:
    labels = {m.name for m in service_matchers}
    if not labels:
        return True  # a service without a selector cannot be told apart anyway
    return any(is_specific(m) and m.name in labels for use, _ in firing for m in use.selector.matchers)


def _verb(direction: str) -> str:
    return {"rise": "rises", "drop": "falls", "absent": "stops"}[direction]


def _shorten(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
