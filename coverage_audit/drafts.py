"""Drafts of the missing alerts, with promtool unit tests that prove they fire (DESIGN 7).

For each failure mode judged at or above ``--fail-on``, a *plan* picks a shape (the Jinja2
templates in ``templates/drafts/`` are the shapes: data, one per shape), sizes its windows to
fit the time-to-detect budget, chooses labels that route to the owner's receiver in the given
Alertmanager configuration, and picks label values for the unit-test series. Rendering turns
plans into one rule file (or PrometheusRule object) and unit-test files per service or business
metric. Every draft is then judged by the same rules as ``check``: it must come out *covered*.

Output is deterministic: the same inputs give byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Callable, Iterable, Mapping
from urllib.parse import quote

import jinja2

from . import promql
from .analysis.findings import Finding, Subject
from .analysis.matching import HEALTHY_VALUES, healthy_value, requires_value, witness_labels
from .analysis.routing import owner_route_matchers, route
from .durations import format_duration
from .model import AlertmanagerConfig, FailureMode, LabelMatcher, MatchOp, label_name, selector_text
from .printable import json_text
from .promql import Selector
from .scenarios import is_progress_name, is_timestamp_name, world

WINDOW_LADDER = (3600, 1800, 900, 600, 300, 180, 120, 60)  # "nice" rate windows, seconds
PAGING_INTEGRATIONS = ("pagerduty", "opsgenie", "victorops", "pushover", "incidentio", "rocketchat")
DEFAULT_SEVERITY = "critical"
SLO_OBJECTIVE = 0.999  # the burn-rate draft's starting objective; reviewers tune it
FAST_BURN = 14.4  # SRE Workbook: 2 % of a 30-day budget in one hour
_COUNTER_SUFFIXES = ("_total", "_count", "_sum", "_bucket")
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Draft:
    """One drafted alert (plus the recording rules it needs), ready for a shape template."""

    key: str  # file stem: the service, or "business-<name>"
    subject: Subject
    mode: FailureMode
    shape: str
    alert: str
    by: tuple[str, ...]  # aggregation labels that keep the service's identity
    metric: str
    bad: str  # selector of the series that show the failure
    total: str  # selector of all events (ratio shapes), else ""
    inverse: str  # selector of the opposite events (hits vs misses), else ""
    inverse_metric: str
    inverse_series: Mapping[str, str]
    window: int  # seconds
    short_window: int  # seconds (burn rates)
    for_seconds: int
    threshold: float
    labels: Mapping[str, str]  # static labels: severity and routing labels
    annotations: Mapping[str, str]
    bad_series: Mapping[str, str]  # labels of a test series that shows the failure
    good_series: Mapping[str, str]  # labels of a healthy series ({} when there is none)
    expected: Mapping[str, str]  # labels the firing alert carries (for exp_labels)
    record_labels: Mapping[str, str]  # static labels that tell this service's recordings apart
    routing_note: str
    level: str  # recording-rule name prefix: the aggregation labels, as Prometheus names them


@dataclass(frozen=True, slots=True)
class DraftFile:
    path: str  # relative to the output folder
    content: str


@dataclass(frozen=True, slots=True)
class DraftSet:
    drafts: tuple[Draft, ...]
    files: tuple[DraftFile, ...]
    skipped: tuple[str, ...]  # failure modes no shape fits, with why


# --------------------------------------------------------------------------- planning


def plan(
    findings: Iterable[Finding],
    service_matchers: Mapping[str, tuple[LabelMatcher, ...]],
    alertmanager: AlertmanagerConfig | None,
    budget: float,
    evaluation_interval: float,
    gap_source: str,
    known_metrics: frozenset[str] = frozenset(),
    infrastructure: Callable[[str], bool] = lambda metric: False,
) -> tuple[list[Draft], list[str]]:
    """Drafts for the given findings (already filtered to those at or above --fail-on).

    ``known_metrics``: raw metrics the rule set already reads; among a mode's signals (several
    naming conventions), one the organisation evidently exports is preferred.
    ``infrastructure``: tells infrastructure metrics, which a draft must not watch (DESIGN 5.4)."""
    drafts: list[Draft] = []
    skipped: list[str] = []
    names: set[str] = set()
    for finding in findings:
        matchers = service_matchers.get(finding.subject.name, ())
        draft = _plan_one(finding, matchers, alertmanager, budget, evaluation_interval, gap_source, known_metrics, infrastructure)
        if isinstance(draft, str):
            skipped.append(f"{finding.subject.name} {finding.mode.id}: {draft}")
            continue
        if draft.alert in names:  # two modes landing on one name: keep both, distinctly
            draft = _renamed(draft, f"{draft.alert}{_camel(draft.metric)}")
        names.add(draft.alert)
        drafts.append(draft)
    return drafts, skipped


def _plan_one(
    finding: Finding,
    service: tuple[LabelMatcher, ...],
    alertmanager: AlertmanagerConfig | None,
    budget: float,
    evaluation_interval: float,
    gap_source: str,
    known_metrics: frozenset[str],
    infrastructure: Callable[[str], bool],
) -> Draft | str:
    mode, subject = finding.mode, finding.subject
    signal = _signal(mode, known_metrics, infrastructure)
    if signal is None:
        return "no signal names an application-level metric"
    shape = choose_shape(mode, signal)
    metric = signal.metric or ""
    pinned = tuple(m for m in signal.matchers if _pins_outcome(m))
    kept = tuple(m for m in signal.matchers if not _pins_outcome(m))
    by = tuple(sorted(dict.fromkeys(m.name for m in service if m.op is MatchOp.EQ)))
    bad_labels = witness_labels(service, signal.matchers)
    if bad_labels is None:
        return "cannot find label values that pass both the service selector and the signal"
    good_labels = _healthy_labels(bad_labels, pinned) if pinned else {}
    inverse = _inverse(mode, service)
    inverse_labels = witness_labels(service, inverse.matchers) if inverse else None
    if shape == "hit_ratio" and (inverse is None or inverse_labels is None):
        shape = "drop_vs_last_week"
    alert = _alert_name(subject, mode)
    base_metric = metric.removesuffix("_bucket")
    labels, note, group_wait = routing_labels(alertmanager, subject.owner, {m.name: bad_labels[m.name] for m in service if m.name in bad_labels and m.name in by}, alert)
    for_seconds = SHAPE_FOR.get(shape, 120)
    window = fit_window(budget - for_seconds - evaluation_interval - group_wait, shape)
    if shape == "absence":  # absent_over_time() takes its labels from the equality matchers
        carried = {m.name: m.value for m in service + signal.matchers if m.op is MatchOp.EQ}
    else:
        carried = {k: v for k, v in bad_labels.items() if k in by}
    return Draft(
        key=_file_key(subject),
        subject=subject,
        mode=mode,
        shape=shape,
        alert=alert,
        by=by,
        metric=base_metric,
        bad=_selector(metric, service + signal.matchers),
        total=_selector(metric, service + kept) if pinned else "",
        inverse=_selector(inverse.metric or "", service + inverse.matchers) if inverse else "",
        inverse_metric=inverse.metric or "" if inverse else "",
        inverse_series=inverse_labels or {},
        window=window,
        short_window=max(60, _ladder_at_most(window // 12)),
        for_seconds=for_seconds,
        threshold=_threshold(shape, metric, budget - for_seconds - evaluation_interval - group_wait),
        labels=labels,
        annotations=_annotations(finding, alert, shape, gap_source, window, _threshold(shape, metric, budget - for_seconds - evaluation_interval - group_wait)),
        bad_series=bad_labels,
        good_series=good_labels,
        expected={**carried, **labels},
        record_labels={m.name: m.value for m in service if m.op is MatchOp.EQ},
        routing_note=note,
        level=metric_name("_".join(by) or "service"),
    )


def choose_shape(mode: FailureMode, signal: Selector) -> str:
    """The draft shape for a failure mode, from its direction and what its signal looks like."""
    metric = signal.metric or ""
    counter = metric.endswith(_COUNTER_SUFFIXES)
    if mode.direction == "absent":
        return "staleness" if is_timestamp_name(metric) else "absence"
    if mode.direction == "drop":
        if mode.inverse:
            return "hit_ratio"
        if counter:
            return "drop_vs_last_week"
        return "stalled_progress" if is_progress_name(metric) else "gauge_below"
    if metric.endswith("_bucket"):
        return "latency_quantile"
    if metric.endswith("_sum"):
        return "latency_average"
    if counter and any(_pins_outcome(m) for m in signal.matchers):
        return "burn_rate"
    if counter:
        return "failure_rate"
    if "lag" in metric or "messages_ready" in metric or "number_of_messages" in metric:
        return "lag_growth"
    return "gauge_above"


SHAPE_FOR = {  # the `for` of each shape, seconds: long enough to skip one bad scrape
    "burn_rate": 0,  # the short window already guards against blips
    "absence": 300,
    "staleness": 0,
}


def fit_window(room: float, shape: str) -> int:
    """The longest ladder window that leaves the time to detect within the budget."""
    if shape in ("absence", "staleness", "gauge_above", "gauge_below"):
        return 0 if shape != "absence" else min(600, _ladder_at_most(room))
    return _ladder_at_most(room)


def _ladder_at_most(seconds: float) -> int:
    return next((w for w in WINDOW_LADDER if w <= seconds), WINDOW_LADDER[-1])


def _pins_outcome(matcher: LabelMatcher) -> bool:
    """A matcher that picks failed events on a status-like label (``code=~"5.."``), making the
    signal one side of a ratio; ``datname="orders"`` only says whose events they are."""
    return requires_value(matcher) and matcher.name in HEALTHY_VALUES and healthy_value(matcher) is not None


def _signal(mode: FailureMode, known_metrics: frozenset[str], infrastructure: Callable[[str], bool]) -> Selector | None:
    """The mode's first application-level signal whose metric the rule set already reads, else
    its first application-level signal."""
    parsed = []
    for text in mode.signals:
        try:
            selector = promql.parse_selector(text)
        except promql.PromQLError:
            continue
        if selector.metric and not infrastructure(selector.metric):
            parsed.append(selector)
    known = [s for s in parsed if s.metric in known_metrics or (s.metric or "").removesuffix("_bucket") + "_count" in known_metrics]
    chosen = known or parsed
    return chosen[0] if chosen else None


def _inverse(mode: FailureMode, service: tuple[LabelMatcher, ...]) -> Selector | None:
    for text in mode.inverse:
        selector = promql.parse_selector(text)
        if selector.metric:
            return selector
    return None


def _healthy_labels(bad: Mapping[str, str], pinned: tuple[LabelMatcher, ...]) -> dict[str, str]:
    labels = dict(bad)
    for matcher in pinned:
        value = healthy_value(matcher)
        if value is None:
            return {}
        if value:
            labels[matcher.name] = value
        else:
            labels.pop(matcher.name, None)
    return labels


def _threshold(shape: str, metric: str, room: float) -> float:
    if shape == "burn_rate":
        return round(FAST_BURN * (1 - SLO_OBJECTIVE), 6)
    if shape in ("latency_quantile", "latency_average"):
        return 1000.0 if "milliseconds" in metric else 1.0
    if shape == "lag_growth":
        return 1000.0
    if shape == "hit_ratio":
        return 0.8
    if shape == "staleness":
        # Within the budget for a job that succeeds as often as the healthy world says; a job
        # that runs less often needs its period here (the description says so).
        return float(round(world().healthy.heartbeat_age_seconds + max(60.0, room)))
    return 0.0


def _selector(metric: str, matchers: Iterable[LabelMatcher]) -> str:
    return selector_text(metric or None, tuple(dict.fromkeys(matchers)))


def _file_key(subject: Subject) -> str:
    return file_stem(subject.service if subject.service else "business-" + subject.name.split("/", 1)[1])


_STEM_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_STEM = 100  # + the longest suffix (".slow_rules_test.yaml") stays far under 255 bytes


def file_stem(name: str) -> str:
    """A file name stem any file system takes and no glob reads as a pattern: letters, digits,
    ``.``, ``_``, ``-``, not hidden, at most MAX_STEM characters. A name that had to change gets
    a short hash of itself, so two services never share a file (``a b`` and ``a_b``). Drafted
    tests name their rule file by it, and promtool reads ``rule_files`` as globs: ``*`` or
    ``[x]`` in a service name would load other files."""
    stem = _STEM_UNSAFE.sub("_", name).lstrip("._-")[:MAX_STEM] or "unnamed"
    if stem == name:
        return stem
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{stem}-{digest}"


def _kubernetes_name(text: str) -> str:
    """A DNS-1123 name (lower case, digits, '-', '.'; at most 253) for PrometheusRule objects."""
    name = re.sub(r"[^a-z0-9.-]+", "-", text.lower()).strip(".-")[:253].strip(".-")
    return name or "coverage-audit-drafts"


_METRIC_UNSAFE = re.compile(r"[^a-zA-Z0-9_:]+")


def metric_name(text: str) -> str:
    """A classic metric name (what promtool checks a recording rule's name against)."""
    name = _METRIC_UNSAFE.sub("_", text)
    return name if name and not name[0].isdigit() else f"_{name}"


def _camel(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", text) if part)


def _alert_name(subject: Subject, mode: FailureMode) -> str:
    if subject.service is None:
        name = _camel(subject.name.split("/", 1)[1]) + _camel(mode.id)
    else:
        name = _camel(subject.name) + _camel(mode.id)
    return name if name and not name[0].isdigit() else f"CoverageAudit{name}"


def _renamed(draft: Draft, name: str) -> Draft:
    annotations = {k: v.replace(draft.alert, name) for k, v in draft.annotations.items()}
    return replace(draft, alert=name, annotations=annotations)


def _annotations(finding: Finding, alert: str, shape: str, gap_source: str, window: int, threshold: float = 0.0) -> dict[str, str]:
    subject, mode = finding.subject, finding.mode
    what = mode.description or f"{mode.id} ({mode.direction})"
    period = (
        f" It assumes the job succeeds at least every {format_duration(threshold)}: for a job that runs less often, "
        "set its period plus some slack (and accept that a missed run is then seen that late)."
        if shape == "staleness" else ""
    )
    return {
        "summary": _plain(f"{subject.name}: {what}"),
        "description": _plain(
            f"{what[:1].upper() + what[1:]} on {subject.name} (owner {subject.owner}). "
            f"Drafted by coverage-audit as a {shape.replace('_', ' ')} alert over {format_duration(window) if window else 'the latest samples'}; "
            f"review the thresholds before merging.{period}"
        ),
        "runbook_url": f"https://runbooks.example.com/{quote(subject.owner, safe='')}/{alert}",
        "coverage_audit_gap": _plain(f"{finding.status}: {finding.reason}"),
        "coverage_audit_change": _plain(gap_source),
    }


def _plain(text: str) -> str:
    """Annotation text on one line (its template delimiters are escaped when rendered)."""
    return " ".join(text.split())


_TEMPLATE_DELIMITER = re.compile(r"\{\{|\}\}")


def template_literal(text: str) -> str:
    """Text that Prometheus's Go templating (labels and annotations of alerting rules) expands
    to itself: each ``{{`` and ``}}`` becomes an action printing it. An owner named
    ``{{ query "up" }}`` stays that text; it never becomes a query run when the alert fires."""
    return _TEMPLATE_DELIMITER.sub(lambda match: '{{ "' + match.group() + '" }}', text)


def yaml_string(value: object) -> str:
    """A YAML double-quoted string that holds any text: JSON's escapes plus ``\\u`` for what YAML
    refuses raw (DEL, C1) or reads as a line break (U+2028, U+2029)."""
    return json_text(json.dumps(str(value), ensure_ascii=False))


# --------------------------------------------------------------------------- routing labels


def routing_labels(
    config: AlertmanagerConfig | None,
    owner: str,
    service_labels: Mapping[str, str],
    alert: str,
) -> tuple[dict[str, str], str, float]:
    """Static labels that make the alert reach the owner's receiver, how they were found, and
    that route's group_wait (DESIGN 7)."""
    fallback = {"severity": DEFAULT_SEVERITY, "team": owner}
    if config is None:
        return fallback, f"no Alertmanager configuration: labelled team: {owner}", 0.0
    candidates = sorted(
        owner_route_matchers(config, owner),
        key=lambda matchers: (not _pages(config, matchers), len(matchers)),
    )
    for matchers in candidates:
        labels = {m.name: m.value for m in matchers}
        for attempt in ({"severity": DEFAULT_SEVERITY, **labels}, labels):
            delivered = _delivered(config, {**service_labels, **attempt, "alertname": alert})
            if delivered is not None:
                receivers, group_wait = delivered
                return dict(sorted(attempt.items())), f"routes to {', '.join(receivers)}", group_wait
    delivered = _delivered(config, {**service_labels, **fallback, "alertname": alert})
    group_wait = delivered[1] if delivered else config.route.group_wait
    return fallback, f"no route in the Alertmanager configuration leads {owner} to a receiver; labelled team: {owner}, review the routing", group_wait


def _pages(config: AlertmanagerConfig, matchers: tuple[LabelMatcher, ...]) -> bool:
    labels = {m.name: m.value for m in matchers}
    return any(
        any(i.startswith(PAGING_INTEGRATIONS) for i in config.receivers[d.receiver].integrations)
        for d in route(config, labels)
        if d.receiver in config.receivers
    )


def _delivered(config: AlertmanagerConfig, labels: dict[str, str]) -> tuple[list[str], float] | None:
    """Receivers reached always (not blackholed, not time-limited, not only the catch-all)."""
    deliveries = route(config, labels)
    good = [d for d in deliveries if not d.blackhole and not d.muted_by and not d.active_only]
    if not good or (config.route.routes and all(not d.route_path for d in deliveries)):
        return None
    return [d.receiver for d in good], min(d.group_wait for d in good)


# --------------------------------------------------------------------------- rendering


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("coverage_audit", "templates"),
        autoescape=False,  # YAML, not HTML: every string goes through the `q` filter instead
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.do"],
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["q"] = yaml_string
    env.filters["key"] = lambda value: value if _PLAIN_KEY.fullmatch(value) else yaml_string(value)
    env.filters["template"] = template_literal  # label and annotation values of alerting rules
    env.filters["label"] = label_name  # a label name in PromQL (quoted unless classic)
    env.filters["metric_name"] = metric_name
    env.filters["k8s_name"] = _kubernetes_name
    env.filters["duration"] = format_duration
    env.filters["series"] = _series
    env.filters["number"] = lambda value: repr(float(value)).removesuffix(".0")
    return env


def _series(labels: Mapping[str, str], metric: str) -> str:
    matchers = tuple(LabelMatcher(k, MatchOp.EQ, v) for k, v in sorted(labels.items()))
    text = selector_text(metric, matchers)
    return yaml_string(text if "{" in text else text + "{}")


def render(drafts: list[Draft], fmt: str = "prometheus") -> list[DraftFile]:
    """The rule file (or PrometheusRule object) and unit-test files of each service/metric."""
    env = _environment()
    files: list[DraftFile] = []
    by_key: dict[str, list[Draft]] = {}
    for draft in sorted(drafts, key=lambda d: (d.key, d.subject.name, d.mode.id)):
        by_key.setdefault(draft.key, []).append(draft)
    for key, group in by_key.items():
        rules_name = f"{key}.rules.yaml"
        rules = env.get_template("drafts/rule_file.yaml.j2").render(key=key, drafts=group, fmt=fmt, rules_file=rules_name)
        files.append(DraftFile(f"{key}.prometheusrule.yaml" if fmt == "prometheusrule" else rules_name, rules))
        if fmt == "prometheusrule":  # promtool reads plain rule files: the tests get one too
            files.append(DraftFile(rules_name, env.get_template("drafts/rule_file.yaml.j2").render(key=key, drafts=group, fmt="prometheus", rules_file=rules_name)))
        for slow, suffix in ((False, "rules_test.yaml"), (True, "slow_rules_test.yaml")):
            chosen = [d for d in group if SLOW_SHAPES.get(d.shape, False) == slow]
            if chosen:
                test = env.get_template("drafts/test_file.yaml.j2").render(key=key, drafts=chosen, rules_file=rules_name, slow=slow)
                files.append(DraftFile(f"{key}.{suffix}", test))
    return files


SLOW_SHAPES = {"drop_vs_last_week": True, "staleness": True}  # multi-day scenarios
